//===- EngineErrorsTest.cpp - The engine's failure paths ------------------===//
///
/// The engine builds its pass pipelines by name (passPipeline): a pipeline
/// naming an unknown pass is an error naming the pipeline and the pass, which
/// Engine::runPipeline prints and gradCheck returns instead of running a
/// partial pipeline. Every pipeline the engine and gradCheck run must build.
/// gradCheck ends with an error when @forward rejects its arguments (here a
/// label out of range for a metric the loss does not use, so @train_step
/// accepts them).
///
//===----------------------------------------------------------------------===//
#include "ir/Parser.h"
#include "tools/engine/Engine.h"
#include "tools/engine/GradCheck.h"

#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>

using namespace adj;

namespace {

TEST(EngineErrorsTest, UnknownPassInPipelineIsAnError) {
  auto PM = passPipeline("autodiff,no-such-pass,dce");
  ASSERT_FALSE(bool(PM));
  EXPECT_EQ(llvm::toString(PM.takeError()),
            "cannot build the pass pipeline 'autodiff,no-such-pass,dce': "
            "unknown pass 'no-such-pass'");
}

TEST(EngineErrorsTest, EveryPipelineTheEngineRunsBuilds) {
  for (const std::string &P :
       {pipelineFor(Stage::Grad), pipelineFor(Stage::Opt, /*Fuse=*/true),
        pipelineFor(Stage::Opt, /*Fuse=*/false),
        pipelineFor(Stage::Grad, /*Fuse=*/true, /*Mpi=*/true),
        pipelineFor(Stage::Opt, /*Fuse=*/true, /*Mpi=*/true),
        std::string(kGradCheckPipeline)}) {
    auto PM = passPipeline(P);
    ASSERT_TRUE(bool(PM)) << llvm::toString(PM.takeError());
    EXPECT_GT(PM->size(), 0u) << P;
  }
}

/// @forward's accuracy reads %y, which the loss does not use: @train_step
/// (after dce) never looks at the labels, @forward checks them.
const char *const MetricOnlyLabels = R"(
func @forward(%x: f32[N,3] {input}, %y: i32[N] {input}, %w: f32[3,2] {param}) -> (f32[], f32[]) {
  %0 = matmul %x, %w : f32[N,2]
  %1 = reduce_sum %0 : f32[]
  %2 = accuracy %0, %y : f32[]
  return loss = %1, accuracy = %2
}
)";

GradCheckResult checkWithClasses(int64_t Classes) {
  ParseError PE;
  std::unique_ptr<Module> M = parseModule("metric.air", MetricOnlyLabels, PE);
  EXPECT_TRUE(M) << PE.Message;
  if (!M)
    return {};
  GradCheckOptions O;
  O.Seed = 1;
  O.Classes["y"] = Classes;
  return gradCheck(*M, O);
}

TEST(EngineErrorsTest, GradCheckReportsForwardRejectingItsInputs) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // Labels in range: the check runs and passes.
  GradCheckResult Good = checkWithClasses(2);
  EXPECT_TRUE(Good.Error.empty()) << Good.Error;
  EXPECT_TRUE(Good.Ok) << formatGradCheck(Good);
  // Labels drawn from [0, 1000) for 2 classes: @forward fails.
  GradCheckResult Bad = checkWithClasses(1000);
  EXPECT_FALSE(Bad.Ok);
  EXPECT_EQ(Bad.Error, "@forward rejected its inputs");
  EXPECT_EQ(formatGradCheck(Bad),
            "gradcheck failed: @forward rejected its inputs\n");
}

} // namespace
