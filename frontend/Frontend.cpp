//===- Frontend.cpp - The frontend's entry points -------------------------===//
///
/// Runs the stages in order — lex, parse, Sema, lower — and stops after the
/// first stage that reported errors, so later stages only see well-formed
/// input and never report consequences of an earlier error. A UTF-8 byte
/// order mark at the start of a file is skipped.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"

#include "frontend/Lower.h"
#include "frontend/Parser.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace adj {

static bool parseSource(const std::string &Path, const std::string &Text,
                        DiagEngine &Diags, ModelAST &AST) {
  // A UTF-8 byte order mark (as some editors write) is not part of line 1.
  const std::string Source =
      Text.rfind("\xEF\xBB\xBF", 0) == 0 ? Text.substr(3) : Text;
  Diags.addSource(Path, Source);
  unsigned Before = Diags.errorCount();
  std::vector<Token> Toks = lex(Path, Source);
  AST.File = Path;
  parseModel(Toks, Diags, AST);
  return Diags.errorCount() == Before;
}

std::unique_ptr<ModelSpec> compileModelSource(const std::string &Path,
                                              const std::string &Source,
                                              DiagEngine &Diags) {
  ModelAST AST;
  if (!parseSource(Path, Source, Diags, AST))
    return nullptr;
  auto Spec = std::make_unique<ModelSpec>();
  Spec->Path = Path;
  SemaInfo Info;
  if (!checkModel(AST, Diags, *Spec, Info) ||
      !lowerModel(AST, Info, Diags, *Spec))
    return nullptr;
  return Spec;
}

std::unique_ptr<ModelSpec> compileModelFile(const std::string &Path,
                                            DiagEngine &Diags) {
  std::ifstream In(Path, std::ios::binary);
  if (!In) {
    Diags.error(
        Loc{}, fmt::format("cannot open '{}': {}", Path, std::strerror(errno)));
    return nullptr;
  }
  std::stringstream SS;
  SS << In.rdbuf();
  return compileModelSource(Path, SS.str(), Diags);
}

bool dumpAST(const std::string &Path, const std::string &Source,
             DiagEngine &Diags, std::string &Out) {
  ModelAST AST;
  if (!parseSource(Path, Source, Diags, AST))
    return false;
  Out = dumpModelAST(AST);
  return true;
}

} // namespace adj
