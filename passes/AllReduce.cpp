//===- AllReduce.cpp - Gradient all-reduce for data parallelism -----------===//
///
/// Data-parallel training (adjc --mpi) runs one copy of @train_step per rank
/// on that rank's share of a global batch, and every rank must apply the
/// same update: the gradient of the loss over the whole global batch. After
/// autodiff, @train_step returns its batch's mean `loss` and a `grad.<p>` per
/// trained parameter; this pass packs them, flattened, into one contiguous
/// vector
///
///   %flat = concat [reshape %loss [1], reshape %grad.w1 [K1], ...] axis 0
///   %red  = all_reduce %flat
///
/// and replaces each result by its slice of %red reshaped back. The
/// `all_reduce` kernel calls the runtime's adj_rt_allreduce, which sums
/// w_r * flat_r over the ranks with w_r the rank's share of the global
/// batch, so that %red holds the mean loss and the gradients of the global
/// batch (a weighted mean, exact for uneven last batches) on every rank.
/// The optimizer pass, which runs next, turns the reduced gradients into
/// updates, so every rank computes the same update from the same values.
/// The loss is reduced with the gradients (one collective per step) so that
/// every rank sees the global loss and stops on a non-finite loss together.
///
/// One buffer means one collective call per step, issued when the last
/// gradient is ready: the reduction does not overlap the backward pass. In
/// a single process adj_rt_allreduce leaves the buffer as it is, so a
/// model compiled this way trains exactly as without the pass.
///
//===----------------------------------------------------------------------===//
#include "passes/AllReduce.h"

#include <fmt/format.h>

namespace adj {

namespace {

class AllReducePass : public Pass {
public:
  const char *name() const override { return "allreduce"; }
  bool run(Module &M, PassContext &Ctx) override;
};

/// The number of elements of a static type.
int64_t elements(const TensorType &T) {
  int64_t N = 1;
  for (int64_t D : T.Dims)
    N *= D;
  return N;
}

} // namespace

bool AllReducePass::run(Module &M, PassContext &Ctx) {
  Function *F = M.function("train_step");
  if (!F) {
    Ctx.error(Loc(), "the allreduce pass needs @train_step (run autodiff)");
    return false;
  }
  if (F->arg("lr")) {
    Ctx.error(Loc(), "the allreduce pass must run before the optimizer pass");
    return false;
  }
  for (const auto &O : F->Ops)
    if (O->Kind == OpKind::AllReduce) {
      Ctx.error(Loc(), "@train_step already has an all_reduce");
      return false;
    }
  std::vector<Result *> Reduced;
  for (Result &R : F->Results)
    if (R.Name == "loss" || R.Name.rfind("grad.", 0) == 0) {
      for (int64_t D : R.V->Type.Dims)
        if (D == kBatch) {
          Ctx.error(Loc(), fmt::format("cannot all-reduce '{}': its shape "
                                       "depends on the batch size",
                                       R.Name));
          return false;
        }
      Reduced.push_back(&R);
    }
  if (Reduced.empty())
    return true;
  Builder B(*F);
  std::vector<Value *> Flat;
  // A reshape to or from the flat [count], unless the value is flat.
  auto Reshape = [&](Value *V, std::vector<int64_t> Dims) {
    return V->Type.Dims == Dims
               ? V
               : B.create(OpKind::Reshape, {V}, {{"shape", std::move(Dims)}});
  };
  for (Result *R : Reduced) {
    B.CurLoc = R->V->Def ? R->V->Def->Location : Loc();
    Flat.push_back(Reshape(R->V, {elements(R->V->Type)}));
  }
  // The collective belongs to the loss statement, as its adjoint does.
  B.CurLoc = Reduced[0]->V->Def ? Reduced[0]->V->Def->Location : Loc();
  B.CurLoc.Grad = true;
  Value *Packed = Flat.size() == 1
                      ? Flat[0]
                      : B.create(OpKind::Concat, Flat, {{"axis", int64_t(0)}});
  Value *Sum = B.create(OpKind::AllReduce, {Packed});
  int64_t Offset = 0;
  for (Result *R : Reduced) {
    int64_t N = elements(R->V->Type);
    B.CurLoc = R->V->Def ? R->V->Def->Location : Loc();
    Value *Part = Sum;
    if (N != elements(Sum->Type))
      Part = B.create(
          OpKind::Slice, {Sum},
          {{"axis", int64_t(0)}, {"start", Offset}, {"end", Offset + N}});
    R->V = Reshape(Part, R->V->Type.Dims);
    Offset += N;
  }
  return true;
}

std::unique_ptr<Pass> createAllReducePass() {
  return std::make_unique<AllReducePass>();
}

} // namespace adj
