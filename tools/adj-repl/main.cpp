//===- main.cpp - adj-repl: train, inspect and reshape a model ------------===//
///
/// `adj-repl [MODEL.adj] [-e LINE]...`: JIT-compiles the model (or starts an
/// empty one) and reads lines — `:commands` and model statements (see
/// Repl.h). On a terminal the prompt has line editing, history and
/// completion (LineEditor.h), and a line with an unclosed bracket continues
/// on the next. Otherwise (`< script`, `-e`) lines are read plainly with no
/// prompt, one statement per line: only a line ending with an opening
/// bracket (`data {`, `h = relu(`) continues, up to the line that closes it
/// but never into a `:command` line; errors name the script's line
/// (`script:12:5: error: ...`). The exit status is 1 when any line failed.
///
/// SIGINT during training asks the session to stop at the next step
/// boundary; at the prompt it only cancels the line, so a session with
/// unsaved work is never ended by Ctrl-C (Ctrl-D and :quit ask first).
///
/// SIGTERM ends the session as a user (or a service manager) expects: during
/// training the current step finishes (as with SIGINT), then, as after any
/// command or at the prompt, the REPL leaves without asking, with its output
/// flushed, the terminal restored and the history saved, and exit status
/// 143 (128 + SIGTERM). A second SIGTERM exits at once.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/LineEditor.h"
#include "tools/adj-repl/Repl.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/TargetSelect.h>
#include <sys/stat.h>
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
static volatile sig_atomic_t GotSigterm = 0;

static void onSigint(int) {
  if (adj_rt_session *S = adj::Repl::Training)
    adj_rt_session_interrupt(S);
  else
    GotSigint = 1;
}

static void onSigterm(int) {
  if (GotSigterm)
    _exit(128 + SIGTERM);
  GotSigterm = 1;
  if (adj_rt_session *S = adj::Repl::Training)
    adj_rt_session_interrupt(S);
}

/// The exit status after SIGTERM, with a note on stderr.
static int terminated() {
  std::cout.flush();
  std::fflush(stdout);
  std::cerr << "adj-repl: SIGTERM: leaving the session\n";
  return 128 + SIGTERM;
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

/// The name errors give the script: "-e" (its lines are the -e options),
/// the file stdin is redirected from, else "<stdin>".
static std::string scriptName() {
  if (!Exprs.empty())
    return "-e";
  struct stat St;
  char Buf[4096];
  if (fstat(STDIN_FILENO, &St) == 0 && S_ISREG(St.st_mode)) {
    ssize_t N = readlink("/proc/self/fd/0", Buf, sizeof(Buf) - 1);
    if (N > 0)
      return std::string(Buf, size_t(N));
  }
  return "<stdin>";
}

static int runScript(adj::Repl &R, bool LoadOk) {
  bool Failed = !LoadOk;
  size_t Next = 0;
  unsigned Count = 0;
  std::string Name = scriptName();
  // A line read but not used by the statement before it (a :command after
  // an unclosed bracket), and its number.
  bool HavePending = false;
  std::string Pending;
  unsigned PendingNo = 0;
  auto Read = [&](std::string &Line, unsigned &No) {
    if (HavePending) {
      Line = std::move(Pending);
      No = PendingNo;
      HavePending = false;
      return true;
    }
    if (!Exprs.empty()) {
      if (Next == Exprs.size())
        return false;
      Line = Exprs[Next++];
    } else if (!std::getline(std::cin, Line)) {
      return false;
    }
    No = ++Count;
    return true;
  };
  std::string Line, More;
  unsigned First = 0, MoreNo = 0;
  while (!R.quitRequested() && !GotSigterm && Read(Line, First)) {
    if (adj::Repl::endsWithOpener(Line)) {
      while (adj::Repl::isIncomplete(Line) && Read(More, MoreNo)) {
        size_t B = More.find_first_not_of(" \t");
        if (B != std::string::npos && More[B] == ':') {
          Pending = std::move(More);
          PendingNo = MoreNo;
          HavePending = true;
          break;
        }
        Line += "\n" + More;
      }
    }
    if (GotSigterm)
      break;
    adj::Repl::setScriptLine(Name, First);
    if (!R.run(Line))
      Failed = true;
  }
  if (GotSigterm)
    return terminated();
  if (GotSigint)
    return 130;
  return Failed ? 1 : 0;
}

static int runInteractive(adj::Repl &R) {
  adj::LineEditor LE("adj-repl", historyFile(),
                     [&](const std::string &B) { return R.complete(B); });
  while (!R.quitRequested() && !GotSigterm) {
    std::string Line;
    bool Interrupted;
    GotSigint = 0;
    if (!LE.read("adj> ", Line, Interrupted)) {
      if (GotSigterm)
        break;
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
      return !GotSigterm && LE.read("...> ", More, Intr);
    });
    if (GotSigterm)
      break;
    LE.remember(Line);
    R.run(Line);
  }
  if (GotSigterm) {
    std::printf("\n");
    return terminated();
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
  // SIGTERM likewise, unless inherited as ignored (as nohup leaves SIGINT).
  struct sigaction Old = {};
  if (sigaction(SIGTERM, nullptr, &Old) == 0 && Old.sa_handler != SIG_IGN) {
    SA.sa_handler = onSigterm;
    sigaction(SIGTERM, &SA, nullptr);
  }

  if (!ModelFile.empty() && access(ModelFile.c_str(), R_OK) != 0) {
    std::cerr << "adj-repl: error: cannot open '" << ModelFile
              << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  adj::Repl R(ModelFile, Interactive);
  bool LoadOk = R.load();
  return Interactive ? runInteractive(R) : runScript(R, LoadOk);
}
