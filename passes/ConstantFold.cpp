//===- ConstantFold.cpp - Folding ops of constants ------------------------===//
///
/// A constant op stands for a tensor whose elements all equal its `value`,
/// so an elementwise op of constants is one scalar computation: the op is
/// turned in place into `constant {value = f(a, b)}` of its own type (and
/// location), and later ops see it as a constant in the same forward sweep.
/// The scalar semantics are codegen's (relu(NaN) = NaN, maximum keeps a on
/// ties, masks are 0 or 1, leaky_relu's alpha defaults to 0.01 and elu's to
/// 1). Values are computed in double and rounded to 15 significant digits,
/// so pow(0.9, 2) folds to 0.81.
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

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <optional>
#include <string>

namespace adj {

namespace {

using K = OpKind;

double sigmoid(double X) { return 1 / (1 + std::exp(-X)); }

/// f(x) of a unary op, as codegen computes it.
std::optional<double> unary(OpKind Kind, double X, double Alpha) {
  switch (Kind) {
  case K::Neg:
    return -X;
  case K::Exp:
    return std::exp(X);
  case K::Log:
    return std::log(X);
  case K::Sqrt:
    return std::sqrt(X);
  case K::Rsqrt:
    return 1 / std::sqrt(X);
  case K::Abs:
    return std::fabs(X);
  case K::Sin:
    return std::sin(X);
  case K::Cos:
    return std::cos(X);
  case K::Tanh:
    return std::tanh(X);
  case K::Sigmoid:
    return sigmoid(X);
  case K::Relu:
    return X <= 0 ? 0 : X;
  case K::LeakyRelu:
    return X > 0 ? X : Alpha * X;
  case K::Elu:
    return X > 0 ? X : Alpha * std::expm1(X);
  case K::Gelu:
    return 0.5 * X * (1 + std::erf(X * M_SQRT1_2));
  case K::Softplus:
    return (X > 0 ? X : 0) + std::log1p(std::exp(-std::fabs(X)));
  case K::Swish:
    return X * sigmoid(X);
  default:
    return std::nullopt;
  }
}

/// f'(x) of a unary op, as codegen computes it.
std::optional<double> derivative(OpKind Kind, double X, double Alpha) {
  switch (Kind) {
  case K::Neg:
    return -1.0;
  case K::Exp:
    return std::exp(X);
  case K::Log:
    return 1 / X;
  case K::Sqrt:
    return 0.5 / std::sqrt(X);
  case K::Rsqrt:
    return -0.5 / (X * std::sqrt(X));
  case K::Abs:
    return X > 0 ? 1.0 : X < 0 ? -1.0 : 0.0;
  case K::Sin:
    return std::cos(X);
  case K::Cos:
    return -std::sin(X);
  case K::Tanh:
    return 1 - std::tanh(X) * std::tanh(X);
  case K::Sigmoid:
    return sigmoid(X) * (1 - sigmoid(X));
  case K::Relu:
    return X > 0 ? 1.0 : 0.0;
  case K::LeakyRelu:
    return X > 0 ? 1.0 : Alpha;
  case K::Elu:
    return X > 0 ? 1.0 : Alpha * std::exp(X);
  case K::Gelu:
    return 0.5 * (1 + std::erf(X * M_SQRT1_2)) +
           X * std::exp(-0.5 * X * X) * 0.5 * M_2_SQRTPI * M_SQRT1_2;
  case K::Softplus:
    return sigmoid(X);
  case K::Swish:
    return sigmoid(X) + X * sigmoid(X) * (1 - sigmoid(X));
  default:
    return std::nullopt;
  }
}

std::optional<double> binary(OpKind Kind, double A, double B) {
  switch (Kind) {
  case K::Add:
    return A + B;
  case K::Sub:
    return A - B;
  case K::Mul:
    return A * B;
  case K::Div:
    return A / B;
  case K::Pow:
    return std::pow(A, B);
  case K::Maximum:
    return B > A ? B : A;
  case K::Minimum:
    return B < A ? B : A;
  case K::GreaterMask:
    return A > B ? 1.0 : 0.0;
  case K::GreaterEqualMask:
    return A >= B ? 1.0 : 0.0;
  case K::EqualMask:
    return A == B ? 1.0 : 0.0;
  case K::NotEqualMask:
    return A != B ? 1.0 : 0.0;
  default:
    return std::nullopt;
  }
}

/// The value of an elementwise op of constants \p V.
std::optional<double> elementwise(const Op &O, const std::vector<double> &V) {
  double Alpha = O.floatAttr(
      "alpha",
      O.Kind == K::LeakyRelu || O.Kind == K::LeakyReluGrad ? 0.01 : 1.0);
  if (hasProp(O.Kind, props::Unary))
    return unary(O.Kind, V[0], Alpha);
  if (hasProp(O.Kind, props::Binary))
    return binary(O.Kind, V[0], V[1]);
  // A unary op's adjoint, dy * f'(x): its forward op comes just before it.
  for (unsigned I = 0; I < unsigned(K::NumOps); ++I)
    if (unaryGradOf(OpKind(I)) == O.Kind) {
      std::optional<double> D = derivative(OpKind(I), V[1], Alpha);
      return D ? std::optional<double>(V[0] * *D) : std::nullopt;
    }
  return std::nullopt;
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
