//===- Sema.cpp - Checks that need no types -------------------------------===//
///
/// Declarations are hoisted: inputs, params and functions are visible from
/// the whole file, while bindings and metrics are visible from the line
/// after them (a name is bound once). A function body sees its parameters,
/// its own bindings, and the model's inputs and params; it is checked once
/// here even though it is inlined at every call. Recursion is found by a
/// depth-first walk of the call graph between functions.
///
//===----------------------------------------------------------------------===//
#include "frontend/Sema.h"
#include "frontend/Safetensors.h"

#include "frontend/Builtins.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fnmatch.h>
#include <functional>
#include <set>

namespace adj {
namespace {

enum class NameKind { Input, Param, Value };

struct NameInfo {
  Loc L;
  NameKind Kind;
};

using LocalScope = std::map<std::string, Loc>;

/// A number that is a whole value, as an int64.
std::optional<int64_t> asInt(std::optional<double> V) {
  if (!V || !(std::fabs(*V) < 9.0e15) || std::floor(*V) != *V)
    return std::nullopt;
  return int64_t(*V);
}

struct InitInfo {
  InitKind Init;
  std::vector<std::string> Params;
  /// The first Required parameters are needed; the others are the optional
  /// `fan_in` / `fan_out` overrides.
  unsigned Required;
};

/// The initialisers of the model language and their parameters.
const std::map<std::string, InitInfo> &initialisers() {
  static const std::map<std::string, InitInfo> Inits = {
      {"zeros", {InitKind::Zeros, {}, 0}},
      {"ones", {InitKind::Ones, {}, 0}},
      {"constant", {InitKind::Constant, {"value"}, 1}},
      {"normal", {InitKind::Normal, {"mean", "std"}, 2}},
      {"uniform", {InitKind::Uniform, {"lo", "hi"}, 2}},
      {"glorot_uniform", {InitKind::GlorotUniform, {"fan_in", "fan_out"}, 0}},
      {"glorot_normal", {InitKind::GlorotNormal, {"fan_in", "fan_out"}, 0}},
      {"he_normal", {InitKind::HeNormal, {"fan_in"}, 0}},
      {"he_uniform", {InitKind::HeUniform, {"fan_in"}, 0}},
      {"kaiming_uniform", {InitKind::KaimingUniform, {"fan_in"}, 0}},
      {"uniform_fan_in", {InitKind::UniformFanIn, {"fan_in"}, 0}},
      {"pretrained", {InitKind::Pretrained, {"file", "tensor"}, 2}}};
  return Inits;
}

class Sema {
public:
  Sema(const ModelAST &AST, DiagEngine &Diags, ModelSpec &Spec, SemaInfo &Info)
      : AST(AST), Diags(Diags), Spec(Spec), Info(Info) {}

  bool run() {
    unsigned Before = Diags.errorCount();
    Spec.Name = Spec.Path == "<stdin>"
                    ? std::string("stdin")
                    : std::filesystem::path(Spec.Path).stem().string();
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Model && once(ModelStmt, S, "a name"))
        Spec.Name = S.Name;
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Input || S.Kind == StmtKind::Param)
        declare(S);
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Bind || S.Kind == StmtKind::Metric)
        for (const Param &N : boundNames(S))
          TopBindings.insert(N.Name);
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Def)
        declareDef(S);
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Def && isDeclared(S))
        checkDef(S);
    checkRecursion();
    for (const Stmt &S : AST.Stmts)
      statement(S);
    if (!LossStmt)
      Diags.error(ModelStmt ? ModelStmt->L : Loc{AST.File, 1, 1},
                  "the model has no loss");
    resolveLrMult(LrMultDict);
    if (!BatchSym.empty())
      Info.Batch = BatchSym;
    return Diags.errorCount() == Before;
  }

private:
  //===--- Helpers --------------------------------------------------------===//

  void redefined(const Loc &L, const std::string &Msg, const Loc &Prev) {
    Diags.error(L, Msg);
    Diags.note(Prev, "previous definition is here");
  }

  /// Records the first statement of a kind that may appear once.
  bool once(const Stmt *&First, const Stmt &S, const char *What) {
    if (First) {
      redefined(S.L, fmt::format("the model already has {}", What), First->L);
      return false;
    }
    First = &S;
    return true;
  }

  bool define(const std::string &Name, const Loc &L, NameKind K) {
    auto [It, New] = Globals.insert({Name, NameInfo{L, K}});
    if (!New)
      redefined(L, fmt::format("'{}' is already defined", Name), It->second.L);
    return New;
  }

  bool defineLocal(LocalScope &Scope, const std::string &Name, const Loc &L) {
    auto [It, New] = Scope.insert({Name, L});
    if (!New)
      redefined(L, fmt::format("'{}' is already defined", Name), It->second);
    return New;
  }

  std::optional<double> number(const Expr &E) {
    auto V = evalConst(E);
    if (!V) {
      Diags.error(E.L, "expected a number");
      return std::nullopt;
    }
    if (!std::isfinite(*V)) {
      Diags.error(E.L, fmt::format("expected a finite number, got {}", *V));
      return std::nullopt;
    }
    return V;
  }

  std::optional<bool> boolean(const Expr &E) {
    if (E.Kind == ExprKind::Bool)
      return E.BoolVal;
    Diags.error(E.L, "expected true or false");
    return std::nullopt;
  }

  /// A name or a call, bound against \p Params as a call with no arguments
  /// when written without parentheses.
  std::optional<std::vector<const Expr *>>
  bindNameOrCall(const Expr &E, const std::vector<std::string> &Params,
                 unsigned Required) {
    if (E.Kind == ExprKind::Call)
      return bindArgs(E, Params, Required, Diags);
    Expr Bare(ExprKind::Call, E.L);
    Bare.Text = E.Text;
    return bindArgs(Bare, Params, Required, Diags);
  }

  /// The names a binding or metric binds: one, or those of `u, v = f(x)`.
  static std::vector<Param> boundNames(const Stmt &S) {
    if (!S.Targets.empty())
      return S.Targets;
    return {Param{S.Name, S.NameLoc}};
  }

  //===--- Declarations ---------------------------------------------------===//

  std::optional<TensorType> type(const Stmt &S) {
    bool IsParam = S.Kind == StmtKind::Param;
    TensorType T;
    T.Elt = S.Type.Elt;
    bool HasBatch = false;
    for (const DimExpr &D : S.Type.Dims) {
      if (D.Sym.empty() && D.Size <= 0) {
        Diags.error(D.L,
                    fmt::format("dimension must be positive, got {}", D.Size));
        return std::nullopt;
      }
      if (D.Sym.empty()) {
        T.Dims.push_back(D.Size);
        continue;
      }
      if (IsParam) {
        Diags.error(D.L, fmt::format("a {} must have static dims, got '{}'",
                                     S.Buffer ? "buffer" : "param", D.Sym));
        return std::nullopt;
      }
      if (BatchSym.empty()) {
        BatchSym = D.Sym;
        BatchLoc = D.L;
      } else if (D.Sym != BatchSym) {
        Diags.error(D.L, fmt::format("symbolic dim '{}' conflicts with '{}'; "
                                     "only one batch dim is allowed",
                                     D.Sym, BatchSym));
        Diags.note(BatchLoc, fmt::format("'{}' is first used here", BatchSym));
        return std::nullopt;
      }
      if (HasBatch) {
        Diags.error(D.L, fmt::format("the batch dim '{}' may appear only once "
                                     "in a type",
                                     D.Sym));
        return std::nullopt;
      }
      if (&D != &S.Type.Dims.front()) { // an input's samples are its rows
        Diags.error(D.L, fmt::format("the batch dim '{}' must be the first dim "
                                     "of input '{}'",
                                     D.Sym, S.Name));
        return std::nullopt;
      }
      HasBatch = true;
      T.Dims.push_back(kBatch);
    }
    if (IsParam && !isFloat(T.Elt)) {
      Diags.error(S.Type.L, fmt::format("expected a float tensor, got {}",
                                        T.str(BatchSym)));
      return std::nullopt;
    }
    return T;
  }

  void declare(const Stmt &S) {
    bool IsInput = S.Kind == StmtKind::Input;
    std::optional<TensorType> T = type(S);
    if (!define(S.Name, S.NameLoc,
                IsInput ? NameKind::Input : NameKind::Param) ||
        !T)
      return;
    if (IsInput) {
      Info.Inputs.push_back({&S, *T});
      return;
    }
    ParamSpec P;
    P.Name = S.Name;
    P.Type = *T;
    P.Frozen = S.Frozen;
    P.Buffer = S.Buffer;
    if (S.Buffer && S.Frozen)
      Diags.error(S.L, fmt::format("buffer '{}' cannot be frozen: buffers "
                                   "are never trained",
                                   S.Name));
    P.L = S.NameLoc;
    if (S.LrMult && !lrMult(S, *S.LrMult))
      return;
    if (initialiser(*S.Value, P))
      Spec.Params.push_back(std::move(P));
  }

  /// `lr_mult = X` of a param: a positive number, recorded by name.
  bool lrMult(const Stmt &S, const Expr &E) {
    if (S.Buffer) {
      Diags.error(E.L, fmt::format("buffer '{}' has no learning rate "
                                   "(buffers are never trained)",
                                   S.Name));
      return false;
    }
    auto V = number(E);
    if (V && !(*V > 0))
      Diags.error(E.L, fmt::format("'lr_mult' must be positive, got {}", *V));
    if (!V || !(*V > 0))
      return false;
    ParamLrMult[S.Name] = *V;
    return true;
  }

  /// The train block's `lr_mult = {"conv*": 0.1, ...}` and the params' own
  /// multipliers into Spec.Train.LrMult (a param's own wins; else the first
  /// matching glob).
  void resolveLrMult(const Expr *Dict) {
    std::vector<std::pair<std::string, double>> Globs;
    if (Dict && (Dict->Kind != ExprKind::List ||
                 !std::all_of(Dict->Args.begin(), Dict->Args.end(),
                              [](const ExprPtr &A) {
                                return A->Kind == ExprKind::Tuple;
                              }))) {
      Diags.error(Dict->L, "'lr_mult' expects a dictionary such as "
                           "{\"conv*\": 0.1}");
      Dict = nullptr;
    }
    for (size_t I = 0; Dict && I < Dict->Args.size(); ++I) {
      const Expr &Key = *Dict->Args[I]->Args[0];
      if (Key.Kind != ExprKind::String) {
        Diags.error(Key.L, "'lr_mult': expected a parameter name or glob as "
                           "a string");
        continue;
      }
      auto V = number(*Dict->Args[I]->Args[1]);
      if (V && !(*V > 0))
        Diags.error(Dict->Args[I]->Args[1]->L,
                    fmt::format("'lr_mult' must be positive, got {}", *V));
      if (!V || !(*V > 0))
        continue;
      bool Matched = false;
      for (const ParamSpec &P : Spec.Params)
        Matched |=
            !P.Buffer && fnmatch(Key.Text.c_str(), P.Name.c_str(), 0) == 0;
      if (!Matched)
        Diags.warning(Key.L, fmt::format("'lr_mult': '{}' matches no "
                                         "parameter",
                                         Key.Text));
      Globs.push_back({Key.Text, *V});
    }
    for (const ParamSpec &P : Spec.Params) {
      if (P.Buffer)
        continue;
      double Mult = 1;
      if (auto It = ParamLrMult.find(P.Name); It != ParamLrMult.end())
        Mult = It->second;
      else
        for (const auto &[Glob, V] : Globs)
          if (fnmatch(Glob.c_str(), P.Name.c_str(), 0) == 0) {
            Mult = V;
            break;
          }
      if (Mult != 1)
        Spec.Train.LrMult[P.Name] = Mult;
    }
  }

  bool initialiser(const Expr &E, ParamSpec &P) {
    const auto &Inits = initialisers();
    if (E.Kind != ExprKind::Name && E.Kind != ExprKind::Call) {
      Diags.error(E.L, "expected an initialiser such as zeros or "
                       "normal(0, 0.01)");
      return false;
    }
    auto It = Inits.find(E.Text);
    if (It == Inits.end()) {
      Diags.error(E.L, fmt::format("unknown initialiser '{}'", E.Text));
      return false;
    }
    const InitInfo &I = It->second;
    auto Args = bindNameOrCall(E, I.Params, I.Required);
    if (!Args)
      return false;
    if (I.Init == InitKind::Pretrained)
      return pretrained(E, *Args, P);
    double V[2] = {0, 0};
    for (size_t K = 0; K < Args->size(); ++K) {
      const Expr *A = (*Args)[K];
      if (!A)
        continue;
      if (K >= I.Required) {
        // fan_in / fan_out, overriding what the parameter's use implies.
        auto Fan = asInt(evalConst(*A));
        if (!Fan || *Fan < 1) {
          Diags.error(A->L, fmt::format("'{}' must be a positive integer",
                                        I.Params[K]));
          return false;
        }
        (I.Params[K] == "fan_in" ? P.FanIn : P.FanOut) = *Fan;
        continue;
      }
      auto N = number(*A);
      if (!N)
        return false;
      V[K] = *N;
    }
    P.InitLoc = E.L;
    P.Init = I.Init;
    P.A = V[0];
    P.B = V[1];
    if (P.Init == InitKind::Normal && P.B < 0) {
      Diags.error(E.L, fmt::format("'normal' expects a non-negative std, "
                                   "got {}",
                                   P.B));
      return false;
    }
    if (P.Init == InitKind::Uniform && P.A > P.B) {
      Diags.error(E.L, fmt::format("'uniform' expects lo <= hi, got {} and {}",
                                   P.A, P.B));
      return false;
    }
    return true;
  }

  /// pretrained("file.safetensors", "tensor"): the file must hold the
  /// tensor, of a float dtype and the parameter's shape.
  bool pretrained(const Expr &E, const std::vector<const Expr *> &Args,
                  ParamSpec &P) {
    for (size_t K = 0; K < 2; ++K)
      if (Args[K]->Kind != ExprKind::String) {
        Diags.error(Args[K]->L,
                    fmt::format("pretrained: expected the {} as a string",
                                K ? "tensor's name" : "file's path"));
        return false;
      }
    const std::string &Written = Args[0]->Text, &Tensor = Args[1]->Text;
    P.InitLoc = E.L;
    P.Init = InitKind::Pretrained;
    P.File = resolve(Written);
    P.Tensor = Tensor;
    std::vector<SafetensorsEntry> Entries;
    std::string Err;
    if (!readSafetensorsHeader(P.File, Entries, Err)) {
      Diags.error(Args[0]->L,
                  fmt::format("pretrained: '{}': {}", Written, Err));
      return false;
    }
    auto It = std::find_if(Entries.begin(), Entries.end(),
                           [&](const auto &S) { return S.Name == Tensor; });
    if (It == Entries.end()) {
      std::vector<std::string> Names;
      for (size_t K = 0; K < Entries.size() && K < 8; ++K)
        Names.push_back(Entries[K].Name);
      Diags.error(Args[1]->L,
                  fmt::format("pretrained: '{}' has no tensor '{}' (it has: "
                              "{}{})",
                              Written, Tensor, fmt::join(Names, ", "),
                              Entries.size() > 8 ? ", ..." : ""));
      return false;
    }
    if (It->DType != "F32" && It->DType != "F64") {
      Diags.error(Args[1]->L,
                  fmt::format("pretrained: tensor '{}' has dtype {}; a "
                              "parameter needs F32 or F64",
                              Tensor, It->DType));
      return false;
    }
    if (It->Shape != P.Type.Dims) {
      Diags.error(E.L, fmt::format("pretrained: tensor '{}' has shape [{}], "
                                   "'{}' is {}",
                                   Tensor, fmt::join(It->Shape, ", "), P.Name,
                                   P.Type.str(Info.Batch)));
      return false;
    }
    return true;
  }

  bool isDeclared(const Stmt &Def) const {
    auto It = Info.Defs.find(Def.Name);
    return It != Info.Defs.end() && It->second == &Def;
  }

  void declareDef(const Stmt &S) {
    if (findBuiltin(S.Name)) {
      Diags.error(S.NameLoc,
                  fmt::format("'{}' is already a builtin function", S.Name));
      return;
    }
    auto [It, New] = Info.Defs.insert({S.Name, &S});
    if (!New)
      redefined(S.NameLoc, fmt::format("'{}' is already defined", S.Name),
                It->second->NameLoc);
  }

  //===--- Names and calls ------------------------------------------------===//

  void checkDef(const Stmt &S) {
    LocalScope Scope;
    for (const Param &P : S.Params)
      defineLocal(Scope, P.Name, P.L);
    CurDef = &S;
    for (const Stmt &B : S.Body) {
      expr(*B.Value, &Scope);
      for (const Param &N : boundNames(B))
        defineLocal(Scope, N.Name, N.L);
    }
    expr(*S.Value, &Scope);
    CurDef = nullptr;
  }

  void checkRecursion() {
    std::map<const Stmt *, int> State; // 1: on the DFS stack, 2: done
    std::function<void(const Stmt *)> Visit = [&](const Stmt *D) {
      State[D] = 1;
      for (auto &[Callee, Call] : Calls[D]) {
        if (State[Callee] == 1)
          Diags.error(Call->L,
                      fmt::format("recursive call to '{}'; functions are "
                                  "inlined and cannot recurse",
                                  Callee->Name));
        else if (State[Callee] == 0)
          Visit(Callee);
      }
      State[D] = 2;
    };
    for (const Stmt &S : AST.Stmts)
      if (S.Kind == StmtKind::Def && !State[&S])
        Visit(&S);
  }

  bool isValue(const std::string &Name, const LocalScope *Scope) {
    if (Scope && Scope->count(Name))
      return true;
    auto It = Globals.find(Name);
    return It != Globals.end() &&
           (!Scope || It->second.Kind != NameKind::Value);
  }

  void name(const Expr &E, const LocalScope *Scope) {
    const std::string &N = E.Text;
    if (isValue(N, Scope) || N == BatchSym)
      return;
    if (Info.Defs.count(N) || findBuiltin(N))
      Diags.error(E.L, fmt::format("'{}' is a function, not a value", N));
    else if (Scope && TopBindings.count(N))
      Diags.error(E.L, fmt::format("'{}' cannot be used inside a function; "
                                   "pass it as an argument",
                                   N));
    else if (TopBindings.count(N))
      Diags.error(E.L, fmt::format("'{}' is used before it is defined", N));
    else
      Diags.error(E.L, fmt::format("unknown name '{}'", N));
  }

  void call(const Expr &E, const LocalScope *Scope) {
    const std::string &N = E.Text;
    if (auto It = Info.Defs.find(N); It != Info.Defs.end()) {
      std::vector<std::string> Params;
      for (const Param &P : It->second->Params)
        Params.push_back(P.Name);
      bindArgs(E, Params, Params.size(), Diags);
      if (CurDef)
        Calls[CurDef].push_back({It->second, &E});
    } else if (const Builtin *B = findBuiltin(N)) {
      bindArgs(E, B->Params, B->Required, Diags);
      if (B->Kind == BuiltinKind::Scan && !E.Args.empty() &&
          E.Args[0]->Kind == ExprKind::Name &&
          Info.Defs.count(E.Args[0]->Text)) {
        // scan(f, ...): f is a function, called once per step.
        if (CurDef)
          Calls[CurDef].push_back({Info.Defs.at(E.Args[0]->Text), &E});
        for (size_t I = 1; I < E.Args.size(); ++I)
          expr(*E.Args[I], Scope);
        for (const KeywordArg &K : E.Keywords)
          expr(*K.Value, Scope);
        return;
      }
    } else if (isValue(N, Scope)) {
      Diags.error(E.L, fmt::format("'{}' is not a function", N));
    } else {
      Diags.error(E.L, fmt::format("unknown function '{}'", N));
    }
    for (const ExprPtr &A : E.Args)
      expr(*A, Scope);
    for (const KeywordArg &K : E.Keywords)
      expr(*K.Value, Scope);
  }

  /// Checks names and calls in \p E; \p Scope is the function scope, or null
  /// at the top level.
  void expr(const Expr &E, const LocalScope *Scope) {
    switch (E.Kind) {
    case ExprKind::Name:
      return name(E, Scope);
    case ExprKind::Call:
      return call(E, Scope);
    case ExprKind::Binary: {
      std::vector<const Expr *> Spine = leftSpine(E);
      expr(*Spine[0]->Args[0], Scope);
      for (const Expr *Op : Spine)
        expr(*Op->Args[1], Scope);
      return;
    }
    case ExprKind::Neg:
    case ExprKind::List:
    case ExprKind::Tuple:
      for (const ExprPtr &A : E.Args)
        expr(*A, Scope);
      return;
    default:
      return;
    }
  }

  //===--- Statements -----------------------------------------------------===//

  void statement(const Stmt &S) {
    switch (S.Kind) {
    case StmtKind::Bind:
      expr(*S.Value, nullptr);
      for (const Param &N : boundNames(S))
        define(N.Name, N.L, NameKind::Value);
      return;
    case StmtKind::Loss:
      expr(*S.Value, nullptr);
      once(LossStmt, S, "a loss");
      return;
    case StmtKind::Metric:
      expr(*S.Value, nullptr);
      if (define(S.Name, S.NameLoc, NameKind::Value))
        Spec.Metrics.push_back(S.Name);
      return;
    case StmtKind::Output:
      expr(*S.Value, nullptr);
      if (once(OutputStmt, S, "an output"))
        Spec.Output = S.Value->Text;
      return;
    case StmtKind::Train:
      if (once(TrainStmt, S, "a train block"))
        train(S);
      return;
    case StmtKind::Data:
      if (once(DataStmt, S, "a data block"))
        data(S);
      return;
    default:
      return;
    }
  }

  void train(const Stmt &S) {
    std::map<std::string, Loc> Seen;
    TrainSpec &T = Spec.Train;
    for (const Entry &E : S.Entries) {
      auto [It, New] = Seen.insert({E.Key, E.KeyLoc});
      if (!New) {
        redefined(E.KeyLoc, fmt::format("'{}' is already set", E.Key),
                  It->second);
        continue;
      }
      if (E.Key == "optimizer") {
        optimizer(*E.Value);
        continue;
      }
      if (E.Key == "clip_norm") {
        auto V = number(*E.Value);
        if (V && !(*V > 0))
          Diags.error(E.Value->L,
                      fmt::format("'clip_norm' must be positive, got {}", *V));
        else if (V)
          T.ClipNorm = *V;
        continue;
      }
      if (E.Key == "schedule") {
        schedule(*E.Value);
        continue;
      }
      if (E.Key == "lr_mult") {
        LrMultDict = E.Value.get();
        continue;
      }
      bool IsSeed = E.Key == "seed", IsWarmup = E.Key == "warmup";
      if (!IsSeed && !IsWarmup && E.Key != "batch" && E.Key != "epochs") {
        Diags.error(E.KeyLoc,
                    fmt::format("unknown train setting '{}'; expected "
                                "optimizer, batch, epochs, seed, clip_norm, "
                                "schedule, warmup or lr_mult",
                                E.Key));
        continue;
      }
      bool NonNeg = IsSeed || IsWarmup;
      auto V = asInt(evalConst(*E.Value));
      if (!V || *V < (NonNeg ? 0 : 1)) {
        Diags.error(E.Value->L,
                    fmt::format("'{}' must be a {} integer", E.Key,
                                NonNeg ? "non-negative" : "positive"));
        continue;
      }
      if (IsSeed)
        T.Seed = *V;
      else if (IsWarmup)
        T.Warmup = *V;
      else
        (E.Key == "batch" ? T.Batch : T.Epochs) = *V;
    }
  }

  /// `constant`, `step(step_size, gamma = 0.1)` or `cosine(t_max, eta_min =
  /// 0)`, t_max defaulting to the run's number of steps.
  void schedule(const Expr &E) {
    static const std::map<std::string, std::vector<std::string>> Params = {
        {"constant", {}},
        {"step", {"step_size", "gamma"}},
        {"cosine", {"t_max", "eta_min"}}};
    if (E.Kind != ExprKind::Name && E.Kind != ExprKind::Call) {
      Diags.error(E.L, "expected a schedule such as cosine(t_max = 1000)");
      return;
    }
    auto It = Params.find(E.Text);
    if (It == Params.end()) {
      Diags.error(E.L, fmt::format("unknown schedule '{}'; expected constant, "
                                   "step or cosine",
                                   E.Text));
      return;
    }
    auto Args = bindNameOrCall(E, It->second, E.Text == "step" ? 1 : 0);
    if (!Args)
      return;
    ScheduleSpec R;
    if (E.Text == "step") {
      R.Kind = ScheduleKind::Step;
      R.Gamma = 0.1;
    } else if (E.Text == "cosine") {
      R.Kind = ScheduleKind::Cosine;
    }
    bool Ok = true;
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      const std::string &Key = It->second[I];
      if (!A)
        continue;
      if (Key == "step_size" || Key == "t_max") {
        auto V = asInt(evalConst(*A));
        if (!V || *V < 1) {
          Diags.error(A->L,
                      fmt::format("'{}' must be a positive integer", Key));
          Ok = false;
          continue;
        }
        (Key == "step_size" ? R.StepSize : R.TMax) = *V;
        continue;
      }
      auto V = number(*A);
      if (!V) {
        Ok = false;
        continue;
      }
      bool IsGamma = Key == "gamma";
      if (IsGamma ? !(*V > 0) : !(*V >= 0)) {
        Diags.error(A->L,
                    fmt::format("'{}' must be {}, got {}", Key,
                                IsGamma ? "positive" : "non-negative", *V));
        Ok = false;
        continue;
      }
      (IsGamma ? R.Gamma : R.EtaMin) = *V;
    }
    if (Ok)
      Spec.Train.Schedule = R;
  }

  void optimizer(const Expr &E) {
    if (E.Kind != ExprKind::Name && E.Kind != ExprKind::Call) {
      Diags.error(E.L, "expected an optimizer such as adam(lr = 0.001)");
      return;
    }
    const OptimizerInfo *Info = lookupOptimizer(E.Text);
    if (!Info) {
      Diags.error(E.L, fmt::format("unknown optimizer '{}'; expected {}",
                                   E.Text, optimizerNames()));
      return;
    }
    std::vector<std::string> Keys;
    for (const OptimizerParam &P : Info->Params)
      Keys.push_back(P.Key);
    auto Args = bindNameOrCall(E, Keys, 0);
    if (!Args)
      return;
    OptimizerSpec O(E.Text);
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      const OptimizerParam &P = Info->Params[I];
      if (!A)
        continue;
      if (P.Range == HyperRange::Flag) {
        if (auto B = boolean(*A))
          P.Set(O, *B);
        continue;
      }
      auto V = number(*A);
      if (!V)
        continue;
      if (!inRange(P.Range, *V)) {
        Diags.error(A->L, fmt::format("'{}' must be {}, got {}", P.Key,
                                      describeRange(P.Range), *V));
        continue;
      }
      P.Set(O, *V);
    }
    Spec.Train.Optimizer = O;
  }

  void data(const Stmt &S) {
    std::map<std::string, Loc> Seen;
    for (const Entry &E : S.Entries) {
      if (E.Key != "train" && E.Key != "test") {
        Diags.error(E.KeyLoc, fmt::format("unknown data split '{}'; expected "
                                          "'train' or 'test'",
                                          E.Key));
        continue;
      }
      auto G = Globals.find(E.Key2);
      if (G == Globals.end() || G->second.Kind != NameKind::Input) {
        Diags.error(E.Key2Loc,
                    G == Globals.end()
                        ? fmt::format("unknown input '{}'", E.Key2)
                        : fmt::format("'{}' is not an input", E.Key2));
        continue;
      }
      std::string Key = E.Key + " " + E.Key2;
      auto [It, New] = Seen.insert({Key, E.KeyLoc});
      if (!New) {
        redefined(E.KeyLoc, fmt::format("data for '{}' is already given", Key),
                  It->second);
        continue;
      }
      DataSpec D;
      D.Split = E.Key;
      D.Input = E.Key2;
      D.L = E.KeyLoc;
      if (source(*E.Value, D))
        Spec.Data.push_back(std::move(D));
    }
  }

  bool source(const Expr &E, DataSpec &D) {
    static const std::map<std::string,
                          std::pair<DataFormat, std::vector<std::string>>>
        Formats = {
            {"idx", {DataFormat::Idx, {"path", "scale"}}},
            {"npy", {DataFormat::Npy, {"path", "scale"}}},
            {"csv", {DataFormat::Csv, {"path", "columns", "header", "scale"}}},
            {"text",
             {DataFormat::Text, {"path", "seq", "offset", "start", "end"}}}};
    if (E.Kind != ExprKind::Call && E.Kind != ExprKind::Name) {
      Diags.error(E.L, "expected a data source such as idx(\"file\")");
      return false;
    }
    auto It = Formats.find(E.Text);
    if (It == Formats.end()) {
      Diags.error(E.L, fmt::format("unknown data format '{}'; expected idx, "
                                   "npy, csv or text",
                                   E.Text));
      return false;
    }
    const std::vector<std::string> &Params = It->second.second;
    auto Args =
        bindNameOrCall(E, Params, It->second.first == DataFormat::Text ? 2 : 1);
    if (!Args)
      return false;
    D.Format = It->second.first;
    if (D.Format == DataFormat::Text)
      return textSource(E, *Args, D);
    bool Ok = true;
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      if (!A)
        continue;
      const std::string &Key = Params[I];
      if (Key == "path") {
        if (A->Kind != ExprKind::String) {
          Diags.error(A->L, "expected a string path");
          Ok = false;
          continue;
        }
        D.Path = resolve(A->Text);
      } else if (Key == "scale") {
        auto V = number(*A);
        Ok &= V.has_value();
        D.Scale = V.value_or(1);
      } else if (Key == "header") {
        auto V = boolean(*A);
        Ok &= V.has_value();
        D.Header = V.value_or(false);
      } else if (!columns(*A, D.Columns)) {
        Ok = false;
      }
    }
    return Ok;
  }

  /// text(path, seq, offset = 0, start = 0, end = 1) for an i32 input
  /// [N, seq].
  bool textSource(const Expr &E, const std::vector<const Expr *> &Args,
                  DataSpec &D) {
    bool Ok = true;
    if (Args[0]->Kind != ExprKind::String) {
      Diags.error(Args[0]->L, "expected a string path");
      Ok = false;
    }
    D.Path = resolve(Args[0]->Text);
    auto Int = [&](const Expr *A, int64_t Default, int64_t Min,
                   const char *What) -> std::optional<int64_t> {
      if (!A)
        return Default;
      auto V = asInt(evalConst(*A));
      if (!V || *V < Min) {
        Diags.error(A->L,
                    fmt::format("'{}' must be {} integer", What,
                                Min > 0 ? "a positive" : "a non-negative"));
        return std::nullopt;
      }
      return V;
    };
    auto Seq = Int(Args[1], 0, 1, "seq"), Off = Int(Args[2], 0, 0, "offset");
    Ok &= Seq && Off;
    D.Seq = Seq.value_or(1);
    D.Offset = Off.value_or(0);
    for (int I : {3, 4}) {
      if (!Args[I])
        continue;
      auto V = number(*Args[I]);
      if (V && !(*V >= 0 && *V <= 1)) {
        Diags.error(Args[I]->L, fmt::format("'{}' must be a fraction of the "
                                            "file in [0, 1], got {}",
                                            I == 3 ? "start" : "end", *V));
        V.reset();
      }
      Ok &= V.has_value();
      (I == 3 ? D.Start : D.End) = V.value_or(I == 3 ? 0 : 1);
    }
    if (Ok && D.Start >= D.End) {
      Diags.error(E.L, fmt::format("text data needs start < end, got [{}, {})",
                                   D.Start, D.End));
      Ok = false;
    }
    if (!Ok)
      return false;
    for (const auto &[S, T] : Info.Inputs) {
      if (S->Name != D.Input)
        continue;
      std::vector<int64_t> Want{kBatch, D.Seq};
      if (T.Elt != DType::I32 || T.Dims != Want) {
        Diags.error(E.L, fmt::format("text data with seq = {} feeds inputs "
                                     "of type i32[{},{}], but '{}' is {}",
                                     D.Seq, Info.Batch, D.Seq, D.Input,
                                     T.str(Info.Batch)));
        return false;
      }
    }
    return true;
  }

  bool columns(const Expr &E, std::vector<int64_t> &Out) {
    std::vector<const Expr *> Items;
    if (E.Kind == ExprKind::List)
      for (const ExprPtr &A : E.Args)
        Items.push_back(A.get());
    else
      Items.push_back(&E);
    for (const Expr *I : Items) {
      auto V = asInt(evalConst(*I));
      if (!V || *V < 0) {
        Diags.error(I->L, "expected a column index (a non-negative integer)");
        return false;
      }
      Out.push_back(*V);
    }
    return true;
  }

  /// \p P relative to the model file's directory.
  std::string resolve(const std::string &P) const {
    std::string Dir = std::filesystem::path(Spec.Path).parent_path().string();
    if (Dir.empty() || P.empty() || P[0] == '/')
      return P;
    return Dir + "/" + P;
  }

  const ModelAST &AST;
  DiagEngine &Diags;
  ModelSpec &Spec;
  SemaInfo &Info;
  std::map<std::string, NameInfo> Globals;
  std::set<std::string> TopBindings; ///< Bindings and metrics, for messages.
  std::string BatchSym;
  Loc BatchLoc;
  const Stmt *OutputStmt = nullptr;
  std::map<std::string, double> ParamLrMult; ///< `lr_mult = X` of params
  const Expr *LrMultDict = nullptr;          ///< the train block's
  const Stmt *ModelStmt = nullptr, *LossStmt = nullptr, *TrainStmt = nullptr,
             *DataStmt = nullptr;
  const Stmt *CurDef = nullptr;
  std::map<const Stmt *, std::vector<std::pair<const Stmt *, const Expr *>>>
      Calls;
};

} // namespace

std::vector<std::string> initialiserNames() {
  std::vector<std::string> Names;
  for (const auto &[Name, Info] : initialisers())
    Names.push_back(Name);
  return Names;
}

bool checkModel(const ModelAST &AST, DiagEngine &Diags, ModelSpec &Spec,
                SemaInfo &Info) {
  return Sema(AST, Diags, Spec, Info).run();
}

} // namespace adj
