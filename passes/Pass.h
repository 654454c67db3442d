//===- Pass.h - Passes, their registry and the pass manager -----*- C++ -*-===//
///
/// A pass transforms a module in place and reports user-facing errors into
/// its PassContext. Passes are created by name from the registry
/// (Passes.def). The PassManager runs a list of them with the verifier at
/// entry and after each pass, optional printing before/after each pass and
/// per-pass timing, as LLVM's `opt` does.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_PASSES_PASS_H
#define ADJ_PASSES_PASS_H

#include "ir/IR.h"
#include "ir/OptimizerSpec.h"

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace adj {

/// Optimizer hyperparameters compiled into @train_step, and the training
/// options the optimizer pass also compiles. The learning rate and the step
/// count are arguments (%lr, %step), so they change without recompiling.
struct OptimizerConfig : OptimizerSpec {
  using OptimizerSpec::OptimizerSpec;
  /// Scale all gradients by min(1, ClipNorm / (||g|| + 1e-6)) first, as
  /// torch.nn.utils.clip_grad_norm_ does; 0: off.
  double ClipNorm = 0;
  /// Per-parameter learning-rate multipliers (absent: 1): the update of
  /// parameter P uses %lr * LrMult[P], as a PyTorch parameter group with
  /// lr = lr * mult.
  std::map<std::string, double> LrMult;
};

struct PassContext {
  OptimizerConfig Optimizer;
  /// User-facing errors: where and what.
  std::vector<std::pair<Loc, std::string>> Errors;
  std::vector<std::pair<Loc, std::string>> Warnings;
  void error(const Loc &L, std::string Msg) {
    Errors.push_back({L, std::move(Msg)});
  }
  void warning(const Loc &L, std::string Msg) {
    Warnings.push_back({L, std::move(Msg)});
  }
};

class Pass {
public:
  virtual ~Pass() = default;
  virtual const char *name() const = 0;
  /// Returns false after reporting errors into \p Ctx.
  virtual bool run(Module &M, PassContext &Ctx) = 0;
};

#define PASS(Name, Factory, Doc) std::unique_ptr<Pass> Factory();
#include "passes/Passes.def"

struct PassInfo {
  const char *Name;
  std::unique_ptr<Pass> (*Create)();
  const char *Doc;
};
const std::vector<PassInfo> &passRegistry();
const PassInfo *lookupPass(const std::string &Name);

struct PassManagerOptions {
  bool VerifyEach = true;
  bool PrintAfterAll = false;
  std::set<std::string> PrintAfter, PrintBefore;
  bool TimePasses = false;
  /// With TimePasses: keep the timings (timings()) instead of printing the
  /// table, for a caller that adds its own stages (adjc's LLVM stages).
  bool DeferTimingReport = false;
};

/// Stage wall times, in order.
using StageTimes = std::vector<std::pair<std::string, double>>;

/// The -time-passes table of \p Times, then \p Notes, one a line.
std::string formatTimingReport(const StageTimes &Times,
                               const std::vector<std::string> &Notes = {});

class PassManager {
public:
  explicit PassManager(PassManagerOptions Opts = {}) : Opts(std::move(Opts)) {}
  void add(std::unique_ptr<Pass> P) { Passes.push_back(std::move(P)); }
  /// Adds passes from a comma-separated list; false (with \p Err set) when
  /// a name is unknown.
  bool parsePipeline(const std::string &Pipeline, std::string &Err);
  /// Runs the passes in order. IR dumps and the timing table go to \p Log.
  /// Returns false when a pass fails or the verifier rejects its output.
  bool run(Module &M, PassContext &Ctx, std::ostream &Log);
  size_t size() const { return Passes.size(); }
  /// Each pass's wall time in the last run.
  const StageTimes &timings() const { return Times; }

private:
  PassManagerOptions Opts;
  std::vector<std::unique_ptr<Pass>> Passes;
  StageTimes Times;
};

} // namespace adj

#endif
