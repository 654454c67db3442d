//===- LineEditor.h - Line editing with libedit -----------------*- C++ -*-===//
///
/// The prompt on a terminal: libedit's line editing (emacs keys), history
/// kept across sessions in a file, and tab completion through a callback
/// that lists the candidates for the text before the cursor.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_REPL_LINEEDITOR_H
#define ADJ_TOOLS_REPL_LINEEDITOR_H

#include <functional>
#include <string>
#include <vector>

struct editline;
struct history;

namespace adj {

class LineEditor {
public:
  using Completer =
      std::function<std::vector<std::string>(const std::string &Before)>;

  /// Loads the history from \p HistoryFile (if it exists).
  LineEditor(const char *Prog, std::string HistoryFile, Completer C);
  ~LineEditor();
  LineEditor(const LineEditor &) = delete;
  LineEditor &operator=(const LineEditor &) = delete;

  /// Reads a line after \p Prompt into \p Line (without the newline).
  /// Returns false at the end of input (Ctrl-D) or when a signal
  /// interrupted the read (then \p Interrupted is set).
  bool read(const std::string &Prompt, std::string &Line, bool &Interrupted);
  /// Appends \p Line to the history and saves the history file.
  void remember(const std::string &Line);

private:
  static const char *prompt(editline *E);
  static unsigned char completeKey(editline *E, int Ch);

  editline *El = nullptr;
  history *Hist = nullptr;
  std::string HistoryFile, Prompt;
  Completer Complete;
};

} // namespace adj

#endif
