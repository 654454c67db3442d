//===- GradCheck.h - Analytic vs numerical gradients ------------*- C++ -*-===//
///
/// Compiles a model's @forward in f64 together with its autodiff
/// @train_step (no optimizer), draws random parameters and inputs, and
/// compares each trainable parameter's analytic gradient with central
/// differences of the loss, as torch.autograd.gradcheck does (eps 1e-6,
/// atol 1e-5, rtol 1e-3 by default). Used by `adjc --gradcheck` and by the
/// gradient test suite.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_GRADCHECK_H
#define ADJ_TOOLS_GRADCHECK_H

#include "ir/IR.h"

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace adj {

struct GradCheckOptions {
  int64_t Batch = 3;
  uint64_t Seed = 0;
  double Eps = 1e-6, Atol = 1e-5, Rtol = 1e-3;
  /// At most this many elements of each parameter are perturbed (chosen at
  /// random; all of them when the parameter is smaller).
  int64_t MaxElements = 64;
  /// Random values are drawn uniformly from [Lo, Hi]; per-argument ranges
  /// override it (e.g. positive inputs for log).
  double Lo = -1, Hi = 1;
  std::map<std::string, std::pair<double, double>> Ranges;
  /// Float inputs drawn as whole numbers in their range (e.g. class ids
  /// compared with `==`).
  std::set<std::string> Integral;
  /// Class counts of integer label inputs, by input name.
  std::map<std::string, int64_t> Classes;
  /// Progress (null: none): once the check has run for over ProgressAfter
  /// seconds, a line per parameter checked.
  std::ostream *Progress = nullptr;
  double ProgressAfter = 1;
  /// Bytes the check may allocate (0: no limit): its arguments, results
  /// and scratch at Batch, estimated before allocating; more is an Error
  /// with the estimate.
  uint64_t MemoryLimit = 0;
};

struct ParamCheck {
  std::string Name;
  std::string Type;
  int64_t Checked = 0; ///< elements compared
  double MaxAbsErr = 0, MaxRelErr = 0;
  double MaxAbsGrad = 0; ///< largest |analytic gradient| seen
  bool Pass = false;
  /// The first element whose analytic or numerical gradient is not finite
  /// ("analytic gradient nan at index 3"); the errors are then nan or inf.
  std::string NonFinite;
};

struct GradCheckResult {
  bool Ok = false;                   ///< every parameter passed and no error
  std::string Error;                 ///< compile or run failure
  std::vector<std::string> Warnings; ///< from the autodiff pass
  std::vector<ParamCheck> Params;
  size_t ForwardOps = 0, TrainOps = 0;
};

/// The passes building the checked @train_step: autodiff and cleanups.
inline constexpr const char *kGradCheckPipeline =
    "autodiff,canonicalize,constant-fold,cse,dce";

/// Checks the gradients of \p M's @forward (which it copies). When the
/// pipeline cannot be built, a pass or the compile fails, or @train_step or
/// @forward rejects the random arguments, Error says so and Ok is false.
GradCheckResult gradCheck(const Module &M, const GradCheckOptions &O);

struct ModelSpec;
/// Draws the parameters that a model initialises from a uniform range
/// (`uniform(lo, hi)`, `kaiming_uniform` and `uniform_fan_in` with a known
/// fan-in) from that range instead of [Lo, Hi]: a gradient is checked where
/// training starts, which keeps recurrences with many units and steps (an
/// LSTM of 256 units over 64 steps) out of the chaotic regime that weights
/// of size 1 put them in. Ranges already set are kept.
void rangesFromInitialisers(const ModelSpec &Spec, GradCheckOptions &O);

/// The table `adjc --gradcheck` prints.
std::string formatGradCheck(const GradCheckResult &R);

} // namespace adj

#endif
