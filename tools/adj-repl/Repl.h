//===- Repl.h - The state of an adj-repl session ----------------*- C++ -*-===//
///
/// A Repl holds the model's source text (the source of truth), the model
/// compiled from it by the engine, and the runtime session training it.
/// Input lines are either `:commands` (Commands.cpp) or model statements
/// (Repl.cpp), which edit the text (ModelText.h); the edited text is
/// recompiled and the session rebound to it, keeping parameters whose names
/// and shapes match. Nothing a user types ends the session: every failure
/// is printed and leaves the previous model and session in force.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_REPL_REPL_H
#define ADJ_TOOLS_REPL_REPL_H

#include "tools/engine/Engine.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace adj {

class Repl {
public:
  /// \p ModelPath empty: start with an empty model. \p Interactive: a
  /// terminal (confirmations are asked).
  Repl(std::string ModelPath, bool Interactive);
  ~Repl();

  /// Reads and compiles the model file (if any) and prints the banner;
  /// false when the file cannot be read or does not compile.
  bool load();
  /// Runs one input: a `:command` or a model statement. False on failure.
  bool run(const std::string &Line);
  bool quitRequested() const { return Quit; }
  /// Trained parameters or model edits not saved yet.
  bool hasUnsavedWork() const { return ParamsDirty || TextDirty; }
  /// Whether \p Line needs more lines: an unclosed ( [ or {.
  static bool isIncomplete(const std::string &Line);
  /// Whether \p Line ends with an opening ( [ or {: in a script, the only
  /// explicit continuation onto the next lines (until the brackets close).
  static bool endsWithOpener(const std::string &Line);
  /// The script line the next run() reads (1-based) of script \p Name:
  /// errors name it (`NAME:LINE:COL: error: ...`) instead of `<repl>:1`.
  static void setScriptLine(const std::string &Name, unsigned Line);
  /// Candidates for the word ending at the end of \p Before.
  std::vector<std::string> complete(const std::string &Before) const;
  /// The session being trained, for the SIGINT handler (null when idle).
  static adj_rt_session *volatile Training;

private:
  // Repl.cpp: the model.
  bool runStatement(const std::string &Line);
  /// Compiles \p Text and switches to it; \p TypedLine (1-based, 0: none)
  /// is the line holding the typed text, whose errors are shown as
  /// <repl>:1:COL. False (nothing changed) on errors.
  bool switchModel(const std::string &Text, unsigned TypedLine,
                   const std::string &What);
  bool ensureSession(const char *Command) const;
  EngineOptions engineOptions() const;
  std::string diagName() const;

  // Commands.cpp.
  struct Command {
    const char *Name;
    bool (Repl::*Run)(const std::string &);
    const char *Args;
    const char *Help;
  };
  /// The command table, for dispatch, :help and completion.
  static const Command *commands(size_t &Count);
  bool runCommand(const std::string &Line);
  bool cmdHelp(const std::string &Args);
  bool cmdTrain(const std::string &Args);
  bool cmdSteps(const std::string &Args);
  bool cmdEval(const std::string &Args);
  bool cmdSet(const std::string &Args);
  bool cmdData(const std::string &Args);
  bool cmdIR(const std::string &Args);
  bool cmdParams(const std::string &Args);
  bool cmdShow(const std::string &Args);
  bool cmdPlot(const std::string &Args);
  bool cmdGradCheck(const std::string &Args);
  bool cmdSave(const std::string &Args);
  bool cmdLoad(const std::string &Args);
  bool cmdPredict(const std::string &Args);
  bool cmdSample(const std::string &Args); // Sample.cpp
  bool cmdInitFrom(const std::string &Args);
  bool cmdReset(const std::string &Args);
  bool cmdTime(const std::string &Args);
  bool cmdSource(const std::string &Args);
  bool cmdWrite(const std::string &Args);
  bool cmdDrop(const std::string &Args);
  bool cmdQuit(const std::string &Args);
  bool trainWith(int64_t Epochs, int64_t Steps);
  bool confirm(const std::string &Question) const;

  std::string ModelPath;
  bool Interactive;
  std::string Text;                  ///< the model's source
  std::unique_ptr<CompiledModel> CM; ///< compiled from Text (null: none yet)
  adj_rt_session *Session = nullptr;
  std::string SessionError; ///< why there is no session
  /// Options set before the session existed (flag, value), applied when it
  /// is created.
  std::vector<std::pair<std::string, std::string>> Pending;
  std::string Optimizer; ///< :set optimizer (recompiles); empty: the model's
  double FrontendSeconds = 0;
  bool ParamsDirty = false, TextDirty = false, Quit = false;
};

/// 235146 -> "235,146".
std::string groupDigits(int64_t V);

/// Prints "error: MESSAGE" to stderr (after flushing stdout); returns false.
bool replError(const std::string &Message);

} // namespace adj

#endif
