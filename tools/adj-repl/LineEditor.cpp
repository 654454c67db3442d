//===- LineEditor.cpp - Line editing with libedit -------------------------===//
///
/// A thin wrapper of libedit (BSD editline): el_gets() reads a line with
/// editing; a history list, loaded from and saved to the history file after
/// every line, backs the up and down keys; Tab is bound to a function that
/// completes the word before the cursor — uniquely, or to the candidates'
/// common prefix, listing them when that adds nothing. libedit's own signal
/// handling is off, so SIGINT reaches the REPL's handler and el_gets()
/// returns early.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/LineEditor.h"

#include <cerrno>
#include <cstdio>
#include <histedit.h>

namespace adj {

LineEditor::LineEditor(const char *Prog, std::string HistoryFile, Completer C)
    : HistoryFile(std::move(HistoryFile)), Complete(std::move(C)) {
  El = el_init(Prog, stdin, stdout, stderr);
  Hist = history_init();
  HistEvent Ev;
  history(Hist, &Ev, H_SETSIZE, 1000);
  history(Hist, &Ev, H_SETUNIQUE, 1);
  if (!this->HistoryFile.empty())
    history(Hist, &Ev, H_LOAD, this->HistoryFile.c_str());
  el_set(El, EL_CLIENTDATA, this);
  el_set(El, EL_EDITOR, "emacs");
  el_set(El, EL_SIGNAL, 0);
  el_set(El, EL_PROMPT, &LineEditor::prompt);
  el_set(El, EL_HIST, history, Hist);
  el_set(El, EL_ADDFN, "adj-complete", "complete a name",
         &LineEditor::completeKey);
  el_set(El, EL_BIND, "^I", "adj-complete", nullptr);
  el_source(El, nullptr); // ~/.editrc, as every libedit program
}

LineEditor::~LineEditor() {
  history_end(Hist);
  el_end(El);
}

const char *LineEditor::prompt(editline *E) {
  LineEditor *Self = nullptr;
  el_get(E, EL_CLIENTDATA, &Self);
  return Self->Prompt.c_str();
}

unsigned char LineEditor::completeKey(editline *E, int) {
  LineEditor *Self = nullptr;
  el_get(E, EL_CLIENTDATA, &Self);
  const LineInfo *LI = el_line(E);
  std::string Before(LI->buffer, LI->cursor);
  size_t Start = Before.find_last_of(" \t,([=+-*/@");
  std::string Word = Before.substr(Start == std::string::npos ? 0 : Start + 1);
  std::vector<std::string> Cands = Self->Complete(Before);
  if (Cands.empty())
    return CC_REFRESH_BEEP;
  std::string Common = Cands.front();
  for (const std::string &C : Cands) {
    size_t K = 0;
    while (K < Common.size() && K < C.size() && Common[K] == C[K])
      ++K;
    Common.resize(K);
  }
  if (Cands.size() == 1)
    Common += " ";
  if (Common.size() > Word.size()) {
    el_insertstr(E, Common.substr(Word.size()).c_str());
    return CC_REFRESH;
  }
  std::fputc('\n', stdout);
  for (const std::string &C : Cands)
    std::fprintf(stdout, "%s  ", C.c_str());
  std::fputc('\n', stdout);
  return CC_REDISPLAY;
}

bool LineEditor::read(const std::string &P, std::string &Line,
                      bool &Interrupted) {
  Prompt = P;
  Interrupted = false;
  int Count = 0;
  errno = 0;
  const char *Text = el_gets(El, &Count);
  if (!Text || Count <= 0) {
    Interrupted = Count < 0 && errno == EINTR;
    return false;
  }
  Line.assign(Text, size_t(Count));
  while (!Line.empty() && (Line.back() == '\n' || Line.back() == '\r'))
    Line.pop_back();
  return true;
}

void LineEditor::remember(const std::string &Line) {
  HistEvent Ev;
  history(Hist, &Ev, H_ENTER, Line.c_str());
  if (!HistoryFile.empty())
    history(Hist, &Ev, H_SAVE, HistoryFile.c_str());
}

} // namespace adj
