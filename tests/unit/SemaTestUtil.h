//===- SemaTestUtil.h - Compiling model text in the frontend tests -*- C++
//-*-===//
///
/// A model source through the frontend with its diagnostics captured, and
/// the error and note lines of those diagnostics, for SemaTest.cpp and
/// SemaDiagnosticsTest.cpp.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_UNIT_SEMATESTUTIL_H
#define ADJ_TESTS_UNIT_SEMATESTUTIL_H

#include "frontend/Frontend.h"

#include <gtest/gtest.h>
#include <sstream>

namespace adj::test {

struct Compiled {
  std::unique_ptr<ModelSpec> Spec;
  std::string Diags;
  const Function *F = nullptr;
};

inline Compiled compile(const std::string &Src,
                        const std::string &Path = "m.adj") {
  std::ostringstream OS;
  DiagEngine D(OS);
  Compiled C;
  C.Spec = compileModelSource(Path, Src, D);
  C.Diags = OS.str();
  if (C.Spec)
    C.F = C.Spec->M->function("forward");
  EXPECT_EQ(C.Spec == nullptr, D.hasErrors());
  return C;
}

inline std::vector<std::string> errorLines(const std::string &Diags) {
  std::vector<std::string> Lines;
  std::istringstream IS(Diags);
  for (std::string Line; std::getline(IS, Line);)
    if (Line.find(": error: ") != std::string::npos ||
        Line.find(": note: ") != std::string::npos)
      Lines.push_back(Line);
  return Lines;
}

inline std::string firstError(const std::string &Src) {
  Compiled C = compile(Src);
  EXPECT_EQ(C.Spec, nullptr) << Src;
  auto Lines = errorLines(C.Diags);
  return Lines.empty() ? "" : Lines[0];
}

} // namespace adj::test

#endif // ADJ_TESTS_UNIT_SEMATESTUTIL_H
