//===- main.cpp - adj-repl: train, inspect and reshape a model ------------===//
///
/// `adj-repl [MODEL.adj] [-e LINE]...`: JIT-compiles the model (or starts an
/// empty one) and reads lines — `:commands` and model statements (see
/// Repl.h). On a terminal the prompt has line editing, history and
/// completion (LineEditor.h); otherwise (`< script`, `-e`) lines are read
/// plainly with no prompt, and the exit status is 1 when any line failed.
///
/// SIGINT during training asks the session to stop at the next step
/// boundary; at the prompt it only cancels the line, so a session with
/// unsaved work is never ended by Ctrl-C (Ctrl-D and :quit ask first).
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/LineEditor.h"
#include "tools/adj-repl/Repl.h"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/TargetSelect.h>
#include <unistd.h>

using namespace llvm;

static cl::OptionCategory ReplCat("adj-repl options");
static cl::opt<std::string> ModelFile(cl::Positional, cl::desc("[MODEL.adj]"),
                                      cl::init(""), cl::cat(ReplCat));
static cl::list<std::string>
    Exprs("e",
          cl::desc("run LINE (a :command or a model statement) instead "
                   "of reading stdin; repeatable"),
          cl::value_desc("LINE"), cl::cat(ReplCat));

static volatile sig_atomic_t GotSigint = 0;

static void onSigint(int) {
  if (adj_rt_session *S = adj::Repl::Training)
    adj_rt_session_interrupt(S);
  else
    GotSigint = 1;
}

static std::string historyFile() {
  if (const char *P = std::getenv("ADJ_REPL_HISTORY"))
    return P;
  if (const char *Home = std::getenv("HOME"))
    return std::string(Home) + "/.adj_repl_history";
  return "";
}

/// Reads the rest of a statement with an unclosed bracket.
template <typename ReadFn>
static void continueLine(std::string &Line, ReadFn Read) {
  std::string More;
  while (adj::Repl::isIncomplete(Line) && Read(More))
    Line += "\n" + More;
}

static int runScript(adj::Repl &R, bool LoadOk) {
  bool Failed = !LoadOk;
  size_t Next = 0;
  auto Read = [&](std::string &Line) {
    if (!Exprs.empty()) {
      if (Next == Exprs.size())
        return false;
      Line = Exprs[Next++];
      return true;
    }
    return bool(std::getline(std::cin, Line));
  };
  std::string Line;
  while (!R.quitRequested() && Read(Line)) {
    continueLine(Line, Read);
    if (!R.run(Line))
      Failed = true;
  }
  if (GotSigint)
    return 130;
  return Failed ? 1 : 0;
}

static int runInteractive(adj::Repl &R) {
  adj::LineEditor LE("adj-repl", historyFile(),
                     [&](const std::string &B) { return R.complete(B); });
  while (!R.quitRequested()) {
    std::string Line;
    bool Interrupted;
    GotSigint = 0;
    if (!LE.read("adj> ", Line, Interrupted)) {
      if (Interrupted || GotSigint) {
        std::printf("\n(interrupted; :quit leaves)\n");
        continue;
      }
      std::printf("\n");
      if (R.hasUnsavedWork() && !R.run(":quit"))
        continue;
      if (!R.hasUnsavedWork() || R.quitRequested())
        break;
      continue;
    }
    continueLine(Line, [&](std::string &More) {
      bool Intr;
      return LE.read("...> ", More, Intr);
    });
    LE.remember(Line);
    R.run(Line);
  }
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM X(argc, argv);
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  InitializeNativeTargetAsmParser();
  cl::HideUnrelatedOptions(ReplCat);
  cl::ParseCommandLineOptions(
      argc, argv,
      "adj-repl - train, inspect and reshape a model interactively\n");

  bool Interactive = Exprs.empty() && isatty(STDIN_FILENO);
  struct sigaction SA = {};
  SA.sa_handler = onSigint;
  sigemptyset(&SA.sa_mask);
  SA.sa_flags = 0; // no SA_RESTART: a read at the prompt returns
  sigaction(SIGINT, &SA, nullptr);

  if (!ModelFile.empty() && access(ModelFile.c_str(), R_OK) != 0) {
    std::cerr << "adj-repl: error: cannot open '" << ModelFile
              << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  adj::Repl R(ModelFile, Interactive);
  bool LoadOk = R.load();
  return Interactive ? runInteractive(R) : runScript(R, LoadOk);
}
