//===- LowerLayers.cpp - The builtins of model language v2 ----------------===//
///
/// Tensor creation and layers, each a composite of existing ops so that
/// autodiff, the fuse pass and the kernels need nothing new:
///
///   zeros/ones/full(shape, v) = broadcast_to(constant v, shape); a dim may
///                               be the batch dim, resolved at run time
///   flatten(x)            = reshape(x, [N, d1*d2*...])   (torch.flatten(x, 1))
///   linear(x, w, b)       = x @ transpose(w) + b; the fuse pass folds the
///                           transpose into the matmul's transpose_b flag
///   conv1d(x, w, b, ...)  = conv2d on [N, C, 1, L] and [O, C/g, 1, K], the
///                           result reshaped back to [N, O, L']
///   layer_norm(x, g, b)   = (x - m) * rsqrt(var + eps) * g + b over the last
///                           axis, m and var (biased) from reduce_mean
///
/// Also what conv1d and conv2d share: their stride/dilation/groups
/// arguments, the checks of channels, groups and kernel size that name the
/// operands as the model writes them, and the bias. And the bookkeeping of
/// fan-in and fan-out: a parameter's first use as a weight (the right
/// operand of `@`, the weight of linear or a convolution) gives the fans of
/// its he_*/glorot_*/kaiming_uniform initialiser, and a bias used with it
/// the fan-in uniform_fan_in needs (PyTorch's
/// _calculate_fan_in_and_fan_out for the [out, in, k...] layout).
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"
#include "ir/Conv2d.h"

#include <fmt/format.h>

namespace adj {

std::string Lowerer::operandName(const Expr *E, const char *Param) {
  return E && E->Kind == ExprKind::Name ? E->Text : Param;
}

//===--- Fans -------------------------------------------------------------===//

/// The parameter \p V is, or null.
static const std::string *paramName(Value *V, const Function &F) {
  if (!V || !V->isArg() || F.Roles[V->ArgNo] != ArgRole::Param)
    return nullptr;
  return &V->Name;
}

void Lowerer::noteWeight(Value *W, int64_t FanIn, int64_t FanOut, const Loc &) {
  if (const std::string *N = paramName(origin(W), *ModelF))
    WeightFans.insert({*N, {FanIn, FanOut}});
}

void Lowerer::noteBias(Value *Bias, int64_t FanIn) {
  if (const std::string *N = paramName(origin(Bias), *ModelF))
    BiasFanIn.insert({*N, FanIn});
}

bool Lowerer::resolveFans() {
  bool Ok = true;
  for (ParamSpec &P : Spec.Params) {
    if (!usesFans(P.Init))
      continue;
    if (P.Init == InitKind::UniformFanIn) {
      if (auto It = BiasFanIn.find(P.Name); It != BiasFanIn.end() && !P.FanIn)
        P.FanIn = It->second;
      if (!P.FanIn) {
        Diags.error(P.InitLoc,
                    fmt::format("'uniform_fan_in' needs a fan-in: use '{}' as "
                                "the bias of linear, conv1d or conv2d, or "
                                "give one as in uniform_fan_in(fan_in = 256)",
                                P.Name));
        Ok = false;
      }
      continue;
    }
    auto It = WeightFans.find(P.Name);
    if (It == WeightFans.end())
      continue;
    if (!P.FanIn)
      P.FanIn = It->second.first;
    if (!P.FanOut)
      P.FanOut = It->second.second;
  }
  return Ok;
}

//===--- Tensor creation and reshaping ------------------------------------===//

Value *Lowerer::fill(const Builtin &Bi, const std::vector<const Expr *> &Args,
                     const Loc &L) {
  auto Shape = intListArg(*Args[0], /*IsShape=*/true);
  auto V = Args.size() > 1 ? numberArg(Args[1], 0) : Bi.Default;
  if (!Shape || !V)
    return nullptr;
  B->CurLoc = L;
  Value *C = B->constant(*V, DType::F32);
  if (Shape->empty())
    return C;
  return emit(OpKind::BroadcastTo, {C}, {{"shape", *Shape}}, L);
}

Value *Lowerer::flatten(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0], /*NeedFloat=*/false);
  if (!X)
    return nullptr;
  const TensorType &T = X->Type;
  if (T.rank() < 2) {
    error(Args[0]->L, fmt::format("flatten expects an input of rank 2 or "
                                  "more [N, d1, ...], got {}",
                                  str(T)));
    return nullptr;
  }
  int64_t Size = 1;
  for (size_t I = 1; I < T.rank(); ++I) {
    if (T.Dims[I] == kBatch) {
      error(Args[0]->L, fmt::format("flatten cannot merge the batch dim '{}' "
                                    "of {}; it must be the first",
                                    Info.Batch, str(T)));
      return nullptr;
    }
    Size *= T.Dims[I];
  }
  if (T.rank() == 2)
    return X;
  return emit(OpKind::Reshape, {X},
              {{"shape", std::vector<int64_t>{T.Dims[0], Size}}}, L);
}

//===--- linear -----------------------------------------------------------===//

Value *Lowerer::linear(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0]), *W = X ? tensorArg(*Args[1]) : nullptr;
  if (!X || !W)
    return nullptr;
  if (W->Type.rank() != 2 || W->Type.Dims[0] == kBatch ||
      W->Type.Dims[1] == kBatch) {
    error(Args[1]->L, fmt::format("linear expects weights w of rank 2 [out, "
                                  "in], got {}",
                                  str(W->Type)));
    return nullptr;
  }
  int64_t Out = W->Type.Dims[0], In = W->Type.Dims[1];
  if (X->Type.rank() < 2) {
    error(Args[0]->L, fmt::format("linear expects an input x of rank 2 or "
                                  "more [..., in], got {}",
                                  str(X->Type)));
    return nullptr;
  }
  if (X->Type.Dims.back() != In) {
    error(L, fmt::format("linear: input has {} features but the weight "
                         "expects {} ({}: {}, {}: {})",
                         X->Type.Dims.back() == kBatch
                             ? Info.Batch
                             : std::to_string(X->Type.Dims.back()),
                         In, operandName(Args[0], "x"), str(X->Type),
                         operandName(Args[1], "w"), str(W->Type)));
    return nullptr;
  }
  noteWeight(W, In, Out, L);
  Value *WT =
      emit(OpKind::Transpose, {W}, {{"perm", std::vector<int64_t>{1, 0}}}, L);
  Value *Y = emit(OpKind::MatMul, {X, WT}, {}, L);
  if (!Y || !Args[2])
    return Y;
  Value *Bias = tensorArg(*Args[2]);
  if (!Bias)
    return nullptr;
  if (Bias->Type.Dims != std::vector<int64_t>{Out}) {
    error(Args[2]->L, fmt::format("linear expects a bias b of shape [{}], one "
                                  "per output feature, got {}",
                                  Out, str(Bias->Type)));
    return nullptr;
  }
  noteBias(Bias, In);
  return emit(OpKind::Add, {Y, Bias}, {}, L);
}

//===--- Convolutions -----------------------------------------------------===//

bool Lowerer::convGeometry(const std::vector<const Expr *> &Args,
                           unsigned Spatial, Conv2dGeometry &G) {
  // conv1d's arguments are an integer or [l]; they go on the W axis.
  auto Arg = [&](const Expr *E,
                 const char *Name) -> std::optional<std::vector<int64_t>> {
    if (Spatial == 1 && E && E->Kind == ExprKind::List) {
      if (E->Args.size() != 1) {
        error(E->L, fmt::format("'{}' expects an integer or [l], got a list "
                                "of {}",
                                Name, E->Args.size()));
        return std::nullopt;
      }
      E = E->Args[0].get();
    }
    return pairArg(E, Name, 1, 1);
  };
  auto Stride = Arg(Args[3], "stride");
  auto Dilation = Arg(Args[5], "dilation");
  auto Groups = Args[6] ? intArg(*Args[6]) : std::optional<int64_t>(1);
  if (!Stride || !Dilation || !Groups)
    return false;
  if (*Groups < 1) {
    error(Args[6]->L,
          fmt::format("'groups' must be positive, got {}", *Groups));
    return false;
  }
  G.Groups = *Groups;
  std::copy(Stride->begin(), Stride->end(), G.Stride.begin());
  std::copy(Dilation->begin(), Dilation->end(), G.Dilation.begin());
  if (Spatial == 1)
    G.Stride[0] = G.Dilation[0] = 1;
  return true;
}

bool Lowerer::checkConv(const char *Op, const std::vector<const Expr *> &Args,
                        const TensorType &X, const TensorType &W,
                        const Conv2dGeometry &G, const Loc &L) {
  // Symbolic dims where static ones belong are the shape rule's to report.
  for (size_t I = 1; I < X.rank(); ++I)
    if (X.Dims[I] == kBatch)
      return true;
  for (int64_t D : W.Dims)
    if (D == kBatch)
      return true;
  std::string XN = fmt::format("{}: {}", operandName(Args[0], "x"), str(X));
  std::string WN = fmt::format("{}: {}", operandName(Args[1], "w"), str(W));
  int64_t C = X.Dims[1], O = W.Dims[0], Gr = G.Groups;
  if (C % Gr) {
    error(L, fmt::format("{}: groups = {} does not divide the {} channels of "
                         "the input ({})",
                         Op, Gr, C, XN));
    return false;
  }
  if (O % Gr) {
    error(L, fmt::format("{}: groups = {} does not divide the {} output "
                         "channels of the weight ({})",
                         Op, Gr, O, WN));
    return false;
  }
  if (W.Dims[1] * Gr != C) {
    error(L, fmt::format("{}: input has {} channels but the weight expects {} "
                         "({}{})",
                         Op, C, W.Dims[1] * Gr, WN,
                         Gr == 1 ? "" : fmt::format(", groups = {}", Gr)));
    return false;
  }
  unsigned S = X.rank() - 2, A0 = 2 - S;
  std::vector<int64_t> K, Span, In, Dil;
  bool Fits = true;
  for (unsigned I = 0; I < S; ++I) {
    K.push_back(W.Dims[2 + I]);
    Span.push_back(G.span(A0 + I, K.back()));
    In.push_back(G.padded(A0 + I, X.Dims[2 + I]));
    Dil.push_back(G.Dilation[A0 + I]);
    Fits = Fits && G.outSize(A0 + I, X.Dims[2 + I], K.back()) >= 1;
  }
  if (Fits)
    return true;
  auto List = [&](const std::vector<int64_t> &V) {
    return S == 1 ? std::to_string(V[0])
                  : fmt::format("[{}]", fmt::join(V, ", "));
  };
  std::string Dilated = Span == K
                            ? ""
                            : fmt::format(" with dilation {} spans {}, which",
                                          List(Dil), fmt::join(Span, "x"));
  error(L, fmt::format("{}: kernel {} ({}){} is larger than the padded input "
                       "{} ({})",
                       Op, fmt::join(K, "x"), WN, Dilated, fmt::join(In, "x"),
                       XN));
  return false;
}

Value *Lowerer::convBias(const char *Op, Value *Y, const Expr *BiasE, int64_t O,
                         unsigned Spatial, int64_t FanIn, const Loc &L) {
  if (!Y || !BiasE)
    return Y;
  Value *Bias = tensorArg(*BiasE);
  if (Bias && Bias->Type.Dims != std::vector<int64_t>{O}) {
    error(BiasE->L, fmt::format("{} expects a bias b of shape [{}], one per "
                                "output channel, got {}",
                                Op, O, str(Bias->Type)));
    return nullptr;
  }
  noteBias(Bias, FanIn);
  std::vector<int64_t> Shape(Spatial + 1, 1);
  Shape[0] = O;
  Value *Col = emit(OpKind::Reshape, {Bias}, {{"shape", Shape}}, L);
  return emit(OpKind::Add, {Y, Col}, {}, L);
}

Value *Lowerer::conv1d(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0]), *W = X ? tensorArg(*Args[1]) : nullptr;
  if (!X || !W)
    return nullptr;
  const TensorType &XT = X->Type, &WT = W->Type;
  if (XT.rank() != 3) {
    error(Args[0]->L, fmt::format("conv1d expects an input x of rank 3 [N, C, "
                                  "L], got {}",
                                  str(XT)));
    return nullptr;
  }
  if (WT.rank() != 3) {
    error(Args[1]->L, fmt::format("conv1d expects weights w of rank 3 [O, "
                                  "C/groups, K], got {}",
                                  str(WT)));
    return nullptr;
  }
  Conv2dGeometry G;
  if (!convGeometry(Args, 1, G))
    return nullptr;
  const Expr *P = Args[4];
  if (P && P->Kind == ExprKind::String) {
    if (P->Text == "same") {
      if (G.Stride[1] != 1) {
        error(P->L, fmt::format("padding \"same\" needs stride 1, got stride "
                                "{}",
                                G.Stride[1]));
        return nullptr;
      }
      if (WT.Dims[2] > 0)
        std::tie(G.Padding[2], G.Padding[3]) =
            samePadding(WT.Dims[2], G.Dilation[1]);
    } else if (P->Text != "valid") {
      error(P->L, fmt::format("'padding' expects an integer, [l], \"same\" or "
                              "\"valid\", got \"{}\"",
                              P->Text));
      return nullptr;
    }
  } else if (P) {
    if (P->Kind == ExprKind::List && P->Args.size() != 1) {
      error(P->L, fmt::format("'padding' expects an integer or [l], got a "
                              "list of {}",
                              P->Args.size()));
      return nullptr;
    }
    auto Pad = pairArg(P->Kind == ExprKind::List ? P->Args[0].get() : P,
                       "padding", 0, 0);
    if (!Pad)
      return nullptr;
    G.Padding[2] = G.Padding[3] = (*Pad)[0];
  }
  if (!checkConv("conv1d", Args, XT, WT, G, L))
    return nullptr;
  int64_t O = WT.Dims[0], FanIn = WT.Dims[1] * WT.Dims[2];
  noteWeight(W, FanIn, O * WT.Dims[2], L);
  auto Reshape = [&](Value *V, std::vector<int64_t> Shape) {
    return emit(OpKind::Reshape, {V}, {{"shape", std::move(Shape)}}, L);
  };
  Value *X4 = Reshape(X, {XT.Dims[0], XT.Dims[1], 1, XT.Dims[2]});
  Value *W4 = Reshape(W, {O, WT.Dims[1], 1, WT.Dims[2]});
  Value *Y4 = emit(OpKind::Conv2d, {X4, W4}, G.attrs(), L);
  if (!Y4)
    return nullptr;
  Value *Y = Reshape(Y4, {XT.Dims[0], O, Y4->Type.Dims[3]});
  return convBias("conv1d", Y, Args[2], O, 1, FanIn, L);
}

//===--- layer_norm -------------------------------------------------------===//

Value *Lowerer::layerNorm(const Builtin &Bi,
                          const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0]);
  Value *Gamma = X ? tensorArg(*Args[1]) : nullptr;
  Value *Beta = Gamma ? tensorArg(*Args[2]) : nullptr;
  auto Eps = numberArg(Args[3], Bi.Default);
  if (!Beta || !Eps)
    return nullptr;
  if (X->Type.isScalar() || X->Type.Dims.back() == kBatch) {
    error(Args[0]->L, fmt::format("layer_norm expects an input x whose last "
                                  "axis is static, got {}",
                                  str(X->Type)));
    return nullptr;
  }
  if (!(*Eps > 0)) {
    error(Args[3]->L, fmt::format("'eps' must be positive, got {}", *Eps));
    return nullptr;
  }
  int64_t D = X->Type.Dims.back();
  for (unsigned I = 1; I < 3; ++I) {
    Value *V = I == 1 ? Gamma : Beta;
    if (V->Type.Dims != std::vector<int64_t>{D}) {
      error(Args[I]->L,
            fmt::format("layer_norm expects {} of shape [{}], the last dim of "
                        "the input ({}: {}), got {}",
                        Bi.Params[I], D, operandName(Args[0], "x"),
                        str(X->Type), str(V->Type)));
      return nullptr;
    }
  }
  std::vector<int64_t> Last{int64_t(X->Type.rank()) - 1};
  auto op = [&](OpKind K, std::vector<Value *> Ops) {
    return emit(K, std::move(Ops), {}, L);
  };
  Value *Mean = reduce(OpKind::ReduceMean, X, Last, true, L);
  Value *Dev = op(OpKind::Sub, {X, Mean});
  Value *Var =
      reduce(OpKind::ReduceMean, op(OpKind::Mul, {Dev, Dev}), Last, true, L);
  B->CurLoc = L;
  Value *EpsV = B->constant(*Eps, X->Type.Elt);
  Value *Inv = op(OpKind::Rsqrt, {op(OpKind::Add, {Var, EpsV})});
  Value *Norm = op(OpKind::Mul, {Dev, Inv});
  return op(OpKind::Add, {op(OpKind::Mul, {Norm, Gamma}), Beta});
}

} // namespace adj
