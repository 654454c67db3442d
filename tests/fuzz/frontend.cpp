//===- frontend.cpp - Fuzzing the model frontend --------------------------===//
///
/// libFuzzer target: the input is a model file. It is lexed, parsed,
/// checked and lowered (compileModelSource: no JIT) and its AST printed;
/// every module the frontend returns must pass the IR verifier. A crash, a
/// sanitizer report or a verifier violation is a finding: a model file may
/// only ever produce diagnostics.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "FuzzInput.h"
#include "ir/Verifier.h"

#include <cstdio>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string Source(reinterpret_cast<const char *>(Data), Size);
  // Relative paths (pretrained files, data) resolve in an empty directory.
  std::string Path = adj::fuzz::tempDir() + "/fuzz.adj";
  std::ostringstream Out;
  adj::DiagEngine Diags(Out);
  std::unique_ptr<adj::ModelSpec> Spec =
      adj::compileModelSource(Path, Source, Diags);
  if (Spec && Diags.hasErrors()) {
    std::fprintf(stderr, "frontend returned a model after errors:\n%s",
                 Out.str().c_str());
    std::abort();
  }
  if (!Spec && !Diags.hasErrors()) {
    std::fprintf(stderr, "frontend failed without an error\n%s",
                 Out.str().c_str());
    std::abort();
  }
  for (const adj::Module *M :
       {Spec ? Spec->M.get() : nullptr, Spec ? Spec->Predict.get() : nullptr})
    if (M)
      for (const std::string &V : adj::verifyModule(*M)) {
        std::fprintf(stderr, "invalid IR from the frontend: %s\n", V.c_str());
        std::abort();
      }
  std::ostringstream AstOut;
  adj::DiagEngine AstDiags(AstOut);
  std::string Ast;
  adj::dumpAST(Path, Source, AstDiags, Ast);
  return 0;
}
