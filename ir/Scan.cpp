//===- Scan.cpp - The scan op's shape and its agreement with its body -----===//
///
/// What the verifier asks of a scan op (checkScan): its operand counts fit
/// its attributes, every sequence has the same static length along a
/// non-batch `axis`, its body exists and takes (carry..., x_t...,
/// capture...) of the operands' types and returns carries of the same
/// types, and its result type is the output it names.
///
//===----------------------------------------------------------------------===//
#include "ir/Scan.h"

#include <fmt/format.h>
#include <set>

namespace adj {

std::string ScanShape::read(const Op &O) {
  int64_t K = O.intAttr("carries"), S = O.intAttr("seqs");
  Axis = O.intAttr("axis", 1);
  Reverse = O.boolAttr("reverse");
  if (K < 0 || S < 1 || K + S > int64_t(O.Operands.size()))
    return fmt::format("needs carries >= 0 and seqs >= 1 of its {} operands, "
                       "got carries = {}, seqs = {}",
                       O.Operands.size(), K, S);
  Carries = K;
  Seqs = S;
  Captures = O.Operands.size() - K - S;
  const TensorType &X0 = seq(O, 0)->Type;
  if (Axis < 0 || Axis >= int64_t(X0.rank()))
    return fmt::format("axis {} is not an axis of the sequence {}", Axis,
                       X0.str());
  Length = X0.Dims[Axis];
  if (Length == kBatch)
    return fmt::format("axis {} of the sequence {} is the batch dim; a scan "
                       "runs along a static axis",
                       Axis, X0.str());
  if (Length < 1)
    return fmt::format("the sequence {} is empty along axis {}", X0.str(),
                       Axis);
  for (unsigned I = 1; I < Seqs; ++I) {
    const TensorType &X = seq(O, I)->Type;
    if (Axis >= int64_t(X.rank()) || X.Dims[Axis] != Length)
      return fmt::format("sequence {} is {} but sequence 0 is {}: both need "
                         "length {} along axis {}",
                         I, X.str(), X0.str(), Length, Axis);
  }
  return "";
}

TensorType dropAxis(const TensorType &T, int64_t Axis) {
  TensorType R = T;
  R.Dims.erase(R.Dims.begin() + Axis);
  return R;
}

TensorType insertAxis(const TensorType &T, int64_t Axis, int64_t Len) {
  TensorType R = T;
  R.Dims.insert(R.Dims.begin() + Axis, Len);
  return R;
}

const Function *scanBody(const Module &M, const Op &O) {
  auto It = O.Attributes.find("body");
  if (It == O.Attributes.end() ||
      !std::holds_alternative<std::string>(It->second))
    return nullptr;
  return M.function(std::get<std::string>(It->second));
}

bool scanSiblings(const Op &A, const Op &B) {
  if (A.Kind != OpKind::Scan || B.Kind != OpKind::Scan ||
      A.Operands != B.Operands)
    return false;
  Attrs X = A.Attributes, Y = B.Attributes;
  for (Attrs *Z : {&X, &Y}) {
    Z->erase("output");
    Z->erase("final");
  }
  return X == Y;
}

TensorType scanOutputType(const Function &Body, const ScanShape &S,
                          unsigned Output, bool Final) {
  const TensorType &T = Body.Results[Output].V->Type;
  return Final ? T : insertAxis(T, S.Axis, S.Length);
}

std::string checkScan(const Module &M, const Op &O, const std::string &Batch) {
  ScanShape S;
  if (std::string E = S.read(O); !E.empty())
    return E;
  const Function *Body = scanBody(M, O);
  if (!Body)
    return fmt::format("its body @{} is not a function of the module",
                       attrStr(O.Attributes.at("body")));
  if (Body->Args.size() != O.Operands.size())
    return fmt::format("@{} takes {} arguments but the scan passes {} "
                       "(carries, sequences, captures)",
                       Body->Name, Body->Args.size(), O.Operands.size());
  for (unsigned I = 0; I < O.Operands.size(); ++I) {
    TensorType Want = O.Operands[I]->Type;
    const char *What = I < S.Carries            ? "carry"
                       : I < S.Carries + S.Seqs ? "sequence step"
                                                : "capture";
    if (I >= S.Carries && I < S.Carries + S.Seqs)
      Want = dropAxis(Want, S.Axis);
    if (Body->Args[I]->Type != Want)
      return fmt::format("argument {} (%{}) of @{} is {} but the {} is {}", I,
                         Body->Args[I]->Name, Body->Name,
                         Body->Args[I]->Type.str(Batch), What, Want.str(Batch));
  }
  if (Body->Results.size() < S.Carries)
    return fmt::format("@{} returns {} values for {} carries", Body->Name,
                       Body->Results.size(), S.Carries);
  for (unsigned K = 0; K < S.Carries; ++K)
    if (Body->Results[K].V->Type != S.init(O, K)->Type)
      return fmt::format("the body returns {} for a carry of {}",
                         Body->Results[K].V->Type.str(Batch),
                         S.init(O, K)->Type.str(Batch));
  int64_t Output = O.intAttr("output");
  bool Final = O.boolAttr("final");
  if (Output < 0 || Output >= int64_t(Body->Results.size()))
    return fmt::format("output {} is not one of @{}'s {} results", Output,
                       Body->Name, Body->Results.size());
  if (Final && Output >= int64_t(S.Carries))
    return fmt::format("output {} is a per-step value, not a carry: it has "
                       "no final value",
                       Output);
  const TensorType &Y = Body->Results[Output].V->Type;
  if (!Final && S.Axis > int64_t(Y.rank()))
    return fmt::format("output {} of type {} cannot be stacked along axis {}",
                       Output, Y.str(Batch), S.Axis);
  TensorType Want = scanOutputType(*Body, S, Output, Final);
  if (O.Result.Type != Want)
    return fmt::format("result type {} does not match the body's output {}, "
                       "which is {}",
                       O.Result.Type.str(Batch), Output, Want.str(Batch));
  return "";
}

std::vector<const Function *> scanBodies(const Module &M) {
  std::vector<const Function *> Out;
  std::set<const Function *> Seen;
  for (auto &F : M.Functions)
    for (auto &O : F->Ops)
      if (O->Kind == OpKind::Scan)
        if (const Function *B = scanBody(M, *O); B && Seen.insert(B).second)
          Out.push_back(B);
  return Out;
}

} // namespace adj
