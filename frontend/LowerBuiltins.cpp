//===- LowerBuiltins.cpp - Builtin calls to ops ---------------------------===//
///
/// Most builtins are one op of ir/Ops.def with attributes taken from
/// constant arguments (`axis`, `keepdims`, `alpha`, …), normalised so that
/// every axis is non-negative. The rest are composites, written with
/// differentiable ops only so that autodiff needs no rule of its own:
///
///   where(c, a, b)      = c * a + (1 - c) * b       (c a 0/1 mask)
///   clamp(x, lo, hi)    = minimum(maximum(x, lo), hi)
///   logsumexp(x, axes)  = m + log(sum(exp(x - m))), m = max(x, axes)
///   nll(logp, y)        = cross_entropy(logp, y) - mean(logsumexp(logp, -1))
///   mse(p, t)           = mean((p - t) * (p - t))
///   l1(p, t)            = mean(|p - t|)
///   huber(p, t, delta)  = mean(m * 0.5 d^2 + (1 - m) * delta * (|d| -
///   delta/2)),
///                         d = p - t, m = ge_mask(delta, |d|)
///   bce_with_logits(z, t) = mean(softplus(z) - z * t)
///   stack([a, b], axis)   = concat of the operands reshaped with a new
///                           axis of size 1 at `axis`
///   conv2d(x, w, b, ...)  = conv2d(x, w) + reshape(b, [O, 1, 1]), so that
///                           the bias is an elementwise add the fuse pass
///                           can merge with what follows; `padding = "same"`
///                           is resolved here (ir/Conv2d.h's samePadding)
///   max_pool2d(x, kernel, stride, padding) and avg_pool2d: one op each,
///                           kernel, stride and padding normalised to
///                           [h, w], stride = kernel unless given
///
/// nll is exact: cross_entropy(x, y) averages logsumexp(x) - x[y] over the
/// rows, so subtracting the mean row logsumexp leaves -mean(x[y]).
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"
#include "ir/Conv2d.h"
#include "ir/Pool2d.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace adj {

static std::vector<int64_t> allAxes(unsigned Rank) {
  std::vector<int64_t> Axes(Rank);
  for (unsigned I = 0; I < Rank; ++I)
    Axes[I] = I;
  return Axes;
}

Value *Lowerer::tensorArg(const Expr &E, bool NeedFloat) {
  Lowered O = expr(E);
  if (!O)
    return nullptr;
  Value *V = tensor(*O);
  if (NeedFloat && !requireFloat(V, O->L))
    return nullptr;
  return V;
}

std::optional<double> Lowerer::numberArg(const Expr *E, double Default) {
  if (!E)
    return Default;
  Lowered O = expr(*E);
  if (!O)
    return std::nullopt;
  if (!O->isNum()) {
    error(E->L, "expected a number");
    return std::nullopt;
  }
  return O->Num;
}

std::optional<int64_t> Lowerer::intArg(const Expr &E) {
  Lowered O;
  if (E.Kind != ExprKind::List && !(O = expr(E)))
    return std::nullopt;
  if (!O || !O->isNum() || !(std::fabs(O->Num) < 9.0e15) ||
      O->Num != std::floor(O->Num)) {
    error(E.L, "expected an integer");
    return std::nullopt;
  }
  return int64_t(O->Num);
}

std::optional<bool> Lowerer::boolArg(const Expr *E, bool Default) {
  if (!E)
    return Default;
  if (E->Kind == ExprKind::Bool)
    return E->BoolVal;
  error(E->L, "expected true or false");
  return std::nullopt;
}

std::optional<std::vector<int64_t>> Lowerer::intListArg(const Expr &E,
                                                        bool IsShape) {
  std::vector<const Expr *> Items;
  if (E.Kind == ExprKind::List)
    for (const ExprPtr &I : E.Args)
      Items.push_back(I.get());
  else
    Items.push_back(&E);
  std::vector<int64_t> Out;
  for (const Expr *I : Items) {
    if (IsShape && I->Kind == ExprKind::Name && I->Text == Info.Batch) {
      Out.push_back(kBatch);
      continue;
    }
    auto V = intArg(*I);
    if (!V)
      return std::nullopt;
    if (IsShape && *V <= 0) {
      error(I->L, fmt::format("expected a positive dimension or '{}', got {}",
                              Info.Batch, *V));
      return std::nullopt;
    }
    Out.push_back(*V);
  }
  return Out;
}

std::optional<int64_t> Lowerer::axisArg(const Expr *E, const TensorType &T,
                                        const Loc &L) {
  int64_t Axis = -1;
  if (E) {
    auto V = intArg(*E);
    if (!V)
      return std::nullopt;
    Axis = *V;
  }
  if (auto N = normAxis(Axis, T.rank()))
    return *N;
  error(E ? E->L : L,
        fmt::format("axis {} is out of range for {}", Axis, str(T)));
  return std::nullopt;
}

std::optional<std::vector<int64_t>> Lowerer::axesArg(const Expr *E,
                                                     const TensorType &T) {
  if (!E)
    return allAxes(T.rank());
  auto Raw = intListArg(*E, /*IsShape=*/false);
  if (!Raw)
    return std::nullopt;
  std::vector<int64_t> Axes;
  for (int64_t A : *Raw) {
    auto N = normAxis(A, T.rank());
    if (!N) {
      error(E->L, fmt::format("axis {} is out of range for {}", A, str(T)));
      return std::nullopt;
    }
    if (std::count(Axes.begin(), Axes.end(), *N)) {
      error(E->L, fmt::format("axis {} is repeated", A));
      return std::nullopt;
    }
    Axes.push_back(*N);
  }
  std::sort(Axes.begin(), Axes.end());
  return Axes;
}

Value *Lowerer::reduce(OpKind K, Value *X, const std::vector<int64_t> &Axes,
                       bool KeepDims, const Loc &L) {
  if (!X)
    return nullptr;
  Attrs A;
  A["keepdims"] = KeepDims;
  if (Axes.size() != X->Type.rank())
    A["axes"] = Axes;
  return emit(K, {X}, std::move(A), L);
}

Value *Lowerer::logSumExp(Value *X, const std::vector<int64_t> &Axes,
                          const Loc &L) {
  Value *M = reduce(OpKind::ReduceMax, X, Axes, true, L);
  Value *E = emit(OpKind::Exp, {emit(OpKind::Sub, {X, M}, {}, L)}, {}, L);
  Value *S = reduce(OpKind::ReduceSum, E, Axes, true, L);
  return emit(OpKind::Add, {M, emit(OpKind::Log, {S}, {}, L)}, {}, L);
}

void Lowerer::addLabels(Value *Labels, Value *Logits, const Loc &L) {
  if (!Labels || !Logits || !Labels->isArg() || Logits->Type.isScalar() ||
      F->Roles[Labels->ArgNo] != ArgRole::Input)
    return;
  int64_t Classes = Logits->Type.Dims.back();
  if (Classes == kBatch)
    return;
  for (const LabelSpec &S : Spec.Labels)
    if (S.Input == Labels->Name && S.Classes == Classes)
      return;
  Spec.Labels.push_back({Labels->Name, Classes, L});
}

Value *Lowerer::pointwiseLoss(const Builtin &Bi,
                              const std::vector<const Expr *> &Args,
                              const Loc &L) {
  Lowered P = expr(*Args[0]), T = expr(*Args[1]);
  if (!P || !T)
    return nullptr;
  if (P->V && T->V && P->V->Type.Dims != T->V->Type.Dims) {
    error(L, fmt::format("'{}' expects {} and {} of one shape, got {} and {}",
                         Bi.Name, Bi.Params[0], Bi.Params[1], str(P->V->Type),
                         str(T->V->Type)));
    return nullptr;
  }
  auto cst = [&](double V, DType Elt) {
    B->CurLoc = L;
    return B->constant(V, Elt);
  };
  auto op = [&](OpKind K, std::vector<Value *> Ops) {
    return emit(K, std::move(Ops), {}, L);
  };
  auto mean = [&](Value *X) {
    return X ? reduce(OpKind::ReduceMean, X, allAxes(X->Type.rank()), false, L)
             : nullptr;
  };
  if (Bi.Kind == BuiltinKind::BceWithLogits) {
    Value *Z = tensor(*P);
    if (!requireFloat(Z, P->L))
      return nullptr;
    Value *ZT = binary(OpKind::Mul, Operand{Z, 0, P->L}, *T, L);
    return mean(op(OpKind::Sub, {op(OpKind::Softplus, {Z}), ZT}));
  }
  Value *D = binary(OpKind::Sub, *P, *T, L);
  if (!D)
    return nullptr;
  if (Bi.Kind == BuiltinKind::Mse)
    return mean(op(OpKind::Mul, {D, D}));
  Value *Abs = op(OpKind::Abs, {D});
  if (Bi.Kind == BuiltinKind::L1)
    return mean(Abs);
  auto Delta = numberArg(Args[2], Bi.Default);
  if (!Delta)
    return nullptr;
  if (!(*Delta > 0)) {
    error(Args[2]->L, fmt::format("'delta' must be positive, got {}", *Delta));
    return nullptr;
  }
  DType Elt = D->Type.Elt;
  Value *DeltaV = cst(*Delta, Elt);
  Value *M = op(OpKind::GreaterEqualMask, {DeltaV, Abs});
  Value *Quad = op(OpKind::Mul, {op(OpKind::Mul, {cst(0.5, Elt), D}), D});
  Value *Lin =
      op(OpKind::Mul, {DeltaV, op(OpKind::Sub, {Abs, cst(0.5 * *Delta, Elt)})});
  Value *NotM = op(OpKind::Sub, {cst(1, Elt), M});
  return mean(op(OpKind::Add,
                 {op(OpKind::Mul, {M, Quad}), op(OpKind::Mul, {NotM, Lin})}));
}

Value *Lowerer::slice(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0], /*NeedFloat=*/false);
  if (!X)
    return nullptr;
  auto Axis = axisArg(Args[1], X->Type, L);
  auto Start = intArg(*Args[2]), End = intArg(*Args[3]);
  if (!Axis || !Start || !End)
    return nullptr;
  int64_t Dim = X->Type.Dims[*Axis];
  if (Dim == kBatch) {
    error(Args[1]->L, fmt::format("cannot slice the batch dim '{}' of {}; "
                                  "only static dims can be sliced",
                                  Info.Batch, str(X->Type)));
    return nullptr;
  }
  // Negative bounds count from the end, as in Python.
  int64_t S = *Start < 0 ? *Start + Dim : *Start;
  int64_t E = *End < 0 ? *End + Dim : *End;
  if (!(0 <= S && S < E && E <= Dim)) {
    error(L, fmt::format("slice [{}:{}] is empty or out of range for axis {} "
                         "of {}",
                         *Start, *End, *Axis, str(X->Type)));
    return nullptr;
  }
  return emit(OpKind::Slice, {X}, {{"axis", *Axis}, {"start", S}, {"end", E}},
              L);
}

Value *Lowerer::concat(const Builtin &Bi, const std::vector<const Expr *> &Args,
                       const Loc &L) {
  if (Args[0]->Kind != ExprKind::List || Args[0]->Args.empty()) {
    error(Args[0]->L, fmt::format("'{}' expects a list of tensors such as "
                                  "[a, b]",
                                  Bi.Name));
    return nullptr;
  }
  std::vector<Value *> Xs;
  for (const ExprPtr &E : Args[0]->Args) {
    Value *X = tensorArg(*E, /*NeedFloat=*/false);
    if (!X)
      return nullptr;
    if (!Xs.empty() && X->Type.withElt(Xs[0]->Type.Elt) != Xs[0]->Type &&
        Bi.Kind == BuiltinKind::Stack) {
      error(E->L, fmt::format("'stack' expects tensors of one shape, got {} "
                              "and {}",
                              str(Xs[0]->Type), str(X->Type)));
      return nullptr;
    }
    Xs.push_back(X);
  }
  // stack inserts a new axis of size 1 in each operand, then concatenates.
  bool Stack = Bi.Kind == BuiltinKind::Stack;
  int64_t Raw = 0;
  if (Args[1]) {
    auto V = intArg(*Args[1]);
    if (!V)
      return nullptr;
    Raw = *V;
  }
  auto Axis = normAxis(Raw, Xs[0]->Type.rank() + (Stack ? 1 : 0));
  if (!Axis) {
    error(Args[1] ? Args[1]->L : L,
          fmt::format("axis {} is out of range for {}{}", Raw,
                      Stack ? "stacking " : "", str(Xs[0]->Type)));
    return nullptr;
  }
  if (Stack)
    for (Value *&X : Xs) {
      std::vector<int64_t> D = X->Type.Dims;
      D.insert(D.begin() + *Axis, 1);
      X = emit(OpKind::Reshape, {X}, {{"shape", D}}, L);
    }
  return emit(OpKind::Concat, Xs, {{"axis", *Axis}}, L);
}

std::optional<std::vector<int64_t>> Lowerer::pairArg(const Expr *E,
                                                     const char *Name,
                                                     int64_t Default,
                                                     int64_t Min) {
  if (!E)
    return std::vector<int64_t>{Default, Default};
  if (E->Kind == ExprKind::List && E->Args.size() != 2) {
    error(E->L, fmt::format("'{}' expects an integer or [h, w], got a list "
                            "of {}",
                            Name, E->Args.size()));
    return std::nullopt;
  }
  auto V = intListArg(*E, /*IsShape=*/false);
  if (!V)
    return std::nullopt;
  if (V->size() == 1)
    V->push_back(V->front());
  for (int64_t X : *V)
    if (X < Min) {
      error(E->L, fmt::format("'{}' must be {}, got {}", Name,
                              Min > 0 ? "positive" : "non-negative", X));
      return std::nullopt;
    }
  return V;
}

bool Lowerer::convPadding(const Expr *P, const TensorType &W,
                          Conv2dGeometry &G) {
  if (!P || P->Kind != ExprKind::String) {
    auto Pad = pairArg(P, "padding", 0, 0);
    if (Pad)
      G.Padding = {(*Pad)[0], (*Pad)[0], (*Pad)[1], (*Pad)[1]};
    return Pad.has_value();
  }
  if (P->Text == "valid")
    return true;
  if (P->Text != "same") {
    error(P->L, fmt::format("'padding' expects an integer, [h, w], \"same\" "
                            "or \"valid\", got \"{}\"",
                            P->Text));
    return false;
  }
  if (G.Stride != std::array<int64_t, 2>{1, 1}) {
    error(P->L, fmt::format("padding \"same\" needs stride 1, got stride [{}]",
                            fmt::join(G.Stride, ", ")));
    return false;
  }
  // Kernel dims that are not static are the shape rule's to report.
  for (unsigned A = 0; A < 2; ++A)
    if (W.Dims[2 + A] > 0)
      std::tie(G.Padding[2 * A], G.Padding[2 * A + 1]) =
          samePadding(W.Dims[2 + A], G.Dilation[A]);
  return true;
}

Value *Lowerer::conv2d(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0]), *W = X ? tensorArg(*Args[1]) : nullptr;
  if (!X || !W)
    return nullptr;
  if (X->Type.rank() != 4) {
    error(Args[0]->L, fmt::format("conv2d expects an input x of rank 4 [N, C, "
                                  "H, W], got {}",
                                  str(X->Type)));
    return nullptr;
  }
  if (W->Type.rank() != 4) {
    error(Args[1]->L, fmt::format("conv2d expects weights w of rank 4 [O, "
                                  "C/groups, KH, KW], got {}",
                                  str(W->Type)));
    return nullptr;
  }
  Conv2dGeometry G;
  if (!convGeometry(Args, 2, G) || !convPadding(Args[4], W->Type, G) ||
      !checkConv("conv2d", Args, X->Type, W->Type, G, L))
    return nullptr;
  const std::vector<int64_t> &WD = W->Type.Dims;
  int64_t Field = WD[2] * WD[3];
  noteWeight(W, WD[1] * Field, WD[0] * Field, L);
  Value *Y = emit(OpKind::Conv2d, {X, W}, G.attrs(), L);
  return convBias("conv2d", Y, Args[2], WD[0], 2, WD[1] * Field, L);
}

Value *Lowerer::pool2d(const Builtin &Bi, const std::vector<const Expr *> &Args,
                       const Loc &L) {
  Value *X = tensorArg(*Args[0]);
  if (!X)
    return nullptr;
  if (X->Type.rank() != 4) {
    error(Args[0]->L, fmt::format("{} expects an input x of rank 4 [N, C, H, "
                                  "W], got {}",
                                  Bi.Name, str(X->Type)));
    return nullptr;
  }
  auto Kernel = pairArg(Args[1], "kernel", 1, 1);
  if (!Kernel)
    return nullptr;
  auto Stride = Args[2] ? pairArg(Args[2], "stride", 1, 1) : Kernel;
  auto Padding = pairArg(Args[3], "padding", 0, 0);
  if (!Stride || !Padding)
    return nullptr;
  Pool2dGeometry G;
  std::copy(Kernel->begin(), Kernel->end(), G.Kernel.begin());
  std::copy(Stride->begin(), Stride->end(), G.Stride.begin());
  std::copy(Padding->begin(), Padding->end(), G.Padding.begin());
  // Padding beyond half the window and windows larger than the padded
  // input are the shape rule's to report, at the call.
  return emit(Bi.Op, {X}, G.attrs(), L);
}

Lowerer::Lowered Lowerer::builtin(const Builtin &Bi, const Expr &Call) {
  using K = BuiltinKind;
  const Loc &L = Call.L;
  auto Bound = bindArgs(Call, Bi.Params, Bi.Required, Diags);
  if (!Bound)
    return std::nullopt;
  const std::vector<const Expr *> &A = *Bound;
  Value *R = nullptr;
  switch (Bi.Kind) {
  case K::Unary: {
    // Parameters after x are the op's float attributes (Builtins.cpp).
    Value *X = tensorArg(*A[0]);
    Attrs At;
    bool Ok = X;
    for (size_t I = 1; I < Bi.Params.size(); ++I) {
      auto V = numberArg(A[I], opInfo(Bi.Op).attr(Bi.Params[I])->Default);
      Ok = Ok && V;
      if (V)
        At[Bi.Params[I]] = *V;
    }
    if (Ok)
      R = emit(Bi.Op, {X}, At, L);
    break;
  }
  case K::Binary: {
    Lowered X = expr(*A[0]), Y = expr(*A[1]);
    if (X && Y)
      R = binary(Bi.Op, *X, *Y, L);
    break;
  }
  case K::Where: {
    Lowered C = expr(*A[0]), X = expr(*A[1]), Y = expr(*A[2]);
    if (!C || !X || !Y)
      break;
    Value *CX = binary(OpKind::Mul, *C, *X, L);
    Value *NotC =
        CX ? binary(OpKind::Sub, Operand{nullptr, 1, L}, *C, L) : nullptr;
    Value *NY =
        NotC ? binary(OpKind::Mul, Operand{NotC, 0, L}, *Y, L) : nullptr;
    R = emit(OpKind::Add, {CX, NY}, {}, L);
    break;
  }
  case K::Clamp: {
    Lowered X = expr(*A[0]), Lo = expr(*A[1]), Hi = expr(*A[2]);
    if (!X || !Lo || !Hi)
      break;
    if (Lo->isNum() && Hi->isNum() && Lo->Num > Hi->Num)
      Diags.warning(L, fmt::format("clamp: lo {} is greater than hi {}; "
                                   "every value becomes {}",
                                   Lo->Num, Hi->Num, Hi->Num));
    if (Value *T = binary(OpKind::Maximum, *X, *Lo, L))
      R = binary(OpKind::Minimum, Operand{T, 0, L}, *Hi, L);
    break;
  }
  case K::Reduce:
  case K::LogSumExp: {
    Value *X = tensorArg(*A[0]);
    if (!X)
      break;
    auto Axes = axesArg(A[1], X->Type);
    auto Keep = boolArg(A[2], false);
    if (!Axes || !Keep)
      break;
    if (Bi.Kind == K::Reduce) {
      R = reduce(Bi.Op, X, *Axes, *Keep, L);
      break;
    }
    R = logSumExp(X, *Axes, L);
    if (R && !*Keep) {
      std::vector<int64_t> Shape;
      for (unsigned I = 0; I < X->Type.rank(); ++I)
        if (!std::count(Axes->begin(), Axes->end(), int64_t(I)))
          Shape.push_back(X->Type.Dims[I]);
      R = emit(OpKind::Reshape, {R}, {{"shape", Shape}}, L);
    }
    break;
  }
  case K::Reshape:
  case K::BroadcastTo: {
    Value *X = tensorArg(*A[0], /*NeedFloat=*/false);
    auto Shape = intListArg(*A[1], /*IsShape=*/true);
    if (X && Shape)
      R = emit(Bi.Op, {X}, {{"shape", *Shape}}, L);
    break;
  }
  case K::Transpose: {
    Value *X = tensorArg(*A[0], /*NeedFloat=*/false);
    if (!X)
      break;
    std::vector<int64_t> Perm = allAxes(X->Type.rank());
    std::reverse(Perm.begin(), Perm.end());
    if (A[1]) {
      auto P = intListArg(*A[1], /*IsShape=*/false);
      if (!P)
        break;
      Perm = *P;
      for (int64_t &I : Perm)
        I = normAxis(I, X->Type.rank()).value_or(I);
    }
    R = emit(OpKind::Transpose, {X}, {{"perm", Perm}}, L);
    break;
  }
  case K::Slice:
    R = slice(A, L);
    break;
  case K::Concat:
  case K::Stack:
    R = concat(Bi, A, L);
    break;
  case K::Softmax:
  case K::ArgMax: {
    Value *X = tensorArg(*A[0], /*NeedFloat=*/Bi.Kind == K::Softmax);
    if (!X)
      break;
    if (auto Axis = axisArg(A[1], X->Type, L))
      R = emit(Bi.Op, {X}, {{"axis", *Axis}}, L);
    break;
  }
  case K::CrossEntropy:
  case K::Nll:
  case K::Accuracy: {
    Value *X = tensorArg(*A[0]);
    Value *Y = tensorArg(*A[1], /*NeedFloat=*/false);
    auto Smoothing = Bi.Kind == K::CrossEntropy ? numberArg(A[2], 0) : 0.0;
    if (!X || !Y || !Smoothing)
      break;
    if (!(*Smoothing >= 0 && *Smoothing < 1)) {
      error(A[2]->L, fmt::format("'label_smoothing' must be in [0, 1), got {}",
                                 *Smoothing));
      break;
    }
    Attrs At;
    if (Bi.Kind != K::Accuracy)
      At["label_smoothing"] = *Smoothing;
    R = emit(Bi.Op, {X, Y}, std::move(At), L);
    if (!R)
      break;
    addLabels(Y, X, L);
    if (Bi.Kind == K::Nll) {
      Value *Lse = logSumExp(X, {int64_t(X->Type.rank()) - 1}, L);
      R = emit(OpKind::Sub,
               {R, reduce(OpKind::ReduceMean, Lse, allAxes(X->Type.rank()),
                          false, L)},
               {}, L);
    }
    break;
  }
  case K::Conv2d:
    R = conv2d(A, L);
    break;
  case K::Scan:
  case K::Rnn:
  case K::Lstm:
  case K::Gru:
    break; // LowerScan.cpp, called before this.
  case K::BatchNorm:
    if (!ScanFrames.empty()) {
      error(L, "batch_norm cannot be used inside a scan body yet");
      break;
    }
    R = batchNorm(A, L);
    break;
  case K::Dropout:
    if (!ScanFrames.empty()) {
      error(L, "dropout cannot be used inside a scan body yet (its random "
               "numbers would repeat at every step)");
      break;
    }
    R = dropout(A, L);
    break;
  case K::Pool2d:
    R = pool2d(Bi, A, L);
    break;
  case K::Fill:
    R = fill(Bi, A, L);
    break;
  case K::Flatten:
    R = flatten(A, L);
    break;
  case K::Linear:
    R = linear(A, L);
    break;
  case K::Conv1d:
    R = conv1d(A, L);
    break;
  case K::LayerNorm:
    R = layerNorm(Bi, A, L);
    break;
  case K::Embedding:
    R = embedding(A, L);
    break;
  case K::OneHot:
    R = oneHot(A, L);
    break;
  case K::Select:
    R = select(A, L);
    break;
  case K::Mse:
  case K::L1:
  case K::Huber:
  case K::BceWithLogits:
    R = pointwiseLoss(Bi, A, L);
    break;
  }
  if (!R)
    return std::nullopt;
  return Operand{R, 0, L};
}

} // namespace adj
