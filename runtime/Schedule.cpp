//===- Schedule.cpp - Learning-rate schedules -----------------------------===//
///
/// \file
/// The learning rate of each optimizer step, computed by the training loop
/// and passed to the compiled step as its "lr" argument, so a schedule needs
/// no recompilation. It depends only on the step count (which a checkpoint
/// stores), so a resumed run continues the schedule exactly. The formulas
/// are PyTorch's, for a scheduler stepped once per optimizer step:
///
///   constant  lr
///   step      lr * gamma^floor(t / step_size)                    (StepLR)
///   cosine    eta_min + (lr - eta_min) * (1 + cos(pi * min(t, t_max) /
///             t_max)) / 2                             (CosineAnnealingLR)
///
/// with t the number of steps taken before this one. A warm-up of W steps
/// multiplies the scheduled rate by min(1, (t + 1) / W), so the first step
/// uses lr / W and step W - 1 on the full rate.
///
/// Also the parser of --schedule's text: "constant", "step:step_size=100,
/// gamma=0.5", "cosine:t_max=500,eta_min=1e-5".
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cerrno>
#include <cmath>
#include <cstring>

using namespace adj::rt;

namespace {

bool parseInt(const std::string &text, int64_t &out) {
  if (text.empty())
    return false;
  out = 0;
  for (char c : text)
    if (c < '0' || c > '9' || !checkedMul(out, 10, out) ||
        __builtin_add_overflow(out, c - '0', &out))
      return false;
  return true;
}

bool parseDouble(const std::string &text, double &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return *end == 0 && errno != ERANGE && std::isfinite(out);
}

} // namespace

extern "C" int adj_rt_schedule_parse(const char *text, adj_rt_schedule *out) {
  if (!text || !out)
    return fail("adj_rt_schedule_parse: null argument");
  std::string s = text;
  size_t colon = s.find(':');
  std::string name = s.substr(0, colon);
  adj_rt_schedule r{};
  std::vector<std::string> keys;
  if (name == "constant") {
    r.kind = ADJ_RT_SCHEDULE_CONSTANT;
  } else if (name == "step") {
    r.kind = ADJ_RT_SCHEDULE_STEP;
    r.gamma = 0.1;
    keys = {"step_size", "gamma"};
  } else if (name == "cosine") {
    r.kind = ADJ_RT_SCHEDULE_COSINE;
    keys = {"t_max", "eta_min"};
  } else {
    return fail(format("unknown schedule '%s'; expected constant, step or "
                       "cosine",
                       name.c_str()));
  }
  std::vector<bool> given(keys.size(), false);
  if (colon != std::string::npos) {
    std::string params = s.substr(colon + 1);
    if (keys.empty())
      return fail(format("'%s' takes no parameters", name.c_str()));
    for (size_t start = 0;;) {
      size_t comma = params.find(',', start);
      std::string item = params.substr(start, comma - start);
      size_t eq = item.find('=');
      std::string key = item.substr(0, eq);
      std::string value =
          eq == std::string::npos ? std::string() : item.substr(eq + 1);
      size_t k = 0;
      while (k < keys.size() && keys[k] != key)
        ++k;
      if (eq == std::string::npos || key.empty())
        return fail(
            format("'%s' is not KEY=VALUE in '%s'", item.c_str(), text));
      if (k == keys.size())
        return fail(format("unknown parameter '%s' of '%s'; expected %s or %s",
                           key.c_str(), name.c_str(), keys[0].c_str(),
                           keys[1].c_str()));
      if (given[k])
        return fail(format("'%s' is given twice", key.c_str()));
      given[k] = true;
      bool ok = true;
      if (key == "step_size") {
        ok = parseInt(value, r.step_size) && r.step_size > 0;
        if (!ok)
          return fail(format("'step_size' must be a positive integer, got "
                             "'%s'",
                             value.c_str()));
      } else if (key == "t_max") {
        ok = parseInt(value, r.t_max) && r.t_max > 0;
        if (!ok)
          return fail(format("'t_max' must be a positive integer, got '%s'",
                             value.c_str()));
      } else if (key == "gamma") {
        ok = parseDouble(value, r.gamma) && r.gamma > 0;
        if (!ok)
          return fail(format("'gamma' must be a positive number, got '%s'",
                             value.c_str()));
      } else { // eta_min
        ok = parseDouble(value, r.eta_min) && r.eta_min >= 0;
        if (!ok)
          return fail(format("'eta_min' must be a non-negative number, got "
                             "'%s'",
                             value.c_str()));
      }
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
  }
  if (r.kind == ADJ_RT_SCHEDULE_STEP && !given[0])
    return fail("'step' needs step_size, e.g. step:step_size=100,gamma=0.5");
  *out = r;
  return 0;
}

extern "C" double adj_rt_schedule_lr(const adj_rt_schedule *s, double lr,
                                     int64_t warmup, int64_t t,
                                     int64_t default_t_max) {
  if (t < 0)
    t = 0;
  double rate = lr;
  if (s && s->kind == ADJ_RT_SCHEDULE_STEP && s->step_size > 0) {
    rate = lr * std::pow(s->gamma, double(t / s->step_size));
  } else if (s && s->kind == ADJ_RT_SCHEDULE_COSINE) {
    int64_t tMax = s->t_max > 0 ? s->t_max : default_t_max;
    if (tMax < 1)
      tMax = 1;
    double progress = double(t < tMax ? t : tMax) / double(tMax);
    rate = s->eta_min + (lr - s->eta_min) * (1 + std::cos(M_PI * progress)) / 2;
  }
  if (warmup > 0 && t + 1 < warmup)
    rate *= double(t + 1) / double(warmup);
  return rate;
}

namespace adj::rt {

std::string describeSchedule(const adj_rt_schedule &s, int64_t warmup) {
  std::string out;
  switch (s.kind) {
  case ADJ_RT_SCHEDULE_STEP:
    out =
        format("step:step_size=%lld,gamma=%g", (long long)s.step_size, s.gamma);
    break;
  case ADJ_RT_SCHEDULE_COSINE:
    out = s.t_max > 0 ? format("cosine:t_max=%lld,eta_min=%g",
                               (long long)s.t_max, s.eta_min)
                      : format("cosine:eta_min=%g", s.eta_min);
    break;
  default:
    out = "constant";
    break;
  }
  if (warmup > 0)
    out += format(" (warmup %lld)", (long long)warmup);
  return out;
}

} // namespace adj::rt
