//===- Fuse.cpp - Transpose folding, epilogues and elementwise fusion -----===//
///
/// Three rewrites that save memory traffic in the generated code, in this
/// order.
///
/// 1. A `transpose` that swaps the last two axes of a matmul operand is
///    folded into the matmul's `transpose_a` / `transpose_b` flag (the
///    kernels read either layout in place); the transpose goes when unused.
///
/// 2. Epilogues. The elementwise ops after a matmul (or a conv2d, whose
///    GEMM runs per image: see cheapConvInput) are folded into it as
///    an `epilogue` body, which the GEMM applies to its register tile
///    before the store, while the chain of values from the product has one
///    user op each, is no result and keeps the product's shape, its ops are
///    of a few instructions (add, mul, relu, ...; see epilogueOp; at most
///    kMaxEpilogue) and its other operands are constant along the
///    product's rows or columns (biases, scalars; see cheapInput):
///
///      %h = matmul %x, %w, %b {epilogue = "add i0 i1; relu t0"}
///
///    The product is i0 and the chain's other operands are the matmul's
///    operands after the first two, i1, i2, ...; the matmul takes the place
///    of the chain's last op. A value read twice ends the chain, so a
///    pre-activation the backward pass needs is stored once with its bias
///    added in the tile; relu's adjoint reads relu's output (see
///    GradRules.cpp), so bias and relu both fold and no pre-activation is
///    stored. Vector math (tanh, ...) and full-size operands (the
///    activation relu's adjoint reads, the weights of SGD's update) are
///    left to fused loops, where they measured faster; except that tanh and
///    sigmoid join the epilogue of a small product (smallMatMul), whose
///    tiles run inline in the step.
///
/// 3. Elementwise fusion. A value computed by an elementwise op is *inlined*
///    into its users (not stored) when it is not a function result, every
///    user is an elementwise op of the same shape, and it is small: at most
///    kMaxMembers ops in its inlined expression when it has one use, or a
///    cheap op (add, mul, relu, ...) of at most kMaxShared ops when it has
///    several (each user then recomputes it). Decisions are made in program
///    order, so operands are decided before their users. Every elementwise
///    op that is not inlined becomes the root of a group: if anything was
///    inlined into it, it is replaced by one op
///
///      %r = fused %in0, %in1, ... {body = "mul i0 i1; sqrt t0; add t1 i2"}
///
///    whose operands are the group's inputs (values computed elsewhere,
///    broadcast to the result like any elementwise operand) and whose
///    `body` lists the members in order, `mnemonic[:name=value,...]
///    operand...`, an operand being `iK` (input K) or `tK` (member K's value);
///    the last member is the result. Codegen emits one loop nest for it. Adam's
///    update of one parameter thus becomes three loops (m, v and p, each a
///    result) instead of about fifteen, and relu's adjoint absorbs the
///    recomputed `add` of the bias instead of reading a stored copy.
///
//===----------------------------------------------------------------------===//
#include "passes/Fuse.h"
#include "ir/Body.h"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <set>

namespace adj {

namespace {

constexpr unsigned kMaxMembers = 48; ///< Ops in one inlined expression.
constexpr unsigned kMaxShared = 4;   ///< ... of a value with several uses.
/// Removes the ops of \p F that \p Gone selects, keeping the others' order.
void eraseOps(Function &F, const std::function<bool(const Op &)> &Gone) {
  std::vector<std::unique_ptr<Op>> Kept;
  for (auto &O : F.Ops)
    if (!Gone(*O))
      Kept.push_back(std::move(O));
  F.Ops = std::move(Kept);
}

constexpr unsigned kMaxEpilogue = 8; ///< Ops folded into one matmul.

class FusePass : public Pass {
public:
  const char *name() const override { return "fuse"; }
  bool run(Module &M, PassContext &Ctx) override;
};

bool fusible(const Op &O) {
  return O.info().Fusion != FusionClass::None && isFloat(O.type().Elt);
}

/// Ops cheap enough to recompute in every user (Ops.def's Fusion column).
bool cheap(OpKind K) { return opInfo(K).Fusion == FusionClass::Cheap; }

/// Whether \p V is `transpose %x {perm = [0, .., r-1, r-2]}` of rank >= 2.
Value *swappedLast2(Value *V) {
  if (!V->Def || V->Def->Kind != OpKind::Transpose)
    return nullptr;
  const std::vector<int64_t> *P = V->Def->listAttr("perm");
  size_t R = V->Type.rank();
  if (!P || R < 2 || P->size() != R)
    return nullptr;
  for (size_t I = 0; I + 2 < R; ++I)
    if ((*P)[I] != int64_t(I))
      return nullptr;
  if ((*P)[R - 2] != int64_t(R - 1) || (*P)[R - 1] != int64_t(R - 2))
    return nullptr;
  return V->Def->Operands[0];
}

void foldTransposes(Function &F) {
  bool Changed = false;
  for (auto &O : F.Ops) {
    // reduce_leading fixes both flags.
    if (O->Kind != OpKind::MatMul || O->boolAttr("reduce_leading"))
      continue;
    for (unsigned I = 0; I < 2; ++I) {
      Value *Src = swappedLast2(O->Operands[I]);
      if (!Src)
        continue;
      std::string Flag = I == 0 ? "transpose_a" : "transpose_b";
      bool Now = !O->boolAttr(Flag);
      O->Operands[I] = Src;
      if (Now)
        O->Attributes[Flag] = true;
      else
        O->Attributes.erase(Flag);
      Changed = true;
    }
  }
  if (!Changed)
    return;
  // Drop transposes left without uses.
  std::map<const Value *, unsigned> Uses = F.useCounts();
  for (size_t I = F.Ops.size(); I-- > 0;) {
    Op &O = *F.Ops[I];
    if (O.Kind != OpKind::Transpose || Uses[&O.Result])
      continue;
    --Uses[O.Operands[0]];
    F.Ops.erase(F.Ops.begin() + I);
  }
}

/// Ops an epilogue takes: those of a few vector instructions (Fusion
/// Epilogue or Cheap in Ops.def: the cheap ops, leaky_relu and div). Vector
/// math (exp, tanh, sigmoid, ...) measured no faster in the register tile than
/// in a separate loop over the stored product (tanh 1-3% slower), and libm
/// called lane by lane (erf, sin, ...) would be slower still.
bool epilogueOp(const Op &O) {
  FusionClass F = O.info().Fusion;
  return fusible(O) && (F == FusionClass::Cheap || F == FusionClass::Epilogue);
}

/// Whether \p MM is a 2-D matmul whose static sizes multiply to at most
/// kInlineMatMulStatic (ir/Body.h), so that codegen emits its tiles inline for
/// a small batch. Such a product takes tanh and sigmoid in its epilogue too:
/// there the vector math runs on the tile's registers, full-width vectors that
/// are never stored before it, where a separate loop costs a call, a pass over
/// memory and, for a layer of 16 units, more than the product itself.
bool smallMatMul(const Op &MM) {
  if (MM.Kind != OpKind::MatMul || MM.type().rank() != 2 ||
      MM.boolAttr("reduce_leading"))
    return false;
  const TensorType &AT = MM.Operands[0]->type();
  int64_t Static = 1;
  for (int64_t D : {MM.type().Dims[0], MM.type().Dims[1],
                    AT.Dims[MM.boolAttr("transpose_a") ? 0 : 1]})
    if (D != kBatch)
      Static *= D;
  return Static <= kInlineMatMulStatic;
}

/// Whether the epilogue of \p MM takes \p O.
bool epilogueOp(const Op &MM, const Op &O) {
  return epilogueOp(O) ||
         (fusible(O) && smallMatMul(MM) &&
          (O.Kind == OpKind::Tanh || O.Kind == OpKind::Sigmoid));
}

/// Whether the tile reads \p V, an input of an epilogue of a product of
/// shape \p Dims, cheaply: when it is constant along the product's rows (a
/// bias, a scalar) the tile loads it once, and when it is constant along
/// the columns, one scalar per row. An input that varies along both (an
/// activation, a weight) would be read in the GEMM's order, column strips
/// of a cache line per row (a page per row for rows of 4 KB), which was
/// measured slower than a separate loop streaming it: by 3% for relu's
/// adjoint after dY @ W^T, by 10% for SGD's update after a 1024 x 1024
/// weight gradient.
bool cheapInput(const Value *V, const std::vector<int64_t> &Dims) {
  size_t R = V->Type.rank();
  auto Dim = [&](size_t FromEnd) {
    return FromEnd <= R ? V->Type.Dims[R - FromEnd] : 1;
  };
  return Dim(1) == 1 || Dim(2) == 1 || Dims[Dims.size() - 2] == 1;
}

/// Whether a conv2d's tile reads \p V cheaply: when it is constant along
/// the images and pixels of the result [N, O, OH, OW] (a bias [O, 1, 1], a
/// scalar), one scalar per output channel.
bool cheapConvInput(const Value *V) {
  size_t R = V->Type.rank();
  for (size_t FromEnd : {1, 2, 4})
    if (FromEnd <= R && V->Type.Dims[R - FromEnd] != 1)
      return false;
  return true;
}

/// Whether \p O takes an epilogue: a float matmul or conv2d without one.
bool takesEpilogue(const Op &O) {
  return (O.Kind == OpKind::MatMul || O.Kind == OpKind::Conv2d) &&
         !O.hasAttr("epilogue") && isFloat(O.type().Elt);
}

/// Epilogue folding. From each matmul or conv2d, follows the chain of
/// elementwise ops of the product's shape through values with one user op that
/// are not results (ops of epilogueOp reading cheapInputs or cheapConvInputs
/// only), and folds it into the matmul as an `epilogue`, the chain's other
/// operands becoming the matmul's operands i1, i2, ...; the matmul takes the
/// place of the chain's last op. So `x @ w + b` feeding only relu becomes one
/// matmul storing relu's output, and when the sum is read again (a
/// pre-activation that the backward pass needs) the chain stops there: the bias
/// is added in the tile and the sum stored once.
void foldEpilogues(Function &F) {
  std::map<const Value *, std::vector<Op *>> Users;
  for (auto &O : F.Ops)
    for (const Value *V : O->Operands) {
      std::vector<Op *> &Us = Users[V];
      if (Us.empty() || Us.back() != O.get())
        Us.push_back(O.get());
    }
  std::set<const Value *> Results;
  for (const Result &R : F.Results)
    Results.insert(R.V);
  std::set<const Op *> Folded;
  for (auto &MM : F.Ops) {
    if (!takesEpilogue(*MM))
      continue;
    std::vector<Value *> Operands = {MM->Operands[0], MM->Operands[1]};
    std::map<const Value *, std::string> Ref = {{&MM->Result, "i0"}};
    std::vector<std::string> Members;
    std::vector<Op *> Chain;
    for (Value *Cur = &MM->Result; Chain.size() < kMaxEpilogue;) {
      const std::vector<Op *> &Us = Users[Cur];
      if (Results.count(Cur) || Us.size() != 1 || Folded.count(Us[0]) ||
          !epilogueOp(*MM, *Us[0]) || Us[0]->type().Dims != MM->type().Dims)
        break;
      Op &U = *Us[0];
      if (!std::all_of(U.Operands.begin(), U.Operands.end(), [&](Value *W) {
            return Ref.count(W) || (MM->Kind == OpKind::Conv2d
                                        ? cheapConvInput(W)
                                        : cheapInput(W, MM->type().Dims));
          }))
        break;
      std::vector<std::string> Args;
      for (Value *W : U.Operands) {
        if (!Ref.count(W)) {
          Operands.push_back(W);
          Ref[W] = fmt::format("i{}", Operands.size() - 2);
        }
        Args.push_back(Ref[W]);
      }
      Ref[&U.Result] = fmt::format("t{}", Members.size());
      Members.push_back(formatMember(U, Args));
      Chain.push_back(&U);
      Cur = &U.Result;
    }
    if (Chain.empty())
      continue;
    Op &Last = *Chain.back();
    Last.Kind = MM->Kind;
    Last.Operands = std::move(Operands);
    Last.Attributes = MM->Attributes;
    Last.Attributes["epilogue"] = fmt::format("{}", fmt::join(Members, "; "));
    Folded.insert(MM.get());
    Folded.insert(Chain.begin(), Chain.end() - 1);
  }
  eraseOps(F, [&](const Op &O) { return Folded.count(&O) > 0; });
}

void fuseElementwise(Function &F) {
  std::map<const Value *, std::vector<const Op *>> Users;
  for (auto &O : F.Ops)
    for (const Value *V : O->Operands)
      Users[V].push_back(O.get());
  std::set<const Value *> Results;
  for (const Result &R : F.Results)
    Results.insert(R.V);

  std::map<const Value *, unsigned> Size; // Of the inlined expression.
  std::set<const Value *> Inline;
  for (auto &O : F.Ops) {
    if (!fusible(*O))
      continue;
    unsigned S = 1;
    for (const Value *V : O->Operands)
      if (Inline.count(V))
        S += Size[V];
    Size[&O->Result] = S;
    const std::vector<const Op *> &Us = Users[&O->Result];
    if (Us.empty() || Results.count(&O->Result))
      continue;
    bool AllFuse = true;
    for (const Op *U : Us)
      AllFuse &= fusible(*U) && U->type().Dims == O->type().Dims;
    if (!AllFuse)
      continue;
    if (Us.size() == 1 ? S <= kMaxMembers : cheap(O->Kind) && S <= kMaxShared)
      Inline.insert(&O->Result);
  }
  if (Inline.empty())
    return;

  for (auto &Root : F.Ops) {
    if (!fusible(*Root) || Inline.count(&Root->Result))
      continue;
    bool Any = false;
    for (const Value *V : Root->Operands)
      Any |= Inline.count(V) > 0;
    if (!Any)
      continue;
    std::vector<Value *> Inputs;
    std::map<const Value *, std::string> Ref;
    std::vector<std::string> Members;
    // Emits the members computing V (operands first) and returns its ref.
    std::function<std::string(Value *)> Visit = [&](Value *V) -> std::string {
      if (auto It = Ref.find(V); It != Ref.end())
        return It->second;
      if (!Inline.count(V) && V != &Root->Result) {
        Inputs.push_back(V);
        return Ref[V] = fmt::format("i{}", Inputs.size() - 1);
      }
      const Op &O = *V->Def;
      std::vector<std::string> Args;
      for (Value *W : O.Operands)
        Args.push_back(Visit(W));
      Members.push_back(formatMember(O, Args));
      return Ref[V] = fmt::format("t{}", Members.size() - 1);
    };
    Visit(&Root->Result);
    Root->Kind = OpKind::Fused;
    Root->Operands = Inputs;
    Root->Attributes = {{"body", fmt::format("{}", fmt::join(Members, "; "))}};
  }
  eraseOps(F, [&](const Op &O) { return Inline.count(&O.Result) > 0; });
}

/// Whether \p O computes a float value element by element in a loop: an
/// elementwise op or a fused op whose body does not reduce.
bool loopProducer(const Op &O) {
  return isFloat(O.type().Elt) &&
         (O.Kind == OpKind::Fused ? !isReducingFused(O) : fusible(O));
}

/// Whether \p O computes its result row by row in a kernel that can also
/// sum the rows (see isRowSum): cross_entropy_grad.
bool rowProducer(const Op &O) { return O.Kind == OpKind::CrossEntropyGrad; }

/// Reduction fusion. A reduction of a value computed by a loop (a fused op
/// or an elementwise op) becomes a fused op with a reducing body (ir/Body.h)
/// that the loop computing the value accumulates: when the reduction is the
/// value's only reader (and it is no result), the producer's members move
/// into the reducing body and the value is never stored; otherwise the
/// reducing body reads the value (`reduce_sum:axes=[0] i0`) and codegen
/// (StepPlan's loop groups) runs it in the producer's loop, which stores
/// the value for its other readers; the reduction moves up to just after
/// the producer, so that readers between them (a matmul, batch norm's
/// adjoint reading dY again) do not keep it out. The bias gradient of a
/// ReLU layer
///
///   %9 = relu_grad %7, %1 : f32[N,128]
///   %10 = reduce_sum %9 {axes = [0]} : f32[128]
///
/// thus becomes `%10 = fused %9 {body = "reduce_sum:axes=[0] i0"}`, summed
/// while %9 is written instead of in a second pass over it. Each output is
/// still summed in loop order by one task (see emitLoopGroup).
///
/// The sum over the rows of a row op's result (rowProducer: the output
/// layer's bias gradient, the column sums of cross_entropy_grad) becomes
/// `fused %g {body = "reduce_sum:axes=[0] i0"}` just after it the same way
/// (isRowSum), also when it is the only reader: codegen accumulates it in
/// the row op's kernel while the rows are computed.
void fuseReductions(Function &F) {
  std::map<const Value *, std::vector<size_t>> Users; // Op indices.
  for (size_t I = 0; I < F.Ops.size(); ++I)
    for (const Value *V : F.Ops[I]->Operands) {
      std::vector<size_t> &Us = Users[V];
      if (Us.empty() || Us.back() != I)
        Us.push_back(I);
    }
  std::set<const Value *> Results;
  for (const Result &R : F.Results)
    Results.insert(R.V);
  std::set<const Op *> Gone;
  std::map<const Op *, std::vector<const Op *>> MoveAfter; // In order.
  for (size_t I = 0; I < F.Ops.size(); ++I) {
    Op &R = *F.Ops[I];
    Value *X = R.Operands.empty() ? nullptr : R.Operands[0];
    if (!isBodyReduction(R.Kind) || !isFloat(R.type().Elt) || !X->Def ||
        Gone.count(X->Def))
      continue;
    bool Rows = rowProducer(*X->Def) && R.Kind == OpKind::ReduceSum &&
                X->type().rank() >= 2 &&
                reduceAxes(R.Attributes, X->type().rank()).size() ==
                    X->type().rank() - 1 &&
                reduceAxes(R.Attributes, X->type().rank()).back() ==
                    int64_t(X->type().rank()) - 2;
    if (!Rows && !loopProducer(*X->Def))
      continue;
    const std::vector<size_t> &Us = Users[X];
    Op &P = *X->Def;
    if (!Rows && Us.size() == 1 && !Results.count(X)) {
      // The producer's members move into the reduction.
      std::vector<std::string> Members;
      std::string Last;
      if (P.Kind == OpKind::Fused) {
        Members.push_back(std::get<std::string>(P.Attributes.at("body")));
        Last = fmt::format(
            "t{}", std::count(Members[0].begin(), Members[0].end(), ';'));
        R.Operands = P.Operands;
      } else {
        std::vector<Value *> Inputs;
        std::vector<std::string> Args;
        for (Value *W : P.Operands) {
          auto It = std::find(Inputs.begin(), Inputs.end(), W);
          Args.push_back(fmt::format("i{}", It - Inputs.begin()));
          if (It == Inputs.end())
            Inputs.push_back(W);
        }
        Members.push_back(formatMember(P, Args));
        Last = "t0";
        R.Operands = Inputs;
      }
      Members.push_back(formatMember(R, {Last}));
      R.Attributes = {{"body", fmt::format("{}", fmt::join(Members, "; "))}};
      R.Kind = OpKind::Fused;
      Gone.insert(&P);
      continue;
    }
    // Shared: the reduction moves up to just after the producer, before
    // the value's other readers, so that the producer's loop group can
    // take it (StepPlan runs a group where its last op stands).
    R.Attributes = {{"body", formatMember(R, {"i0"})}};
    R.Kind = OpKind::Fused;
    MoveAfter[&P].push_back(&R);
  }
  eraseOps(F, [&](const Op &O) { return Gone.count(&O) > 0; });
  if (MoveAfter.empty())
    return;
  std::set<const Op *> Moved;
  for (auto &[P, Rs] : MoveAfter)
    Moved.insert(Rs.begin(), Rs.end());
  std::map<const Op *, std::unique_ptr<Op>> Taken;
  for (auto &O : F.Ops)
    if (Moved.count(O.get()))
      Taken[O.get()] = std::move(O);
  std::vector<std::unique_ptr<Op>> Ordered;
  for (auto &O : F.Ops) {
    if (!O)
      continue;
    const Op *P = O.get();
    Ordered.push_back(std::move(O));
    if (auto It = MoveAfter.find(P); It != MoveAfter.end())
      for (const Op *R : It->second)
        Ordered.push_back(std::move(Taken.at(R)));
  }
  F.Ops = std::move(Ordered);
}

bool FusePass::run(Module &M, PassContext &) {
  for (auto &F : M.Functions) {
    foldTransposes(*F);
    foldEpilogues(*F);
    fuseElementwise(*F);
    fuseReductions(*F);
  }
  return true;
}

} // namespace

std::unique_ptr<Pass> createFusePass() { return std::make_unique<FusePass>(); }

} // namespace adj
