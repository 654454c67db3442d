//===- Verifier.cpp - Checking the IR's invariants ------------------------===//
///
/// One rule per invariant, each a function below, checked in text order:
///
///   unique-names   function, argument and result names are unique
///   arguments      hyperparameters are scalars; only parameters are frozen;
///                  optimizer state appears only in functions that have
///                  hyperparameters, and is returned updated
///   params-agree   an argument name means one thing in every function of
///                  the module: the same role, type and frozen flag (scan
///                  bodies excepted: their arguments are their own)
///   dominance      each operand is an argument or the result of an earlier
///                  op of the same function (functions are straight-line, so
///                  this is SSA dominance)
///   operand-count  as many operands as the op table's arity
///   attributes     names the op takes, of the right kind (int, float, bool,
///                  int list, string), required ones present, values in
///                  range; a fused op's `body` and a matmul's `epilogue`
///                  parse (ir/Body.h) over the op's inputs
///   result-type    the op table's shape rule applied to the operand types
///                  and attributes gives the result type; a scan agrees
///                  with its body function (ir/Scan.h: counts, argument,
///                  carry and result types), which is not the function
///                  itself
///   results        results are values of the function; a result named like
///                  an argument updates a trainable parameter, a buffer or
///                  optimizer state of the same type; the loss is a float
///                  scalar
///
/// The attribute schema is Ops.def's Attrs column. A violation is located in
/// the .air text when a SourceMap is given, else at the op's own location.
///
//===----------------------------------------------------------------------===//
#include "ir/Verifier.h"

#include "ir/Body.h"
#include "ir/Scan.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace adj {

namespace {

bool hasKind(const Attr &A, AttrKind K) {
  switch (K) {
  case AttrKind::Int:
    return std::holds_alternative<int64_t>(A);
  case AttrKind::Float:
    return std::holds_alternative<double>(A);
  case AttrKind::Bool:
    return std::holds_alternative<bool>(A);
  case AttrKind::IntList:
    return std::holds_alternative<std::vector<int64_t>>(A);
  case AttrKind::String:
    return std::holds_alternative<std::string>(A);
  }
  return false;
}

class Verifier {
public:
  Verifier(const Module &M, const SourceMap *Map) : M(M), Map(Map) {}

  std::vector<Violation> run() {
    checkFunctionNames();
    for (auto &F : M.Functions)
      checkFunction(*F);
    checkParamsAgree();
    return std::move(Out);
  }

private:
  const Module &M;
  const SourceMap *Map;
  std::vector<Violation> Out;
  /// Printed names of the current function's values: `%x`, `%3`.
  std::unordered_map<const Value *, std::string> Names;

  template <typename K>
  Loc lookup(const std::unordered_map<K, Loc> *Table, K Key,
             const Loc &Fallback = Loc()) const {
    if (Table)
      if (auto It = Table->find(Key); It != Table->end())
        return It->second;
    return Fallback;
  }
  Loc funcLoc(const Function &F) const {
    return lookup(Map ? &Map->Functions : nullptr, &F);
  }
  Loc valueLoc(const Function &F, const Value *V) const {
    Loc Fallback = V->Def ? V->Def->Location : funcLoc(F);
    Fallback.Grad = false;
    return lookup(Map ? &Map->Values : nullptr, V, Fallback);
  }
  Loc resultLoc(const Function &F, size_t I) const {
    if (Map)
      if (auto It = Map->Results.find(&F);
          It != Map->Results.end() && I < It->second.size())
        return It->second[I];
    return funcLoc(F);
  }

  /// Reports \p Msg at \p L; without a location, names the function.
  void report(const Function &F, Loc L, const std::string &Msg) {
    std::string Text = L.known() ? Msg : fmt::format("@{}: {}", F.Name, Msg);
    Out.push_back({std::move(L), std::move(Text)});
  }
  void reportOp(const Function &F, const Op &O, const std::string &Msg) {
    report(F, valueLoc(F, &O.Result),
           fmt::format("{} = {}: {}", Names.at(&O.Result), O.info().Mnemonic,
                       Msg));
  }

  void nameValues(const Function &F) {
    Names.clear();
    for (auto &A : F.Args)
      Names[A.get()] = "%" + A->Name;
    unsigned I = 0;
    for (auto &O : F.Ops) {
      std::string N = std::to_string(I++);
      if (Map)
        if (auto It = Map->Names.find(&O->Result); It != Map->Names.end())
          N = It->second;
      Names[&O->Result] = "%" + N;
    }
  }

  // Rule unique-names (functions).
  void checkFunctionNames() {
    std::set<std::string> Seen;
    for (auto &F : M.Functions)
      if (!Seen.insert(F->Name).second)
        report(*F, funcLoc(*F),
               fmt::format("function @{} is defined twice", F->Name));
  }

  void checkFunction(const Function &F) {
    nameValues(F);
    checkArguments(F);
    std::unordered_set<const Value *> Defined, All;
    for (auto &A : F.Args) {
      Defined.insert(A.get());
      All.insert(A.get());
    }
    for (auto &O : F.Ops)
      All.insert(&O->Result);
    for (auto &O : F.Ops) {
      bool Ok = checkDominance(F, *O, Defined, All);
      Ok = checkOperandCount(F, *O) && Ok;
      Ok = checkAttributes(F, *O) && Ok;
      if (Ok)
        checkResultType(F, *O);
      Defined.insert(&O->Result);
    }
    checkResults(F, All);
  }

  // Rules unique-names (arguments) and arguments.
  void checkArguments(const Function &F) {
    std::set<std::string> Seen;
    bool HasHyper = false;
    for (ArgRole R : F.Roles)
      HasHyper |= R == ArgRole::Hyper;
    for (size_t I = 0; I < F.Args.size(); ++I) {
      const Value &A = *F.Args[I];
      Loc L = valueLoc(F, &A);
      if (!Seen.insert(A.Name).second)
        report(F, L, fmt::format("argument %{} is defined twice", A.Name));
      if (A.ArgNo != int(I) || A.Def)
        report(F, L,
               fmt::format("argument %{} has index {}, expected {}", A.Name,
                           A.ArgNo, I));
      if (F.Roles[I] == ArgRole::Hyper && !A.Type.isScalar())
        report(F, L,
               fmt::format("hyperparameter %{} must be a scalar, got {}",
                           A.Name, A.Type.str(M.BatchDim)));
      if (F.Frozen[I] && F.Roles[I] != ArgRole::Param)
        report(F, L,
               fmt::format("only parameters can be frozen, not {} %{}",
                           argRoleName(F.Roles[I]), A.Name));
      if (F.Roles[I] != ArgRole::State)
        continue;
      if (!HasHyper)
        report(F, L,
               fmt::format("optimizer state %{} in a function without "
                           "hyperparameters",
                           A.Name));
      if (!F.result(A.Name))
        report(
            F, L,
            fmt::format("optimizer state %{} is not returned updated", A.Name));
    }
  }

  // Rule params-agree.
  void checkParamsAgree() {
    struct First {
      const Function *F;
      size_t I;
    };
    std::map<std::string, First> Seen;
    std::vector<const Function *> Bodies = scanBodies(M);
    for (auto &F : M.Functions)
      for (size_t I = 0; I < F->Args.size(); ++I) {
        if (std::count(Bodies.begin(), Bodies.end(), F.get()))
          break;
        const Value &A = *F->Args[I];
        auto [It, New] = Seen.emplace(A.Name, First{F.get(), I});
        if (New || It->second.F == F.get())
          continue;
        const Function &G = *It->second.F;
        size_t J = It->second.I;
        auto Describe = [&](const Function &H, size_t K) {
          return fmt::format("{} {{{}{}}}", H.Args[K]->Type.str(M.BatchDim),
                             argRoleName(H.Roles[K]),
                             H.Frozen[K] ? ", frozen" : "");
        };
        if (A.Type != G.Args[J]->Type || F->Roles[I] != G.Roles[J] ||
            F->Frozen[I] != G.Frozen[J]) {
          nameValues(*F);
          report(*F, valueLoc(*F, &A),
                 fmt::format("argument %{} is {} here but {} in @{}", A.Name,
                             Describe(*F, I), Describe(G, J), G.Name));
        }
      }
  }

  // Rule dominance.
  bool checkDominance(const Function &F, const Op &O,
                      const std::unordered_set<const Value *> &Defined,
                      const std::unordered_set<const Value *> &All) {
    bool Ok = true;
    if (O.Result.Def != &O) {
      reportOp(F, O, "result does not point back to its op");
      Ok = false;
    }
    for (const Value *V : O.Operands) {
      if (Defined.count(V))
        continue;
      Ok = false;
      if (!All.count(V))
        reportOp(F, O, fmt::format("an operand is not a value of @{}", F.Name));
      else if (V == &O.Result)
        reportOp(F, O, "uses its own result");
      else
        reportOp(
            F, O,
            fmt::format("operand used before its definition: {}", Names.at(V)));
    }
    return Ok;
  }

  // Rule operand-count.
  bool checkOperandCount(const Function &F, const Op &O) {
    int Arity = O.info().Arity;
    if (Arity < 0 || O.Operands.size() == size_t(Arity))
      return true;
    reportOp(F, O,
             fmt::format("expects {} operand{}, got {}", Arity,
                         Arity == 1 ? "" : "s", O.Operands.size()));
    return false;
  }

  // Rule attributes.
  bool checkAttributes(const Function &F, const Op &O) {
    const OpInfo &Info = O.info();
    bool Ok = true;
    auto Fail = [&](const std::string &Msg) {
      reportOp(F, O, Msg);
      Ok = false;
    };
    for (auto &[Name, A] : O.Attributes) {
      const AttrSpec *S = Info.attr(Name);
      if (!S) {
        Fail(fmt::format("unknown attribute '{}'", Name));
        continue;
      }
      if (!hasKind(A, S->Kind)) {
        Fail(fmt::format("attribute '{}' must be {}, got {}", Name,
                         attrKindName(S->Kind), attrStr(A)));
        continue;
      }
      if (std::string E = checkValue(O, Name, A); !E.empty())
        Fail(E);
    }
    for (const AttrSpec &S : Info.attrs())
      if (S.Required && !O.hasAttr(S.Name))
        Fail(fmt::format("needs the attribute '{}' ({})", S.Name,
                         attrKindName(S.Kind)));
    return Ok;
  }

  /// Range checks of attribute values whose kind is right.
  static std::string checkValue(const Op &O, const std::string &Name,
                                const Attr &A) {
    if (Name == "label_smoothing") {
      double V = std::get<double>(A);
      if (!(V >= 0 && V < 1))
        return fmt::format("attribute 'label_smoothing' must be in [0, 1), "
                           "got {}",
                           attrStr(A));
    }
    if (Name == "alpha" && !std::isfinite(std::get<double>(A)))
      return fmt::format("attribute 'alpha' must be finite, got {}",
                         attrStr(A));
    if (Name == "value" && O.type().Elt == DType::I32) {
      double V = std::get<double>(A);
      if (!(V == std::trunc(V) && std::fabs(V) <= 2147483647.0))
        return fmt::format("an i32 constant needs an integer value, got {}",
                           attrStr(A));
    }
    if (Name == "shape")
      for (int64_t D : std::get<std::vector<int64_t>>(A))
        if (D < kBatch)
          return fmt::format("attribute 'shape' has the bad dimension {}; "
                             "dimensions are >= 0, or {} for the batch dim",
                             D, kBatch);
    if (Name == "body" || Name == "epilogue") {
      unsigned NumInputs = 0;
      std::vector<BodyMember> Members;
      if (const std::string *Body = bodyOf(O, NumInputs)) {
        if (std::string E = parseBody(*Body, NumInputs, Members); !E.empty())
          return fmt::format("attribute '{}': {}", Name, E);
        if (std::string E = checkReducingBody(O, Members); !E.empty())
          return fmt::format("attribute '{}': {}", Name, E);
      }
    }
    if (Name == "axes" && !O.Operands.empty()) {
      unsigned Rank = O.Operands[0]->Type.rank();
      std::set<int64_t> Seen;
      for (int64_t X : std::get<std::vector<int64_t>>(A))
        if (auto N = normAxis(X, Rank); N && !Seen.insert(*N).second)
          return fmt::format("attribute 'axes' names axis {} twice", *N);
    }
    return "";
  }

  // Rule result-type.
  void checkResultType(const Function &F, const Op &O) {
    if (O.Kind == OpKind::Scan) {
      const Function *Body = scanBody(M, O);
      if (Body == &F)
        return reportOp(F, O, fmt::format("@{} cannot scan itself", F.Name));
      if (std::string E = checkScan(M, O, M.BatchDim); !E.empty())
        reportOp(F, O, E);
      return;
    }
    if (O.info().explicitType())
      return;
    std::vector<TensorType> Types;
    for (const Value *V : O.Operands)
      Types.push_back(V->Type);
    TypeOrError T = inferType(O.Kind, Types, O.Attributes, M.BatchDim);
    if (!T.Type)
      return reportOp(F, O, T.Error);
    // An op that reads no float (one_hot) may give its float result any
    // float dtype: convert-to-f64 retypes it like every other.
    bool ReadsFloat =
        std::any_of(Types.begin(), Types.end(),
                    [](const TensorType &T) { return isFloat(T.Elt); });
    if (!ReadsFloat && isFloat(T.Type->Elt) && isFloat(O.Result.Type.Elt))
      T.Type->Elt = O.Result.Type.Elt;
    if (*T.Type != O.Result.Type)
      reportOp(F, O,
               fmt::format("result type {} does not match the shape rule's {}",
                           O.Result.Type.str(M.BatchDim),
                           T.Type->str(M.BatchDim)));
  }

  // Rules unique-names (results) and results.
  void checkResults(const Function &F,
                    const std::unordered_set<const Value *> &All) {
    std::set<std::string> Seen;
    for (size_t I = 0; I < F.Results.size(); ++I) {
      const Result &R = F.Results[I];
      Loc L = resultLoc(F, I);
      if (!Seen.insert(R.Name).second)
        report(F, L, fmt::format("result '{}' is returned twice", R.Name));
      if (!All.count(R.V)) {
        report(
            F, L,
            fmt::format("result '{}' is not a value of @{}", R.Name, F.Name));
        continue;
      }
      if (R.Name == "loss" &&
          (!R.V->Type.isScalar() || !isFloat(R.V->Type.Elt)))
        report(F, L,
               fmt::format("the loss must be a float scalar, got {}",
                           R.V->Type.str(M.BatchDim)));
      int ArgI = F.argIndex(R.Name);
      if (ArgI < 0)
        continue;
      ArgRole Role = F.Roles[ArgI];
      if (Role != ArgRole::Param && Role != ArgRole::State &&
          Role != ArgRole::Buffer)
        report(F, L,
               fmt::format("result '{}' would update {} %{}; only parameters, "
                           "buffers and optimizer state are updated",
                           R.Name, argRoleName(Role), R.Name));
      else if (F.Frozen[ArgI])
        report(F, L,
               fmt::format("result '{}' updates the frozen parameter %{}",
                           R.Name, R.Name));
      else if (F.Args[ArgI]->Type != R.V->Type)
        report(F, L,
               fmt::format("result '{}' has type {} but argument %{} has {}",
                           R.Name, R.V->Type.str(M.BatchDim), R.Name,
                           F.Args[ArgI]->Type.str(M.BatchDim)));
    }
  }
};

} // namespace

std::vector<Violation> verify(const Module &M, const SourceMap *Map) {
  return Verifier(M, Map).run();
}

std::vector<std::string> verifyModule(const Module &M) {
  std::vector<std::string> Lines;
  for (const Violation &V : verify(M)) {
    const Loc &L = V.Where;
    Lines.push_back(L.known() ? fmt::format("{}:{}:{}: error: {}", L.File,
                                            L.Line, L.Col, V.Message)
                              : "error: " + V.Message);
  }
  return Lines;
}

} // namespace adj
