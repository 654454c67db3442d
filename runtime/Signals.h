//===- Signals.h - SIGINT and SIGTERM during training ---------*- C++ -*-===//
///
/// \file
/// adj_rt_train() stops cleanly on SIGINT or SIGTERM: a SignalGuard installs
/// handlers that only record the signal (an atomic store, async-signal-safe)
/// and the training loop checks pendingSignal() between steps, so the current
/// step finishes, the checkpoint, log, plot and report are written and the
/// process exits with 128 + the signal's number. A second signal while that
/// happens exits at once (_exit), with every file either old or new since
/// all writes are atomic renames. Sessions (adj-repl) handle their own
/// signals with adj_rt_session_interrupt and never see these handlers.
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_SIGNALS_H
#define ADJOINT_RUNTIME_SIGNALS_H

#include <csignal>

namespace adj::rt {

/// Installs the SIGINT and SIGTERM handlers for its lifetime and clears the
/// pending signal; the destructor clears it and restores the previous
/// dispositions (and
/// SIGPIPE's, which the first signal sets to ignored so that a pipeline
/// whose reader died of the same Ctrl-C cannot kill the trainer before it
/// has saved). A signal the process inherited as ignored stays ignored.
/// Not nestable.
class SignalGuard {
public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard &) = delete;
  SignalGuard &operator=(const SignalGuard &) = delete;

private:
  struct sigaction OldInt, OldTerm, OldPipe;
};

/// The signal received while a SignalGuard was installed (0: none).
int pendingSignal();

/// "SIGINT", "SIGTERM", else "signal".
const char *signalName(int sig);

} // namespace adj::rt

#endif // ADJOINT_RUNTIME_SIGNALS_H
