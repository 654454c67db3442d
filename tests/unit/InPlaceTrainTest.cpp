//===- InPlaceTrainTest.cpp - Loop groups and in-place updates in training ===//
///
/// \file
/// Trains examples/mnist_mlp.adj with Adam, AdamW, SGD with momentum,
/// Nesterov SGD and plain SGD for a few steps on one thread, compiled the
/// old way (every elementwise op its own loop, updates into second buffers:
/// adjc -disable-loop-groups -disable-inplace) and the new way (one loop per
/// parameter update, written in place), and compares the checkpoints byte
/// for byte: grouping and in-place writes change no float operation. The
/// train step is wrapped to record which result buffers were the buffers of
/// the arguments they update: all parameters and optimizer state under
/// adj_rt_train, none in a session (which keeps the values before the step
/// for adj_rt_session_update_norm), and none of a --freeze'd parameter's.
///
//===----------------------------------------------------------------------===//

#include "codegen/StepPlan.h"
#include "tools/engine/Engine.h"

#include "CompileModel.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace adj;

namespace {

constexpr int kSteps = 20;

/// The step being recorded and, per result, the calls that were passed
/// the buffer of the argument of the same name.
adj_rt_step_fn RealStep = nullptr;
const adj_rt_function *Recorded = nullptr;
std::vector<int> SharedCalls;

int32_t recordingStep(int64_t N, void *const *Args, void *const *Results) {
  for (int R = 0; R < Recorded->num_results; ++R)
    for (int A = 0; A < Recorded->num_args; ++A)
      if (std::strcmp(Recorded->results[R].name, Recorded->args[A].name) == 0)
        SharedCalls[size_t(R)] += Results[R] == Args[A];
  return RealStep(N, Args, Results);
}

/// examples/mnist_mlp.adj with \p Optimizer in its train block, compiled
/// with or without loop groups and in-place updates.
std::unique_ptr<CompiledModel> compile(const std::string &Optimizer, bool New) {
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  std::string Source = test::readFile(Path);
  size_t At = Source.find("adam(lr = 0.001)");
  EXPECT_NE(At, std::string::npos);
  Source.replace(At, std::strlen("adam(lr = 0.001)"), Optimizer);
  return test::compileModel(Path, Source, [&](EngineOptions &EO) {
    EO.Lower = {/*GroupLoops=*/New, /*InPlace=*/New};
  });
}

struct TrainRun {
  std::string Checkpoint;
  std::vector<std::string> Shared; ///< Results always in their arguments.
  std::vector<std::string> Apart;  ///< Updates never in their arguments.
};

/// Trains \p CM for kSteps with \p Freeze (or none), through adj_rt_train
/// or a session, and saves to \p Save.
TrainRun train(const CompiledModel &CM, bool Session, const std::string &Save,
               const char *Freeze = nullptr) {
  adj_rt_model M = CM.runtimeModel();
  RealStep = M.train_step.fn;
  Recorded = &M.train_step;
  SharedCalls.assign(size_t(M.train_step.num_results), 0);
  M.train_step.fn = recordingStep;
  adj_rt_options O;
  adj_rt_options_init(&O);
  std::string Steps = std::to_string(kSteps);
  EXPECT_EQ(adj_rt_options_set(&O, "steps", Steps.c_str()), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "threads", "1"), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "quiet", nullptr), 0);
  if (Freeze) {
    EXPECT_EQ(adj_rt_options_set(&O, "freeze", Freeze), 0);
  }
  if (!Session) {
    EXPECT_EQ(adj_rt_options_set(&O, "save", Save.c_str()), 0);
    EXPECT_EQ(adj_rt_train(&M, &O), 0) << adj_rt_last_error();
  } else {
    adj_rt_session *S = adj_rt_session_create(&M, &O);
    EXPECT_TRUE(S) << adj_rt_last_error();
    EXPECT_EQ(adj_rt_session_train(S, 0, kSteps), 0) << adj_rt_last_error();
    EXPECT_GT(adj_rt_session_update_norm(S, 0), 0);
    EXPECT_EQ(adj_rt_session_save(S, Save.c_str()), 0);
    adj_rt_session_free(S);
  }
  adj_rt_options_free(&O);
  TrainRun R{test::readFile(Save), {}, {}};
  for (int I = 1; I < M.train_step.num_results; ++I) { // 0 is the loss
    EXPECT_TRUE(SharedCalls[I] == 0 || SharedCalls[I] == kSteps);
    (SharedCalls[I] ? R.Shared : R.Apart)
        .push_back(M.train_step.results[I].name);
  }
  return R;
}

std::vector<std::string> updates(const CompiledModel &CM) {
  std::vector<std::string> Names;
  const adj_rt_function &F = CM.runtimeModel().train_step;
  for (int I = 1; I < F.num_results; ++I)
    Names.push_back(F.results[I].name);
  return Names;
}

TEST(InPlaceTrain, OptimizersGiveTheOldBitsWithOneLoopPerUpdate) {
  test::TempDir Dir;
  // Plain SGD updates a parameter with one op: in place, but no group.
  // Three more groups: relu's adjoints and their bias gradients, and
  // cross_entropy_grad and the output layer's (passes/Fuse.cpp).
  for (auto [Opt, Groups] :
       {std::pair{"adam(lr = 0.001)", 9u},
        {"adamw(lr = 0.001, weight_decay = 0.01)", 9u},
        {"sgd(lr = 0.05, momentum = 0.9)", 9u},
        {"sgd(lr = 0.05, momentum = 0.9, nesterov = true)", 9u},
        {"sgd(lr = 0.05)", 3u}}) {
    SCOPED_TRACE(Opt);
    auto Old = compile(Opt, false), New = compile(Opt, true);
    ASSERT_TRUE(Old && New);
    // Every parameter's update (with its state) is one loop writing in place.
    StepPlan Plan = planStep(*New->IR->function("train_step"));
    EXPECT_EQ(Plan.numGroups(), Groups);
    for (int I = 1; I < New->runtimeModel().train_step.num_results; ++I) {
      EXPECT_EQ(New->runtimeModel().train_step.results[I].inplace, 1);
      EXPECT_EQ(Old->runtimeModel().train_step.results[I].inplace, 0);
    }
    TrainRun Before = train(*Old, false, Dir.file("old.safetensors"));
    TrainRun After = train(*New, false, Dir.file("new.safetensors"));
    TrainRun Kept = train(*New, true, Dir.file("session.safetensors"));
    EXPECT_TRUE(Before.Checkpoint == After.Checkpoint);
    EXPECT_TRUE(Before.Checkpoint == Kept.Checkpoint);
    EXPECT_TRUE(Before.Shared.empty());
    EXPECT_EQ(After.Shared, updates(*New));
    EXPECT_TRUE(Kept.Shared.empty());
  }
}

TEST(InPlaceTrain, FrozenParametersAreNeverWrittenInPlace) {
  test::TempDir Dir;
  auto Old = compile("adam(lr = 0.001)", false);
  auto New = compile("adam(lr = 0.001)", true);
  ASSERT_TRUE(Old && New);
  TrainRun Before = train(*Old, false, Dir.file("old.safetensors"), "w1");
  TrainRun After = train(*New, false, Dir.file("new.safetensors"), "w1");
  EXPECT_TRUE(Before.Checkpoint == After.Checkpoint);
  EXPECT_EQ(After.Apart,
            (std::vector<std::string>{"w1", "opt.m.w1", "opt.v.w1"}));
  EXPECT_EQ(After.Shared.size(), updates(*New).size() - 3);
}

} // namespace
