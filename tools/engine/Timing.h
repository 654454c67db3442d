//===- Timing.h - compile()'s stage times and -time-passes table -*- C++
//-*-===//
///
/// Engine::compile's stages report into a CompileTimer as each one ends: the
/// pass pipeline with its per-pass times, the JIT's creation, the object
/// cache's key and lookup, LLVM lowering and the JIT's compile (both
/// skipped on a cache hit) with its statistics, then the symbol lookup.
/// The timer keeps the coarse stage times the REPL shows (passes, lower,
/// jit), the compile's total, and the rows of the -time-passes table: the
/// adj passes and the LLVM stages in one table, followed by notes on the
/// object cache, the split into parts, the scratch arena and @train_step's
/// kernels.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_TIMING_H
#define ADJ_TOOLS_TIMING_H

#include "codegen/StepPlan.h"
#include "passes/Pass.h"

#include <chrono>
#include <cstdint>
#include <string>

namespace adj {

struct JITStats;

class CompileTimer {
public:
  /// Starts the clock of the whole compile and of its first stage.
  CompileTimer();

  /// The pass pipeline ended; \p PassTimes are its per-pass times.
  void passesEnded(const StageTimes &PassTimes);
  /// The JIT was created.
  void jitCreated();
  /// The object cache key was computed (JITStats::CacheKeySeconds).
  void cacheKeyed();
  /// LLVM lowering ended.
  void loweringEnded();
  /// The JIT holds the code: compiled at \p OptLevel, or loaded from the
  /// object cache, as \p JS says.
  void jitEnded(const JITStats &JS, int OptLevel);
  /// The symbols were looked up: the last stage; the total is taken here.
  void lookupEnded();

  /// Stages and their seconds: passes, lower, jit.
  const StageTimes &stages() const { return Stages; }
  /// Seconds from construction to lookupEnded().
  double totalSeconds() const { return Total; }

  /// The -time-passes table and its notes, from \p JS, @train_step (\p
  /// TrainStep, null when missing, planned with \p Lower) and its scratch
  /// arena (\p ArenaBytes at \p Batch; -1: unknown).
  std::string report(const JITStats &JS, const Function *TrainStep,
                     const LowerOptions &Lower, int64_t ArenaBytes,
                     int64_t Batch) const;

private:
  using Clock = std::chrono::steady_clock;
  /// Seconds since the previous lap.
  double lap();

  Clock::time_point Start, Last;
  StageTimes Stages; ///< coarse: passes, lower, jit
  StageTimes Table;  ///< the -time-passes rows
  double PassSeconds = 0, LowerSeconds = 0;
  double JitSeconds = 0; ///< the JIT, the cache and the symbol lookup
  double Total = 0;
};

} // namespace adj

#endif
