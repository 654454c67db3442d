//===- Parser.h - Reading the IR's text form --------------------*- C++ -*-===//
///
/// Parses what ir/Printer writes (`func @name(...) -> (...) { ... }`), so
/// that print(parse(print(M))) is byte-identical. Syntax errors stop the
/// parse with a location in the .air file; the caller runs the verifier on
/// the result.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_PARSER_H
#define ADJ_IR_PARSER_H

#include "ir/IR.h"

#include <memory>
#include <string>

namespace adj {

struct ParseError {
  Loc Where; ///< in the .air file
  std::string Message;
};

/// Parses \p Text (named \p File in locations). Returns null and sets \p Err
/// on a syntax error.
std::unique_ptr<Module> parseModule(const std::string &File,
                                    const std::string &Text, ParseError &Err);

} // namespace adj

#endif
