//===- ScanGrad.cpp - The gradient of a scan: a reverse scan --------------===//
///
/// Backpropagation through time, as one more scan. For a loop over body
/// @f(carry..., x_t..., capture...) -> (carry'..., y...) whose siblings
/// have adjoints (stacked carries D_k, final carries F_k, stacked ys DY_j),
/// the rule builds the body's adjoint function
///
///   @f.grad(d_carry..., acc_capture..., carry_prev..., x_t..., dout_k...,
///           dy_j..., capture...) -> (d_carry_prev..., acc + d_capture...,
///                                    d_x_t...)
///
/// which recomputes f's step from the saved previous carries (the forward
/// scan's stacked outputs) and the saved matmul results and activations
/// (the training loop runs @f.train, a copy of f that also outputs them,
/// see chooseSaved; a sigmoid's or tanh's derivative is then computed from
/// its saved output, s * (1 - s) or 1 - t * t, with no exp per element, and
/// a pre-activation only those read is not saved at all), seeds
/// d carry' = d_carry + dout_k and d y = dy_j, and runs the reverse sweep
/// (Autodiff.h) over that copy. The forward function then gets one reverse
/// scan over @f.grad, T-1 down to 0, whose carries are the carries'
/// adjoints (starting at F_k, else 0) and one accumulator per capture
/// that needs a gradient (starting at 0), and whose sequences are the
/// previous carries (init, then the stacked carries shifted by one step),
/// the xs and the adjoints of the stacked outputs. Its final carries are
/// the adjoints of the inits and captures, its stacked ys those of the xs.
///
/// Weight gradients leave the loop: a capture whose adjoint in @f.grad is
/// a sum of per-step products x_t^T @ y_t (the gradient of W in h_t @ W
/// is h_t^T @ dz_t, with x_t and y_t [N, ...] step values) is not
/// accumulated in a carry. The reverse scan outputs y_t (and x_t, unless
/// it is one of its sequences already) stacked over the steps, and one
/// matmul after the loop sums the products over every row of the stacks,
/// N * T of them (`reduce_leading`): one large GEMM instead of T small
/// ones. A bias's gradient, the sum of a step value's batch rows, is
/// likewise one reduce_sum over the stack, and a table's whose rows the
/// step gathers by its ids (a recurrent layer's projected embedding
/// table), embedding_grad(dy_t, ids_t), one embedding_grad over the stacked
/// adjoints and ids.
///
/// A capture the forward function transposed before the loop (a recurrent
/// layer's w_hh^T, which the forward step reads in place) and that the
/// adjoint step reads only as matmuls' second operand is passed to the
/// reverse scan untransposed, those matmuls' transpose_b flipped: both
/// loops then read their weight in place, with no packing per step.
///
//===----------------------------------------------------------------------===//
#include "ir/Scan.h"
#include "passes/Autodiff.h"
#include "passes/DCE.h"
#include "passes/GradRules.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace adj {

static ScanGradMutation Mutation = ScanGradMutation::None;

void setScanGradMutationForTesting(ScanGradMutation M) { Mutation = M; }

namespace {

/// The adjoint body and the reverse scan of one loop.
class ScanGrad {
public:
  ScanGrad(GradContext &C) : C(C), B(C.B), M(*C.M), O(C.O) {}
  void run();

private:
  /// A name for a new function: \p Base, or Base.1, Base.2, ...
  std::string freshFunctionName(const std::string &Base) const;
  /// Chooses the values of the body the forward loop may save per step
  /// (SavedOps): every matmul's result (or the sum it flows into alone) and
  /// every sigmoid's and tanh's output.
  void chooseSaved();
  /// Makes the forward loop also output the saved values (a copy of the
  /// body, @f.train, with them as per-step outputs, and a sibling per saved
  /// value), so that the adjoint step reads them instead of recomputing.
  void saveValues();
  /// In @f.grad, the recomputed activations replaced by the saved ones
  /// (\p Saved, per SavedOps) and their derivatives computed from them
  /// (\p Adjoint updated):
  /// sigmoid_grad(dy, x) = dy * (s * (1 - s)), tanh_grad(dy, x) =
  /// dy * (1 - t * t), the same arithmetic as the _grad ops' on s, t.
  void
  useSavedActivations(const std::unordered_map<const Value *, Value *> &Map,
                      const std::vector<Value *> &Saved,
                      std::unordered_map<const Value *, Value *> &Adjoint);
  /// Drops the saved values that @f.grad no longer reads (a pre-activation
  /// whose activation is saved) from its arguments and SavedOps.
  void pruneSaved();
  /// Builds @f.grad; false after setting C.Error.
  bool buildAdjointBody();
  /// The reverse scan in the forward function.
  void buildReverseScan();
  /// The reverse scan's operand for capture \p Ci: the capture, or the
  /// matrix it transposes when @f.grad reads it only as the second operand
  /// of matmuls (which then read that matrix with the opposite flag).
  Value *reverseCapture(unsigned Ci);
  /// The previous carry of every step: init, then stacked[0 .. T-2].
  Value *previousCarries(unsigned K);
  /// Sorts the captures' adjoints in @f.grad (\p D per capture of Caps)
  /// into results of @f.grad and weight-gradient terms for after the
  /// loop, and adds the results after the carries' (\p DX: the xs').
  void captureResults(const std::vector<Value *> &D,
                      const std::vector<Value *> &Acc,
                      const std::vector<Value *> &DX);
  /// A term of a capture's adjoint summed after the loop: x_t^T @ y_t over
  /// the batch rows of two step values (a weight's gradient), the sum of
  /// x_t's batch rows ({x_t, null}, a bias's), or, when Rows > 0,
  /// embedding_grad(x_t, y_t) into a table of Rows rows (y_t the step's
  /// ids: a gathered table's).
  struct StepTerm {
    Value *X, *Y;
    int64_t Rows;
  };
  /// The step values of \p V when it is a term of one of those forms.
  std::optional<StepTerm> stepTerm(const Value *V) const;
  /// Whether \p V is a value of @f.grad's step: computed, or a sequence;
  /// [N, F], or [N] when \p Ids (a step's ids).
  bool isStepValue(const Value *V, bool Ids = false) const;
  /// Where the stacked values of @f.grad's \p V are: a sequence operand
  /// of the reverse scan or a per-step output (added if needed).
  struct Stack {
    bool IsOutput;
    unsigned Index;
  };
  Stack stackOf(Value *V);
  Value *zeros(const TensorType &T) { return B.constant(0.0, T.Elt, T.Dims); }

  GradContext &C;
  Builder &B;
  Module &M;
  const Op &O;
  const Function *Body = nullptr;
  ScanShape S;
  unsigned NY = 0;
  /// Per carry: the sibling of its stacked output and its final output.
  std::vector<const Op *> Stacked, Final;
  std::vector<Value *> DStacked, DFinal, DY;
  /// Captures and sequences that need an adjoint, by index.
  std::vector<unsigned> Caps, Xs;
  /// The captures whose adjoint (or part of it) is a carry of the reverse
  /// scan, by index; the others' is summed after the loop only.
  std::vector<unsigned> AccCaps;
  /// Per capture with terms summed after the loop: the stacks of x and y
  /// (y unset for a bias's sum of rows).
  struct Term {
    Stack X;
    std::optional<Stack> Y;
    int64_t Rows; ///< > 0: embedding_grad(X, Y) (StepTerm).
  };
  std::vector<std::pair<unsigned, std::vector<Term>>> Hoisted;
  /// @f.grad's sequence arguments, in the reverse scan's order.
  std::vector<Value *> SeqArgs;
  /// @f.grad's capture arguments, in order.
  std::vector<Value *> CapArgs;
  Function *Grad = nullptr;
  /// The body's matmuls whose results the forward loop saves (their
  /// indices in the body) and the stacked saved values.
  std::vector<size_t> SavedOps;
  std::vector<Value *> SavedStacks;
  /// @f.grad's argument per saved value, and the name of @f.train.
  std::vector<Value *> SavedArgs;
  std::string TrainName;
};

} // namespace

std::string ScanGrad::freshFunctionName(const std::string &Base) const {
  std::string Name = Base;
  for (int I = 1; M.function(Name); ++I)
    Name = fmt::format("{}.{}", Base, I);
  return Name;
}

void ScanGrad::chooseSaved() {
  // A matmul's result, or the sum it flows into alone: the pre-activation
  // h @ w_hh^T + b_hh + xp_t of a recurrent cell, which the adjoint step then
  // reads instead of adding it up again.
  std::map<const Value *, unsigned> Uses = Body->useCounts();
  auto SoleAdd = [&](size_t I) -> std::optional<size_t> {
    const Value *V = &Body->Ops[I]->Result;
    if (Uses[V] != 1)
      return std::nullopt;
    for (size_t J = I + 1; J < Body->Ops.size(); ++J) {
      const Op &U = *Body->Ops[J];
      if (std::find(U.Operands.begin(), U.Operands.end(), V) ==
          U.Operands.end())
        continue;
      if (U.Kind == OpKind::Add && U.Result.Type == V->Type)
        return J;
      return std::nullopt;
    }
    return std::nullopt;
  };
  for (size_t I = 0; I < Body->Ops.size(); ++I)
    if (Body->Ops[I]->Kind == OpKind::MatMul) {
      size_t Saved = I;
      while (std::optional<size_t> Next = SoleAdd(Saved))
        Saved = *Next;
      // Two matmuls summed (h @ w + x_t @ v) save their sum once.
      if (std::find(SavedOps.begin(), SavedOps.end(), Saved) == SavedOps.end())
        SavedOps.push_back(Saved);
    }
  // Activations: the adjoint step reads them (and their derivatives,
  // y * (1 - y) and 1 - y^2) instead of recomputing them from the saved
  // pre-activations; pruneSaved then drops the pre-activations. One that
  // is a result of the body (a carry) is left to be recomputed: saving it
  // would store every step's carry a second time.
  for (size_t I = 0; I < Body->Ops.size(); ++I) {
    const Op &A = *Body->Ops[I];
    auto IsResult = [&](const Result &R) { return R.V == &A.Result; };
    if ((A.Kind == OpKind::Sigmoid || A.Kind == OpKind::Tanh) &&
        std::none_of(Body->Results.begin(), Body->Results.end(), IsResult) &&
        std::find(SavedOps.begin(), SavedOps.end(), I) == SavedOps.end())
      SavedOps.push_back(I);
  }
  if (Mutation != ScanGradMutation::None)
    SavedOps.clear();
  if (!SavedOps.empty())
    TrainName = freshFunctionName(Body->Name + ".train");
}

void ScanGrad::saveValues() {
  if (SavedOps.empty())
    return;
  std::unique_ptr<Function> Copy = Body->clone();
  Copy->Name = TrainName;
  unsigned First = Copy->Results.size();
  for (size_t J = 0; J < SavedOps.size(); ++J)
    Copy->Results.push_back(
        {fmt::format("saved{}", J), &Copy->Ops[SavedOps[J]]->Result});
  Body = Copy.get();
  // Before @f.grad, which reads its outputs.
  auto Pos = std::find_if(M.Functions.begin(), M.Functions.end(),
                          [&](const auto &F) { return F.get() == Grad; });
  M.Functions.insert(Pos, std::move(Copy));
  // The loop's siblings now run the copy; one more sibling per saved value,
  // after the last, so that they stay one loop.
  Function &F = C.B.function();
  size_t Last = 0;
  for (size_t I = 0; I < F.Ops.size(); ++I)
    for (const Op *Sib : C.Group)
      if (F.Ops[I].get() == Sib) {
        const_cast<Op *>(Sib)->Attributes["body"] = Body->Name;
        Last = I;
      }
  for (size_t J = 0; J < SavedOps.size(); ++J) {
    auto New = std::make_unique<Op>();
    New->Kind = OpKind::Scan;
    New->Operands = O.Operands;
    New->Attributes = O.Attributes;
    New->Attributes.erase("final");
    New->Attributes["output"] = int64_t(First + J);
    New->Result.Type = scanOutputType(*Body, S, First + J, false);
    New->Result.Def = New.get();
    New->Location = O.Location;
    SavedStacks.push_back(&New->Result);
    F.Ops.insert(F.Ops.begin() + Last + 1 + J, std::move(New));
  }
  NY = Body->Results.size() - S.Carries;
  DY.resize(NY, nullptr);
}

bool ScanGrad::buildAdjointBody() {
  Grad = M.addFunction(freshFunctionName(
      (TrainName.empty() ? Body->Name : TrainName) + ".grad"));
  Function &G = *Grad;
  unsigned NK = S.Carries;
  auto ArgName = [&](unsigned I) { return Body->Args[I]->Name; };
  std::vector<Value *> DCarry, Acc, Prev, X, DOut, DYs, Cap;
  for (unsigned K = 0; K < NK; ++K)
    DCarry.push_back(
        G.addArg("d_" + ArgName(K), Body->Args[K]->Type, ArgRole::Input));
  for (unsigned Ci : Caps)
    Acc.push_back(G.addArg("acc_" + ArgName(NK + S.Seqs + Ci),
                           Body->Args[NK + S.Seqs + Ci]->Type, ArgRole::Input));
  for (unsigned K = 0; K < NK; ++K)
    Prev.push_back(G.addArg(ArgName(K), Body->Args[K]->Type, ArgRole::Input));
  for (unsigned Xi = 0; Xi < S.Seqs; ++Xi)
    X.push_back(
        G.addArg(ArgName(NK + Xi), Body->Args[NK + Xi]->Type, ArgRole::Input));
  for (unsigned K = 0; K < NK; ++K)
    if (DStacked[K])
      DOut.push_back(
          G.addArg("dout_" + ArgName(K), Body->Args[K]->Type, ArgRole::Input));
  for (unsigned J = 0; J < NY; ++J)
    if (DY[J])
      DYs.push_back(G.addArg(fmt::format("dy{}", J),
                             Body->Results[NK + J].V->Type, ArgRole::Input));
  std::vector<Value *> Saved;
  for (size_t J = 0; J < SavedOps.size(); ++J)
    Saved.push_back(G.addArg(fmt::format("saved{}", J),
                             Body->Ops[SavedOps[J]]->Result.Type,
                             ArgRole::Input));
  for (const std::vector<Value *> *L : {&Prev, &X, &DOut, &DYs, &Saved})
    SeqArgs.insert(SeqArgs.end(), L->begin(), L->end());
  for (unsigned Ci = 0; Ci < S.Captures; ++Ci)
    Cap.push_back(G.addArg(ArgName(NK + S.Seqs + Ci),
                           Body->Args[NK + S.Seqs + Ci]->Type, ArgRole::Input));
  CapArgs = Cap;

  // The body's step, recomputed from the previous carries (but for the
  // saved matmuls, below).
  std::unordered_map<const Value *, Value *> Map;
  for (unsigned K = 0; K < NK; ++K)
    Map[Body->Args[K].get()] = Prev[K];
  for (unsigned Xi = 0; Xi < S.Seqs; ++Xi)
    Map[Body->Args[NK + Xi].get()] = X[Xi];
  for (unsigned Ci = 0; Ci < S.Captures; ++Ci)
    Map[Body->Args[NK + S.Seqs + Ci].get()] = Cap[Ci];
  for (const auto &BO : Body->Ops) {
    auto NO = std::make_unique<Op>();
    NO->Kind = BO->Kind;
    for (Value *V : BO->Operands)
      NO->Operands.push_back(Map.at(V));
    NO->Result.Type = BO->Result.Type;
    NO->Result.Def = NO.get();
    NO->Attributes = BO->Attributes;
    NO->Location = BO->Location;
    Map[&BO->Result] = &NO->Result;
    G.Ops.push_back(std::move(NO));
  }

  // Seeds: d carry' = d_carry + dout, d y = dy.
  Builder GB(G);
  GB.CurLoc = O.Location.asGrad();
  std::unordered_map<const Value *, Value *> Adjoint;
  auto Seed = [&](const Value *V, Value *D) {
    Value *&A = Adjoint[V];
    A = A ? GB.create(OpKind::Add, {A, D}) : D;
  };
  unsigned DOutI = 0, DYI = 0;
  for (unsigned K = 0; K < NK; ++K) {
    const Value *Next = Map.at(Body->Results[K].V);
    Seed(Next, DCarry[K]);
    if (DStacked[K])
      Seed(Next, DOut[DOutI++]);
  }
  for (unsigned J = 0; J < NY; ++J)
    if (DY[J])
      Seed(Map.at(Body->Results[NK + J].V), DYs[DYI++]);
  std::unordered_set<const Value *> Wrt(Prev.begin(), Prev.end());
  for (unsigned Ci : Caps)
    Wrt.insert(Cap[Ci]);
  for (unsigned Xi : Xs)
    Wrt.insert(X[Xi]);
  if (!reverseSweep(M, G, Wrt, Adjoint, *C.Ctx)) {
    C.Error = fmt::format("cannot differentiate the body @{}", Body->Name);
    return false;
  }
  // The saved values replace their recomputation, which is then dead: the
  // reverse sweep has differentiated it, and DCE removes it.
  SavedArgs = Saved;
  useSavedActivations(Map, Saved, Adjoint);
  for (size_t J = 0; J < Saved.size(); ++J)
    G.replaceAllUses(Map.at(&Body->Ops[SavedOps[J]]->Result), Saved[J]);
  auto AdjointOf = [&](Value *V) {
    auto It = Adjoint.find(V);
    return It != Adjoint.end() ? It->second
                               : GB.constant(0.0, V->Type.Elt, V->Type.Dims);
  };
  GB.CurLoc = O.Location.asGrad();
  for (unsigned K = 0; K < NK; ++K)
    G.Results.push_back(
        {"next.d_" + ArgName(K),
         Mutation == ScanGradMutation::OneStep
             ? GB.constant(0.0, Prev[K]->Type.Elt, Prev[K]->Type.Dims)
             : AdjointOf(Prev[K])});
  std::vector<Value *> DCap, DX;
  for (unsigned Ci : Caps)
    DCap.push_back(Adjoint.count(Cap[Ci]) ? Adjoint[Cap[Ci]] : nullptr);
  for (unsigned Xi : Xs)
    DX.push_back(AdjointOf(X[Xi]));
  captureResults(DCap, Acc, DX);
  pruneSaved();
  return true;
}

void ScanGrad::useSavedActivations(
    const std::unordered_map<const Value *, Value *> &Map,
    const std::vector<Value *> &Saved,
    std::unordered_map<const Value *, Value *> &Adjoint) {
  Function &G = *Grad;
  std::unordered_map<Value *, Value *> Replaced;
  for (size_t J = 0; J < Saved.size(); ++J) {
    const Op &Act = *Body->Ops[SavedOps[J]];
    OpKind GradKind = Act.Kind == OpKind::Sigmoid ? OpKind::SigmoidGrad
                      : Act.Kind == OpKind::Tanh  ? OpKind::TanhGrad
                                                  : OpKind::Constant;
    if (GradKind == OpKind::Constant)
      continue;
    const Value *X = Map.at(Act.Operands[0]);
    for (size_t I = 0; I < G.Ops.size(); ++I) {
      Op &GO = *G.Ops[I];
      if (GO.Kind != GradKind || GO.Operands[1] != X)
        continue;
      // The derivative's ops go where the _grad op stands.
      size_t End = G.Ops.size();
      Builder GB(G);
      GB.CurLoc = GO.Location;
      Value *Y = Saved[J];
      Value *One = GB.constant(1.0, Y->Type.Elt);
      Value *D =
          Act.Kind == OpKind::Sigmoid
              ? GB.create(OpKind::Mul, {Y, GB.create(OpKind::Sub, {One, Y})})
              : GB.create(OpKind::Sub, {One, GB.create(OpKind::Mul, {Y, Y})});
      Value *R = GB.create(OpKind::Mul, {GO.Operands[0], D});
      std::rotate(G.Ops.begin() + I, G.Ops.begin() + End, G.Ops.end());
      G.replaceAllUses(&GO.Result, R);
      Replaced[&GO.Result] = R;
      I += G.Ops.size() - End;
    }
  }
  // The adjoints the sweep recorded may be the replaced _grad ops.
  for (auto &[V, D] : Adjoint)
    if (auto It = Replaced.find(D); It != Replaced.end())
      D = It->second;
}

void ScanGrad::pruneSaved() {
  Function &G = *Grad;
  eliminateDeadOps(G);
  std::set<const Value *> Used;
  for (const auto &GO : G.Ops)
    Used.insert(GO->Operands.begin(), GO->Operands.end());
  for (const Result &R : G.Results)
    Used.insert(R.V);
  for (const auto &[Ci, Terms] : Hoisted)
    for (const Term &T : Terms)
      for (const Stack *St : {&T.X, T.Y ? &*T.Y : nullptr})
        if (St && !St->IsOutput)
          Used.insert(SeqArgs[St->Index]);
  for (size_t J = SavedArgs.size(); J-- > 0;) {
    Value *A = SavedArgs[J];
    if (Used.count(A))
      continue;
    size_t Seq = std::find(SeqArgs.begin(), SeqArgs.end(), A) - SeqArgs.begin();
    for (auto &[Ci, Terms] : Hoisted)
      for (Term &T : Terms)
        for (Stack *St : {&T.X, T.Y ? &*T.Y : nullptr})
          if (St && !St->IsOutput && St->Index > Seq)
            --St->Index;
    SeqArgs.erase(SeqArgs.begin() + Seq);
    G.eraseArg(size_t(A->ArgNo));
    SavedArgs.erase(SavedArgs.begin() + J);
    SavedOps.erase(SavedOps.begin() + J);
  }
  for (size_t J = 0; J < SavedArgs.size(); ++J)
    SavedArgs[J]->Name = fmt::format("saved{}", J);
  if (SavedOps.empty() && !TrainName.empty()) {
    TrainName.clear();
    G.Name = freshFunctionName(Body->Name + ".grad");
  }
}

bool ScanGrad::isStepValue(const Value *V, bool Ids) const {
  if (V->Type.rank() != (Ids ? 1u : 2u) || V->Type.Dims[0] != kBatch)
    return false;
  // Carries of the reverse scan and captures are not step values.
  return V->Def ||
         std::find(SeqArgs.begin(), SeqArgs.end(), V) != SeqArgs.end();
}

std::optional<ScanGrad::StepTerm> ScanGrad::stepTerm(const Value *V) const {
  const Op *D = V->Def;
  // The stacks are [N, T, ...] (axis 1) or [T, N, ...] (axis 0): either
  // way their leading dims hold every step's batch rows.
  if (!D || S.Axis > 1)
    return std::nullopt;
  if (D->Kind == OpKind::MatMul && D->Operands.size() == 2 &&
      D->boolAttr("transpose_a") && !D->boolAttr("transpose_b") &&
      !D->boolAttr("reduce_leading") && isStepValue(D->Operands[0]) &&
      isStepValue(D->Operands[1]))
    return StepTerm{D->Operands[0], D->Operands[1], 0};
  // A table's rows gathered by the step's ids: the adjoint rows of every
  // step accumulated into the table at once, through the stacked ids.
  if (D->Kind == OpKind::EmbeddingGrad && isStepValue(D->Operands[0]) &&
      isStepValue(D->Operands[1], /*Ids=*/true) && D->intAttr("rows") > 0)
    return StepTerm{D->Operands[0], D->Operands[1], D->intAttr("rows")};
  // reshape(reduce_sum(x_t, axes = [0], keepdims)) to x_t's row shape.
  if (D->Kind != OpKind::Reshape || !D->Operands[0]->Def)
    return std::nullopt;
  const Op *R = D->Operands[0]->Def;
  const std::vector<int64_t> *Axes = R->listAttr("axes");
  if (R->Kind != OpKind::ReduceSum || !Axes ||
      *Axes != std::vector<int64_t>{0} || !isStepValue(R->Operands[0]) ||
      V->Type.Dims != std::vector<int64_t>{R->Operands[0]->Type.Dims[1]})
    return std::nullopt;
  return StepTerm{R->Operands[0], nullptr, 0};
}

ScanGrad::Stack ScanGrad::stackOf(Value *V) {
  auto It = std::find(SeqArgs.begin(), SeqArgs.end(), V);
  if (It != SeqArgs.end())
    return {false, unsigned(It - SeqArgs.begin())};
  unsigned FirstY = S.Carries + AccCaps.size();
  for (size_t R = FirstY; R < Grad->Results.size(); ++R)
    if (Grad->Results[R].V == V)
      return {true, unsigned(R)};
  Grad->Results.push_back(
      {fmt::format("step{}", Grad->Results.size() - FirstY - Xs.size()), V});
  return {true, unsigned(Grad->Results.size() - 1)};
}

void ScanGrad::captureResults(const std::vector<Value *> &D,
                              const std::vector<Value *> &Acc,
                              const std::vector<Value *> &DX) {
  Function &G = *Grad;
  Builder GB(G);
  GB.CurLoc = O.Location.asGrad();
  std::map<const Value *, unsigned> Uses = G.useCounts();
  // The terms of a sum: adds used only by the sum itself.
  std::function<void(Value *, bool, std::vector<Value *> &)> Terms =
      [&](Value *V, bool Top, std::vector<Value *> &Out) {
        if (V->Def && V->Def->Kind == OpKind::Add &&
            Uses[V] == (Top ? 0u : 1u) &&
            V->Def->Operands[0]->Type == V->Type &&
            V->Def->Operands[1]->Type == V->Type) {
          Terms(V->Def->Operands[0], false, Out);
          Terms(V->Def->Operands[1], false, Out);
        } else {
          Out.push_back(V);
        }
      };
  std::vector<Value *> DeadAcc;
  std::vector<std::vector<StepTerm>> Weights(Caps.size());
  std::vector<Result> AccResults;
  for (size_t I = 0; I < Caps.size(); ++I) {
    std::vector<Value *> All, Rest;
    if (D[I])
      Terms(D[I], true, All);
    for (Value *T : All)
      if (auto ST = stepTerm(T))
        Weights[I].push_back(*ST);
      else
        Rest.push_back(T);
    std::string Name =
        "next.acc_" + Body->Args[S.Carries + S.Seqs + Caps[I]]->Name;
    if (!Weights[I].empty() && Rest.empty()) {
      DeadAcc.push_back(Acc[I]);
      continue;
    }
    Value *Sum = Acc[I];
    for (Value *T : Rest)
      Sum = GB.create(OpKind::Add, {Sum, T});
    AccCaps.push_back(Caps[I]);
    AccResults.push_back({Name, Sum});
  }
  // The results: carries' adjoints (already there), accumulators, the xs'
  // adjoints, then the stacked step values of the weight terms.
  G.Results.insert(G.Results.end(), AccResults.begin(), AccResults.end());
  for (size_t I = 0; I < Xs.size(); ++I)
    G.Results.push_back({"d_" + Body->Args[S.Carries + Xs[I]]->Name, DX[I]});
  for (size_t I = 0; I < Caps.size(); ++I) {
    if (Weights[I].empty())
      continue;
    std::vector<Term> Terms;
    for (const StepTerm &ST : Weights[I])
      Terms.push_back({stackOf(ST.X),
                       ST.Y ? std::optional(stackOf(ST.Y)) : std::nullopt,
                       ST.Rows});
    Hoisted.push_back({Caps[I], std::move(Terms)});
  }
  // The per-step products are now dead (DCE removes them), and so are the
  // accumulators of captures with no other terms.
  for (Value *A : DeadAcc)
    for (size_t J = 0; J < G.Args.size(); ++J)
      if (G.Args[J].get() == A) {
        G.eraseArg(J);
        break;
      }
}

Value *ScanGrad::reverseCapture(unsigned Ci) {
  // A recurrent layer's w_hh^T (LowerScan.cpp): the forward step's
  // h @ w_hh^T reads it in place, and the reverse step's dz @ (w_hh^T)^T
  // reads w_hh in place instead of repacking w_hh^T at every step.
  Value *V = S.capture(O, Ci);
  const Op *D = V->Def;
  if (!D || D->Kind != OpKind::Transpose || V->Type.rank() != 2 ||
      *D->listAttr("perm") != std::vector<int64_t>{1, 0})
    return V;
  Value *A = CapArgs[Ci];
  std::vector<Op *> Users;
  for (auto &GO : Grad->Ops)
    for (size_t I = 0; I < GO->Operands.size(); ++I)
      if (GO->Operands[I] == A) {
        if (GO->Kind != OpKind::MatMul || I != 1 || GO->Operands.size() != 2)
          return V;
        Users.push_back(GO.get());
      }
  for (const Result &R : Grad->Results)
    if (R.V == A)
      return V;
  for (Op *U : Users) {
    bool TB = U->boolAttr("transpose_b");
    if (TB)
      U->Attributes.erase("transpose_b");
    else
      U->Attributes["transpose_b"] = true;
  }
  A->Type = D->Operands[0]->Type;
  // w_hh_t becomes w_hh (and w becomes w_t).
  std::string &Name = A->Name;
  if (Name.size() > 2 && Name.compare(Name.size() - 2, 2, "_t") == 0)
    Name.resize(Name.size() - 2);
  else
    Name += "_t";
  return D->Operands[0];
}

Value *ScanGrad::previousCarries(unsigned K) {
  Value *Init = S.init(O, K);
  std::vector<int64_t> Shape = insertAxis(Init->Type, S.Axis, 1).Dims;
  Value *First = B.create(OpKind::Reshape, {Init}, {{"shape", Shape}});
  if (S.Length == 1)
    return First;
  if (Mutation == ScanGradMutation::NoShift)
    return const_cast<Value *>(&Stacked[K]->Result);
  Value *Stack = const_cast<Value *>(&Stacked[K]->Result);
  Value *Rest = B.create(
      OpKind::Slice, {Stack},
      {{"axis", S.Axis}, {"start", int64_t(0)}, {"end", S.Length - 1}});
  return B.create(OpKind::Concat, {First, Rest}, {{"axis", S.Axis}});
}

void ScanGrad::buildReverseScan() {
  unsigned NK = S.Carries;
  std::vector<Value *> Operands;
  for (unsigned K = 0; K < NK; ++K)
    Operands.push_back(DFinal[K] ? DFinal[K] : zeros(S.init(O, K)->Type));
  for (unsigned Ci : AccCaps)
    Operands.push_back(zeros(S.capture(O, Ci)->Type));
  for (unsigned K = 0; K < NK; ++K)
    Operands.push_back(previousCarries(K));
  for (unsigned Xi = 0; Xi < S.Seqs; ++Xi)
    Operands.push_back(S.seq(O, Xi));
  for (unsigned K = 0; K < NK; ++K)
    if (DStacked[K])
      Operands.push_back(DStacked[K]);
  for (unsigned J = 0; J < NY; ++J)
    if (DY[J])
      Operands.push_back(DY[J]);
  Operands.insert(Operands.end(), SavedStacks.begin(), SavedStacks.end());
  for (unsigned Ci = 0; Ci < S.Captures; ++Ci)
    Operands.push_back(reverseCapture(Ci));

  unsigned RK = NK + AccCaps.size();
  unsigned RS = Operands.size() - RK - S.Captures;
  ScanShape R = S;
  R.Carries = RK;
  R.Reverse = true;
  auto Emit = [&](unsigned Output, bool IsFinal) {
    Attrs A{{"body", Grad->Name},  {"carries", int64_t(RK)},
            {"seqs", int64_t(RS)}, {"axis", S.Axis},
            {"reverse", true},     {"output", int64_t(Output)}};
    if (IsFinal)
      A["final"] = true;
    return B.createExplicit(OpKind::Scan, Operands, A,
                            scanOutputType(*Grad, R, Output, IsFinal));
  };
  for (unsigned K = 0; K < NK; ++K)
    if (C.Needs[K])
      C.Grads[K] = Emit(K, true);
  for (size_t I = 0; I < AccCaps.size(); ++I)
    C.Grads[NK + S.Seqs + AccCaps[I]] = Emit(NK + I, true);
  for (size_t I = 0; I < Xs.size(); ++I)
    C.Grads[NK + Xs[I]] = Emit(RK + I, false);
  // The terms summed after the loop: the stacked step values (all
  // siblings first, so that they stay one loop), then one product (or sum)
  // over all steps each.
  std::map<unsigned, Value *> Outputs;
  for (size_t I = 0; I < Xs.size(); ++I)
    Outputs[RK + I] = C.Grads[NK + Xs[I]];
  auto Need = [&](const Stack &St) {
    if (St.IsOutput && !Outputs.count(St.Index))
      Outputs[St.Index] = Emit(St.Index, false);
  };
  for (auto &[Ci, Terms] : Hoisted)
    for (const Term &T : Terms) {
      Need(T.X);
      if (T.Y)
        Need(*T.Y);
    }
  auto Stacked = [&](const Stack &St) {
    return St.IsOutput ? Outputs.at(St.Index) : Operands[RK + St.Index];
  };
  for (auto &[Ci, Terms] : Hoisted) {
    Value *&G = C.Grads[NK + S.Seqs + Ci];
    for (const Term &T : Terms) {
      Value *P =
          T.Rows > 0
              ? B.create(OpKind::EmbeddingGrad, {Stacked(T.X), Stacked(*T.Y)},
                         {{"rows", T.Rows}})
          : T.Y ? B.create(OpKind::MatMul, {Stacked(T.X), Stacked(*T.Y)},
                           {{"transpose_a", true}, {"reduce_leading", true}})
                : B.create(OpKind::ReduceSum, {Stacked(T.X)},
                           {{"axes", std::vector<int64_t>{0, 1}}});
      G = G ? B.create(OpKind::Add, {G, P}) : P;
    }
  }
}

void ScanGrad::run() {
  if (std::string E = S.read(O); !E.empty()) {
    C.Error = "scan: " + E;
    return;
  }
  Body = scanBody(M, O);
  if (!Body) {
    C.Error = "scan: its body is not a function of the module";
    return;
  }
  if (S.Reverse) {
    C.Error = "scan: the gradient of a reverse scan (a second derivative "
              "through time) is not supported";
    return;
  }
  unsigned NK = S.Carries;
  NY = Body->Results.size() - NK;
  Stacked.assign(NK, nullptr);
  Final.assign(NK, nullptr);
  DStacked.assign(NK, nullptr);
  DFinal.assign(NK, nullptr);
  DY.assign(NY, nullptr);
  for (size_t I = 0; I < C.Group.size(); ++I) {
    const Op &Sib = *C.Group[I];
    unsigned Out = Sib.intAttr("output");
    bool IsFinal = Sib.boolAttr("final");
    Value *D = C.GroupDY[I];
    if (Out >= NK) {
      DY[Out - NK] = D;
    } else if (IsFinal) {
      Final[Out] = &Sib;
      DFinal[Out] = D;
    } else {
      Stacked[Out] = &Sib;
      DStacked[Out] = D;
    }
  }
  for (unsigned K = 0; K < NK; ++K) {
    if (!isFloat(S.init(O, K)->Type.Elt)) {
      C.Error = fmt::format("scan: carry {} is {}; only float carries can be "
                            "differentiated",
                            K, S.init(O, K)->Type.str(M.BatchDim));
      return;
    }
    if (!Stacked[K] && S.Length > 1) {
      C.Error = fmt::format("scan: differentiating needs the stacked output "
                            "of carry {} (the previous carries of the steps)",
                            K);
      return;
    }
  }
  for (unsigned Ci = 0; Ci < S.Captures; ++Ci)
    if (C.Needs[NK + S.Seqs + Ci])
      Caps.push_back(Ci);
  for (unsigned Xi = 0; Xi < S.Seqs; ++Xi)
    if (C.Needs[NK + Xi])
      Xs.push_back(Xi);
  chooseSaved();
  if (!buildAdjointBody())
    return;
  saveValues();
  buildReverseScan();
}

void scanGradRule(GradContext &C) {
  if (!C.M || !C.Ctx) {
    C.Error = "scan: differentiating a scan needs its module";
    return;
  }
  if (C.Group.empty()) {
    C.Group = {&C.O};
    C.GroupDY = {C.DY};
  }
  ScanGrad(C).run();
}

} // namespace adj
