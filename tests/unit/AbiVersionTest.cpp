//===- AbiVersionTest.cpp - The runtime refuses models of another ABI -----===//
///
/// \file
/// A compiled model records the ADJ_RT_ABI_VERSION it was compiled against
/// in adj_rt_model.abi_version. Every entry point that receives a model
/// (adj_rt_trainer_main, adj_rt_train, adj_rt_session_create,
/// adj_rt_session_rebind) refuses one of another version with one message
/// and does nothing else: no data is read, no step function runs, no
/// thread count is set and no file is written. The model is the linear one
/// of TrainerTestModel.h, its data sources pointed at a file that does not
/// exist, so that reading them would fail with another message.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>

#include <string>

using namespace adj::trainertest;

namespace {

const int kOther = ADJ_RT_ABI_VERSION + 1;

std::string message(int version) {
  return "the compiled model uses runtime ABI version " +
         std::to_string(version) + ", this runtime has " +
         std::to_string(ADJ_RT_ABI_VERSION) +
         "; recompile the model with this adjc";
}

int StepCalls = 0;

int32_t countingStep(int64_t, void *const *, void *const *) {
  ++StepCalls;
  return 0;
}

/// The linear model with version `version`, data sources that do not exist
/// and step functions that count their calls.
struct OtherModel {
  TempDir Dir;
  Model B = linearModel(Dir);
  explicit OtherModel(int version) {
    for (adj_rt_data_desc &d : B.Data)
      d.path = B.str(Dir.file("missing.npy"));
    B.M.train_step.fn = countingStep;
    B.M.eval_step.fn = countingStep;
    B.model();
    B.OptimizerSteps[0].fn = countingStep;
    B.M.abi_version = version;
    StepCalls = 0;
  }
  const adj_rt_model *model() { return &B.M; }
};

TEST(AbiVersion, TrainerMainRefusesAnotherVersion) {
  for (int version : {kOther, 0}) {
    OtherModel m(version);
    TempDir out;
    int64_t threads = adj_rt_threads();
    std::string stdOut, stdErr;
    EXPECT_EQ(runMain(m.model(),
                      {"--threads", "3", "--save", out.file("ck"), "--report",
                       out.file("r.json"), "--log", out.file("log.csv"),
                       "--plot", out.file("p.svg")},
                      &stdOut, &stdErr),
              1);
    EXPECT_EQ(stdErr, "linear-trainer: error: " + message(version) + "\n");
    EXPECT_EQ(stdOut, "");
    EXPECT_EQ(out.entries(), 0u);
    EXPECT_EQ(StepCalls, 0);
    EXPECT_EQ(adj_rt_threads(), threads);
  }
}

TEST(AbiVersion, HelpIsRefusedToo) {
  OtherModel m(kOther);
  std::string stdOut, stdErr;
  EXPECT_EQ(runMain(m.model(), {"--help"}, &stdOut, &stdErr), 1);
  EXPECT_EQ(stdErr, "linear-trainer: error: " + message(kOther) + "\n");
  EXPECT_EQ(stdOut, "");
}

TEST(AbiVersion, TrainRefusesAnotherVersion) {
  OtherModel m(kOther);
  TempDir out;
  adj_rt_options o;
  adj_rt_options_init(&o);
  std::string report = out.file("r.json"), save = out.file("ck");
  o.report_path = report.c_str();
  o.save_path = save.c_str();
  testing::internal::CaptureStdout();
  EXPECT_EQ(adj_rt_train(m.model(), &o), 1);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(adj_rt_last_error(), message(kOther));
  EXPECT_EQ(out.entries(), 0u);
  EXPECT_EQ(StepCalls, 0);
}

TEST(AbiVersion, SessionCreateRefusesAnotherVersion) {
  OtherModel m(kOther);
  EXPECT_EQ(adj_rt_session_create(m.model(), nullptr), nullptr);
  EXPECT_EQ(adj_rt_last_error(), message(kOther));
  EXPECT_EQ(StepCalls, 0);
}

TEST(AbiVersion, RebindRefusesAnotherVersionAndKeepsTheSession) {
  TempDir dir;
  Model good = linearModel(dir);
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = 1;
  adj_rt_session *s = adj_rt_session_create(good.model(), &o);
  ASSERT_NE(s, nullptr) << adj_rt_last_error();
  ASSERT_EQ(adj_rt_session_train(s, 1, 0), 0) << adj_rt_last_error();

  OtherModel m(kOther);
  EXPECT_EQ(adj_rt_session_rebind(s, m.model()), 1);
  EXPECT_EQ(adj_rt_last_error(), message(kOther));
  EXPECT_EQ(StepCalls, 0);
  // Still the old model, and it still trains.
  adj_rt_session_info info;
  adj_rt_session_get_info(s, &info);
  EXPECT_EQ(info.step, 8);
  EXPECT_EQ(adj_rt_session_train(s, 1, 0), 0) << adj_rt_last_error();
  EXPECT_EQ(StepCalls, 0);
  adj_rt_session_free(s);
}

} // namespace
