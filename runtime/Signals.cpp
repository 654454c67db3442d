//===- Signals.cpp - SIGINT and SIGTERM during training -------------------===//
///
/// \file
/// The handler behind SignalGuard. The first SIGINT or SIGTERM is stored in
/// an atomic (lock-free, so async-signal-safe), SIGPIPE is ignored from then
/// on, and a note goes to stderr with write(); the training loop sees the
/// signal at its next step boundary. A second signal means "now": _exit
/// with 128 + its number. Only async-signal-safe calls are made.
///
//===----------------------------------------------------------------------===//

#include "runtime/Signals.h"

#include <atomic>
#include <cstring>
#include <unistd.h>

namespace adj::rt {

static std::atomic<int> Pending{0};
static_assert(std::atomic<int>::is_always_lock_free,
              "the signal handler needs a lock-free atomic");

static void writeStderr(const char *text) {
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" {
static void onSignal(int sig) {
  int expected = 0;
  if (!Pending.compare_exchange_strong(expected, sig)) {
    writeStderr("\nsecond signal: exiting at once\n");
    ::_exit(128 + sig);
  }
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);
  writeStderr(sig == SIGINT ? "\nSIGINT: " : "\nSIGTERM: ");
  writeStderr("finishing the current step, then saving (a second signal "
              "exits at once)\n");
}
}

SignalGuard::SignalGuard() {
  Pending.store(0);
  struct sigaction sa = {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; // reads and writes in progress carry on
  sigaction(SIGPIPE, nullptr, &OldPipe);
  sigaction(SIGINT, &sa, &OldInt);
  sigaction(SIGTERM, &sa, &OldTerm);
  // A signal ignored on purpose stays ignored (a shell starts background
  // jobs with SIGINT ignored, so that Ctrl-C reaches the foreground only).
  if (OldInt.sa_handler == SIG_IGN)
    sigaction(SIGINT, &OldInt, nullptr);
  if (OldTerm.sa_handler == SIG_IGN)
    sigaction(SIGTERM, &OldTerm, nullptr);
}

SignalGuard::~SignalGuard() {
  Pending.store(0);
  sigaction(SIGINT, &OldInt, nullptr);
  sigaction(SIGTERM, &OldTerm, nullptr);
  sigaction(SIGPIPE, &OldPipe, nullptr);
}

int pendingSignal() { return Pending.load(std::memory_order_relaxed); }

const char *signalName(int sig) {
  switch (sig) {
  case SIGINT:
    return "SIGINT";
  case SIGTERM:
    return "SIGTERM";
  default:
    return "signal";
  }
}

} // namespace adj::rt
