//===- Timing.cpp - compile()'s stage times and -time-passes table --------===//
///
/// Each report ends a stage at the time it is made (a lap of one clock), so
/// the stages add up to the compile's total. The JIT's own statistics split
/// its compile into rows: merge and split, optimisation, codegen and link,
/// and the rest (the cache's lookup and write); a cache hit is one row, the
/// entry's load and link.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Timing.h"

#include "codegen/JIT.h"

#include <algorithm>
#include <fmt/format.h>

namespace adj {

CompileTimer::CompileTimer() : Start(Clock::now()), Last(Start) {}

double CompileTimer::lap() {
  auto Now = Clock::now();
  double S = std::chrono::duration<double>(Now - Last).count();
  Last = Now;
  return S;
}

void CompileTimer::passesEnded(const StageTimes &PassTimes) {
  Table = PassTimes;
  PassSeconds = lap();
}

void CompileTimer::jitCreated() {
  double S = lap();
  JitSeconds += S;
  Table.push_back({"jit setup", S});
}

void CompileTimer::cacheKeyed() {
  double S = lap();
  JitSeconds += S;
  Table.push_back({"object cache key (hash of the adj IR text)", S});
}

void CompileTimer::loweringEnded() {
  LowerSeconds = lap();
  Table.push_back({"llvm lowering", LowerSeconds});
}

void CompileTimer::jitEnded(const JITStats &JS, int OptLevel) {
  double S = lap();
  JitSeconds += S;
  if (JS.Cache == JITStats::Hit) {
    Table.push_back({"object cache load + jit link", S});
    return;
  }
  if (JS.Parts > 1)
    Table.push_back({fmt::format("llvm merge + split into {} parts", JS.Parts),
                     JS.PartitionSeconds});
  if (JS.Parts > 1) {
    // The stages overlap on the compile threads: their wall time together,
    // and each stage's thread time in a note.
    Table.push_back(
        {fmt::format(
             "llvm optimisation (O{}) + codegen + jit link, {} threads{}",
             OptLevel, JS.Parts, JS.Tiered ? " (quick tier: codegen O0)" : ""),
         JS.CompileSeconds});
  } else {
    Table.push_back(
        {fmt::format("llvm optimisation (O{})", OptLevel), JS.OptimizeSeconds});
    Table.push_back({JS.Tiered ? "llvm codegen (object code), quick tier (O0)"
                               : "llvm codegen (object code)",
                     JS.CodegenSeconds});
    Table.push_back(
        {"jit link", std::max(0.0, JS.CompileSeconds - JS.OptimizeSeconds -
                                       JS.CodegenSeconds)});
  }
  Table.push_back({"jit other (cache lookup and write)",
                   std::max(0.0, S - JS.PartitionSeconds - JS.CompileSeconds)});
}

void CompileTimer::lookupEnded() {
  double S = lap();
  JitSeconds += S;
  Table.push_back({"arena plan + jit symbol lookup", S});
  Stages = {
      {"passes", PassSeconds}, {"lower", LowerSeconds}, {"jit", JitSeconds}};
  Total = std::chrono::duration<double>(Clock::now() - Start).count();
}

std::string CompileTimer::report(const JITStats &JS, const Function *TrainStep,
                                 const LowerOptions &Lower, int64_t ArenaBytes,
                                 int64_t Batch) const {
  std::vector<std::string> Notes;
  std::string Cache = std::string("object cache: ") + JS.cacheName();
  if (JS.Cache == JITStats::Corrupt)
    Cache += " entry ignored, recompiled";
  if (JS.Cache != JITStats::Off)
    Cache += " " + JS.CacheFile;
  Notes.push_back(Cache);
  if (JS.Parts > 1 && JS.Cache != JITStats::Hit) {
    std::string Sizes;
    for (size_t I : JS.PartInstructions)
      Sizes += (Sizes.empty() ? "" : ", ") + std::to_string(I);
    Notes.push_back(fmt::format(
        "llvm parts: {} ({} instructions); thread seconds: optimisation "
        "{:.4f}, codegen {:.4f}",
        JS.Parts, Sizes, JS.OptimizeSeconds, JS.CodegenSeconds));
  }
  if (!JS.PartCPUSeconds.empty() && JS.Cache != JITStats::Hit) {
    // Thread CPU time, unlike the wall times above, does not grow with
    // the machine's load: the longest part bounds the compile's wall time
    // with one core per part.
    std::string CPU;
    double Sum = 0, Longest = 0;
    for (double S : JS.PartCPUSeconds) {
      CPU += fmt::format("{}{:.4f}", CPU.empty() ? "" : ", ", S);
      Sum += S;
      Longest = std::max(Longest, S);
    }
    Notes.push_back(fmt::format("llvm cpu seconds per part: {} (sum {:.4f}, "
                                "longest {:.4f})",
                                CPU, Sum, Longest));
  }
  if (ArenaBytes >= 0)
    Notes.push_back(fmt::format(
        "scratch arena @train_step: {} bytes at batch {}", ArenaBytes, Batch));
  if (TrainStep) {
    StepPlan P = planStep(*TrainStep, Lower);
    Notes.push_back(fmt::format(
        "@train_step: {} kernels, {} loop groups of {} ops, {} of {} "
        "results in place",
        P.Units.size(), P.numGroups(), P.numGroupedOps(),
        std::count(P.InPlace.begin(), P.InPlace.end(), true),
        P.InPlace.size()));
  }
  Notes.push_back(fmt::format("compile seconds: {:.4f}", Total));
  return formatTimingReport(Table, Notes);
}

} // namespace adj
