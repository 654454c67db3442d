//===- Lower.cpp - From a checked AST to the forward function -------------===//
///
/// Walks the top-level statements in order: bindings bind names to values,
/// `loss` and `metric` become the function's results. The model is lowered
/// into @forward (evaluation mode), @forward_train when batch_norm or
/// dropout make the modes differ, and, kept apart in Spec.Predict, @predict:
/// evaluation mode without loss and metrics, returning the `output` (by
/// default the loss's first argument) from the inputs it reads. Expressions
/// lower bottom-up; binary operators emit ops located at the operator, calls at
/// the callee's name. A user function call binds its parameters to the
/// argument values in a fresh scope and lowers the body there (inlining), so
/// errors inside a body carry a note naming each call on the way. An error
/// poisons the binding it occurs in, so that its uses report nothing more.
///
//===----------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include <fmt/format.h>

namespace adj {

bool lowerModel(const ModelAST &AST, const SemaInfo &Info, DiagEngine &Diags,
                ModelSpec &Spec) {
  return Lowerer(AST, Info, Diags, Spec).run();
}

bool Lowerer::run() {
  unsigned Before = Diags.errorCount();
  Spec.M = std::make_unique<Module>();
  Spec.M->BatchDim = Info.Batch;
  if (!lowerFunction("forward") || Diags.errorCount() != Before)
    return false;
  // Only batch_norm and dropout differ between the modes: a model without
  // them trains with @forward itself.
  if (ModeDependent) {
    Training = true;
    if (!lowerFunction("forward_train") || Diags.errorCount() != Before)
      return false;
    Training = false;
  }
  Predicting = true;
  return lowerPredict() && Diags.errorCount() == Before;
}

/// Keeps the ops \p F's results need, and the inputs they read.
static void pruneToResults(Function &F) {
  std::set<const Value *> Live;
  for (const adj::Result &R : F.Results)
    Live.insert(R.V);
  std::vector<std::unique_ptr<Op>> Kept;
  for (auto It = F.Ops.rbegin(); It != F.Ops.rend(); ++It) {
    if (!Live.count(&(*It)->Result))
      continue;
    for (Value *V : (*It)->Operands)
      Live.insert(V);
    Kept.push_back(std::move(*It));
  }
  F.Ops.assign(std::make_move_iterator(Kept.rbegin()),
               std::make_move_iterator(Kept.rend()));
  for (size_t I = F.Args.size(); I-- > 0;)
    if (F.Roles[I] == ArgRole::Input && !Live.count(F.Args[I].get()))
      F.eraseArg(I);
}

bool Lowerer::lowerPredict() {
  std::set<const Function *> Before;
  for (const auto &Fn : Spec.M->Functions)
    Before.insert(Fn.get());
  bool Ok = lowerFunction("predict");
  // @predict, and any function made while lowering it (a scan body), move
  // to a module of their own, in order.
  auto P = std::make_unique<Module>();
  P->BatchDim = Spec.M->BatchDim;
  auto &Fs = Spec.M->Functions;
  for (auto It = Fs.begin(); It != Fs.end();) {
    if (Before.count(It->get())) {
      ++It;
      continue;
    }
    P->Functions.push_back(std::move(*It));
    It = Fs.erase(It);
  }
  if (!Ok)
    return false;
  if (!Output)
    return true; // no per-sample output: nothing to predict
  Function *PF = P->function("predict");
  PF->Results = {{OutputName, Output}};
  pruneToResults(*PF);
  // A result named as an argument is that argument's update (the verifier's
  // rule), so an output that is an input itself (`loss f(x, y)` with input
  // x) is returned as "output" (or "output_", ... if an input has that name).
  auto NamesArg = [&](const std::string &Name) {
    for (const auto &A : PF->Args)
      if (A->Name == Name)
        return true;
    return false;
  };
  if (NamesArg(PF->Results[0].Name)) {
    std::string Name = "output";
    while (NamesArg(Name))
      Name += "_";
    PF->Results[0].Name = Name;
  }
  Spec.Predict = std::move(P);
  return true;
}

void Lowerer::findOutput() {
  const Stmt *Written = nullptr;
  for (const Stmt &S : AST.Stmts)
    if (S.Kind == StmtKind::Output)
      Written = &S;
  if (Written) {
    OutputName = Written->Value->Text;
    auto It = Globals.find(OutputName);
    if (It == Globals.end() || !It->second.Val) {
      error(Written->Value->L,
            fmt::format("output: '{}' is not a tensor of the model (metrics "
                        "are not per-sample values)",
                        OutputName));
      return;
    }
    OutputValue = It->second.Val;
  }
  if (!OutputValue)
    return;
  Value *V = OutputValue->V;
  if (!V || V->Type.rank() == 0 || V->Type.Dims[0] != kBatch) {
    if (Written)
      error(Written->Value->L,
            fmt::format("output: '{}' must have the batch dim first (one row "
                        "per sample), got {}",
                        OutputName,
                        V ? str(V->Type) : std::string("a number")));
    return;
  }
  Output = V;
}

bool Lowerer::lowerFunction(const std::string &Name) {
  unsigned Before = Diags.errorCount();
  F = Spec.M->addFunction(Name);
  ModelF = F;
  B = std::make_unique<Builder>(*F);
  Globals.clear();
  BufferUpdates.clear();
  NextDropoutId = 0;
  for (auto &[S, T] : Info.Inputs)
    Globals[S->Name] = {
        Operand{F->addArg(S->Name, T, ArgRole::Input), 0, S->NameLoc}, true};
  for (const ParamSpec &P : Spec.Params)
    Globals[P.Name] = {
        Operand{F->addArg(P.Name, P.Type,
                          P.Buffer ? ArgRole::Buffer : ArgRole::Param,
                          P.Frozen),
                0, P.L},
        true};

  Value *Loss = nullptr;
  for (const Stmt &S : AST.Stmts) {
    switch (S.Kind) {
    case StmtKind::Bind:
      bind(S, Globals);
      break;
    case StmtKind::Loss:
      if (!Predicting) {
        Loss = result(expr(*S.Value), "the loss");
        break;
      }
      // Predictions skip the loss; its first argument is the default output.
      if (S.Value->Kind == ExprKind::Call && !S.Value->Args.empty()) {
        const Expr &First = *S.Value->Args[0];
        OutputName = First.Kind == ExprKind::Name ? First.Text : "output";
        OutputValue = expr(First);
      }
      break;
    case StmtKind::Metric: {
      if (Predicting)
        break;
      Lowered R = expr(*S.Value);
      Globals[S.Name] = {R, false};
      // Metrics are evaluated by @forward; the training-mode function
      // returns the loss and the buffers' next values.
      if (Value *V = result(R, fmt::format("metric '{}'", S.Name));
          V && !Training)
        F->Results.push_back({S.Name, V});
      break;
    }
    default:
      break;
    }
  }
  if (Predicting) {
    findOutput();
    return Diags.errorCount() == Before;
  }
  // The fans come from @forward's uses (both modes use the weights alike).
  if (Diags.errorCount() != Before || !Loss || (!Training && !resolveFans()))
    return false;
  F->Results.insert(F->Results.begin(), adj::Result{"loss", Loss});
  for (const ParamSpec &P : Spec.Params) // in declaration order
    if (auto It = BufferUpdates.find(P.Name);
        It != BufferUpdates.end() && It->second.V)
      F->Results.push_back({P.Name, It->second.V});
  return true;
}

Value *Lowerer::result(const Lowered &R, const std::string &What) {
  if (!R)
    return nullptr;
  Value *V = tensor(*R);
  if (!requireFloat(V, R->L))
    return nullptr;
  if (!V->Type.isScalar()) {
    error(R->L, fmt::format("{} must be a scalar, got {}", What, str(V->Type)));
    return nullptr;
  }
  return V;
}

void Lowerer::error(const Loc &L, const std::string &Msg) {
  if (!Reported.insert(fmt::format("{}:{}:{}", L.Line, L.Col, Msg)).second)
    return;
  Diags.error(L, Msg);
  for (auto It = CallStack.rbegin(); It != CallStack.rend(); ++It)
    Diags.note((*It)->L, fmt::format("in call to '{}' here", (*It)->Text));
}

Value *Lowerer::emit(OpKind K, std::vector<Value *> Operands, Attrs A,
                     const Loc &L) {
  for (Value *V : Operands)
    if (!V)
      return nullptr; // An operand failed and was reported.
  B->CurLoc = L;
  Value *Out = nullptr;
  std::vector<TensorType> Types;
  for (Value *V : Operands)
    Types.push_back(V->Type);
  TypeOrError T = B->tryCreate(K, std::move(Operands), A, Out);
  if (T.Type)
    return Out;
  // Builder names the batch dim N; ask again with the model's name for it.
  std::string Msg = inferType(K, Types, A, Info.Batch).Error;
  if (Msg.empty())
    Msg = T.Error;
  std::string M = opInfo(K).Mnemonic;
  if (Msg.rfind(M, 0) != 0 && Msg.rfind("'" + M + "'", 0) != 0)
    Msg = M + ": " + Msg;
  error(L, Msg);
  return nullptr;
}

Value *Lowerer::tensor(const Operand &O, DType T) {
  if (O.V)
    return O.V;
  B->CurLoc = O.L;
  return B->constant(O.Num, T);
}

bool Lowerer::requireFloat(Value *V, const Loc &L) {
  if (isFloat(V->Type.Elt))
    return true;
  std::string Why;
  if (V->Def && V->Def->Kind == OpKind::ArgMax)
    Why = " (argmax results are integers and have no gradient)";
  error(L, fmt::format("expected a float tensor, got {}{}", str(V->Type), Why));
  return false;
}

Value *Lowerer::binary(OpKind K, const Operand &A, const Operand &Bo,
                       const Loc &L) {
  DType T = DType::F32;
  if (A.V && isFloat(A.V->Type.Elt))
    T = A.V->Type.Elt;
  else if (Bo.V && isFloat(Bo.V->Type.Elt))
    T = Bo.V->Type.Elt;
  Value *X = tensor(A, T), *Y = tensor(Bo, T);
  if (!requireFloat(X, A.L) || !requireFloat(Y, Bo.L))
    return nullptr;
  // A [in, out] weight on the right of `@` (fan-in and fan-out, LowerLayers).
  if (K == OpKind::MatMul && Y->Type.rank() == 2)
    noteWeight(Y, Y->Type.Dims[0], Y->Type.Dims[1], L);
  return emit(K, {X, Y}, {}, L);
}

/// "a, b, c" for \p N names.
static std::string exampleNames(size_t N) {
  std::string S;
  for (size_t I = 0; I < N; ++I)
    S += fmt::format("{}{}", I ? ", " : "", char('a' + I % 26));
  return S;
}

Lowerer::Lowered Lowerer::expr(const Expr &E) {
  Lowered R = exprOrTuple(E);
  if (!R || !R->isTuple())
    return R;
  error(E.L, fmt::format("'{}' returns {} values, not one; bind them with "
                         "'{} = {}(...)'",
                         E.Text, R->Parts.size(), exampleNames(R->Parts.size()),
                         E.Text));
  return std::nullopt;
}

bool Lowerer::bind(const Stmt &S, std::map<std::string, Sym> &Scope) {
  if (S.Targets.empty()) {
    Lowered V = expr(*S.Value);
    Scope[S.Name] = {V, false};
    return V.has_value();
  }
  size_t N = S.Targets.size();
  Lowered V = exprOrTuple(*S.Value);
  if (V && !V->isTuple()) {
    error(S.Value->L, fmt::format("expected a call of a function that "
                                  "returns {} values, got one value",
                                  N));
    V.reset();
  } else if (V && V->Parts.size() != N) {
    error(S.Value->L, fmt::format("'{}' returns {} values, but {} names are "
                                  "bound",
                                  S.Value->Text, V->Parts.size(), N));
    V.reset();
  }
  for (size_t I = 0; I < N; ++I)
    Scope[S.Targets[I].Name] = {V ? Lowered(V->Parts[I]) : std::nullopt, false};
  return V.has_value();
}

Lowerer::Lowered Lowerer::exprOrTuple(const Expr &E) {
  switch (E.Kind) {
  case ExprKind::Tuple: {
    Operand T{nullptr, 0, E.L};
    for (const ExprPtr &A : E.Args) {
      Lowered V = expr(*A);
      if (!V)
        return std::nullopt;
      T.Parts.push_back(*V);
    }
    return T;
  }
  case ExprKind::Number:
    return Operand{nullptr, E.Num, E.L};
  case ExprKind::Bool:
    error(E.L, "a boolean cannot be used as a tensor");
    return std::nullopt;
  case ExprKind::String:
    error(E.L, "a string cannot be used as a tensor");
    return std::nullopt;
  case ExprKind::List:
    error(E.L, "a list cannot be used as a tensor");
    return std::nullopt;
  case ExprKind::Name:
    return name(E);
  case ExprKind::Neg: {
    Lowered X = expr(*E.Args[0]);
    if (!X)
      return std::nullopt;
    if (X->isNum())
      return Operand{nullptr, -X->Num, E.L};
    if (!requireFloat(X->V, X->L))
      return std::nullopt;
    if (Value *V = emit(OpKind::Neg, {X->V}, {}, E.L))
      return Operand{V, 0, E.L};
    return std::nullopt;
  }
  case ExprKind::Binary:
    return binaryExpr(E);
  case ExprKind::Call:
    return call(E);
  }
  return std::nullopt;
}

Lowerer::Lowered Lowerer::name(const Expr &E) {
  const Sym *S = nullptr;
  if (Locals) {
    if (auto It = Locals->find(E.Text); It != Locals->end())
      S = &It->second;
  }
  if (!S) {
    auto It = Globals.find(E.Text);
    if (It != Globals.end() && (!Locals || It->second.Decl))
      S = &It->second;
  }
  if (!S) {
    if (E.Text == Info.Batch)
      error(E.L, fmt::format("the batch dim '{}' can only be used in shapes",
                             E.Text));
    else
      error(E.L, fmt::format("unknown name '{}'", E.Text));
    return std::nullopt;
  }
  if (!S->Val)
    return std::nullopt;
  Operand O = *S->Val;
  O.L = E.L;
  if (S->Decl) // Read inside a scan body: captured.
    O.V = capture(O.V);
  return O;
}

Lowerer::Lowered Lowerer::binaryExpr(const Expr &Chain) {
  // A chain `a + b - c` in a loop, left to right; every operand is lowered
  // (and so checked) even after an error.
  std::vector<const Expr *> Spine = leftSpine(Chain);
  Lowered A = expr(*Spine[0]->Args[0]);
  for (const Expr *Op : Spine) {
    Lowered Bo = expr(*Op->Args[1]);
    A = A && Bo ? binaryOp(*Op, *A, *Bo) : std::nullopt;
  }
  return A;
}

Lowerer::Lowered Lowerer::binaryOp(const Expr &E, const Operand &A,
                                   const Operand &Bo) {
  if (A.isNum() && Bo.isNum())
    if (auto V = foldBinary(E.Op, A.Num, Bo.Num))
      return Operand{nullptr, *V, E.L};
  Value *V = nullptr;
  switch (E.Op) {
  case BinOp::Add:
    V = binary(OpKind::Add, A, Bo, E.L);
    break;
  case BinOp::Sub:
    V = binary(OpKind::Sub, A, Bo, E.L);
    break;
  case BinOp::Mul:
    V = binary(OpKind::Mul, A, Bo, E.L);
    break;
  case BinOp::Div:
    V = binary(OpKind::Div, A, Bo, E.L);
    break;
  case BinOp::Pow:
    V = binary(OpKind::Pow, A, Bo, E.L);
    break;
  case BinOp::MatMul:
    V = binary(OpKind::MatMul, A, Bo, E.L);
    break;
  case BinOp::Gt:
    V = binary(OpKind::GreaterMask, A, Bo, E.L);
    break;
  case BinOp::Ge:
    V = binary(OpKind::GreaterEqualMask, A, Bo, E.L);
    break;
  case BinOp::Lt:
    V = binary(OpKind::GreaterMask, Bo, A, E.L);
    break;
  case BinOp::Le:
    V = binary(OpKind::GreaterEqualMask, Bo, A, E.L);
    break;
  case BinOp::Eq:
    V = binary(OpKind::EqualMask, A, Bo, E.L);
    break;
  case BinOp::Ne:
    V = binary(OpKind::NotEqualMask, A, Bo, E.L);
    break;
  }
  if (!V)
    return std::nullopt;
  return Operand{V, 0, E.L};
}

Lowerer::Lowered Lowerer::call(const Expr &E) {
  if (auto It = Info.Defs.find(E.Text); It != Info.Defs.end())
    return inlineDef(*It->second, E);
  if (const Builtin *Bi = findBuiltin(E.Text)) {
    if (Bi->Kind == BuiltinKind::Scan)
      return scan(E);
    if (Bi->Kind == BuiltinKind::Rnn || Bi->Kind == BuiltinKind::Lstm ||
        Bi->Kind == BuiltinKind::Gru) {
      Lowered R = recurrent(*Bi, E);
      if (R)
        R->L = E.L;
      return R;
    }
    Lowered R = builtin(*Bi, E);
    if (R)
      R->L = E.L;
    return R;
  }
  error(E.L, fmt::format("unknown function '{}'", E.Text));
  return std::nullopt;
}

Lowerer::Lowered Lowerer::inlineDef(const Stmt &Def, const Expr &Call) {
  std::vector<std::string> Names;
  for (const Param &P : Def.Params)
    Names.push_back(P.Name);
  // Inlining can grow a model exponentially (f2 calls f1 twice, f1 calls
  // f0 twice, ...); stop well before memory runs out.
  constexpr size_t MaxOps = size_t(1) << 20;
  if (F->Ops.size() > MaxOps) {
    error(Call.L,
          fmt::format("the model has more than {} ops after inlining", MaxOps));
    return std::nullopt;
  }
  auto Args = bindArgs(Call, Names, Names.size(), Diags);
  if (!Args)
    return std::nullopt;
  std::map<std::string, Sym> Scope;
  for (size_t I = 0; I < Names.size(); ++I) {
    Lowered V = expr(*(*Args)[I]);
    if (!V)
      return std::nullopt;
    Scope[Names[I]] = {V, false};
  }
  Lowered R = defBody(Def, Scope, Call);
  if (R)
    R->L = Call.L;
  return R;
}

Lowerer::Lowered Lowerer::defBody(const Stmt &Def,
                                  std::map<std::string, Sym> &Scope,
                                  const Expr &Call) {
  auto *Saved = Locals;
  Locals = &Scope;
  CallStack.push_back(&Call);
  Lowered R;
  bool Ok = true;
  for (const Stmt &S : Def.Body)
    if (!(Ok = bind(S, Scope)))
      break;
  if (Ok)
    R = exprOrTuple(*Def.Value);
  CallStack.pop_back();
  Locals = Saved;
  return R;
}

} // namespace adj
