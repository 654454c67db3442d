//===- ConstantFold.cpp - Folding ops of constants ------------------------===//
///
/// A constant op stands for a tensor whose elements all equal its `value`,
/// so an elementwise op of constants is one scalar computation: the op is
/// turned in place into `constant {value = f(a, b)}` of its own type (and
/// location), and later ops see it as a constant in the same forward sweep.
/// The scalar semantics are codegen's: both evaluate the one formula of
/// ir/ElementwiseMath.h (relu(NaN) = NaN, maximum keeps a on ties, masks are
/// 0 or 1, attribute defaults from Ops.def). Values are computed in double and
/// rounded to 15 significant digits, so pow(0.9, 2) folds to 0.81.
///
/// Shape ops of a constant fold to a constant of the new shape (pad only
/// of zeros, concat only of equal fills). A
/// reduction of a constant over static axes folds to value * count (sum),
/// or value (mean, max, min); `count` folds from its operand's type alone.
/// Ops whose value depends on the run-time batch size (a sum or count over
/// the batch dim) are left alone, as are reductions over an empty axis and
/// integer results.
///
//===----------------------------------------------------------------------===//
#include "passes/ConstantFold.h"

#include "ir/ElementwiseMath.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <optional>
#include <string>

namespace adj {

namespace {

using K = OpKind;

/// The value of an elementwise op of constants \p V: the formula codegen
/// emits (ir/ElementwiseMath.h), evaluated in double.
std::optional<double> elementwise(const Op &O, const std::vector<double> &V) {
  ScalarMath M;
  return math::elementwiseValue(M, O.Kind, O.Attributes, V);
}

/// The value of a reduction (or count) of a tensor of type \p X filled
/// with \p V, or nullopt when it depends on the batch size or is empty.
std::optional<double> reduction(const Op &O, const TensorType &X, double V) {
  double Count = 1;
  bool OverBatch = false;
  for (int64_t A : reduceAxes(O.Attributes, X.rank())) {
    OverBatch |= X.Dims[A] == kBatch;
    Count *= X.Dims[A] == kBatch ? 1 : double(X.Dims[A]);
  }
  switch (O.Kind) {
  case K::Count:
    return OverBatch ? std::nullopt : std::optional<double>(Count);
  case K::ReduceSum:
    return OverBatch ? std::nullopt : std::optional<double>(V * Count);
  case K::ReduceMean:
  case K::ReduceMax:
  case K::ReduceMin:
    return Count == 0 ? std::nullopt : std::optional<double>(V);
  default:
    return std::nullopt;
  }
}

/// \p V rounded to 15 significant digits: 0.9 * 0.9 prints as 0.81.
double round15(double V) {
  return std::strtod(fmt::format("{:.15g}", V).c_str(), nullptr);
}

/// The folded value of \p O, or nullopt.
std::optional<double> fold(const Op &O) {
  if (O.Kind == K::Constant || !isFloat(O.Result.Type.Elt))
    return std::nullopt;
  if (O.Kind == K::Count)
    return reduction(O, O.Operands[0]->Type, 0);
  std::vector<double> V;
  for (const Value *X : O.Operands) {
    if (!X->Def || X->Def->Kind != K::Constant || !isFloat(X->Type.Elt))
      return std::nullopt;
    V.push_back(X->Def->floatAttr("value"));
  }
  if (V.empty())
    return std::nullopt;
  if (hasProp(O.Kind, props::Elementwise))
    return elementwise(O, V);
  if (hasProp(O.Kind, props::Reduction))
    return reduction(O, O.Operands[0]->Type, V[0]);
  if (O.Kind == K::Transpose || O.Kind == K::Reshape ||
      O.Kind == K::BroadcastTo || O.Kind == K::Slice)
    return V[0];
  // Zeros padded with zeros; equal fills joined.
  if (O.Kind == K::Pad && V[0] == 0)
    return 0.0;
  if (O.Kind == K::Concat &&
      std::all_of(V.begin(), V.end(), [&](double X) { return X == V[0]; }))
    return V[0];
  return std::nullopt;
}

class ConstantFoldPass : public Pass {
public:
  const char *name() const override { return "constant-fold"; }
  bool run(Module &M, PassContext &) override {
    for (auto &F : M.Functions)
      for (auto &O : F->Ops)
        if (std::optional<double> V = fold(*O)) {
          O->Kind = K::Constant;
          O->Operands.clear();
          O->Attributes = {{"value", round15(*V)}};
        }
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createConstantFoldPass() {
  return std::make_unique<ConstantFoldPass>();
}

} // namespace adj
