//===- Parser.h - Reading the IR's text form --------------------*- C++ -*-===//
///
/// Parses what ir/Printer writes (`func @name(...) -> (...) { ... }`), so
/// that print(parse(print(M))) is byte-identical. Syntax errors stop the
/// parse with a location in the .air file. Values may be used before the
/// line that defines them (as in MLIR): whether a definition dominates its
/// uses is the verifier's question, which the caller asks of the result.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_PARSER_H
#define ADJ_IR_PARSER_H

#include "ir/IR.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace adj {

struct ParseError {
  Loc Where; ///< in the .air file
  std::string Message;
};

/// Where the parser read each function, value and result in the .air text,
/// and the names values were written with, so that the verifier can point at
/// the line to fix.
struct SourceMap {
  std::unordered_map<const Function *, Loc> Functions;
  std::unordered_map<const Value *, Loc> Values; ///< arguments, op results
  std::unordered_map<const Value *, std::string> Names;
  std::unordered_map<const Function *, std::vector<Loc>> Results;
};

/// Parses \p Text (named \p File in locations). Returns null and sets \p Err
/// on a syntax error. Fills \p Map when given.
std::unique_ptr<Module> parseModule(const std::string &File,
                                    const std::string &Text, ParseError &Err,
                                    SourceMap *Map = nullptr);

} // namespace adj

#endif
