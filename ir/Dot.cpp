//===- Dot.cpp - Graphviz output of the IR --------------------------------===//
///
/// Emits one `subgraph cluster_<fn>` per function. Node ids are
/// `<fn>_a<i>` for arguments, `<fn>_o<i>` for ops and `<fn>_r<i>` for
/// results; edges follow operands. Colours tell forward from adjoint.
///
//===----------------------------------------------------------------------===//
#include "ir/Dot.h"

#include <fmt/format.h>
#include <unordered_map>

namespace adj {

static const char *argColor(ArgRole R) {
  switch (R) {
  case ArgRole::Input:
    return "lightblue";
  case ArgRole::Param:
    return "palegreen";
  case ArgRole::Buffer:
    return "khaki";
  case ArgRole::State:
  case ArgRole::Hyper:
    return "lightgrey";
  }
  return "white";
}

std::string printDot(const Module &M) {
  std::string S =
      "digraph adjoint {\n  rankdir=TB;\n  node [fontname=\"monospace\", "
      "fontsize=10];\n";
  for (size_t FI = 0; FI < M.Functions.size(); ++FI) {
    const Function &F = *M.Functions[FI];
    std::string P = fmt::format("f{}", FI);
    std::unordered_map<const Value *, std::string> Id;
    S += fmt::format("  subgraph cluster_{} {{\n    label=\"@{}\";\n", P,
                     F.Name);
    for (size_t I = 0; I < F.Args.size(); ++I) {
      const Value &A = *F.Args[I];
      Id[&A] = fmt::format("{}_a{}", P, I);
      S += fmt::format("    {} [shape=ellipse, style=filled, fillcolor={}, "
                       "label=\"%{}\\n{}{}\"];\n",
                       Id[&A], argColor(F.Roles[I]), A.Name,
                       A.Type.str(M.BatchDim), F.Frozen[I] ? " frozen" : "");
    }
    for (size_t I = 0; I < F.Ops.size(); ++I) {
      const Op &O = *F.Ops[I];
      Id[&O.Result] = fmt::format("{}_o{}", P, I);
      bool Grad = O.Location.Grad;
      S += fmt::format("    {} [shape=box, style=filled, fillcolor={}, "
                       "label=\"%{} = {}\\n{}\"];\n",
                       Id[&O.Result], Grad ? "orange" : "white", I,
                       O.info().Mnemonic, O.Result.Type.str(M.BatchDim));
      for (const Value *V : O.Operands)
        S += fmt::format("    {} -> {}{};\n", Id.at(V), Id[&O.Result],
                         Grad ? " [color=orangered]" : "");
    }
    for (size_t I = 0; I < F.Results.size(); ++I) {
      const Result &R = F.Results[I];
      bool Highlight = R.Name.rfind("grad.", 0) == 0 || F.arg(R.Name);
      std::string RId = fmt::format("{}_r{}", P, I);
      S += fmt::format("    {} [shape=doubleoctagon, style=filled, "
                       "fillcolor={}, label=\"{}\"];\n",
                       RId, Highlight ? "gold" : "lightyellow", R.Name);
      S += fmt::format("    {} -> {};\n", Id.at(R.V), RId);
    }
    S += "  }\n";
  }
  return S + "}\n";
}

} // namespace adj
