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

#include "passes/GradRules.h"

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

/// Adds the reverse sweep for \p F; returns false on a user error.
static bool differentiate(Function &F, PassContext &Ctx) {
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

  // Forward sweep: which values depend on a trainable parameter?
  std::unordered_set<const Value *> Active;
  for (size_t I = 0; I < F.Args.size(); ++I)
    if (F.Roles[I] == ArgRole::Param && !F.Frozen[I] &&
        isFloat(F.Args[I]->Type.Elt))
      Active.insert(F.Args[I].get());
  for (auto &O : F.Ops) {
    if (!isFloat(O->Result.Type.Elt))
      continue;
    for (Value *V : O->Operands)
      if (Active.count(V)) {
        Active.insert(&O->Result);
        break;
      }
  }

  // Reverse sweep.
  std::unordered_map<const Value *, Value *> Adjoint;
  Builder B(F);
  B.CurLoc = Loss->Def ? Loss->Def->Location.asGrad() : Loc().asGrad();
  if (Active.count(Loss))
    Adjoint[Loss] = B.constant(1.0, Loss->Type.Elt);
  size_t NumForward = F.Ops.size();
  for (size_t I = NumForward; I-- > 0;) {
    Op &O = *F.Ops[I];
    auto It = Adjoint.find(&O.Result);
    if (It == Adjoint.end())
      continue;
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
    GradContext C{B, O, It->second, {}, {}};
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
    for (size_t J = 0; J < O.Operands.size(); ++J) {
      Value *G = C.Grads[J];
      if (!G || !C.Needs[J])
        continue;
      Value *V = O.Operands[J];
      Value *&Acc = Adjoint[V];
      Acc = Acc ? B.create(OpKind::Add, {Acc, G}) : G;
    }
  }

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
  if (!differentiate(*F, Ctx))
    return false;
  M.Functions.push_back(std::move(F));
  return true;
}

std::unique_ptr<Pass> createAutodiffPass() {
  return std::make_unique<AutodiffPass>();
}

} // namespace adj
