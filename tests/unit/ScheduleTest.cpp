//===- ScheduleTest.cpp - Tests of learning-rate schedules ----------------===//
///
/// \file
/// adj_rt_schedule_lr against the closed forms of PyTorch's StepLR and
/// CosineAnnealingLR (stepped once per optimizer step, t counting from 0),
/// the linear warm-up factor min(1, (t + 1) / warmup) composed with each,
/// and adj_rt_schedule_parse: --schedule's syntax and its errors.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

adj_rt_schedule parse(const char *text) {
  adj_rt_schedule s{};
  EXPECT_EQ(adj_rt_schedule_parse(text, &s), 0)
      << text << ": " << adj_rt_last_error();
  return s;
}

std::string parseError(const char *text) {
  adj_rt_schedule s{};
  EXPECT_NE(adj_rt_schedule_parse(text, &s), 0) << text;
  return adj_rt_last_error();
}

double lr(const adj_rt_schedule &s, double base, int64_t t, int64_t warmup = 0,
          int64_t defaultTMax = 1) {
  return adj_rt_schedule_lr(&s, base, warmup, t, defaultTMax);
}

TEST(Schedule, ConstantKeepsTheRate) {
  adj_rt_schedule s = parse("constant");
  EXPECT_EQ(s.kind, ADJ_RT_SCHEDULE_CONSTANT);
  for (int64_t t : {0, 1, 99, 100000})
    EXPECT_EQ(lr(s, 0.01, t), 0.01);
  // A zero-initialised schedule (kind 0) is constant too.
  adj_rt_schedule zero{};
  EXPECT_EQ(lr(zero, 0.5, 7), 0.5);
}

TEST(Schedule, StepDecaysByGammaEveryStepSize) {
  adj_rt_schedule s = parse("step:step_size=100,gamma=0.5");
  EXPECT_EQ(s.kind, ADJ_RT_SCHEDULE_STEP);
  EXPECT_EQ(s.step_size, 100);
  EXPECT_EQ(s.gamma, 0.5);
  for (int64_t t : {0, 1, 99, 100, 199, 200, 250, 1000, 12345})
    EXPECT_DOUBLE_EQ(lr(s, 0.1, t), 0.1 * std::pow(0.5, double(t / 100))) << t;
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 99), 0.1);
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 100), 0.05);
  // gamma defaults to 0.1, as in torch.optim.lr_scheduler.StepLR.
  adj_rt_schedule d = parse("step:step_size=3");
  EXPECT_EQ(d.gamma, 0.1);
  EXPECT_DOUBLE_EQ(lr(d, 1, 6), 0.01);
}

TEST(Schedule, CosineAnnealsToEtaMinAndStays) {
  adj_rt_schedule s = parse("cosine:t_max=1000,eta_min=0.001");
  EXPECT_EQ(s.kind, ADJ_RT_SCHEDULE_COSINE);
  const double pi = std::acos(-1.0);
  for (int64_t t : {0, 1, 250, 500, 999, 1000, 1500}) {
    double c = double(std::min<int64_t>(t, 1000)) / 1000;
    EXPECT_DOUBLE_EQ(lr(s, 0.1, t),
                     0.001 + (0.1 - 0.001) * (1 + std::cos(pi * c)) / 2)
        << t;
  }
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 500), (0.1 + 0.001) / 2);
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 1000), 0.001);
  EXPECT_DOUBLE_EQ(lr(s, 0.1, 5000), 0.001);
}

TEST(Schedule, CosineWithoutTMaxUsesTheRunsLength) {
  adj_rt_schedule s = parse("cosine");
  EXPECT_EQ(s.t_max, 0);
  EXPECT_EQ(s.eta_min, 0);
  EXPECT_DOUBLE_EQ(lr(s, 1, 0, 0, 4), 1);
  EXPECT_DOUBLE_EQ(lr(s, 1, 2, 0, 4), 0.5);
  EXPECT_DOUBLE_EQ(lr(s, 1, 4, 0, 4), 0);
  EXPECT_DOUBLE_EQ(lr(s, 1, 2, 0, 8), (1 + std::cos(std::acos(-1.0) / 4)) / 2);
  // eta_min alone.
  EXPECT_DOUBLE_EQ(lr(parse("cosine:eta_min=0.5"), 1, 10, 0, 10), 0.5);
}

TEST(Schedule, WarmupRampsLinearlyAndComposes) {
  adj_rt_schedule c = parse("constant");
  // factor min(1, (t + 1) / warmup)
  EXPECT_DOUBLE_EQ(lr(c, 1, 0, 4), 0.25);
  EXPECT_DOUBLE_EQ(lr(c, 1, 1, 4), 0.5);
  EXPECT_DOUBLE_EQ(lr(c, 1, 2, 4), 0.75);
  EXPECT_DOUBLE_EQ(lr(c, 1, 3, 4), 1);
  EXPECT_DOUBLE_EQ(lr(c, 1, 100, 4), 1);
  EXPECT_DOUBLE_EQ(lr(c, 1, 0, 1), 1); // warmup 1 changes nothing
  EXPECT_DOUBLE_EQ(lr(c, 1, 0, 0), 1);
  adj_rt_schedule st = parse("step:step_size=2,gamma=0.5");
  for (int64_t t = 0; t < 10; ++t)
    EXPECT_DOUBLE_EQ(lr(st, 0.3, t, 5), 0.3 * std::pow(0.5, double(t / 2)) *
                                            std::min(1.0, double(t + 1) / 5))
        << t;
  adj_rt_schedule cos = parse("cosine:t_max=10");
  for (int64_t t = 0; t < 12; ++t)
    EXPECT_DOUBLE_EQ(lr(cos, 2, t, 3),
                     lr(cos, 2, t) * std::min(1.0, double(t + 1) / 3))
        << t;
}

TEST(Schedule, ParseErrors) {
  EXPECT_EQ(parseError("foo"),
            "unknown schedule 'foo'; expected constant, step or cosine");
  EXPECT_EQ(parseError(""),
            "unknown schedule ''; expected constant, step or cosine");
  EXPECT_EQ(parseError("step"),
            "'step' needs step_size, e.g. step:step_size=100,gamma=0.5");
  EXPECT_EQ(parseError("step:step_size=0"),
            "'step_size' must be a positive integer, got '0'");
  EXPECT_EQ(parseError("step:step_size=1.5"),
            "'step_size' must be a positive integer, got '1.5'");
  EXPECT_EQ(parseError("step:step_size=10,gamma=-1"),
            "'gamma' must be a positive number, got '-1'");
  EXPECT_EQ(parseError("cosine:t_max=abc"),
            "'t_max' must be a positive integer, got 'abc'");
  EXPECT_EQ(parseError("cosine:eta_min=-0.1"),
            "'eta_min' must be a non-negative number, got '-0.1'");
  EXPECT_EQ(parseError("cosine:tmax=3"),
            "unknown parameter 'tmax' of 'cosine'; expected t_max or eta_min");
  EXPECT_EQ(parseError("cosine:t_max"), "'t_max' is not KEY=VALUE in "
                                        "'cosine:t_max'");
  EXPECT_EQ(parseError("cosine:t_max=3,t_max=4"), "'t_max' is given twice");
  EXPECT_EQ(parseError("constant:x=1"), "'constant' takes no parameters");
}

TEST(Schedule, OptionsTakeTheSpec) {
  adj_rt_options o;
  adj_rt_options_init(&o);
  EXPECT_EQ(o.schedule.kind, ADJ_RT_SCHEDULE_DEFAULT);
  EXPECT_EQ(o.warmup, -1);
  ASSERT_EQ(adj_rt_options_set(&o, "schedule", "cosine:t_max=500"), 0);
  EXPECT_EQ(o.schedule.kind, ADJ_RT_SCHEDULE_COSINE);
  EXPECT_EQ(o.schedule.t_max, 500);
  ASSERT_EQ(adj_rt_options_set(&o, "warmup", "0"), 0);
  EXPECT_EQ(o.warmup, 0);
  EXPECT_NE(adj_rt_options_set(&o, "schedule", "linear"), 0);
  EXPECT_STREQ(adj_rt_last_error(), "--schedule: unknown schedule 'linear'; "
                                    "expected constant, step or cosine");
  EXPECT_EQ(o.schedule.kind, ADJ_RT_SCHEDULE_COSINE); // unchanged
  adj_rt_options_free(&o);
}

} // namespace
