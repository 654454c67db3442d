//===- Optimizer.cpp - SGD, Adam and AdamW updates as IR ------------------===//
///
/// For every `grad.<p>` result of @train_step, emits the update of p as
/// elementwise IR and replaces the gradient result with `p` (the
/// parameter's next value) and `opt.<slot>.<p>` (the optimizer state's next
/// value). The learning rate and the 1-based step count are scalar
/// arguments %lr and %step, so they change without recompiling; the other
/// hyperparameters are constants. Formulas follow PyTorch:
///
///   sgd:   b' = mu*b + g;  p' = p - lr*(nesterov ? g + mu*b' : b')
///          (plain p - lr*g when mu = 0)
///   adam:  m' = b1*m + (1-b1)*g;  v' = b2*v + (1-b2)*g*g
///          p' = p - (lr/(1-b1^t)) * m' / (sqrt(v') / sqrt(1-b2^t) + eps)
///   adamw: as adam, with p first scaled by (1 - lr*wd)
///
/// Weight decay for sgd and adam adds wd*p to the gradient. With clip_norm,
/// all gradients are first scaled by min(1, clip / (||g|| + 1e-6)), ||g||
/// their global L2 norm (torch.nn.utils.clip_grad_norm_). A parameter
/// with a learning-rate multiplier (`lr_mult`) uses lr = %lr * mult in its
/// update (in adamw's decay too), as a PyTorch parameter group would.
///
//===----------------------------------------------------------------------===//
#include "passes/Optimizer.h"

#include "passes/Autodiff.h"

#include <fmt/format.h>

namespace adj {

namespace {

class OptimizerPass : public Pass {
public:
  const char *name() const override { return "optimizer"; }
  bool run(Module &M, PassContext &Ctx) override;
};

} // namespace

std::vector<std::string> optimizerSlots(const OptimizerConfig &C) {
  const OptimizerInfo *Info = lookupOptimizer(C.Name);
  if (Info && Info->Kind == OptimizerKind::Sgd)
    return C.Momentum != 0 ? std::vector<std::string>{"momentum"}
                           : std::vector<std::string>{};
  return {"m", "v"};
}

bool OptimizerPass::run(Module &M, PassContext &Ctx) {
  const OptimizerConfig &C = Ctx.Optimizer;
  const OptimizerInfo *Info = lookupOptimizer(C.Name);
  if (!Info) {
    Ctx.error(Loc(), fmt::format("unknown optimizer '{}'", C.Name));
    return false;
  }
  const OptimizerKind Kind = Info->Kind;
  Function *F = M.function("train_step");
  if (!F) {
    Ctx.error(Loc(), "the optimizer pass needs @train_step (run autodiff)");
    return false;
  }
  if (F->arg("lr")) {
    Ctx.error(Loc(), "@train_step already has optimizer updates");
    return false;
  }
  DType Elt = DType::F32;
  if (const Result *L = F->result("loss"))
    Elt = L->V->Type.Elt;
  Value *LrArg = F->addArg("lr", TensorType::scalar(Elt), ArgRole::Hyper);
  // Dropout in training mode already reads %step.
  Value *Step = F->arg("step");
  if (!Step)
    Step = F->addArg("step", TensorType::scalar(Elt), ArgRole::Hyper);

  Builder B(*F);
  // Constants like 1 - beta1 print as 0.1, not 0.09999999999999998.
  auto Cst = [&](double V) {
    return B.constant(std::stod(fmt::format("{:.15g}", V)), Elt);
  };
  auto Op2 = [&](OpKind K, Value *X, Value *Y) { return B.create(K, {X, Y}); };

  // Global-norm clipping: every gradient times
  // min(1, clip / (sqrt(sum of squares of all gradients) + 1e-6)).
  if (C.ClipNorm > 0) {
    Value *SumSq = nullptr;
    for (const Result &R : F->Results) {
      if (R.Name.rfind("grad.", 0) != 0)
        continue;
      B.CurLoc = R.V->Def ? R.V->Def->Location : Loc();
      B.CurLoc.Grad = true;
      Value *S = B.create(OpKind::ReduceSum, {Op2(OpKind::Mul, R.V, R.V)},
                          {{"keepdims", false}});
      SumSq = SumSq ? Op2(OpKind::Add, SumSq, S) : S;
    }
    if (SumSq) {
      Value *Norm = B.create(OpKind::Sqrt, {SumSq});
      // One op per statement, in the order g++ evaluated the nested calls
      // (right to left): a call's argument order differs between compilers
      // (clang: left to right), and so would the IR's.
      Value *Den = Op2(OpKind::Add, Norm, Cst(1e-6));
      Value *Ratio = Op2(OpKind::Div, Cst(C.ClipNorm), Den);
      Value *Scale = Op2(OpKind::Minimum, Cst(1), Ratio);
      for (Result &R : F->Results)
        if (R.Name.rfind("grad.", 0) == 0)
          R.V = Op2(OpKind::Mul, R.V, Scale);
    }
  }

  std::vector<Result> Results;
  std::vector<Result> Updates;
  Value *BiasC1 = nullptr, *InvSqrtC2 = nullptr;
  for (const Result &R : F->Results) {
    if (R.Name.rfind("grad.", 0) != 0) {
      Results.push_back(R);
      continue;
    }
    std::string PName = R.Name.substr(5);
    Value *P = F->arg(PName);
    if (!P) {
      Ctx.error(Loc(), fmt::format("gradient '{}' has no parameter", R.Name));
      return false;
    }
    Value *G = R.V;
    B.CurLoc = G->Def ? G->Def->Location : Loc();
    B.CurLoc.Grad = true;
    auto State = [&](const std::string &Slot) {
      return F->addArg(fmt::format("opt.{}.{}", Slot, PName), P->Type,
                       ArgRole::State);
    };
    if (C.WeightDecay != 0 && Kind != OptimizerKind::AdamW)
      G = Op2(OpKind::Add, G, Op2(OpKind::Mul, Cst(C.WeightDecay), P));
    // This parameter's learning rate: %lr times its lr_mult.
    auto Mult = C.LrMult.find(PName);
    Value *Lr = Mult == C.LrMult.end() || Mult->second == 1
                    ? LrArg
                    : Op2(OpKind::Mul, LrArg, Cst(Mult->second));
    Value *NewP = nullptr;
    if (Kind == OptimizerKind::Sgd) {
      Value *Dir = G;
      if (C.Momentum != 0) {
        Value *Buf = State("momentum");
        Value *NewBuf =
            Op2(OpKind::Add, Op2(OpKind::Mul, Cst(C.Momentum), Buf), G);
        Updates.push_back({Buf->Name, NewBuf});
        Dir = C.Nesterov ? Op2(OpKind::Add, G,
                               Op2(OpKind::Mul, Cst(C.Momentum), NewBuf))
                         : NewBuf;
      }
      NewP = Op2(OpKind::Sub, P, Op2(OpKind::Mul, Lr, Dir));
    } else {
      if (!BiasC1) {
        // 1 - beta^t, once for all parameters (one op per statement, as
        // above and below).
        Value *Pow1 = Op2(OpKind::Pow, Cst(C.Beta1), Step);
        BiasC1 = Op2(OpKind::Sub, Cst(1), Pow1);
        Value *Pow2 = Op2(OpKind::Pow, Cst(C.Beta2), Step);
        Value *BiasC2 = Op2(OpKind::Sub, Cst(1), Pow2);
        Value *SqrtC2 = B.create(OpKind::Sqrt, {BiasC2});
        InvSqrtC2 = Op2(OpKind::Div, Cst(1), SqrtC2);
      }
      Value *Mv = State("m"), *Vv = State("v");
      Value *GPart = Op2(OpKind::Mul, Cst(1 - C.Beta1), G);
      Value *MPart = Op2(OpKind::Mul, Cst(C.Beta1), Mv);
      Value *NewM = Op2(OpKind::Add, MPart, GPart);
      Value *GG = Op2(OpKind::Mul, G, G);
      Value *GGPart = Op2(OpKind::Mul, Cst(1 - C.Beta2), GG);
      Value *VPart = Op2(OpKind::Mul, Cst(C.Beta2), Vv);
      Value *NewV = Op2(OpKind::Add, VPart, GGPart);
      Updates.push_back({Mv->Name, NewM});
      Updates.push_back({Vv->Name, NewV});
      // As torch.optim.Adam: the bias corrections are scalars folded into
      // the step size lr / (1 - b1^t) and the factor 1 / sqrt(1 - b2^t) of
      // sqrt(v'), so that an element takes one division and one sqrt.
      Value *StepSize = Op2(OpKind::Div, Lr, BiasC1);
      // One op per statement: the order of evaluation of a call's
      // arguments is unspecified, and the IR must not depend on the
      // compiler that built adjc.
      Value *Eps = Cst(C.Eps);
      Value *SqrtV = B.create(OpKind::Sqrt, {NewV});
      Value *Den = Op2(OpKind::Add, Op2(OpKind::Mul, SqrtV, InvSqrtC2), Eps);
      Value *Base = P;
      if (Kind == OptimizerKind::AdamW && C.WeightDecay != 0) {
        Value *Decay = Op2(OpKind::Mul, Lr, Cst(C.WeightDecay));
        Base = Op2(OpKind::Mul, P, Op2(OpKind::Sub, Cst(1), Decay));
      }
      NewP = Op2(OpKind::Sub, Base,
                 Op2(OpKind::Mul, StepSize, Op2(OpKind::Div, NewM, Den)));
    }
    Results.push_back({PName, NewP});
  }
  for (Result &U : Updates)
    Results.push_back(U);
  F->Results = std::move(Results);
  // Hyperparameters go last among the arguments, %lr and %step first of
  // them (then dropout's %seed): move them after the state arguments that
  // were added meanwhile.
  std::vector<size_t> Order;
  for (size_t I = 0; I < F->Args.size(); ++I)
    if (F->Roles[I] != ArgRole::Hyper)
      Order.push_back(I);
  Order.push_back(LrArg->ArgNo);
  Order.push_back(Step->ArgNo);
  for (size_t I = 0; I < F->Args.size(); ++I)
    if (F->Roles[I] == ArgRole::Hyper && I != size_t(LrArg->ArgNo) &&
        I != size_t(Step->ArgNo))
      Order.push_back(I);
  std::vector<std::unique_ptr<Value>> Args;
  std::vector<ArgRole> Roles;
  std::vector<bool> Frozen;
  for (size_t I : Order) {
    Args.push_back(std::move(F->Args[I]));
    Roles.push_back(F->Roles[I]);
    Frozen.push_back(F->Frozen[I]);
  }
  F->Args = std::move(Args);
  F->Roles = std::move(Roles);
  F->Frozen = std::move(Frozen);
  for (size_t I = 0; I < F->Args.size(); ++I)
    F->Args[I]->ArgNo = I;
  return true;
}

std::unique_ptr<Pass> createOptimizerPass() {
  return std::make_unique<OptimizerPass>();
}

} // namespace adj
