//===- LowerScan.cpp - scan(f, init, xs, axis): a loop held once ----------===//
///
/// `scan(f, init, xs, axis = 1)` lowers the user function f once, into a
/// function of its own (the scan's body, ir/Scan.h) taking the carries and
/// one step of each sequence, and emits one scan op per carry in the
/// calling function: the carries after every step, stacked along `axis`.
/// Inside f, the model's inputs, parameters and buffers are visible as in
/// any function; the ones f reads become the body's trailing arguments
/// (captures), passed by the scan op, so the body never grows with the
/// sequence length. Scans nest: a body's scan captures through its caller.
///
/// The recurrent layers (rnn, lstm, gru) build their bodies here too, with
/// the input projection hoisted out of the loop: one matmul over every
/// step before it (or over the rows of an embedding table, whose projected
/// rows each step then gathers by its ids), so the loop holds only the
/// recurrent matmuls and the gate math. Each gate has its own matmuls
/// (PyTorch's stacked weights split by rows once per call), so the gate math
/// reads its inputs where they lie: no per-step slices of a [N, G] product, no
/// concat of the gate adjoints in the reverse step.
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include "ir/Scan.h"

#include <fmt/format.h>

namespace adj {

Value *Lowerer::capture(Value *V) {
  if (ScanFrames.empty() || !V)
    return V;
  return captureAt(V, ScanFrames.size() - 1);
}

Value *Lowerer::captureAt(Value *V, size_t Depth) {
  ScanFrame &Fr = ScanFrames[Depth];
  if (auto It = Fr.Local.find(V); It != Fr.Local.end())
    return It->second;
  // V belongs to the model function; the parent's copy is what we pass.
  Value *Outer = Depth == 0 ? V : captureAt(V, Depth - 1);
  std::string Base = V->isArg() ? V->Name : fmt::format("c{}", Fr.Outer.size());
  std::string Name = Base;
  for (int I = 1; Fr.Body->arg(Name); ++I)
    Name = fmt::format("{}.{}", Base, I);
  Value *A = Fr.Body->addArg(Name, V->Type, ArgRole::Input);
  Fr.Outer.push_back(Outer);
  Fr.Local[V] = A;
  Origin[A] = V;
  return A;
}

Value *Lowerer::origin(Value *V) const {
  auto It = Origin.find(V);
  return It == Origin.end() ? V : It->second;
}

Function *Lowerer::newBody(const std::string &Base) {
  std::string Name = fmt::format("{}.{}", ModelF->Name, Base);
  for (int I = 1; Spec.M->function(Name); ++I)
    Name = fmt::format("{}.{}.{}", ModelF->Name, Base, I);
  // Bodies come before the function that first uses them, for readers.
  auto &Fs = Spec.M->Functions;
  auto Pos = Fs.begin();
  while (Pos != Fs.end() && Pos->get() != ModelF)
    ++Pos;
  auto Body = std::make_unique<Function>();
  Body->Name = Name;
  Function *Raw = Body.get();
  Fs.insert(Pos, std::move(Body));
  return Raw;
}

bool Lowerer::scanOperands(const Expr *E, const char *What,
                           std::vector<Value *> &Out) {
  std::vector<const Expr *> Items;
  if (E->Kind == ExprKind::List)
    for (const ExprPtr &A : E->Args)
      Items.push_back(A.get());
  else
    Items.push_back(E);
  if (Items.empty()) {
    error(E->L, fmt::format("scan: '{}' needs at least one tensor", What));
    return false;
  }
  for (const Expr *I : Items) {
    Value *V = tensorArg(*I, /*NeedFloat=*/false);
    if (!V)
      return false;
    Out.push_back(V);
  }
  return true;
}

std::optional<int64_t> Lowerer::scanLength(const std::vector<Value *> &Xs,
                                           int64_t &Axis, const Loc &L) {
  const TensorType &X0 = Xs[0]->Type;
  auto A = normAxis(Axis, X0.rank());
  if (!A) {
    error(L, fmt::format("scan: axis {} is out of range for the sequence {}",
                         Axis, str(X0)));
    return std::nullopt;
  }
  Axis = *A;
  if (X0.Dims[Axis] == kBatch) {
    error(L, fmt::format("scan: axis {} of {} is the batch dim '{}'; scan "
                         "runs along a static axis such as time",
                         Axis, str(X0), Info.Batch));
    return std::nullopt;
  }
  for (size_t I = 1; I < Xs.size(); ++I)
    if (Xs[I]->Type.rank() <= size_t(Axis) ||
        Xs[I]->Type.Dims[Axis] != X0.Dims[Axis]) {
      error(L, fmt::format("scan: the sequences have different lengths along "
                           "axis {}: {} and {}",
                           Axis, str(X0), str(Xs[I]->Type)));
      return std::nullopt;
    }
  return X0.Dims[Axis];
}

Lowerer::Lowered Lowerer::emitScanOps(Function &Body,
                                      const std::vector<Value *> &Init,
                                      const std::vector<Value *> &Xs,
                                      const std::vector<Value *> &Captures,
                                      int64_t Axis, int64_t Len, const Loc &L) {
  std::vector<Value *> Operands = Init;
  Operands.insert(Operands.end(), Xs.begin(), Xs.end());
  Operands.insert(Operands.end(), Captures.begin(), Captures.end());
  for (Value *V : Operands)
    if (!V)
      return std::nullopt;
  Operand R{nullptr, 0, L};
  B->CurLoc = L;
  for (size_t K = 0; K < Init.size(); ++K) {
    const TensorType &T = Init[K]->Type;
    if (Axis > int64_t(T.rank())) {
      error(L, fmt::format("scan: carry {} ({}) cannot be stacked along axis "
                           "{}",
                           K, str(T), Axis));
      return std::nullopt;
    }
    Attrs A{{"body", Body.Name},
            {"carries", int64_t(Init.size())},
            {"seqs", int64_t(Xs.size())},
            {"axis", Axis},
            {"output", int64_t(K)}};
    Value *V = B->createExplicit(OpKind::Scan, Operands, std::move(A),
                                 insertAxis(T, Axis, Len));
    R.Parts.push_back(Operand{V, 0, L});
  }
  if (R.Parts.size() == 1)
    return R.Parts[0];
  return R;
}

Lowerer::Lowered Lowerer::scan(const Expr &Call) {
  const Loc &L = Call.L;
  auto Bound = bindArgs(Call, {"f", "init", "xs", "axis"}, 3, Diags);
  if (!Bound)
    return std::nullopt;
  const std::vector<const Expr *> &A = *Bound;
  auto Def = A[0]->Kind == ExprKind::Name ? Info.Defs.find(A[0]->Text)
                                          : Info.Defs.end();
  if (Def == Info.Defs.end()) {
    error(A[0]->L, "scan: the first argument must name a function defined "
                   "with 'def'");
    return std::nullopt;
  }
  const Stmt &D = *Def->second;
  std::vector<Value *> Init, Xs;
  if (!scanOperands(A[1], "init", Init) || !scanOperands(A[2], "xs", Xs))
    return std::nullopt;
  int64_t Axis = 1;
  if (A[3]) {
    auto V = intArg(*A[3]);
    if (!V)
      return std::nullopt;
    Axis = *V;
  }
  auto Len = scanLength(Xs, Axis, L);
  if (!Len)
    return std::nullopt;
  if (D.Params.size() != Init.size() + Xs.size()) {
    error(L, fmt::format("scan: '{}' takes {} arguments, but the scan passes "
                         "{} carr{} and {} sequence step{}",
                         D.Name, D.Params.size(), Init.size(),
                         Init.size() == 1 ? "y" : "ies", Xs.size(),
                         Xs.size() == 1 ? "" : "s"));
    return std::nullopt;
  }
  for (size_t K = 0; K < Init.size(); ++K)
    if (!isFloat(Init[K]->Type.Elt)) {
      error(A[1]->L, fmt::format("scan: carry {} is {}; carries are float "
                                 "tensors",
                                 K, str(Init[K]->Type)));
      return std::nullopt;
    }

  // The body: f lowered once over one step.
  Function *Body = newBody(D.Name);
  std::map<std::string, Sym> Scope;
  for (size_t I = 0; I < D.Params.size(); ++I) {
    TensorType T = I < Init.size() ? Init[I]->Type
                                   : dropAxis(Xs[I - Init.size()]->Type, Axis);
    Scope[D.Params[I].Name] = {
        Operand{Body->addArg(D.Params[I].Name, T, ArgRole::Input), 0,
                D.Params[I].L},
        false};
  }
  Function *SavedF = F;
  std::unique_ptr<Builder> SavedB = std::move(B);
  F = Body;
  B = std::make_unique<Builder>(*Body);
  ScanFrames.push_back({Body, {}, {}});
  Lowered R = defBody(D, Scope, Call);
  ScanFrame Frame = std::move(ScanFrames.back());
  ScanFrames.pop_back();
  F = SavedF;
  B = std::move(SavedB);
  if (!R)
    return std::nullopt;

  std::vector<Operand> Parts = R->isTuple() ? R->Parts : std::vector{*R};
  if (Parts.size() != Init.size()) {
    error(D.Value->L,
          fmt::format("scan: '{}' returns {} value{} for {} "
                      "carr{}",
                      D.Name, Parts.size(), Parts.size() == 1 ? "" : "s",
                      Init.size(), Init.size() == 1 ? "y" : "ies"));
    return std::nullopt;
  }
  for (size_t K = 0; K < Parts.size(); ++K) {
    Value *V = Parts[K].isNum() ? nullptr : Parts[K].V;
    if (!V || V->Type != Init[K]->Type) {
      error(Parts[K].L.known() ? Parts[K].L : D.Value->L,
            fmt::format("scan: the body returns {} for a carry of {}",
                        V ? str(V->Type) : std::string("a number"),
                        str(Init[K]->Type)));
      return std::nullopt;
    }
    Body->Results.push_back({"next." + D.Params[K].Name, V});
  }
  return emitScanOps(*Body, Init, Xs, Frame.Outer, Axis, *Len, L);
}

} // namespace adj

namespace adj {

namespace {
/// A recurrent layer's gates: PyTorch's layout of w_ih [G*H, I].
struct Cell {
  const char *Name;
  unsigned Gates;
  const char *Layout;
};
const Cell *cellOf(BuiltinKind K) {
  static const Cell Rnn{"rnn", 1, "one gate"};
  static const Cell Lstm{"lstm", 4, "gates i, f, g, o stacked: [4*H, ...]"};
  static const Cell Gru{"gru", 3, "gates r, z, n stacked: [3*H, ...]"};
  return K == BuiltinKind::Lstm ? &Lstm : K == BuiltinKind::Gru ? &Gru : &Rnn;
}
} // namespace

bool Lowerer::checkRecurrentShape(const char *Layer, const Expr *E, Value *V,
                                  const std::vector<int64_t> &Want,
                                  const char *Layout) {
  if (!V)
    return false;
  if (V->Type.Dims == Want)
    return true;
  std::string Dims;
  for (int64_t D : Want)
    Dims += (Dims.empty() ? "" : ", ") +
            (D == kBatch ? Info.Batch : std::to_string(D));
  error(E->L, fmt::format("{}: {} is {} but must be [{}]{}", Layer,
                          operandName(E, "the operand"), str(V->Type), Dims,
                          Layout ? fmt::format(" ({})", Layout) : ""));
  return false;
}

Lowerer::Lowered Lowerer::recurrent(const Builtin &Bi, const Expr &Call) {
  const Loc &L = Call.L;
  auto Bound = bindArgs(Call, Bi.Params, Bi.Required, Diags);
  if (!Bound)
    return std::nullopt;
  const std::vector<const Expr *> &A = *Bound;
  const Cell &C = *cellOf(Bi.Kind);
  bool Lstm = Bi.Kind == BuiltinKind::Lstm;
  unsigned Next = 0;
  const Expr *XE = A[Next++], *H0E = A[Next++];
  const Expr *C0E = Lstm ? A[Next++] : nullptr;
  const Expr *WihE = A[Next++], *WhhE = A[Next++];
  const Expr *BihE = A[Next++], *BhhE = A[Next++];
  const Expr *NonlinE = Bi.Kind == BuiltinKind::Rnn ? A[Next] : nullptr;

  Value *X = tensorArg(*XE);
  Value *H0 = X ? tensorArg(*H0E) : nullptr;
  if (!X || !H0)
    return std::nullopt;
  if (X->Type.rank() != 3 || X->Type.Dims[1] == kBatch ||
      X->Type.Dims[2] == kBatch) {
    error(XE->L, fmt::format("{}: x must be [{}, T, I] (batch first), got {}",
                             C.Name, Info.Batch, str(X->Type)));
    return std::nullopt;
  }
  int64_t Rows = X->Type.Dims[0];
  if (H0->Type.rank() != 2 || H0->Type.Dims[0] != Rows ||
      H0->Type.Dims[1] == kBatch) {
    error(H0E->L,
          fmt::format("{}: h0 must be [{}, H] for x {}, got {}", C.Name,
                      Rows == kBatch ? Info.Batch : std::to_string(Rows),
                      str(X->Type), str(H0->Type)));
    return std::nullopt;
  }
  int64_t T = X->Type.Dims[1], I = X->Type.Dims[2], H = H0->Type.Dims[1];
  int64_t G = C.Gates * H;
  Value *C0 = Lstm ? tensorArg(*C0E) : nullptr;
  if (Lstm && !checkRecurrentShape(C.Name, C0E, C0, {Rows, H}, nullptr))
    return std::nullopt;
  Value *Wih = tensorArg(*WihE), *Whh = tensorArg(*WhhE);
  if (!checkRecurrentShape(C.Name, WihE, Wih, {G, I}, C.Layout) ||
      !checkRecurrentShape(C.Name, WhhE, Whh, {G, H}, C.Layout))
    return std::nullopt;
  Value *Bih = BihE ? tensorArg(*BihE) : nullptr;
  Value *Bhh = BhhE ? tensorArg(*BhhE) : nullptr;
  if ((BihE && !checkRecurrentShape(C.Name, BihE, Bih, {G}, C.Layout)) ||
      (BhhE && !checkRecurrentShape(C.Name, BhhE, Bhh, {G}, C.Layout)))
    return std::nullopt;
  // The loop body is built without emit's checks: every operand must have
  // x's dtype (found by the frontend fuzzer: an f64 w_hh with an f32 x
  // failed an assertion).
  using ExprValue = std::pair<const Expr *, Value *>;
  for (auto [E, V] : std::initializer_list<ExprValue>{{H0E, H0},
                                                      {C0E, C0},
                                                      {WihE, Wih},
                                                      {WhhE, Whh},
                                                      {BihE, Bih},
                                                      {BhhE, Bhh}})
    if (V && V->Type.Elt != X->Type.Elt) {
      error(E->L, fmt::format("{}: {} is {} but x is {}: the operands must "
                              "have one dtype",
                              C.Name, operandName(E, "the operand"),
                              str(V->Type), str(X->Type)));
      return std::nullopt;
    }
  bool Relu = false;
  if (NonlinE) {
    if (NonlinE->Kind != ExprKind::String ||
        (NonlinE->Text != "tanh" && NonlinE->Text != "relu")) {
      error(NonlinE->L, "rnn: nonlinearity must be \"tanh\" or \"relu\"");
      return std::nullopt;
    }
    Relu = NonlinE->Text == "relu";
  }
  noteWeight(Wih, I, G, L);
  noteWeight(Whh, H, G, L);
  if (Bih)
    noteBias(Bih, I);
  if (Bhh)
    noteBias(Bhh, H);

  // The loop runs time-major: x is transposed once to [T, N, I], so that
  // every step's slice of the sequences (and of the reverse scan's) lies
  // contiguous and is read in place, not gathered from N rows T apart.
  // x = embedding(table, ids) is gathered time-major directly, from the
  // transposed ids (the batch-first gather is then dead unless used again).
  std::vector<int64_t> Swap{1, 0, 2};
  const Op *XD = X->Def;
  bool Gathered = XD && XD->Kind == OpKind::Embedding;
  Value *IdsT = Gathered ? emit(OpKind::Transpose, {XD->Operands[1]},
                                {{"perm", std::vector<int64_t>{1, 0}}}, L)
                         : nullptr;
  // With x = embedding(table, ids) and a table of at most
  // kMaxProjectedRows rows (a byte or character vocabulary), the input
  // projection is taken of the table instead of the tokens:
  // embedding(table, ids) @ w^T + b = embedding(table @ w^T + b, ids), V
  // rows projected instead of N * T, and the loop's sequences gathered from
  // the projected table. The adjoint then accumulates the gates' adjoints
  // into V rows (embedding_grad) and its weight and table gradients are
  // [V, ...] products, not [N * T, ...] ones. The loop gathers each step's
  // rows itself (below). The bound is a constant, not
  // a multiple of T, so that the program does not change with T (a batch
  // of 32 windows of 16 tokens already has 512).
  constexpr int64_t kMaxProjectedRows = 512;
  Value *Table = Gathered ? XD->Operands[0] : nullptr;
  bool ProjectTable = Table && Table->Type.rank() == 2 &&
                      Table->Type.Dims[0] != kBatch &&
                      Table->Type.Dims[0] <= kMaxProjectedRows;
  Value *XT = ProjectTable ? nullptr
              : Gathered
                  ? emit(OpKind::Embedding, {Table, IdsT}, XD->Attributes, L)
                  : emit(OpKind::Transpose, {X}, {{"perm", Swap}}, L);
  // Each gate has its own projections, so that the gate math reads its
  // pre-activations where the matmuls leave them: one [N, G] product per
  // step would be sliced into the gates by copies (and, for the LSTM,
  // xp_t + hp summed by a loop of its own first), and its adjoint
  // concatenated back by one more copy per reverse step. Per gate k (rows
  // k*H .. (k+1)*H of PyTorch's stacked weights), hoisted out of the loop:
  // every step's input projection in one matmul, x @ w_ih_k^T + b_ih_k :
  // [T, N, H], one sequence of the scan per gate (or, with a projected
  // table, the table's [V, H] projection, one capture per gate).
  unsigned NG = C.Gates;
  auto GateRows = [&](Value *V, unsigned K) {
    if (NG == 1)
      return V;
    return emit(OpKind::Slice, {V},
                {{"axis", int64_t(0)},
                 {"start", int64_t(K * H)},
                 {"end", int64_t((K + 1) * H)}},
                L);
  };
  std::vector<int64_t> Swap2{1, 0};
  std::vector<Value *> XPs, WhhTs, Bhhs;
  for (unsigned K = 0; K < NG; ++K) {
    Value *XP = emit(
        OpKind::MatMul,
        {ProjectTable ? Table : XT,
         emit(OpKind::Transpose, {GateRows(Wih, K)}, {{"perm", Swap2}}, L)},
        {}, L);
    // b_hh_k joins b_ih_k outside the loop where the cell adds it to the
    // pre-activation as is (every gate but the GRU's n, whose b_hn is
    // scaled by r): the loop then has one bias add less per gate, and the
    // adjoint one bias gradient per gate, shared by b_ih_k and b_hh_k.
    bool BhhInLoop = Bhh && Bi.Kind == BuiltinKind::Gru && K == 2;
    Value *Bias = Bih ? GateRows(Bih, K) : nullptr;
    if (Bhh && !BhhInLoop)
      Bias = Bias ? emit(OpKind::Add, {Bias, GateRows(Bhh, K)}, {}, L)
                  : GateRows(Bhh, K);
    if (Bias)
      XP = emit(OpKind::Add, {XP, Bias}, {}, L);
    // w_hh_k is transposed once, before the loop, to w_hh_k^T [H, H]:
    // every step's h @ w_hh_k^T then reads it in place as a plain [K, N]
    // operand, where a transposed one is repacked into panels by each
    // step's GEMM (T times per call). The reverse scan reads w_hh_k itself
    // (ScanGrad.cpp).
    Value *WhhT =
        emit(OpKind::Transpose, {GateRows(Whh, K)}, {{"perm", Swap2}}, L);
    if (!XP || !WhhT)
      return std::nullopt;
    XPs.push_back(XP);
    WhhTs.push_back(WhhT);
    Bhhs.push_back(BhhInLoop ? GateRows(Bhh, K) : nullptr);
  }

  // The loop body: (h[, c], xp_k..., w_hk_t...[, b_hn]) -> (h'[, c']).
  static const char *const GateNames[] = {"i", "f", "g", "o"};
  static const char *const GruNames[] = {"r", "z", "n"};
  auto GateName = [&](const char *Pre, unsigned K, const char *Post) {
    // rnn's single gate keeps PyTorch's names: w_hh, b_hh.
    const char *G = NG == 1 ? "h" : Lstm ? GateNames[K] : GruNames[K];
    return fmt::format("{}{}{}", Pre, G, Post);
  };
  Function *Body = newBody(C.Name);
  Builder BB(*Body);
  BB.CurLoc = L;
  Value *Hb = Body->addArg("h", H0->Type, ArgRole::Input);
  Value *Cb = Lstm ? Body->addArg("c", H0->Type, ArgRole::Input) : nullptr;
  std::vector<Value *> XPb, HP;
  // With a projected table the loop's one sequence is the step's ids,
  // and each gate's input projection is gathered from its table (a
  // capture) inside the step: the [T, N, H] sequences are never written
  // and read back, each step reads N rows of a table that stays in cache.
  Value *IdsB = ProjectTable ? Body->addArg("ids", dropAxis(IdsT->Type, 0),
                                            ArgRole::Input)
                             : nullptr;
  if (!ProjectTable)
    for (unsigned K = 0; K < NG; ++K)
      XPb.push_back(Body->addArg(NG == 1 ? "xp" : GateName("xp_", K, ""),
                                 TensorType(X->Type.Elt, {Rows, H}),
                                 ArgRole::Input));
  for (unsigned K = 0; K < NG; ++K)
    HP.push_back(BB.create(OpKind::MatMul,
                           {Hb, Body->addArg(GateName("w_h", K, "_t"),
                                             WhhTs[K]->Type, ArgRole::Input)}));
  for (unsigned K = 0; K < NG; ++K)
    if (Bhhs[K])
      HP[K] = BB.create(OpKind::Add,
                        {HP[K], Body->addArg(GateName("b_h", K, ""),
                                             Bhhs[K]->Type, ArgRole::Input)});
  if (ProjectTable)
    for (unsigned K = 0; K < NG; ++K)
      XPb.push_back(BB.create(
          OpKind::Embedding,
          {Body->addArg(NG == 1 ? "xp_table" : GateName("xp_", K, "_table"),
                        XPs[K]->Type, ArgRole::Input),
           IdsB},
          XD->Attributes));
  auto Sigmoid = [&](Value *V) { return BB.create(OpKind::Sigmoid, {V}); };
  auto Tanh = [&](Value *V) { return BB.create(OpKind::Tanh, {V}); };
  auto Mul = [&](Value *P, Value *Q) { return BB.create(OpKind::Mul, {P, Q}); };
  auto Add = [&](Value *P, Value *Q) { return BB.create(OpKind::Add, {P, Q}); };
  if (Bi.Kind == BuiltinKind::Rnn) {
    Value *Pre = Add(XPb[0], HP[0]);
    Body->Results.push_back(
        {"next.h", BB.create(Relu ? OpKind::Relu : OpKind::Tanh, {Pre})});
  } else if (Lstm) {
    Value *In = Sigmoid(Add(XPb[0], HP[0]));
    Value *Forget = Sigmoid(Add(XPb[1], HP[1]));
    Value *Cand = Tanh(Add(XPb[2], HP[2]));
    Value *Out = Sigmoid(Add(XPb[3], HP[3]));
    Value *C2 = Add(Mul(Forget, Cb), Mul(In, Cand));
    Body->Results.push_back({"next.h", Mul(Out, Tanh(C2))});
    Body->Results.push_back({"next.c", C2});
  } else {
    // r and z from both projections; n = tanh(xp_n + r * hp_n).
    Value *R = Sigmoid(Add(XPb[0], HP[0]));
    Value *Z = Sigmoid(Add(XPb[1], HP[1]));
    Value *N = Tanh(Add(XPb[2], Mul(R, HP[2])));
    // h' = (1 - z) * n + z * h = n + z * (h - n)
    Value *H2 = Add(N, Mul(Z, BB.create(OpKind::Sub, {Hb, N})));
    Body->Results.push_back({"next.h", H2});
  }
  std::vector<Value *> Init{H0};
  if (Lstm)
    Init.push_back(C0);
  std::vector<Value *> Caps = WhhTs;
  for (Value *V : Bhhs)
    if (V)
      Caps.push_back(V);
  std::vector<Value *> Seqs = XPs;
  if (ProjectTable) {
    Caps.insert(Caps.end(), XPs.begin(), XPs.end());
    Seqs = {IdsT};
  }
  Lowered R = emitScanOps(*Body, Init, Seqs, Caps, 0, T, L);
  if (!R)
    return std::nullopt;
  // Every hidden state [T, N, H] (an LSTM's cell states are not returned),
  // back to batch first: [N, T, H].
  Operand HS = R->isTuple() ? R->Parts[0] : *R;
  HS.V = emit(OpKind::Transpose, {HS.V}, {{"perm", Swap}}, L);
  if (!HS.V)
    return std::nullopt;
  return HS;
}

} // namespace adj
