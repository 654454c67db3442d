//===- RunFiles.cpp - What a training run leaves on disk as it goes -------===//
///
/// \file
/// The parts of a session's training that keep its files current while it
/// runs, so that an interrupted or killed run leaves a usable trail:
///
///  - --log is opened (created or truncated, header first) when training
///    starts and its rows are appended as they come: an epoch's row is
///    written at once, step rows at least once a second, and everything at a
///    checkpoint and when training stops. A run killed with SIGKILL keeps
///    the rows written so far; adj-repl's :train calls append to one file.
///  - --save-every N writes the --save checkpoint after every N-th optimizer
///    step inside an epoch (the epoch's end saves anyway), atomically, so the
///    file on disk is always the last complete checkpoint, and resuming from
///    it continues bit for bit (Position::EpochSamples says where).
///  - the loop asks stopRequested() between steps: adj_rt_session_interrupt
///    or, under adj_rt_train, SIGINT/SIGTERM (Signals.h), on any rank of a
///    data-parallel run (all of them then stop after the same step).
///
/// Every write is checked; a failure stops training with "'path': cannot
/// write log: reason" (see File.cpp).
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/Signals.h"
#include "runtime/Trainer.h"

using namespace adj::rt;

int adj_rt_session::train(int64_t epochs, int64_t steps) {
  if (openLog())
    return 1;
  int status = trainLoop(epochs, steps);
  if (status == 1) { // the training error is the one to see
    std::string error = adj_rt_last_error();
    flushLog(/*force=*/true);
    return fail(error);
  }
  if (flushLog(/*force=*/true))
    return 1;
  return status;
}

int adj_rt_session::openLog() {
  if (!S->LogPath || rank() != 0) // under MPI rank 0 writes the log
    return LogFile.close();
  if (LogFile.isOpen() && LogFile.path() == S->LogPath)
    return 0;
  if (flushLog(/*force=*/true) || LogFile.close())
    return 1;
  LogPending.clear();
  if (LogFile.open(S->LogPath, "log") || LogFile.write(logHeader(Log)))
    return 1;
  LogWritten = Clock::now();
  return 0;
}

int adj_rt_session::addLogRow(const History::Row &row) {
  if (row.IsEpoch && S->PlotPath)
    Log.Rows.push_back(row);
  if (!S->LogPath || rank() != 0)
    return 0;
  LogPending += logLine(Log, row);
  return flushLog(/*force=*/row.IsEpoch);
}

int adj_rt_session::flushLog(bool force) {
  if (LogPending.empty())
    return 0;
  Clock::time_point now = Clock::now();
  if (!force && now - LogWritten < std::chrono::seconds(1))
    return 0;
  int status = LogFile.write(LogPending);
  LogPending.clear();
  LogWritten = now;
  return status;
}

int adj_rt_session::saveEvery(int64_t done) {
  if (S->SaveEvery <= 0 || !S->SavePath || Pos.Step % S->SaveEvery != 0 ||
      done >= Data.Train.Samples)
    return 0;
  int64_t epochSamples = Pos.EpochSamples;
  Pos.EpochSamples = done;
  int status = save(S->SavePath);
  Pos.EpochSamples = epochSamples;
  // The log catches up with the checkpoint.
  return status || flushLog(/*force=*/true);
}

bool adj_rt_session::stopRequested() const {
  // Under MPI the ranks stop together: mpirun forwards a signal to every
  // rank, but not at the same step.
  return anyRank(Interrupt.load() || pendingSignal() != 0);
}
