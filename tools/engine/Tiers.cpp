//===- Tiers.cpp - Step functions that switch to optimised code -----------===//
///
/// The trampolines are kSlots instances of one template, each reading its
/// slot of a static pool. A call's fast path, once switched, is an acquire
/// load and an indirect call; until then the slow path checks for the
/// optimised code and switches under the slot's mutex (a step's entry is a
/// step boundary: the quick code is not running in the calling thread, and
/// the runtime never runs one step function on two threads at once).
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Tiers.h"

#include "runtime/adjoint_rt_train.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <utility>

namespace adj {

struct TieredFunctions::Slot {
  std::atomic<bool> Switched{false};
  std::atomic<adj_rt_step_fn> Fn{nullptr};        ///< after the switch
  std::atomic<adj_rt_step_fn> Optimised{nullptr}; ///< published
  std::atomic<int64_t> QuickCalls{0};
  adj_rt_step_fn Quick = nullptr;
  void (*QuickRelease)() = nullptr;
  bool CountSteps = false;
  TieredFunctions *Owner = nullptr;
  bool InUse = false; ///< under PoolMu
  std::mutex SwitchMu;

  int32_t slowCall(int64_t N, void *const *Args, void *const *Results);
};

namespace {
constexpr unsigned kSlots = 64;
TieredFunctions::Slot Pool[kSlots];
std::mutex PoolMu;

template <unsigned I>
int32_t trampoline(int64_t N, void *const *Args, void *const *Results) {
  TieredFunctions::Slot &S = Pool[I];
  if (S.Switched.load(std::memory_order_acquire))
    return S.Fn.load(std::memory_order_relaxed)(N, Args, Results);
  return S.slowCall(N, Args, Results);
}

template <size_t... I>
constexpr std::array<adj_rt_step_fn, sizeof...(I)>
makeTrampolines(std::index_sequence<I...>) {
  return {&trampoline<unsigned(I)>...};
}
constexpr std::array<adj_rt_step_fn, kSlots> Trampolines =
    makeTrampolines(std::make_index_sequence<kSlots>());

int64_t switchAtFromEnv() {
  const char *V = std::getenv("ADJ_TIER_SWITCH_AT");
  if (!V || !*V)
    return 0;
  char *End = nullptr;
  long long K = std::strtoll(V, &End, 10);
  return *End == '\0' && K > 0 ? K : 0;
}
} // namespace

int32_t TieredFunctions::Slot::slowCall(int64_t N, void *const *Args,
                                        void *const *Results) {
  TieredFunctions &O = *Owner;
  if (!O.QuickReady.load(std::memory_order_acquire)) {
    // Deferred quick code: wait for it (this makes Quick visible here).
    std::unique_lock<std::mutex> Lock(O.Mu);
    O.Arrived.wait(Lock, [&] {
      return O.QuickReady.load(std::memory_order_relaxed) || O.QuickFailed;
    });
    if (O.QuickFailed) {
      if (!O.FailureReported && O.ReportQuickFailure)
        O.ReportQuickFailure(O.QuickError);
      O.FailureReported = true;
      return 1;
    }
  }
  adj_rt_step_fn Opt = Optimised.load(std::memory_order_acquire);
  if (O.SwitchAt > 0) {
    if (QuickCalls.load(std::memory_order_relaxed) + 1 < O.SwitchAt) {
      Opt = nullptr; // not yet
    } else if (!Opt) {
      O.noteFirstReturn(); // a held optimised compile must start now
      std::unique_lock<std::mutex> Lock(O.Mu);
      O.Arrived.wait(Lock, [&] { return O.Published || O.Abandoned; });
      Opt = Optimised.load(std::memory_order_acquire);
    }
  }
  if (Opt) {
    {
      std::lock_guard<std::mutex> Lock(SwitchMu);
      if (!Switched.load(std::memory_order_relaxed)) {
        // The quick code's arena is not in use: this thread is between
        // steps, and no other runs this function.
        if (QuickRelease)
          QuickRelease();
        Fn.store(Opt, std::memory_order_relaxed);
        Switched.store(true, std::memory_order_release);
      }
    }
    return Fn.load(std::memory_order_relaxed)(N, Args, Results);
  }
  QuickCalls.fetch_add(1, std::memory_order_relaxed);
  if (CountSteps)
    adj_rt_note_quick_step();
  int32_t RC = Quick(N, Args, Results);
  O.noteFirstReturn();
  return RC;
}

std::unique_ptr<TieredFunctions> TieredFunctions::create(unsigned N) {
  std::unique_ptr<TieredFunctions> T(new TieredFunctions());
  T->SwitchAt = switchAtFromEnv();
  std::lock_guard<std::mutex> Lock(PoolMu);
  for (unsigned I = 0; I < kSlots && T->Slots.size() < N; ++I)
    if (!Pool[I].InUse)
      T->Slots.push_back(I);
  if (T->Slots.size() < N)
    return nullptr;
  for (unsigned I : T->Slots) {
    Slot &S = Pool[I];
    S.InUse = true;
    S.Owner = T.get();
    S.Switched.store(false);
    S.Fn.store(nullptr);
    S.Optimised.store(nullptr);
    S.QuickCalls.store(0);
    S.Quick = nullptr;
    S.QuickRelease = nullptr;
    S.CountSteps = false;
  }
  return T;
}

TieredFunctions::~TieredFunctions() {
  std::lock_guard<std::mutex> Lock(PoolMu);
  for (unsigned I : Slots) {
    Pool[I].InUse = false;
    Pool[I].Owner = nullptr;
  }
}

void TieredFunctions::onFirstReturn(std::function<void()> Fn) {
  std::lock_guard<std::mutex> Lock(Mu);
  FirstReturn = std::move(Fn);
}

void TieredFunctions::deferQuick(
    std::function<void(const std::string &)> ReportFailure) {
  std::lock_guard<std::mutex> Lock(Mu);
  ReportQuickFailure = std::move(ReportFailure);
  QuickReady.store(false, std::memory_order_relaxed);
}

bool TieredFunctions::resolveQuick(unsigned I, const std::string &Name) {
  Slot &S = Pool[I];
  void (*Release)() = nullptr;
  std::string Error;
  S.Quick = QuickResolver(Name, &Release, Error);
  S.QuickRelease = Release;
  if (S.Quick)
    return true;
  QuickFailed = true;
  QuickReady.store(false, std::memory_order_relaxed);
  QuickError = Error.empty() ? "no quick code for '" + Name + "'" : Error;
  return false;
}

void TieredFunctions::publishQuick(
    const std::function<adj_rt_step_fn(const std::string &, void (**)(),
                                       std::string &)> &Resolve) {
  {
    std::lock_guard<std::mutex> Lock(Mu);
    QuickResolver = Resolve;
    bool Ok = true;
    for (size_t I = 0; I < Names.size() && Ok; ++I)
      Ok = resolveQuick(Slots[I], Names[I]);
    if (Ok)
      QuickReady.store(true, std::memory_order_release);
  }
  Arrived.notify_all();
}

void TieredFunctions::failQuick(const std::string &Error) {
  {
    std::lock_guard<std::mutex> Lock(Mu);
    QuickFailed = true;
    QuickError = Error;
  }
  Arrived.notify_all();
}

adj_rt_step_fn TieredFunctions::add(const std::string &Name,
                                    adj_rt_step_fn Quick,
                                    void (*QuickRelease)(), bool CountSteps) {
  std::lock_guard<std::mutex> Lock(Mu);
  if (Names.size() >= Slots.size())
    return nullptr;
  unsigned I = Slots[Names.size()];
  Names.push_back(Name);
  Slot &S = Pool[I];
  S.Quick = Quick;
  S.QuickRelease = QuickRelease;
  S.CountSteps = CountSteps;
  // Deferred quick code that is already here: resolve it now (a name that
  // does not resolve fails the quick tier).
  if (!Quick && QuickResolver && !QuickFailed)
    resolveQuick(I, Name);
  if (Published && Resolver)
    S.Optimised.store(adj_rt_step_fn(Resolver(Name)),
                      std::memory_order_release);
  return Trampolines[I];
}

void TieredFunctions::publish(
    const std::function<void *(const std::string &)> &Resolve) {
  {
    std::lock_guard<std::mutex> Lock(Mu);
    Resolver = Resolve;
    for (size_t I = 0; I < Names.size(); ++I)
      Pool[Slots[I]].Optimised.store(adj_rt_step_fn(Resolve(Names[I])),
                                     std::memory_order_release);
    Published = true;
  }
  Arrived.notify_all();
}

void TieredFunctions::abandon() {
  {
    std::lock_guard<std::mutex> Lock(Mu);
    Abandoned = true;
  }
  Arrived.notify_all();
}

std::vector<std::pair<std::string, int64_t>>
TieredFunctions::quickCalls() const {
  std::vector<std::pair<std::string, int64_t>> Calls;
  for (size_t I = 0; I < Names.size(); ++I)
    Calls.emplace_back(Names[I], Pool[Slots[I]].QuickCalls.load());
  return Calls;
}

} // namespace adj
