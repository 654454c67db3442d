//===- ProductLoopTest.cpp - Weight gradients fused into their updates ----===//
///
/// \file
/// Trains MNIST MLPs with a weight of more than 2^20 elements, whose
/// gradient runs block by block inside its optimizer update's loop
/// (StepUnit::Product, codegen/ProductLoop.cpp), against the same models
/// compiled with the gradient and the update apart
/// (LowerOptions::FuseProducts off), and compares the checkpoints byte for
/// byte: the fused kernel computes the same product sums and the same
/// update (the MLPs train the same bits). Both weight layouts (x @ w, where the
/// gradient is X^T @ dY, and linear's [out, in], dY^T @ X with a row stride of
/// 2 KiB multiples that the kernel copies transposed) and four optimizers; the
/// fused model also on two threads, which must not change a bit.
///
//===----------------------------------------------------------------------===//

#include "codegen/StepPlan.h"
#include "tools/engine/Engine.h"

#include "CompileModel.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace adj;

namespace {

/// examples/mnist_mlp.adj with its first layer 784 -> 1536 (as x @ w, or
/// as linear(x, w, b) with w [1536, 784] when \p Linear) and \p Optimizer.
std::unique_ptr<CompiledModel> compile(const std::string &Optimizer,
                                       bool Linear, bool Fuse) {
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  std::string Source = test::readFile(Path);
  auto Replace = [&](const std::string &From, const std::string &To) {
    size_t At = Source.find(From);
    EXPECT_NE(At, std::string::npos) << From;
    if (At != std::string::npos)
      Source.replace(At, From.size(), To);
  };
  Replace("adam(lr = 0.001)", Optimizer);
  Replace("param w1 : f32[784, 256]",
          Linear ? "param w1 : f32[1536, 784]" : "param w1 : f32[784, 1536]");
  Replace("param b1 : f32[256]", "param b1 : f32[1536]");
  Replace("param w2 : f32[256, 128]", "param w2 : f32[1536, 128]");
  if (Linear)
    Replace("h1     = mlp_block(x, w1, b1)", "h1 = relu(linear(x, w1, b1))");
  return test::compileModel(
      Path, Source, [&](EngineOptions &EO) { EO.Lower.FuseProducts = Fuse; });
}

/// The checkpoint after 4 steps of \p CM on \p Threads threads.
std::string train(const CompiledModel &CM, const char *Threads,
                  const std::string &Save) {
  adj_rt_model M = CM.runtimeModel();
  adj_rt_options O;
  adj_rt_options_init(&O);
  EXPECT_EQ(adj_rt_options_set(&O, "steps", "4"), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "threads", Threads), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "quiet", nullptr), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "save", Save.c_str()), 0);
  EXPECT_EQ(adj_rt_train(&M, &O), 0) << adj_rt_last_error();
  adj_rt_options_free(&O);
  return test::readFile(Save);
}

/// Units of \p CM's training step with a fused product, planned as the
/// engine plans it with \p Fuse.
int fusedUnits(const CompiledModel &CM, bool Fuse = true) {
  LowerOptions Opts;
  Opts.FuseProducts = Fuse;
  StepPlan Plan = planStep(*CM.IR->function("train_step"), Opts);
  int N = 0;
  for (const StepUnit &U : Plan.Units)
    N += U.Product != SIZE_MAX;
  return N;
}

TEST(ProductLoop, FusedWeightGradientsGiveTheBitsOfTheProductApart) {
  test::TempDir Dir;
  // Plain SGD's product carries the update's scaling by lr as its epilogue
  // (passes/Fuse.cpp), so its update reads no gradient: nothing to fuse.
  for (auto [Opt, Fusions] : {std::pair{"adam(lr = 0.001)", 1},
                              {"adamw(lr = 0.001, weight_decay = 0.01)", 1},
                              {"sgd(lr = 0.05, momentum = 0.9)", 1},
                              {"sgd(lr = 0.05)", 0}})
    for (bool Linear : {false, true}) {
      SCOPED_TRACE(std::string(Opt) + (Linear ? ", linear" : ", x @ w"));
      auto Apart = compile(Opt, Linear, false);
      auto Fused = compile(Opt, Linear, true);
      ASSERT_TRUE(Apart && Fused);
      EXPECT_EQ(fusedUnits(*Apart, false), 0);
      EXPECT_EQ(fusedUnits(*Fused), Fusions); // w1's; the others are small.
      std::string Want = train(*Apart, "1", Dir.file("apart.safetensors"));
      std::string One = train(*Fused, "1", Dir.file("fused1.safetensors"));
      std::string Two = train(*Fused, "2", Dir.file("fused2.safetensors"));
      EXPECT_TRUE(Want == One);
      EXPECT_TRUE(Want == Two);
    }
}

TEST(ProductLoop, SmallProductsRunApart) {
  // The MNIST MLP's weights are below 2^20 elements: their gradients stay
  // in cache between the product and the update.
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  auto Mnist = test::compileModel(Path, test::readFile(Path));
  ASSERT_TRUE(Mnist);
  EXPECT_EQ(fusedUnits(*Mnist), 0);
}

} // namespace
