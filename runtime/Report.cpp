//===- Report.cpp - Progress lines and the JSON report --------------------===//
///
/// \file
/// Number formatting for the progress lines (thousands separators, losses
/// that stay readable when tiny) and the --report file: one JSON object with
/// the fields fixed by the design (epochs, steps, train_loss, test_loss,
/// metrics, samples_per_sec, compile_seconds, wall_seconds, peak_rss_bytes),
/// written to a temporary file in the same directory, flushed to disk and
/// renamed over the destination so that readers never see half a report.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>
#include <unistd.h>

namespace adj::rt {

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
      {"compile_seconds", r.CompileSeconds},
      {"wall_seconds", r.WallSeconds},
      {"peak_rss_bytes", r.PeakRssBytes},
  };
  std::string text = j.dump(2) + "\n";

  std::string name = quoted(path);
  std::string tmp = format("%s.tmp%ld", path, long(getpid()));
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    return fail(name + ": cannot write report: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
            std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path) == 0)
    return 0;
  if (ok)
    err = errno;
  std::remove(tmp.c_str());
  return fail(name + ": cannot write report: " + std::strerror(err));
}

} // namespace adj::rt
