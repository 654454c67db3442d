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
#include "frontend/SemaBlocks.h"

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

class Sema : CheckerBase {
public:
  Sema(const ModelAST &AST, DiagEngine &Diags, ModelSpec &Spec, SemaInfo &Info)
      : CheckerBase(Diags), AST(AST), Spec(Spec), Info(Info) {}

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
    P.File = resolveModelPath(Spec.Path, Written);
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
        checkTrainBlock(S, Diags, Spec, LrMultDict);
      return;
    case StmtKind::Data:
      if (once(DataStmt, S, "a data block"))
        checkDataBlock(S, Diags, Spec, Info,
                       [&](const std::string &Name) -> std::optional<bool> {
                         auto G = Globals.find(Name);
                         if (G == Globals.end())
                           return std::nullopt;
                         return G->second.Kind == NameKind::Input;
                       });
      return;
    default:
      return;
    }
  }

  const ModelAST &AST;
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
