//===- Autodiff.cpp - Reverse-mode differentiation ------------------------===//
///
/// Copies @forward into a new function @train_step and appends its adjoint
/// graph. A forward sweep marks the values that depend on a trainable
/// (non-frozen) parameter; only those get adjoints, so inputs, labels and
/// frozen parameters cost nothing. The reverse sweep seeds d loss = 1 and
/// visits ops last to first; each op with an adjoint asks the gradient-rule
/// table for its operands' adjoints, which are summed where a value has
/// several uses (fan-out). Ops without a rule (masks, argmax, accuracy) stop
/// the gradient: their derivative is zero almost everywhere. What the fuse
/// pass made (`fused` ops, matmul epilogues) is an error: fuse runs after
/// autodiff. Adjoint ops carry their forward op's location marked `grad`.
///
/// @train_step returns the loss, the buffers' next values (results named
/// after a buffer argument, e.g. batch norm's running statistics) and
/// `grad.<param>` for every trainable parameter; metrics are dropped (they
/// are evaluated by @forward). A trainable parameter the loss does not
/// depend on gets a zero gradient and a warning.
///
/// A model whose training differs from its evaluation (batch_norm,
/// dropout) has a second function, @forward_train, in training mode: then
/// @train_step is @forward_train renamed and differentiated, and
/// @forward_train leaves the module.
///
//===----------------------------------------------------------------------===//
#include "passes/Autodiff.h"

#include "ir/Scan.h"
#include "passes/GradRules.h"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_map>
#include <unordered_set>

namespace adj {

namespace {

class AutodiffPass : public Pass {
public:
  const char *name() const override { return "autodiff"; }
  bool run(Module &M, PassContext &Ctx) override;
};

} // namespace

/// The contiguous siblings (ir/Scan.h) around scan op \p I of \p F.
static std::pair<size_t, size_t> siblingRange(const Function &F, size_t I) {
  size_t Lo = I, Hi = I;
  while (Lo > 0 && scanSiblings(*F.Ops[Lo - 1], *F.Ops[I]))
    --Lo;
  while (Hi + 1 < F.Ops.size() && scanSiblings(*F.Ops[Hi + 1], *F.Ops[I]))
    ++Hi;
  return {Lo, Hi};
}

bool reverseSweep(Module &M, Function &F,
                  const std::unordered_set<const Value *> &Wrt,
                  std::unordered_map<const Value *, Value *> &Adjoint,
                  PassContext &Ctx) {
  // Forward sweep: which values depend on one of Wrt?
  std::unordered_set<const Value *> Active(Wrt.begin(), Wrt.end());
  for (auto &O : F.Ops) {
    if (!isFloat(O->Result.Type.Elt))
      continue;
    for (Value *V : O->Operands)
      if (Active.count(V)) {
        Active.insert(&O->Result);
        break;
      }
  }
  // Seeds on values no gradient flows to cost nothing.
  for (auto It = Adjoint.begin(); It != Adjoint.end();)
    It = Active.count(It->first) ? std::next(It) : Adjoint.erase(It);

  Builder B(F);
  size_t NumForward = F.Ops.size();
  for (size_t I = NumForward; I-- > 0;) {
    Op &O = *F.Ops[I];
    // A scan's siblings are differentiated together, as one loop.
    std::vector<const Op *> Group{&O};
    std::vector<Value *> GroupDY;
    if (O.Kind == OpKind::Scan) {
      auto [Lo, Hi] = siblingRange(F, I);
      Group.clear();
      for (size_t J = Lo; J <= Hi; ++J) {
        Group.push_back(F.Ops[J].get());
        auto It = Adjoint.find(&F.Ops[J]->Result);
        GroupDY.push_back(It == Adjoint.end() ? nullptr : It->second);
      }
      I = Lo;
      if (std::count(GroupDY.begin(), GroupDY.end(), nullptr) ==
          std::ptrdiff_t(GroupDY.size()))
        continue;
    } else if (!Adjoint.count(&O.Result)) {
      continue;
    }
    if (O.Kind == OpKind::Fused || O.hasAttr("epilogue")) {
      Ctx.error(O.Location,
                fmt::format("cannot differentiate the fuse pass's '{}'; run "
                            "autodiff before fuse",
                            O.info().Mnemonic));
      return false;
    }
    GradRule Rule = gradRule(O.Kind);
    if (!Rule)
      continue; // zero derivative almost everywhere
    Value *DY = GroupDY.empty() ? Adjoint.at(&O.Result) : nullptr;
    GradContext C{B, *Group.front(), DY, {}, {}};
    C.M = &M;
    C.Ctx = &Ctx;
    C.Group = Group;
    C.GroupDY = GroupDY;
    bool Any = false;
    for (Value *V : O.Operands) {
      C.Needs.push_back(Active.count(V) != 0);
      Any |= C.Needs.back();
    }
    if (!Any)
      continue;
    C.Grads.assign(O.Operands.size(), nullptr);
    B.CurLoc = O.Location.asGrad();
    Rule(C);
    if (!C.Error.empty()) {
      Ctx.error(O.Location, C.Error);
      return false;
    }
    for (size_t J = 0; J < O.Operands.size(); ++J) {
      Value *G = C.Grads[J];
      if (!G || !C.Needs[J])
        continue;
      Value *V = O.Operands[J];
      Value *&Acc = Adjoint[V];
      Acc = Acc ? B.create(OpKind::Add, {Acc, G}) : G;
    }
  }
  return true;
}

/// Adds the reverse sweep for \p F; returns false on a user error.
static bool differentiate(Module &M, Function &F, PassContext &Ctx) {
  const Result *LossR = F.result("loss");
  if (!LossR) {
    Ctx.error(Loc(), fmt::format("@{} has no 'loss' result", F.Name));
    return false;
  }
  Value *Loss = LossR->V;
  if (!Loss->Type.isScalar() || !isFloat(Loss->Type.Elt)) {
    Ctx.error(Loss->Def ? Loss->Def->Location : Loc(),
              "the loss must be a float scalar");
    return false;
  }

  std::unordered_set<const Value *> Params;
  for (size_t I = 0; I < F.Args.size(); ++I)
    if (F.Roles[I] == ArgRole::Param && !F.Frozen[I] &&
        isFloat(F.Args[I]->Type.Elt))
      Params.insert(F.Args[I].get());
  std::unordered_map<const Value *, Value *> Adjoint;
  {
    Builder B(F);
    B.CurLoc = Loss->Def ? Loss->Def->Location.asGrad() : Loc().asGrad();
    Adjoint[Loss] = B.constant(1.0, Loss->Type.Elt);
  }
  if (!reverseSweep(M, F, Params, Adjoint, Ctx))
    return false;
  Builder B(F);

  // Results: the loss, the buffers' next values and one gradient per
  // trainable parameter.
  std::vector<Result> Results{{"loss", Loss}};
  for (const Result &R : F.Results) {
    int I = F.argIndex(R.Name);
    if (I >= 0 && F.Roles[I] == ArgRole::Buffer)
      Results.push_back(R);
  }
  for (size_t I = 0; I < F.Args.size(); ++I) {
    if (F.Roles[I] != ArgRole::Param || F.Frozen[I])
      continue;
    Value *P = F.Args[I].get();
    Value *G = Adjoint.count(P) ? Adjoint[P] : nullptr;
    if (!G) {
      Ctx.warning(Loc(), fmt::format("parameter '{}' does not affect the "
                                     "loss; its gradient is zero",
                                     P->Name));
      B.CurLoc = Loc().asGrad();
      G = B.constant(0.0, P->Type.Elt, P->Type.Dims);
    }
    Results.push_back({gradResultName(P->Name), G});
  }
  F.Results = std::move(Results);
  return true;
}

bool AutodiffPass::run(Module &M, PassContext &Ctx) {
  Function *Fwd = M.function("forward");
  if (!Fwd) {
    Ctx.error(Loc(), "autodiff needs a function @forward");
    return false;
  }
  if (M.function("train_step")) {
    Ctx.error(Loc(), "the module already has @train_step");
    return false;
  }
  std::unique_ptr<Function> F;
  for (auto It = M.Functions.begin(); It != M.Functions.end(); ++It)
    if ((*It)->Name == "forward_train") {
      F = std::move(*It);
      M.Functions.erase(It);
      break;
    }
  if (!F)
    F = Fwd->clone();
  F->Name = "train_step";
  if (!differentiate(M, *F, Ctx))
    return false;
  M.Functions.push_back(std::move(F));
  return true;
}

std::unique_ptr<Pass> createAutodiffPass() {
  return std::make_unique<AutodiffPass>();
}

} // namespace adj
