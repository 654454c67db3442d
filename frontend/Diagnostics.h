//===- Diagnostics.h - file:line:col errors with a caret --------*- C++ -*-===//
///
/// Collects and prints user-facing diagnostics in the clang style:
///
///   model.adj:14:12: error: unknown name 'w3'
///     h = dense(x, w3, b1)
///                  ^
///
/// Messages are lowercase without a trailing period. The engine knows the
/// source text of each file it has seen so it can print the line and caret.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_DIAGNOSTICS_H
#define ADJ_FRONTEND_DIAGNOSTICS_H

#include "ir/IR.h"

#include <map>
#include <ostream>
#include <string>

namespace adj {

class DiagEngine {
public:
  explicit DiagEngine(std::ostream &OS) : OS(OS) {}
  /// Registers the text of \p File so that errors in it show a caret line.
  void addSource(const std::string &File, const std::string &Text);
  void error(const Loc &L, const std::string &Msg);
  void warning(const Loc &L, const std::string &Msg);
  void note(const Loc &L, const std::string &Msg);
  unsigned errorCount() const { return Errors; }
  bool hasErrors() const { return Errors != 0; }

private:
  void emit(const Loc &L, const char *Kind, const std::string &Msg);
  std::ostream &OS;
  std::map<std::string, std::string> Sources;
  unsigned Errors = 0;
};

} // namespace adj

#endif
