//===- ElementwiseMath.h - The math of every elementwise op -----*- C++ -*-===//
///
/// The value of each elementwise op of Ops.def, and for unary ops their
/// derivative f'(x), written once over a backend \p M that supplies the
/// arithmetic: ScalarMath below (double, for constant folding and tests) and
/// codegen's LLVM backend (IR instructions on scalars or vectors, in
/// codegen/Elementwise.cpp). The constant folder and the generated code
/// therefore compute the same formula; a test checks that they agree for
/// every unary op at many points (tests/unit/ElementwiseMathTest.cpp).
///
/// A backend has a value type `V` and the members c(X, v) (the constant v of
/// X's type), neg, add, sub, mul, div, pow, exp, log, sqrt, abs, sin, cos,
/// tanh, sigmoid, erf, expm1, log1p, the ordered comparisons gt, ge, lt, le,
/// eq, the unordered ne, select(Cond, A, B) and mask(Cond, Like) (1 or 0 of
/// Like's type).
///
/// Conventions: relu(NaN) = NaN (x <= 0 ? 0 : x), subgradients relu'(0) =
/// abs'(0) = 0 and leaky_relu'(0) = alpha; maximum and minimum keep a on
/// ties (and on NaN in a); softplus is max(x, 0) + log1p(e^-|x|); gelu is
/// the exact erf form. Attributes come from the op's attributes or their
/// Ops.def defaults (leaky_relu's alpha 0.01, elu's 1).
///
/// Adding an elementwise op: its Ops.def entry and a case in value (and
/// derivative for a unary op) below; nothing else.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_ELEMENTWISEMATH_H
#define ADJ_IR_ELEMENTWISEMATH_H

#include "ir/IR.h"

#include <cmath>
#include <optional>

namespace adj {

/// Float attribute \p Name of an elementwise op \p K with attributes \p A:
/// its value, or the Ops.def default.
inline double elementwiseAttr(OpKind K, const Attrs &A, const char *Name) {
  auto It = A.find(Name);
  if (It != A.end())
    if (const double *D = std::get_if<double>(&It->second))
      return *D;
  const AttrSpec *S = opInfo(K).attr(Name);
  return S ? S->Default : 0;
}

namespace math {

template <typename M, typename V = typename M::V>
V ifPositive(M &m, V X, V A, V B) {
  return m.select(m.gt(X, m.c(X, 0)), A, B);
}

/// f(x) of the unary op \p K; nullopt when \p K is not a unary op.
template <typename M, typename V = typename M::V>
std::optional<V> unaryValue(M &m, OpKind K, const Attrs &A, V X) {
  auto C = [&](double Value) { return m.c(X, Value); };
  switch (K) {
  case OpKind::Neg:
    return m.neg(X);
  case OpKind::Exp:
    return m.exp(X);
  case OpKind::Log:
    return m.log(X);
  case OpKind::Sqrt:
    return m.sqrt(X);
  case OpKind::Rsqrt:
    return m.div(C(1), m.sqrt(X));
  case OpKind::Abs:
    return m.abs(X);
  case OpKind::Sin:
    return m.sin(X);
  case OpKind::Cos:
    return m.cos(X);
  case OpKind::Tanh:
    return m.tanh(X);
  case OpKind::Sigmoid:
    return m.sigmoid(X);
  case OpKind::Relu: // x <= 0 ? 0 : x, so that NaN propagates.
    return m.select(m.le(X, C(0)), C(0), X);
  case OpKind::LeakyRelu:
    return ifPositive(m, X, X, m.mul(C(elementwiseAttr(K, A, "alpha")), X));
  case OpKind::Elu:
    return ifPositive(m, X, X,
                      m.mul(C(elementwiseAttr(K, A, "alpha")), m.expm1(X)));
  case OpKind::Gelu: {
    V Erf = m.erf(m.mul(X, C(M_SQRT1_2)));
    return m.mul(m.mul(C(0.5), X), m.add(C(1), Erf));
  }
  case OpKind::Softplus: {
    V L = m.log1p(m.exp(m.neg(m.abs(X))));
    return m.add(ifPositive(m, X, X, C(0)), L);
  }
  case OpKind::Swish:
    return m.mul(X, m.sigmoid(X));
  default:
    return std::nullopt;
  }
}

/// f'(x) of the unary op \p K; nullopt when \p K is not a unary op.
template <typename M, typename V = typename M::V>
std::optional<V> unaryDerivative(M &m, OpKind K, const Attrs &A, V X) {
  auto C = [&](double Value) { return m.c(X, Value); };
  switch (K) {
  case OpKind::Neg:
    return C(-1);
  case OpKind::Exp:
    return m.exp(X);
  case OpKind::Log:
    return m.div(C(1), X);
  case OpKind::Sqrt:
    return m.div(C(0.5), m.sqrt(X));
  case OpKind::Rsqrt: // -1/2 x^-3/2
    return m.div(C(-0.5), m.mul(X, m.sqrt(X)));
  case OpKind::Abs: {
    V Neg = m.select(m.lt(X, C(0)), C(-1), C(0));
    return ifPositive(m, X, C(1), Neg);
  }
  case OpKind::Sin:
    return m.cos(X);
  case OpKind::Cos:
    return m.neg(m.sin(X));
  case OpKind::Tanh: {
    V T = m.tanh(X);
    return m.sub(C(1), m.mul(T, T));
  }
  case OpKind::Sigmoid: {
    V S = m.sigmoid(X);
    return m.mul(S, m.sub(C(1), S));
  }
  case OpKind::Relu:
    return ifPositive(m, X, C(1), C(0));
  case OpKind::LeakyRelu:
    return ifPositive(m, X, C(1), C(elementwiseAttr(K, A, "alpha")));
  case OpKind::Elu:
    return ifPositive(m, X, C(1),
                      m.mul(C(elementwiseAttr(K, A, "alpha")), m.exp(X)));
  case OpKind::Gelu: { // Phi(x) + x phi(x)
    V Erf = m.erf(m.mul(X, C(M_SQRT1_2)));
    V Phi = m.mul(C(0.5), m.add(C(1), Erf));
    V E = m.exp(m.mul(C(-0.5), m.mul(X, X)));
    V Pdf = m.mul(E, C(0.5 * M_2_SQRTPI * M_SQRT1_2));
    return m.add(Phi, m.mul(X, Pdf));
  }
  case OpKind::Softplus:
    return m.sigmoid(X);
  case OpKind::Swish: { // s + x s (1 - s)
    V S = m.sigmoid(X);
    V XS = m.mul(X, S);
    return m.add(S, m.mul(XS, m.sub(C(1), S)));
  }
  default:
    return std::nullopt;
  }
}

/// a op b for the binary op \p K; nullopt when \p K is not a binary op.
template <typename M, typename V = typename M::V>
std::optional<V> binaryValue(M &m, OpKind K, V A, V B) {
  switch (K) {
  case OpKind::Add:
    return m.add(A, B);
  case OpKind::Sub:
    return m.sub(A, B);
  case OpKind::Mul:
    return m.mul(A, B);
  case OpKind::Div:
    return m.div(A, B);
  case OpKind::Pow:
    return m.pow(A, B);
  case OpKind::Maximum: // Ties and NaN in a give a.
    return m.select(m.gt(B, A), B, A);
  case OpKind::Minimum:
    return m.select(m.lt(B, A), B, A);
  case OpKind::GreaterMask:
    return m.mask(m.gt(A, B), A);
  case OpKind::GreaterEqualMask:
    return m.mask(m.ge(A, B), A);
  case OpKind::EqualMask:
    return m.mask(m.eq(A, B), A);
  case OpKind::NotEqualMask:
    return m.mask(m.ne(A, B), A);
  default:
    return std::nullopt;
  }
}

/// The value of the elementwise op \p K over its operands, read with
/// \p Arg(i) when needed: f(x) for a unary op, dy * f'(x) for its `_grad`
/// op (operands dy, x), a op b for a binary op. Operands are read last to
/// first, and dy after f'(x) is built (the order codegen's loads take).
template <typename M, typename ArgFn, typename V = typename M::V>
std::optional<V> elementwiseValueFrom(M &m, OpKind K, const Attrs &A,
                                      ArgFn &&Arg) {
  if (hasProp(K, props::Unary))
    return unaryValue(m, K, A, Arg(0));
  if (std::optional<OpKind> Fwd = unaryForwardOf(K)) {
    std::optional<V> D = unaryDerivative(m, *Fwd, A, Arg(1));
    if (!D)
      return std::nullopt;
    return m.mul(Arg(0), *D);
  }
  if (hasProp(K, props::Binary)) {
    V B = Arg(1);
    return binaryValue(m, K, Arg(0), B);
  }
  return std::nullopt;
}

/// elementwiseValue over the operand values \p Args.
template <typename M, typename V = typename M::V>
std::optional<V> elementwiseValue(M &m, OpKind K, const Attrs &A,
                                  const std::vector<V> &Args) {
  return elementwiseValueFrom(m, K, A, [&](unsigned I) { return Args[I]; });
}

} // namespace math

/// The double backend: the math of ElementwiseMath.h on doubles.
struct ScalarMath {
  using V = double;
  V c(V, double Value) const { return Value; }
  V neg(V X) const { return -X; }
  V add(V A, V B) const { return A + B; }
  V sub(V A, V B) const { return A - B; }
  V mul(V A, V B) const { return A * B; }
  V div(V A, V B) const { return A / B; }
  V pow(V A, V B) const { return std::pow(A, B); }
  V exp(V X) const { return std::exp(X); }
  V log(V X) const { return std::log(X); }
  V sqrt(V X) const { return std::sqrt(X); }
  V abs(V X) const { return std::fabs(X); }
  V sin(V X) const { return std::sin(X); }
  V cos(V X) const { return std::cos(X); }
  V tanh(V X) const { return std::tanh(X); }
  V sigmoid(V X) const { return 1 / (1 + std::exp(-X)); }
  V erf(V X) const { return std::erf(X); }
  V expm1(V X) const { return std::expm1(X); }
  V log1p(V X) const { return std::log1p(X); }
  bool gt(V A, V B) const { return A > B; }
  bool ge(V A, V B) const { return A >= B; }
  bool lt(V A, V B) const { return A < B; }
  bool le(V A, V B) const { return A <= B; }
  bool eq(V A, V B) const { return A == B; }
  bool ne(V A, V B) const { return A != B; } ///< True for NaN (unordered).
  V select(bool Cond, V A, V B) const { return Cond ? A : B; }
  V mask(bool Cond, V) const { return Cond ? 1 : 0; }
};

} // namespace adj

#endif
