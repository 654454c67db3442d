//===- Tiers.h - Step functions that switch to optimised code --*- C++ -*-===//
///
/// Tiered compilation's step functions (JIT::addModuleTiered): the runtime
/// is handed a trampoline per step function, which calls the quick tier's
/// code until the optimised code is published, then releases the quick
/// code's scratch arena and calls the optimised code from then on. The
/// switch happens at a call's entry, so every step runs entirely on one
/// tier (they compute the same bits). Trampolines are a fixed pool of
/// functions, each reading its slot: a model gets slots while it lives.
///
/// ADJ_TIER_SWITCH_AT=K (testing) fixes the call that switches: calls 1 to
/// K-1 of each function run the quick code, call K waits for the optimised
/// code and runs it, so that a test sees both tiers whatever the machine's
/// speed.
///
/// onFirstReturn: the engine's hook to start a held optimised compile after
/// the first step (on one or two CPUs it would slow the data load and that
/// step).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_TIERS_H
#define ADJ_TOOLS_TIERS_H

#include "runtime/adjoint_rt_abi.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace adj {

class TieredFunctions {
public:
  /// Reserves \p N trampolines; null when the pool has fewer free.
  static std::unique_ptr<TieredFunctions> create(unsigned N);
  ~TieredFunctions();
  TieredFunctions(const TieredFunctions &) = delete;
  TieredFunctions &operator=(const TieredFunctions &) = delete;

  /// A trampoline calling \p Quick until publish() gives \p Name's optimised
  /// code; \p QuickRelease (may be null) frees the quick code's scratch
  /// arena at the switch. \p CountSteps: its quick calls are the report's
  /// jit_quick_steps. At most N calls.
  adj_rt_step_fn add(const std::string &Name, adj_rt_step_fn Quick,
                     void (*QuickRelease)(), bool CountSteps);
  /// The quick code comes later (JIT::addModuleTiered's OnQuick): add()
  /// takes a null Quick, and the first call of any trampoline waits for
  /// publishQuick() or failQuick(). Call before add().
  void deferQuick(std::function<void(const std::string &)> ReportFailure);
  /// The quick code is linked: \p Resolve gives each name's quick code and
  /// its scratch release (may be null), or "" and sets \p Error. Called
  /// once, from any thread; a name that does not resolve fails the quick
  /// tier (failQuick).
  void publishQuick(const std::function<
                    adj_rt_step_fn(const std::string &Name, void (**Release)(),
                                   std::string &Error)> &Resolve);
  /// The quick code will never come: every call reports \p Error (through
  /// deferQuick's ReportFailure, once) and returns 1.
  void failQuick(const std::string &Error);
  /// The optimised code is linked: \p Resolve gives each name's address
  /// (null: keep the quick code). Called once, from any thread.
  void publish(const std::function<void *(const std::string &)> &Resolve);
  /// The optimised code will never come (its compile failed): calls waiting
  /// for it (ADJ_TIER_SWITCH_AT) go on with the quick code.
  void abandon();
  /// \p Fn is called once (from the calling thread): when the first call
  /// that ran the quick code returns, or when a call starts waiting for the
  /// optimised code (ADJ_TIER_SWITCH_AT), whichever comes first; the
  /// engine releases a held optimised compile there (JIT::holdOptimised).
  /// Call before add().
  void onFirstReturn(std::function<void()> Fn);
  /// Each function's name and its calls that ran the quick code.
  std::vector<std::pair<std::string, int64_t>> quickCalls() const;

  struct Slot;

private:
  TieredFunctions() = default;
  std::vector<unsigned> Slots;
  std::vector<std::string> Names;

public:
  /// Shared with the slots: the optimised code's arrival.
  std::mutex Mu;
  std::condition_variable Arrived;
  bool Published = false, Abandoned = false;
  std::function<void *(const std::string &)> Resolver; ///< from publish()
  int64_t SwitchAt = 0;              ///< ADJ_TIER_SWITCH_AT (0: whenever ready)
  std::function<void()> FirstReturn; ///< onFirstReturn()'s
  std::atomic<bool> FirstReturned{false};
  /// Calls FirstReturn the first time only.
  void noteFirstReturn() {
    if (FirstReturn && !FirstReturned.exchange(true, std::memory_order_acq_rel))
      FirstReturn();
  }
  /// Deferred quick code (deferQuick): set once every slot has it.
  std::atomic<bool> QuickReady{true};
  bool QuickFailed = false, FailureReported = false; ///< under Mu
  std::string QuickError;
  std::function<void(const std::string &)> ReportQuickFailure;
  std::function<adj_rt_step_fn(const std::string &, void (**)(),
                               std::string &)>
      QuickResolver; ///< from publishQuick()

private:
  /// Sets slot \p I's quick code from QuickResolver (under Mu): false when
  /// \p Name does not resolve.
  bool resolveQuick(unsigned I, const std::string &Name);
};

} // namespace adj

#endif
