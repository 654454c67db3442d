//===- GradRules.h - The one table of gradient rules ------------*- C++ -*-===//
///
/// One rule per differentiable op: given the forward op and the adjoint of
/// its result, the rule emits IR computing the adjoint of each operand that
/// needs one. Rules only build ops; accumulation over several uses and the
/// order of visiting are the autodiff pass's job.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_PASSES_GRADRULES_H
#define ADJ_PASSES_GRADRULES_H

#include "ir/IR.h"

#include <string>
#include <vector>

namespace adj {

struct PassContext;

struct GradContext {
  Builder &B;
  const Op &O;
  Value *DY;                  ///< Adjoint of O's result, same type.
  std::vector<bool> Needs;    ///< Per operand: is its adjoint wanted?
  std::vector<Value *> Grads; ///< Out: per operand adjoint, or null.
  /// For a scan: the module (its body's adjoint becomes a function), the
  /// sibling scans of O's loop (ir/Scan.h; O is the first) and each one's
  /// adjoint or null (then DY is null).
  Module *M = nullptr;
  PassContext *Ctx = nullptr;
  std::vector<const Op *> Group;
  std::vector<Value *> GroupDY;
  /// Out: what makes the op impossible to differentiate, or "".
  std::string Error;

  /// Sums \p G over the dims that were broadcast to reach it from \p To.
  Value *unbroadcast(Value *G, const TensorType &To);
  Value *constant(double V) {
    return B.constant(V, O.Result.Type.Elt == DType::F64 ? DType::F64
                                                         : DType::F32);
  }
};

using GradRule = void (*)(GradContext &);

/// The scan rule (ScanGrad.cpp): one reverse scan for a loop's siblings.
void scanGradRule(GradContext &C);

/// Test-only: breaks the scan rule on purpose, so that a mutation test can
/// prove the gradient checks catch a wrong backpropagation through time.
enum class ScanGradMutation {
  None,
  NoShift, ///< Each step recomputed from its own carry, not the previous.
  OneStep, ///< No adjoint flows to earlier steps (truncated to one step).
};
void setScanGradMutationForTesting(ScanGradMutation M);

/// The rule of \p K, or null when it has none.
GradRule gradRule(OpKind K);

/// Test-only: replaces the rule of \p K (returns the old one), so a mutation
/// test can prove that gradient checks catch a wrong rule.
GradRule replaceGradRuleForTesting(OpKind K, GradRule R);

} // namespace adj

#endif
