//===- Verifier.cpp - Checking the IR's invariants ------------------------===//
///
/// A single forward walk over the ops: the set of values defined so far
/// (arguments first) tells whether each operand dominates its use, since
/// functions are straight-line. Each op's result type is recomputed from the
/// op table's shape rule and compared. Errors read like diagnostics:
/// `file:line:col: error: verifier: %3 = add: …`.
///
//===----------------------------------------------------------------------===//
#include "ir/Verifier.h"

#include <fmt/format.h>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace adj {

static std::string where(const Loc &L) {
  if (!L.known())
    return "";
  return fmt::format("{}:{}:{}: ", L.File, L.Line, L.Col);
}

std::vector<std::string> verifyFunction(const Function &F,
                                        const std::string &B) {
  std::vector<std::string> Errs;
  std::unordered_set<const Value *> Defined;
  std::set<std::string> ArgNames;
  for (size_t I = 0; I < F.Args.size(); ++I) {
    const Value &A = *F.Args[I];
    if (!ArgNames.insert(A.Name).second)
      Errs.push_back(fmt::format("verifier: @{}: argument %{} is defined twice",
                                 F.Name, A.Name));
    if (A.ArgNo != int(I))
      Errs.push_back(fmt::format("verifier: @{}: argument %{} has index {}, "
                                 "expected {}",
                                 F.Name, A.Name, A.ArgNo, I));
    if (F.Roles[I] == ArgRole::Hyper && !A.Type.isScalar())
      Errs.push_back(fmt::format(
          "verifier: @{}: hyperparameter %{} must be a scalar, got {}", F.Name,
          A.Name, A.Type.str(B)));
    if (F.Frozen[I] && F.Roles[I] != ArgRole::Param)
      Errs.push_back(fmt::format(
          "verifier: @{}: only parameters can be frozen, not %{}", F.Name,
          A.Name));
    Defined.insert(&A);
  }
  unsigned Index = 0;
  for (auto &O : F.Ops) {
    std::string Head = fmt::format("{}error: verifier: %{} = {}: ",
                                   where(O->Location), Index++,
                                   O->info().Mnemonic);
    std::vector<TensorType> Types;
    bool OperandsOk = true;
    for (Value *V : O->Operands) {
      if (!Defined.count(V)) {
        Errs.push_back(Head + "operand used before its definition");
        OperandsOk = false;
        continue;
      }
      Types.push_back(V->Type);
    }
    if (O->Result.Def != O.get())
      Errs.push_back(Head + "result does not point back to its op");
    Defined.insert(&O->Result);
    if (!OperandsOk)
      continue;
    if (O->info().Rule == ShapeRule::Explicit) {
      if (O->Kind == OpKind::Constant &&
          !std::holds_alternative<double>(
              O->Attributes.count("value") ? O->Attributes.at("value")
                                           : Attr(std::string())))
        Errs.push_back(Head + "needs a float 'value' attribute");
      continue;
    }
    TypeOrError T = inferType(O->Kind, Types, O->Attributes, B);
    if (!T.Type) {
      Errs.push_back(Head + T.Error);
      continue;
    }
    if (*T.Type != O->Result.Type)
      Errs.push_back(Head + fmt::format("result type {} does not match the "
                                        "shape rule's {}",
                                        O->Result.Type.str(B),
                                        T.Type->str(B)));
  }
  std::set<std::string> ResultNames;
  for (const Result &R : F.Results) {
    if (!ResultNames.insert(R.Name).second)
      Errs.push_back(fmt::format("verifier: @{}: result '{}' is returned twice",
                                 F.Name, R.Name));
    if (!Defined.count(R.V))
      Errs.push_back(fmt::format(
          "verifier: @{}: result '{}' is not a value of the function", F.Name,
          R.Name));
    int ArgI = F.argIndex(R.Name);
    if (ArgI >= 0 && F.Args[ArgI]->Type != R.V->Type)
      Errs.push_back(fmt::format("verifier: @{}: result '{}' has type {} but "
                                 "argument %{} has {}",
                                 F.Name, R.Name, R.V->Type.str(B), R.Name,
                                 F.Args[ArgI]->Type.str(B)));
  }
  if (const Result *L = F.result("loss"); L && !L->V->Type.isScalar())
    Errs.push_back(fmt::format("verifier: @{}: the loss must be a scalar",
                               F.Name));
  return Errs;
}

std::vector<std::string> verifyModule(const Module &M) {
  std::vector<std::string> Errs;
  std::set<std::string> Names;
  for (auto &F : M.Functions) {
    if (!Names.insert(F->Name).second)
      Errs.push_back(fmt::format("verifier: function @{} is defined twice",
                                 F->Name));
    for (std::string &E : verifyFunction(*F, M.BatchDim))
      Errs.push_back(std::move(E));
  }
  return Errs;
}

} // namespace adj
