//===- Report.cpp - Progress lines and the JSON report --------------------===//
///
/// \file
/// Number formatting for the progress lines (thousands separators, losses
/// that stay readable when tiny, durations), the live progress line of a
/// terminal (redrawn in place with "\r" and the erase-line escape, at most
/// ten times a second) and the --report file: one JSON object with
/// the fields fixed by the design (epochs, steps, train_loss, test_loss,
/// metrics, samples_per_sec, compile_seconds, wall_seconds, peak_rss_bytes,
/// time_to_first_step once a step ran, arena_bytes and
/// memory_lower_bound_bytes (the train step's, at the training batch), from
/// adjc --run also object_cache and, with tiered compilation,
/// jit_quick_steps (the train steps that ran on the quick code); "interrupted",
/// and after a signal "signal": "SIGINT"), written atomically
/// (writeFileAtomically) so that readers never see half a report.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sys/resource.h>

namespace adj::rt {

/// The clock time_to_first_step counts from: set during static
/// initialisation, before main() runs.
static const Clock::time_point ProcessStart = Clock::now();
/// Nanoseconds from ProcessStart to the end of the first step; -1: none yet.
static std::atomic<int64_t> FirstStepNanos{-1};
/// Train steps run on a tiered model's quick code; -1: no tiered model.
static std::atomic<int64_t> QuickSteps{-1};
/// adj_rt_note_compile_seconds's nanoseconds; -1: none.
static std::atomic<int64_t> LateCompileNanos{-1};

void noteStepEnd() {
  if (FirstStepNanos.load(std::memory_order_relaxed) >= 0)
    return;
  int64_t n = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  Clock::now() - ProcessStart)
                  .count();
  int64_t none = -1;
  FirstStepNanos.compare_exchange_strong(none, n);
}

int64_t peakRssBytes() {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return int64_t(ru.ru_maxrss) * 1024;
}

std::string groupDigits(int64_t v) {
  std::string digits =
      std::to_string(v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string formatValue(double v) {
  double a = std::fabs(v);
  if (a == 0 || !std::isfinite(v) || (a >= 1e-3 && a < 1e6))
    return format("%.4f", v);
  return format("%.3e", v);
}

std::string formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  auto t = int64_t(seconds + 0.5);
  if (t < 3600)
    return format("%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return format("%lld:%02lld:%02lld", (long long)(t / 3600),
                (long long)(t / 60 % 60), (long long)(t % 60));
}

bool LiveLine::due() const {
  return Enabled &&
         (!Shown || Clock::now() - Last >= std::chrono::milliseconds(100));
}

void LiveLine::show(const std::string &text) {
  if (!due())
    return;
  // Return to the start of the line and erase it, then draw.
  std::printf("\r\033[K%s", text.c_str());
  std::fflush(stdout);
  Shown = true;
  Last = Clock::now();
}

void LiveLine::clear() {
  if (!Shown)
    return;
  std::printf("\r\033[K");
  std::fflush(stdout);
  Shown = false;
}

static nlohmann::json optional(const std::optional<double> &v) {
  if (v && std::isfinite(*v))
    return *v;
  return nullptr;
}

int writeReport(const char *path, const Report &r) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto &[name, value] : r.Metrics)
    metrics[name] = optional(value);
  nlohmann::json j = {
      {"epochs", r.Epochs},
      {"steps", r.Steps},
      {"train_loss", optional(r.TrainLoss)},
      {"test_loss", optional(r.TestLoss)},
      {"metrics", metrics},
      {"samples_per_sec", r.SamplesPerSec},
      {"compile_seconds", LateCompileNanos.load() >= 0
                              ? double(LateCompileNanos.load()) * 1e-9
                              : r.CompileSeconds},
      {"wall_seconds", r.WallSeconds},
      {"peak_rss_bytes", r.PeakRssBytes},
  };
  j["ranks"] = r.Ranks;
  if (r.Ranks > 1)
    j["allreduce_seconds_per_step"] = r.AllReduceSecondsPerStep;
  if (r.TimeToFirstStep >= 0)
    j["time_to_first_step"] = r.TimeToFirstStep;
  if (r.ArenaBytes >= 0)
    j["arena_bytes"] = r.ArenaBytes;
  if (r.MemoryLowerBoundBytes >= 0)
    j["memory_lower_bound_bytes"] = r.MemoryLowerBoundBytes;
  if (!r.ObjectCache.empty())
    j["object_cache"] = r.ObjectCache;
  if (int64_t quick = QuickSteps.load(); quick >= 0)
    j["jit_quick_steps"] = quick;
  if (r.SkippedSteps)
    j["skipped_steps"] = *r.SkippedSteps;
  j["interrupted"] = !r.Signal.empty();
  if (!r.Signal.empty())
    j["signal"] = r.Signal;
  std::string text = j.dump(2) + "\n";
  return writeFileAtomically(path, "report", {{text.data(), text.size()}});
}

} // namespace adj::rt

extern "C" double adj_rt_time_to_first_step(void) {
  int64_t n = adj::rt::FirstStepNanos.load();
  return n < 0 ? -1.0 : double(n) * 1e-9;
}

extern "C" void adj_rt_note_tiered(void) {
  int64_t none = -1;
  adj::rt::QuickSteps.compare_exchange_strong(none, 0);
}

extern "C" void adj_rt_note_quick_step(void) {
  adj::rt::QuickSteps.fetch_add(1, std::memory_order_relaxed);
}

extern "C" void adj_rt_note_compile_seconds(double seconds) {
  adj::rt::LateCompileNanos.store(seconds >= 0 ? int64_t(seconds * 1e9) : -1);
}
