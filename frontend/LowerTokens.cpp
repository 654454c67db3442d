//===- LowerTokens.cpp - embedding, one_hot and select --------------------===//
///
/// The builtins of sequence models that read token ids, and select:
///
///   embedding(table, ids)    = the embedding op: table [V, D] float, ids
///                              i32 [...] -> [..., D] (F.embedding)
///   one_hot(ids, classes)    = the one_hot op -> f32 [..., classes]
///                              (F.one_hot(ids, classes).float())
///   select(x, axis, index)   = reshape(slice(x, axis, i, i + 1)) without
///                              the axis (x.select(axis, index)); negative
///                              axis and index count from the end; its
///                              gradient is slice's and reshape's
///
/// Ids that are a model input (possibly reshaped or transposed, which keeps
/// every value) are recorded with their bound in the spec's labels, so the
/// runtime checks the data when it loads it and names the file and the
/// index of a bad id; the kernels check the ids of every batch again.
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include <fmt/format.h>

namespace adj {

void Lowerer::addIdRange(Value *Ids, int64_t Bound, const char *What,
                         const Loc &L) {
  while (Ids && !Ids->isArg() && Ids->Def &&
         (Ids->Def->Kind == OpKind::Reshape ||
          Ids->Def->Kind == OpKind::Transpose ||
          Ids->Def->Kind == OpKind::BroadcastTo))
    Ids = Ids->Def->Operands[0];
  if (!Ids || !Ids->isArg() || F->Roles[Ids->ArgNo] != ArgRole::Input)
    return;
  for (const LabelSpec &S : Spec.Labels)
    if (S.Input == Ids->Name && S.Classes == Bound)
      return;
  Spec.Labels.push_back({Ids->Name, Bound, L, What});
}

Value *Lowerer::embedding(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *Table = tensorArg(*Args[0]);
  Value *Ids = tensorArg(*Args[1], /*NeedFloat=*/false);
  if (!Table || !Ids)
    return nullptr;
  if (Ids->Type.Elt != DType::I32) {
    error(Args[1]->L,
          fmt::format("embedding expects i32 ids, got {}", str(Ids->Type)));
    return nullptr;
  }
  const TensorType &T = Table->Type;
  if (T.rank() != 2 || T.Dims[0] == kBatch || T.Dims[1] == kBatch) {
    error(Args[0]->L, fmt::format("embedding expects a table of rank 2 [V, "
                                  "D] with static V and D, got {}",
                                  str(T)));
    return nullptr;
  }
  Value *R = emit(OpKind::Embedding, {Table, Ids}, {}, L);
  if (R)
    addIdRange(Ids, T.Dims[0], "embedding", L);
  return R;
}

Value *Lowerer::oneHot(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *Ids = tensorArg(*Args[0], /*NeedFloat=*/false);
  auto Classes = intArg(*Args[1]);
  if (!Ids || !Classes)
    return nullptr;
  if (Ids->Type.Elt != DType::I32) {
    error(Args[0]->L,
          fmt::format("one_hot expects i32 ids, got {}", str(Ids->Type)));
    return nullptr;
  }
  if (*Classes < 1) {
    error(
        Args[1]->L,
        fmt::format("'classes' must be a positive integer, got {}", *Classes));
    return nullptr;
  }
  Value *R = emit(OpKind::OneHot, {Ids}, {{"classes", *Classes}}, L);
  if (R)
    addIdRange(Ids, *Classes, "one_hot", L);
  return R;
}

Value *Lowerer::select(const std::vector<const Expr *> &Args, const Loc &L) {
  Value *X = tensorArg(*Args[0], /*NeedFloat=*/false);
  if (!X)
    return nullptr;
  if (X->Type.isScalar()) {
    error(Args[0]->L, fmt::format("select expects a tensor of rank >= 1, got "
                                  "{}",
                                  str(X->Type)));
    return nullptr;
  }
  auto Axis = axisArg(Args[1], X->Type, L);
  auto Index = intArg(*Args[2]);
  if (!Axis || !Index)
    return nullptr;
  int64_t Dim = X->Type.Dims[*Axis];
  if (Dim == kBatch) {
    error(Args[1]->L, fmt::format("cannot select along the batch dim '{}' of "
                                  "{}; only static dims can be selected",
                                  Info.Batch, str(X->Type)));
    return nullptr;
  }
  int64_t I = *Index < 0 ? *Index + Dim : *Index;
  if (I < 0 || I >= Dim) {
    error(Args[2]->L, fmt::format("index {} is out of range for axis {} of {} "
                                  "(size {})",
                                  *Index, *Axis, str(X->Type), Dim));
    return nullptr;
  }
  Value *S = emit(OpKind::Slice, {X},
                  {{"axis", *Axis}, {"start", I}, {"end", I + 1}}, L);
  std::vector<int64_t> Shape = X->Type.Dims;
  Shape.erase(Shape.begin() + *Axis);
  return S ? emit(OpKind::Reshape, {S}, {{"shape", Shape}}, L) : nullptr;
}

} // namespace adj
