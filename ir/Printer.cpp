//===- Printer.cpp - Printing the IR as text ------------------------------===//
///
/// Op results are numbered %0, %1, … in order; arguments print by name.
/// Attributes print sorted by name, so the text is canonical and
/// print(parse(print(x))) is byte-identical. Locations print after the type,
/// aligned, with `grad` on ops of the adjoint graph.
///
//===----------------------------------------------------------------------===//
#include "ir/Printer.h"

#include <fmt/format.h>
#include <map>
#include <unordered_map>

namespace adj {

/// A file name in quotes, with '"' and '\\' escaped as the parser reads them.
static std::string quoted(const std::string &S) {
  std::string Q = "\"";
  for (char C : S) {
    if (C == '"' || C == '\\')
      Q += '\\';
    Q += C;
  }
  return Q + "\"";
}

static std::string locStr(const Loc &L) {
  if (!L.known())
    return L.Grad ? "loc(grad)" : "";
  return fmt::format("loc({}:{}:{}{})", quoted(L.File), L.Line, L.Col,
                     L.Grad ? ", grad" : "");
}

std::string printFunction(const Function &F, const std::string &Batch) {
  std::unordered_map<const Value *, std::string> Names;
  std::string S = fmt::format("func @{}(", F.Name);
  for (size_t I = 0; I < F.Args.size(); ++I) {
    const Value &A = *F.Args[I];
    Names[&A] = "%" + A.Name;
    S += fmt::format("{}%{}: {} {{{}{}}}", I ? ", " : "", A.Name,
                     A.Type.str(Batch), argRoleName(F.Roles[I]),
                     F.Frozen[I] ? ", frozen" : "");
  }
  S += ") -> (";
  for (size_t I = 0; I < F.Results.size(); ++I)
    S += (I ? ", " : "") + F.Results[I].V->Type.str(Batch);
  S += ") {\n";
  unsigned Next = 0;
  for (auto &O : F.Ops) {
    std::string Name = fmt::format("%{}", Next++);
    Names[&O->Result] = Name;
    std::string Line = fmt::format("  {} = {}", Name, O->info().Mnemonic);
    for (size_t I = 0; I < O->Operands.size(); ++I)
      Line += (I ? ", " : " ") + Names.at(O->Operands[I]);
    if (!O->Attributes.empty()) {
      Line += " {";
      bool First = true;
      for (auto &[K, V] : O->Attributes) {
        Line += fmt::format("{}{} = {}", First ? "" : ", ", K, attrStr(V));
        First = false;
      }
      Line += "}";
    }
    Line += " : " + O->Result.Type.str(Batch);
    std::string L = locStr(O->Location);
    if (!L.empty()) {
      if (Line.size() < 50)
        Line.resize(50, ' ');
      Line += "  " + L;
    }
    S += Line + "\n";
  }
  S += "  return";
  for (size_t I = 0; I < F.Results.size(); ++I)
    S += fmt::format("{} {} = {}", I ? "," : "", F.Results[I].Name,
                     Names.at(F.Results[I].V));
  S += "\n}\n";
  return S;
}

std::string printModule(const Module &M) {
  std::string S;
  for (size_t I = 0; I < M.Functions.size(); ++I)
    S += (I ? "\n" : "") + printFunction(*M.Functions[I], M.BatchDim);
  return S;
}

std::string opCountSummary(const Function &F) {
  std::map<std::string, unsigned> Counts;
  for (auto &O : F.Ops)
    ++Counts[O->info().Mnemonic];
  std::string S = fmt::format("{} ops", F.Ops.size());
  for (auto &[K, V] : Counts)
    S += fmt::format(", {} {}", V, K);
  return S;
}

} // namespace adj
