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
#include <set>
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

  /// Errors shown per file, as clang's -ferror-limit: the next one prints
  /// `too many errors emitted, stopping now` and the rest (and their notes)
  /// are counted but not shown.
  static constexpr unsigned ErrorLimit = 20;

private:
  void emit(const Loc &L, const char *Kind, const std::string &Msg);
  std::ostream &OS;
  std::map<std::string, std::string> Sources;
  std::map<std::string, unsigned> FileErrors;
  std::set<std::string> Warned; ///< warnings shown, by location and text
  unsigned Errors = 0;
  bool Silenced = false; ///< the last error was over the limit
};

/// \p S with every byte that is not printable text escaped: control
/// characters and bytes of invalid UTF-8 as `\xNN` (tabs kept), so that a
/// diagnostic never writes raw bytes of a file to the terminal.
std::string escapeText(const std::string &S);

} // namespace adj

#endif
