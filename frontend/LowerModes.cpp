//===- LowerModes.cpp - Builtins that differ in training and evaluation ---===//
///
/// A model calling batch_norm or dropout is lowered twice: into @forward in
/// evaluation mode (test loss, metrics, predictions) and into
/// @forward_train in training mode, which the autodiff pass turns into
/// @train_step. Both are composites of ops autodiff already differentiates,
/// with x [N, C] or [N, C, H, W] and the channel axis 1 (A = every other
/// axis, c(v) = v reshaped to broadcast along axis 1):
///
///   evaluation  batch_norm = (x - c(mean)) * c(gamma * rsqrt(var + eps))
///                            + c(beta)
///               dropout    = x
///   training    batch_norm = (x - mu) * (rsqrt(s2 + eps) * c(gamma)) + c(beta)
///                            with mu = mean(x, A), s2 = mean((x - mu)^2, A)
///                            (biased), so the gradient flows through the
///                            batch statistics; and @forward_train returns
///                            the buffers' next values as results named
///                            after them:
///                              mean <- (1 - m) mean + m mu
///                              var  <- (1 - m) var + m s2 n / (n - 1)
///                            (n = count(x, A), the unbiased variance)
///               dropout    = the `dropout` op keyed by the hyperparameters
///                            %seed and %step and the op's `id` (0, 1, ...
///                            in the order of the calls after inlining)
///
/// as torch.nn.functional.batch_norm and dropout with training=False/True.
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include <fmt/format.h>

namespace adj {

Value *Lowerer::bufferArg(const Expr &E, const char *What) {
  Value *V = tensorArg(E);
  if (!V)
    return nullptr;
  if (V->Def || F->Roles[V->ArgNo] != ArgRole::Buffer) {
    error(E.L,
          fmt::format("batch_norm: the {} must be a buffer (declare it "
                      "with `buffer NAME : f32[C] = {}`)",
                      What,
                      std::string(What) == "running mean" ? "zeros" : "ones"));
    return nullptr;
  }
  return V;
}

Value *Lowerer::hyperArg(const std::string &Name, DType T) {
  if (Value *V = F->arg(Name))
    return V;
  return F->addArg(Name, TensorType::scalar(T), ArgRole::Hyper);
}

Value *Lowerer::batchNorm(const std::vector<const Expr *> &Args, const Loc &L) {
  ModeDependent = true;
  Value *X = tensorArg(*Args[0]);
  Value *Gamma = tensorArg(*Args[1]), *Beta = tensorArg(*Args[2]);
  Value *Mean = bufferArg(*Args[3], "running mean");
  Value *Var = bufferArg(*Args[4], "running variance");
  auto Momentum = numberArg(Args[5], 0.1), Eps = numberArg(Args[6], 1e-5);
  if (!X || !Gamma || !Beta || !Mean || !Var || !Momentum || !Eps)
    return nullptr;
  const TensorType &XT = X->Type;
  unsigned Rank = XT.rank();
  if (Rank != 2 && Rank != 4) {
    error(Args[0]->L, fmt::format("batch_norm expects x of rank 2 [N, C] or "
                                  "4 [N, C, H, W], got {}",
                                  str(XT)));
    return nullptr;
  }
  int64_t C = XT.Dims[1];
  if (C == kBatch) {
    error(Args[0]->L, fmt::format("batch_norm: the channel axis 1 of x ({}) "
                                  "must not be the batch dim",
                                  str(XT)));
    return nullptr;
  }
  const char *Names[] = {"gamma", "beta", "mean", "var"};
  Value *PerChannel[] = {Gamma, Beta, Mean, Var};
  for (int I = 0; I < 4; ++I)
    if (PerChannel[I]->Type.Dims != std::vector<int64_t>{C} ||
        PerChannel[I]->Type.Elt != XT.Elt) {
      error(Args[I + 1]->L,
            fmt::format("batch_norm: {} must be {}[{}] for x with {} "
                        "channels, got {} (x: {})",
                        Names[I], dtypeName(XT.Elt), C, C,
                        str(PerChannel[I]->Type), str(XT)));
      return nullptr;
    }
  if (!(*Momentum >= 0 && *Momentum <= 1)) {
    error(Args[5]->L, fmt::format("batch_norm: momentum must be in [0, 1], "
                                  "got {}",
                                  *Momentum));
    return nullptr;
  }
  if (!(*Eps > 0)) {
    error(Args[6]->L,
          fmt::format("batch_norm: eps must be positive, got {}", *Eps));
    return nullptr;
  }
  for (int I = 3; I < 5; ++I) {
    auto [It, New] = BufferUpdates.emplace(PerChannel[I - 1]->Name,
                                           BufferUpdate{nullptr, L});
    if (!New) {
      error(Args[I]->L,
            fmt::format("batch_norm: buffer '{}' is already updated by the "
                        "batch_norm at line {}; give each batch_norm its "
                        "own running statistics",
                        It->first, It->second.L.Line));
      return nullptr;
    }
  }

  std::vector<int64_t> Axes{0};
  for (unsigned D = 2; D < Rank; ++D)
    Axes.push_back(D);
  auto Num = [&](double V) { return Operand{nullptr, V, L}; };
  auto Bin = [&](OpKind K, Value *A, Value *Bv) {
    return binary(K, Operand{A, 0, L}, Operand{Bv, 0, L}, L);
  };
  auto BinN = [&](OpKind K, Value *A, double V) {
    return binary(K, Operand{A, 0, L}, Num(V), L);
  };
  // [C] -> [C, 1, 1] to broadcast along axis 1 of [N, C, H, W].
  auto Chan = [&](Value *V) {
    if (Rank == 2 || !V)
      return V;
    return emit(OpKind::Reshape, {V},
                {{"shape", std::vector<int64_t>{C, 1, 1}}}, L);
  };
  if (!Training) {
    Value *Scale =
        Bin(OpKind::Mul, Gamma,
            emit(OpKind::Rsqrt, {BinN(OpKind::Add, Var, *Eps)}, {}, L));
    Value *Shift = Bin(OpKind::Sub, Beta, Bin(OpKind::Mul, Mean, Scale));
    return Bin(OpKind::Add, Bin(OpKind::Mul, X, Chan(Scale)), Chan(Shift));
  }
  Value *Mu = reduce(OpKind::ReduceMean, X, Axes, true, L);
  Value *Xc = Bin(OpKind::Sub, X, Mu);
  Value *S2 =
      reduce(OpKind::ReduceMean, Bin(OpKind::Mul, Xc, Xc), Axes, true, L);
  Value *Inv = emit(OpKind::Rsqrt, {BinN(OpKind::Add, S2, *Eps)}, {}, L);
  Value *Y =
      Bin(OpKind::Add, Bin(OpKind::Mul, Xc, Bin(OpKind::Mul, Inv, Chan(Gamma))),
          Chan(Beta));
  // The running statistics' next values.
  std::vector<int64_t> CShape{C};
  Value *MuC = emit(OpKind::Reshape, {Mu}, {{"shape", CShape}}, L);
  Value *S2C = emit(OpKind::Reshape, {S2}, {{"shape", CShape}}, L);
  Value *Count = emit(OpKind::Count, {X}, {{"axes", Axes}}, L);
  Value *Bessel = Bin(OpKind::Div, Count, BinN(OpKind::Sub, Count, 1));
  double M = *Momentum;
  Value *NewMean = Bin(OpKind::Add, BinN(OpKind::Mul, Mean, 1 - M),
                       BinN(OpKind::Mul, MuC, M));
  Value *NewVar = Bin(OpKind::Add, BinN(OpKind::Mul, Var, 1 - M),
                      BinN(OpKind::Mul, Bin(OpKind::Mul, S2C, Bessel), M));
  if (!Y || !NewMean || !NewVar)
    return nullptr;
  BufferUpdates[Mean->Name].V = NewMean;
  BufferUpdates[Var->Name].V = NewVar;
  return Y;
}

Value *Lowerer::dropout(const std::vector<const Expr *> &Args, const Loc &L) {
  ModeDependent = true;
  Value *X = tensorArg(*Args[0]);
  auto P = numberArg(Args[1], 0);
  if (!X || !P)
    return nullptr;
  if (!(*P >= 0 && *P < 1)) {
    error(Args[1]->L, fmt::format("dropout: p must be in [0, 1), got {}", *P));
    return nullptr;
  }
  int64_t Id = NextDropoutId++;
  if (!Training || *P == 0)
    return X;
  Value *Seed = hyperArg("seed", DType::I32);
  Value *Step = hyperArg("step", X->Type.Elt);
  return emit(OpKind::Dropout, {X, Seed, Step}, {{"p", *P}, {"id", Id}}, L);
}

} // namespace adj
