//===- Parser.h - Recursive-descent parser of model files -------*- C++ -*-===//
///
/// Builds the AST of a model file from its tokens. A syntax error is
/// reported at the offending token and parsing resumes on the next line, so
/// one run reports several errors.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_PARSER_H
#define ADJ_FRONTEND_PARSER_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/Lexer.h"

namespace adj {

/// Parses \p Toks (ending in Eof) into \p Out; false after syntax errors.
bool parseModel(const std::vector<Token> &Toks, DiagEngine &Diags,
                ModelAST &Out);

} // namespace adj

#endif
