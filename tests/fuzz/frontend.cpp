//===- frontend.cpp - Fuzzing the model frontend --------------------------===//
///
/// libFuzzer target: the input is a model file. It is parsed and its AST
/// printed (dumpAST); when it parses, it is also checked and lowered
/// (compileModelSource: no JIT), and every module the frontend returns must
/// pass the IR verifier. A crash, a sanitizer report, a verifier violation
/// or a failure without an error is a finding: a model file may only ever
/// produce diagnostics. Per-input work is only the input's: the path and the
/// diagnostics' streams are made once, and an input that does not parse is
/// parsed once, not twice.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "FuzzInput.h"
#include "ir/Verifier.h"

#include <cstdio>
#include <sstream>

namespace {
/// What stays the same from one input to the next, made once: the model's
/// path (in an empty directory, so that relative data and pretrained paths
/// resolve to nothing) and the streams diagnostics go to, emptied per input.
struct Setup {
  std::string Path = adj::fuzz::tempDir() + "/fuzz.adj";
  std::ostringstream Out, AstOut;
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  static Setup *S = new Setup;
  std::string Source(reinterpret_cast<const char *>(Data), Size);
  S->Out.str("");
  S->AstOut.str("");
  // Lex and parse once (dumpAST). An input that does not parse stops there
  // in compileModelSource too (the same parseSource, whose errors end the
  // pipeline), so compiling it again would only repeat the parse.
  adj::DiagEngine AstDiags(S->AstOut);
  std::string Ast;
  if (!adj::dumpAST(S->Path, Source, AstDiags, Ast)) {
    if (!AstDiags.hasErrors()) {
      std::fprintf(stderr, "parser failed without an error\n");
      std::abort();
    }
    return 0;
  }
  adj::DiagEngine Diags(S->Out);
  std::unique_ptr<adj::ModelSpec> Spec =
      adj::compileModelSource(S->Path, Source, Diags);
  if (Spec && Diags.hasErrors()) {
    std::fprintf(stderr, "frontend returned a model after errors:\n%s",
                 S->Out.str().c_str());
    std::abort();
  }
  if (!Spec && !Diags.hasErrors()) {
    std::fprintf(stderr, "frontend failed without an error\n%s",
                 S->Out.str().c_str());
    std::abort();
  }
  for (const adj::Module *M :
       {Spec ? Spec->M.get() : nullptr, Spec ? Spec->Predict.get() : nullptr})
    if (M)
      for (const std::string &V : adj::verifyModule(*M)) {
        std::fprintf(stderr, "invalid IR from the frontend: %s\n", V.c_str());
        std::abort();
      }
  return 0;
}
