//===- GradRules.cpp - Adjoints of every differentiable op ----------------===//
///
/// The gradient-rule table. Each entry reads the forward op's operands and
/// result and the result's adjoint DY and emits the operand adjoints.
/// tanh's adjoint reads its output: dy * (1 - y^2). Conventions: relu and
/// abs have subgradient 0 at 0; maximum/minimum send
/// the whole gradient to `a` on ties; reduce_max/min share it equally among
/// tied maxima; pow's exponent gradient uses log(a) (defined for a > 0).
/// Broadcast operands get their adjoint summed back to their own shape
/// (for matmul, its broadcast batch dims). slice and pad are each other's
/// adjoints; concat's operands get slices of the adjoint. conv2d's adjoints
/// are ops of their own (conv2d_grad_input, conv2d_grad_weight), and so are
/// the pools' (max_pool2d_grad sends each window's adjoint to the window's
/// first maximum in row-major order). dropout's adjoint is dropout of the
/// adjoint with the same key (the same mask). embedding's adjoint is
/// embedding_grad, which adds the rows of dy into the rows of the table
/// their ids picked.
///
//===----------------------------------------------------------------------===//
#include "passes/GradRules.h"

#include <algorithm>
#include <array>
#include <utility>

namespace adj {

using K = OpKind;

Value *GradContext::unbroadcast(Value *G, const TensorType &To) {
  const std::vector<int64_t> &From = G->Type.Dims;
  if (From == To.Dims)
    return G;
  size_t Lead = From.size() - To.rank();
  std::vector<int64_t> Axes;
  for (size_t I = 0; I < From.size(); ++I)
    if (I < Lead || (To.Dims[I - Lead] == 1 && From[I] != 1))
      Axes.push_back(I);
  Value *S = G;
  if (!Axes.empty())
    S = B.create(K::ReduceSum, {G}, {{"axes", Axes}, {"keepdims", true}});
  if (S->Type.Dims != To.Dims)
    S = B.create(K::Reshape, {S}, {{"shape", To.Dims}});
  return S;
}

static Value *mul(GradContext &C, Value *A, Value *B) {
  return C.B.create(K::Mul, {A, B});
}

/// Shape of \p X reduced by op \p O (a reduction) with keepdims = true.
static std::vector<int64_t> keptShape(const Op &O) {
  const TensorType &X = O.Operands[0]->Type;
  std::vector<int64_t> Axes = reduceAxes(O.Attributes, X.rank());
  std::vector<int64_t> D = X.Dims;
  for (int64_t A : Axes)
    D[A] = 1;
  return D;
}

/// Adjoint of a sum-like reduction: DY broadcast back to the input shape.
static Value *expandReduced(GradContext &C, Value *V) {
  std::vector<int64_t> Kept = keptShape(C.O);
  if (V->Type.Dims != Kept)
    V = C.B.create(K::Reshape, {V}, {{"shape", Kept}});
  return C.B.create(K::BroadcastTo, {V},
                    {{"shape", C.O.Operands[0]->Type.Dims}});
}

/// dx = f_grad(dy, x). relu and leaky_relu with alpha >= 0 read their
/// output instead of x: its sign is x's, so the derivative is the same, and
/// the pre-activation x need not be kept for the backward pass (fuse can
/// then fold bias and activation into the matmul computing x).
static void unaryRule(GradContext &C) {
  // The adjoint of a max pool over this relu's output, already masked.
  const Op *D = C.DY->Def;
  if (C.O.Kind == K::Relu && D && D->Kind == K::MaxPool2dGrad &&
      D->boolAttr("relu") && D->Operands[1] == &C.O.Result) {
    C.Grads[0] = C.DY;
    return;
  }
  bool SignOfOutput = C.O.Kind == K::Relu ||
                      (C.O.Kind == K::LeakyRelu && C.O.attrOr("alpha") >= 0);
  Value *X = SignOfOutput ? const_cast<Value *>(&C.O.Result) : C.O.Operands[0];
  // The _grad op takes the op's attributes (Ops.def's UNARY).
  C.Grads[0] = C.B.create(*unaryGradOf(C.O.Kind), {C.DY, X}, C.O.Attributes);
}

/// tanh: dx = dy * (1 - y^2) from its output y, which the forward pass
/// keeps anyway (the next layer reads it): tanh is not evaluated again in
/// the backward pass, and the pre-activation need not be kept for it. The
/// ops are plain mul and sub, so fuse folds them into one loop.
static void tanhRule(GradContext &C) {
  Value *Y = const_cast<Value *>(&C.O.Result);
  Value *D = C.B.create(K::Sub, {C.constant(1), mul(C, Y, Y)});
  C.Grads[0] = mul(C, C.DY, D);
}

static void addRule(GradContext &C) {
  for (int I = 0; I < 2; ++I)
    if (C.Needs[I])
      C.Grads[I] = C.unbroadcast(C.DY, C.O.Operands[I]->Type);
}

static void subRule(GradContext &C) {
  if (C.Needs[0])
    C.Grads[0] = C.unbroadcast(C.DY, C.O.Operands[0]->Type);
  if (C.Needs[1])
    C.Grads[1] =
        C.unbroadcast(C.B.create(K::Neg, {C.DY}), C.O.Operands[1]->Type);
}

static void mulRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  if (C.Needs[0])
    C.Grads[0] = C.unbroadcast(mul(C, C.DY, B), A->Type);
  if (C.Needs[1])
    C.Grads[1] = C.unbroadcast(mul(C, C.DY, A), B->Type);
}

static void divRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  Value *GA = C.B.create(K::Div, {C.DY, B});
  if (C.Needs[0])
    C.Grads[0] = C.unbroadcast(GA, A->Type);
  if (C.Needs[1]) {
    // d(a/b)/db = -(a/b)/b; dy/b is already at hand.
    Value *Out = const_cast<Value *>(&C.O.Result);
    C.Grads[1] = C.unbroadcast(C.B.create(K::Neg, {mul(C, GA, Out)}), B->Type);
  }
}

static void powRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  Value *Out = const_cast<Value *>(&C.O.Result);
  if (C.Needs[0]) {
    Value *Bm1 = C.B.create(K::Sub, {B, C.constant(1)});
    Value *D = mul(C, B, C.B.create(K::Pow, {A, Bm1}));
    C.Grads[0] = C.unbroadcast(mul(C, C.DY, D), A->Type);
  }
  if (C.Needs[1]) {
    Value *D = mul(C, Out, C.B.create(K::Log, {A}));
    C.Grads[1] = C.unbroadcast(mul(C, C.DY, D), B->Type);
  }
}

/// maximum: a wins ties (mask = a >= b); minimum: a wins ties (b >= a).
static void minMaxRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  Value *M = C.O.Kind == K::Maximum ? C.B.create(K::GreaterEqualMask, {A, B})
                                    : C.B.create(K::GreaterEqualMask, {B, A});
  if (C.Needs[0])
    C.Grads[0] = C.unbroadcast(mul(C, C.DY, M), A->Type);
  if (C.Needs[1]) {
    Value *NotM = C.B.create(K::Sub, {C.constant(1), M});
    C.Grads[1] = C.unbroadcast(mul(C, C.DY, NotM), B->Type);
  }
}

static void transposeRule(GradContext &C) {
  const std::vector<int64_t> &Perm = *C.O.listAttr("perm");
  std::vector<int64_t> Inv(Perm.size());
  for (size_t I = 0; I < Perm.size(); ++I)
    Inv[Perm[I]] = I;
  C.Grads[0] = C.B.create(K::Transpose, {C.DY}, {{"perm", Inv}});
}

static void reshapeRule(GradContext &C) {
  C.Grads[0] =
      C.B.create(K::Reshape, {C.DY}, {{"shape", C.O.Operands[0]->Type.Dims}});
}

static void broadcastToRule(GradContext &C) {
  C.Grads[0] = C.unbroadcast(C.DY, C.O.Operands[0]->Type);
}

static void reduceSumRule(GradContext &C) {
  C.Grads[0] = expandReduced(C, C.DY);
}

static void reduceMeanRule(GradContext &C) {
  Attrs A;
  if (auto *Axes = C.O.listAttr("axes"))
    A["axes"] = *Axes;
  Value *N = C.B.create(K::Count, {C.O.Operands[0]}, A);
  C.Grads[0] = C.B.create(K::Div, {expandReduced(C, C.DY), N});
}

/// Ties share the gradient: dx = dy * mask / count(mask).
static void reduceMaxMinRule(GradContext &C) {
  Value *X = C.O.Operands[0];
  std::vector<int64_t> Kept = keptShape(C.O);
  Value *Out = const_cast<Value *>(&C.O.Result);
  if (Out->Type.Dims != Kept)
    Out = C.B.create(K::Reshape, {Out}, {{"shape", Kept}});
  Value *M = C.O.Kind == K::ReduceMax
                 ? C.B.create(K::GreaterEqualMask, {X, Out})
                 : C.B.create(K::GreaterEqualMask, {Out, X});
  Attrs A{{"keepdims", true}};
  if (auto *Axes = C.O.listAttr("axes"))
    A["axes"] = *Axes;
  Value *Cnt = C.B.create(K::ReduceSum, {M}, A);
  Value *DY = C.DY;
  if (DY->Type.Dims != Kept)
    DY = C.B.create(K::Reshape, {DY}, {{"shape", Kept}});
  Value *Share = C.B.create(K::Div, {DY, Cnt});
  C.Grads[0] = mul(C, M, Share);
}

/// matmul with the transpose flags \p TA and \p TB (set only when true).
static Value *matmul(GradContext &C, Value *A, Value *B, bool TA, bool TB) {
  Attrs At;
  if (TA)
    At["transpose_a"] = true;
  if (TB)
    At["transpose_b"] = true;
  return C.B.create(K::MatMul, {A, B}, At);
}

/// X^T @ Y summed over their equal leading dims: one product over all of
/// their rows (matmul's `reduce_leading`), instead of a batch of products
/// and a reduce_sum over the batch.
static Value *matmulReduced(GradContext &C, Value *X, Value *Y) {
  return C.B.create(K::MatMul, {X, Y},
                    {{"transpose_a", true}, {"reduce_leading", true}});
}

/// For C = op(A) @ op(B), op a transpose when the flag is set:
/// d op(A) = dC @ op(B)^T and d op(B) = op(A)^T @ dC, expressed with the
/// flags instead of materialised transposes, then summed over the batch
/// dims an operand was broadcast along. A 2-D B (a weight) applied to a
/// batch of matrices A[..., M, K] (not read transposed) gets its gradient
/// as one product over all the rows, reduce_leading. With
/// `reduce_leading` itself, C = sum_p A_p^T B_p: dA_p = B_p dC^T and
/// dB_p = A_p dC.
static void matmulRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  bool TA = C.O.boolAttr("transpose_a"), TB = C.O.boolAttr("transpose_b");
  if (C.O.boolAttr("reduce_leading")) {
    if (C.Needs[0])
      C.Grads[0] = matmul(C, B, C.DY, false, true);
    if (C.Needs[1])
      C.Grads[1] = matmul(C, A, C.DY, false, false);
    return;
  }
  if (C.Needs[0]) // dA = dC op(B)^T, or (B-side) op(B) dC^T when A is read^T.
    C.Grads[0] = C.unbroadcast(TA ? matmul(C, B, C.DY, TB, true)
                                  : matmul(C, C.DY, B, false, !TB),
                               A->Type);
  if (!C.Needs[1])
    return;
  // dB = op(A)^T dC, or dC^T op(A) when B is read^T.
  if (B->Type.rank() == 2 && A->Type.rank() > 2 && !TA &&
      C.DY->Type.rank() == A->Type.rank())
    C.Grads[1] = TB ? matmulReduced(C, C.DY, A) : matmulReduced(C, A, C.DY);
  else
    C.Grads[1] = C.unbroadcast(TB ? matmul(C, C.DY, A, true, TA)
                                  : matmul(C, A, C.DY, !TA, false),
                               B->Type);
}

static Value *sliceOf(GradContext &C, Value *V, int64_t Axis, int64_t Start,
                      int64_t End) {
  return C.B.create(K::Slice, {V},
                    {{"axis", Axis}, {"start", Start}, {"end", End}});
}

static void sliceRule(GradContext &C) {
  int64_t Axis = C.O.intAttr("axis"), Start = C.O.intAttr("start");
  int64_t Dim = C.O.Operands[0]->Type.Dims[Axis];
  C.Grads[0] = C.B.create(
      K::Pad, {C.DY},
      {{"axis", Axis}, {"before", Start}, {"after", Dim - C.O.intAttr("end")}});
}

static void padRule(GradContext &C) {
  int64_t Axis = C.O.intAttr("axis"), Before = C.O.intAttr("before");
  int64_t Dim = C.O.Operands[0]->Type.Dims[Axis];
  C.Grads[0] = sliceOf(C, C.DY, Axis, Before, Before + Dim);
}

static void concatRule(GradContext &C) {
  int64_t Axis = C.O.intAttr("axis"), Off = 0;
  for (size_t I = 0; I < C.O.Operands.size(); ++I) {
    int64_t Dim = C.O.Operands[I]->Type.Dims[Axis];
    if (C.Needs[I])
      C.Grads[I] = sliceOf(C, C.DY, Axis, Off, Off + Dim);
    Off += Dim;
  }
}

/// conv2d: dx = conv2d_grad_input(dy, w) and dw = conv2d_grad_weight(dy,
/// x), with the forward's attributes and the spatial size the adjoint
/// cannot recover from dy: x's [H, W] (a stride can leave rows out of every
/// window) and w's [KH, KW].
static void conv2dRule(GradContext &C) {
  Value *X = C.O.Operands[0], *W = C.O.Operands[1];
  auto Spatial = [](const Value *V) {
    return std::vector<int64_t>{V->Type.Dims[2], V->Type.Dims[3]};
  };
  if (C.Needs[0]) {
    Attrs A = C.O.Attributes;
    A["input_size"] = Spatial(X);
    C.Grads[0] = C.B.create(K::Conv2dGradInput, {C.DY, W}, std::move(A));
  }
  if (C.Needs[1]) {
    Attrs A = C.O.Attributes;
    A["kernel_size"] = Spatial(W);
    C.Grads[1] = C.B.create(K::Conv2dGradWeight, {C.DY, X}, std::move(A));
  }
}

/// max_pool2d: dx = max_pool2d_grad(dy, x), which finds each window's
/// first maximum again; avg_pool2d: dx = avg_pool2d_grad(dy) with x's
/// [H, W] (a stride can leave rows out of every window).
/// When x is a relu's output, the adjoint goes to a window's maximum only
/// where it is > 0 (relu = true): that is relu_grad's mask at that element,
/// so relu's rule (unaryRule) need not read x again nor write another
/// tensor of x's size.
static void maxPool2dRule(GradContext &C) {
  Attrs A = C.O.Attributes;
  const Value *X = C.O.Operands[0];
  if (X->Def && X->Def->Kind == K::Relu)
    A["relu"] = true;
  C.Grads[0] =
      C.B.create(K::MaxPool2dGrad, {C.DY, C.O.Operands[0]}, std::move(A));
}

static void avgPool2dRule(GradContext &C) {
  const std::vector<int64_t> &X = C.O.Operands[0]->Type.Dims;
  Attrs A = C.O.Attributes;
  A["input_size"] = std::vector<int64_t>{X[2], X[3]};
  C.Grads[0] = C.B.create(K::AvgPool2dGrad, {C.DY}, std::move(A));
}

static void softmaxRule(GradContext &C) {
  OpKind G = C.O.Kind == K::Softmax ? K::SoftmaxGrad : K::LogSoftmaxGrad;
  C.Grads[0] = C.B.create(G, {C.DY, const_cast<Value *>(&C.O.Result)},
                          {{"axis", C.O.intAttr("axis")}});
}

static void crossEntropyRule(GradContext &C) {
  C.Grads[0] =
      C.B.create(K::CrossEntropyGrad, {C.DY, C.O.Operands[0], C.O.Operands[1]},
                 {{"label_smoothing", C.O.floatAttr("label_smoothing", 0)}});
}

/// dropout: dx = dropout(dy, seed, step) with the same p and id, so the
/// same mask and scale (the bits are a function of the key, the step and
/// the element index): no mask is stored. seed and step get no adjoint.
static void dropoutRule(GradContext &C) {
  C.Grads[0] = C.B.create(K::Dropout, {C.DY, C.O.Operands[1], C.O.Operands[2]},
                          C.O.Attributes);
}

/// embedding: dtable = embedding_grad(dy, ids) with the table's row count
/// (the ids get no adjoint).
static void embeddingRule(GradContext &C) {
  int64_t Rows = C.O.Operands[0]->Type.Dims[0];
  C.Grads[0] =
      C.B.create(K::EmbeddingGrad, {C.DY, C.O.Operands[1]}, {{"rows", Rows}});
}

static std::array<GradRule, size_t(OpKind::NumOps)> makeTable() {
  std::array<GradRule, size_t(OpKind::NumOps)> T{};
  for (unsigned I = 0; I < unsigned(OpKind::NumOps); ++I)
    if (hasProp(OpKind(I), props::Unary))
      T[I] = unaryRule;
  T[size_t(K::Tanh)] = tanhRule;
  T[size_t(K::Add)] = addRule;
  T[size_t(K::Sub)] = subRule;
  T[size_t(K::Mul)] = mulRule;
  T[size_t(K::Div)] = divRule;
  T[size_t(K::Pow)] = powRule;
  T[size_t(K::Maximum)] = minMaxRule;
  T[size_t(K::Minimum)] = minMaxRule;
  T[size_t(K::Transpose)] = transposeRule;
  T[size_t(K::Reshape)] = reshapeRule;
  T[size_t(K::BroadcastTo)] = broadcastToRule;
  T[size_t(K::Slice)] = sliceRule;
  T[size_t(K::Pad)] = padRule;
  T[size_t(K::Concat)] = concatRule;
  T[size_t(K::ReduceSum)] = reduceSumRule;
  T[size_t(K::ReduceMean)] = reduceMeanRule;
  T[size_t(K::ReduceMax)] = reduceMaxMinRule;
  T[size_t(K::ReduceMin)] = reduceMaxMinRule;
  T[size_t(K::MatMul)] = matmulRule;
  T[size_t(K::Conv2d)] = conv2dRule;
  T[size_t(K::MaxPool2d)] = maxPool2dRule;
  T[size_t(K::AvgPool2d)] = avgPool2dRule;
  T[size_t(K::Softmax)] = softmaxRule;
  T[size_t(K::LogSoftmax)] = softmaxRule;
  T[size_t(K::CrossEntropy)] = crossEntropyRule;
  T[size_t(K::Dropout)] = dropoutRule;
  T[size_t(K::Scan)] = scanGradRule;
  T[size_t(K::Embedding)] = embeddingRule;
  return T;
}

static std::array<GradRule, size_t(OpKind::NumOps)> &table() {
  static std::array<GradRule, size_t(OpKind::NumOps)> T = makeTable();
  return T;
}

GradRule gradRule(OpKind Kind) { return table()[size_t(Kind)]; }

GradRule replaceGradRuleForTesting(OpKind Kind, GradRule R) {
  return std::exchange(table()[size_t(Kind)], R);
}

} // namespace adj
