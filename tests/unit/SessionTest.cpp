//===- SessionTest.cpp - The runtime's session API ------------------------===//
///
/// \file
/// adj_rt_session_* on a JIT-compiled model (a linear classifier of IDX
/// data written here): training in pieces equals training at once, bit for
/// bit; options change without losing parameters and a bad one changes
/// nothing; a rebind keeps matching parameters and initialises new ones, and
/// a failing rebind leaves the session intact; an interrupt stops training
/// at a step boundary from which it continues; checkpoints round-trip;
/// update norms, history and info report what happened.
///
//===----------------------------------------------------------------------===//

#include "tools/engine/Engine.h"

#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace adj;

namespace {

/// An IDX file: f32 [n, 2] features (0x0D) or u8 [n] labels (0x08).
void writeIdx(const std::string &Path, bool Labels, int N) {
  std::string B = {0, 0, char(Labels ? 0x08 : 0x0D), char(Labels ? 1 : 2)};
  auto Be32 = [&](uint32_t V) {
    for (int I = 3; I >= 0; --I)
      B += char(V >> (8 * I));
  };
  Be32(uint32_t(N));
  if (!Labels)
    Be32(2);
  for (int I = 0; I < N; ++I) {
    int C = I % 2;
    if (Labels) {
      B += char(C);
      continue;
    }
    for (float V : {C ? 1.0f + 0.01f * float(I % 7) : -1.0f,
                    C ? -0.5f : 0.5f + 0.02f * float(I % 5)}) {
      uint32_t Bits;
      std::memcpy(&Bits, &V, 4);
      Be32(Bits);
    }
  }
  std::ofstream(Path, std::ios::binary) << B;
}

class SessionTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
  void SetUp() override {
    std::string Tmpl = (fs::temp_directory_path() / "adj-ses-XXXXXX").string();
    Dir = mkdtemp(&Tmpl[0]);
    for (const char *Split : {"train", "test"}) {
      writeIdx(Dir + "/" + Split + "-x.idx", false, 40);
      writeIdx(Dir + "/" + Split + "-y.idx", true, 40);
    }
  }
  void TearDown() override { fs::remove_all(Dir); }

  /// The model with \p Extra statements inserted before the loss.
  std::unique_ptr<CompiledModel> compile(const std::string &Logits,
                                         const std::string &Params = "") {
    std::string Src = "input x : f32[N, 2]\ninput y : i32[N]\n"
                      "param w : f32[2, 2] = glorot_uniform\n"
                      "param b : f32[2] = zeros\n" +
                      Params + "logits = " + Logits +
                      "\nloss cross_entropy(logits, y)\n"
                      "metric accuracy = accuracy(logits, y)\n"
                      "train {\n  optimizer = sgd(lr = 0.1, momentum = 0.9)\n"
                      "  batch = 8\n  epochs = 2\n}\n"
                      "data {\n  train x = idx(\"train-x.idx\")\n"
                      "  train y = idx(\"train-y.idx\")\n"
                      "  test x = idx(\"test-x.idx\")\n"
                      "  test y = idx(\"test-y.idx\")\n}\n";
    std::ostringstream Errs;
    DiagEngine Diags(Errs);
    auto Spec = compileModelSource(Dir + "/m.adj", Src, Diags);
    EXPECT_TRUE(Spec) << Errs.str();
    Engine E(EngineOptions(), Diags, Errs, "test");
    auto CM = E.compile(std::move(Spec));
    EXPECT_TRUE(CM) << Errs.str();
    return CM;
  }

  adj_rt_session *create(const CompiledModel &CM) {
    adj_rt_options O;
    adj_rt_options_init(&O);
    O.quiet = 1;
    adj_rt_session *S = adj_rt_session_create(&CM.runtimeModel(), &O);
    EXPECT_TRUE(S) << adj_rt_last_error();
    return S;
  }

  static std::vector<float> param(adj_rt_session *S, int I) {
    adj_rt_named_tensor T;
    EXPECT_EQ(adj_rt_session_param(S, I, &T), 0);
    int64_t N = 1;
    for (int K = 0; K < T.rank; ++K)
      N *= T.dims[K];
    auto *P = static_cast<const float *>(T.data);
    return std::vector<float>(P, P + N);
  }

  std::string Dir;
};

TEST_F(SessionTest, TrainingInPiecesEqualsTrainingAtOnce) {
  auto CM = compile("x @ w + b");
  adj_rt_session *A = create(*CM), *B = create(*CM);
  ASSERT_EQ(adj_rt_session_train(A, 2, 0), 0) << adj_rt_last_error();
  ASSERT_EQ(adj_rt_session_train(B, 0, 3), 0); // 3 of the 5 steps of epoch 1
  adj_rt_session_info I;
  adj_rt_session_get_info(B, &I);
  EXPECT_EQ(I.step, 3);
  EXPECT_EQ(I.epoch, 0);
  EXPECT_EQ(I.epoch_samples, 24);
  ASSERT_EQ(adj_rt_session_train(B, 1, 0), 0); // finishes epoch 1
  ASSERT_EQ(adj_rt_session_train(B, 1, 0), 0);
  for (int P = 0; P < 2; ++P)
    EXPECT_EQ(param(A, P), param(B, P));
  adj_rt_session_get_info(B, &I);
  EXPECT_EQ(I.step, 10);
  EXPECT_EQ(I.epoch, 2);
  EXPECT_EQ(I.trained_steps, 10);
  const adj_rt_epoch_record *R;
  ASSERT_EQ(adj_rt_session_history(A, &R), 2);
  EXPECT_EQ(R[1].epoch, 2);
  EXPECT_EQ(R[1].step, 10);
  EXPECT_TRUE(std::isfinite(R[1].test_loss));
  double Results[2];
  ASSERT_EQ(adj_rt_session_eval(A, Results), 0);
  EXPECT_STREQ(adj_rt_session_metric_name(A, 0), "accuracy");
  EXPECT_EQ(adj_rt_session_metric_name(A, 1), nullptr);
  EXPECT_GT(Results[1], 0.9);
  adj_rt_session_free(A);
  adj_rt_session_free(B);
}

TEST_F(SessionTest, OptionsChangeWithoutLosingParameters) {
  auto CM = compile("x @ w + b");
  adj_rt_session *S = create(*CM);
  EXPECT_LT(adj_rt_session_update_norm(S, 0), 0); // no step yet
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  EXPECT_GT(adj_rt_session_update_norm(S, 0), 0);
  std::vector<float> W = param(S, 0);
  ASSERT_EQ(adj_rt_session_set_option(S, "lr", "0.01"), 0);
  ASSERT_EQ(adj_rt_session_set_option(S, "batch", "4"), 0);
  ASSERT_EQ(adj_rt_session_set_option(S, "threads", "2"), 0);
  EXPECT_EQ(param(S, 0), W);
  adj_rt_session_info I;
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.lr, 0.01);
  EXPECT_EQ(I.batch, 4);
  EXPECT_EQ(I.threads, 2);
  EXPECT_EQ(I.step, 5);
  // A bad value or a run-only flag changes nothing.
  EXPECT_EQ(adj_rt_session_set_option(S, "batch", "0"), 1);
  EXPECT_STREQ(adj_rt_last_error(), "--batch: 0 is not a positive integer");
  EXPECT_EQ(adj_rt_session_set_option(S, "load", "x"), 1);
  EXPECT_EQ(adj_rt_session_set_option(S, "data", "train.x=nope.npy"), 1);
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.batch, 4);
  EXPECT_EQ(I.train_samples, 40);
  // --data reloads: the training split from the test files.
  std::string Data = "train.x=" + Dir + "/test-x.idx";
  ASSERT_EQ(adj_rt_session_set_option(S, "data", Data.c_str()), 0);
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.step, 15);
  adj_rt_session_free(S);
}

TEST_F(SessionTest, FrozenParametersHaveNoUpdate) {
  auto CM = compile("x @ w + b * s", "param s : f32[2] = ones frozen\n");
  adj_rt_session *S = create(*CM);
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0) << adj_rt_last_error();
  EXPECT_GT(adj_rt_session_update_norm(S, 0), 0);
  EXPECT_EQ(adj_rt_session_update_norm(S, 2), 0); // frozen in the model
  ASSERT_EQ(adj_rt_session_set_option(S, "freeze", "w"), 0);
  EXPECT_LT(adj_rt_session_update_norm(S, 0), 0); // no step since
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  EXPECT_EQ(adj_rt_session_update_norm(S, 0), 0); // --freeze w
  EXPECT_GT(adj_rt_session_update_norm(S, 1), 0);
  EXPECT_EQ(param(S, 2), (std::vector<float>{1, 1}));
  adj_rt_session_free(S);
}

TEST_F(SessionTest, RebindKeepsMatchingParameters) {
  auto CM = compile("x @ w + b");
  adj_rt_session *S = create(*CM);
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  std::vector<float> W = param(S, 0), B = param(S, 1);
  auto CM2 = compile("x @ w + b + tanh(x @ v)",
                     "param v : f32[2, 2] = constant(0.5)\n");
  ASSERT_EQ(adj_rt_session_rebind(S, &CM2->runtimeModel()), 0)
      << adj_rt_last_error();
  adj_rt_session_info I;
  adj_rt_session_get_info(S, &I);
  ASSERT_EQ(I.num_params, 3);
  EXPECT_EQ(I.step, 5);
  EXPECT_EQ(param(S, 0), W);
  EXPECT_EQ(param(S, 1), B);
  EXPECT_EQ(param(S, 2), std::vector<float>(4, 0.5f));
  CM.reset();
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  EXPECT_NE(param(S, 2), std::vector<float>(4, 0.5f));
  // A model whose data is missing: the rebind fails, nothing changes.
  std::vector<float> V = param(S, 2);
  auto CM3 = compile("x @ w + b + z", "input z : f32[N, 2]\n");
  EXPECT_EQ(adj_rt_session_rebind(S, &CM3->runtimeModel()), 1);
  EXPECT_STREQ(adj_rt_last_error(), "no training data for input 'z'");
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.num_params, 3);
  EXPECT_EQ(param(S, 2), V);
  EXPECT_EQ(adj_rt_session_train(S, 1, 0), 0);
  adj_rt_session_free(S);
}

TEST_F(SessionTest, InterruptStopsAtAStepBoundary) {
  auto CM = compile("x @ w + b");
  adj_rt_session *S = create(*CM);
  std::thread T([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    adj_rt_session_interrupt(S);
  });
  testing::internal::CaptureStdout();
  int RC = adj_rt_session_train(S, 100000000, 0);
  std::string Out = testing::internal::GetCapturedStdout();
  T.join();
  ASSERT_EQ(RC, ADJ_RT_INTERRUPTED) << adj_rt_last_error();
  EXPECT_NE(Out.find("interrupted at step "), std::string::npos) << Out;
  adj_rt_session_info I;
  adj_rt_session_get_info(S, &I);
  EXPECT_GT(I.step, 0);
  EXPECT_EQ(I.step, I.trained_steps);
  EXPECT_EQ(I.epoch * 5 + I.epoch_samples / 8, I.step);
  // The flag is cleared: training goes on from there.
  ASSERT_EQ(adj_rt_session_train(S, 0, 2), 0);
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.trained_steps, I.step);
  adj_rt_session_free(S);
}

TEST_F(SessionTest, CheckpointsRoundTrip) {
  auto CM = compile("x @ w + b");
  adj_rt_session *S = create(*CM);
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  std::string Path = Dir + "/ck.safetensors";
  ASSERT_EQ(adj_rt_session_save(S, Path.c_str()), 0);
  std::vector<float> W = param(S, 0);
  ASSERT_EQ(adj_rt_session_train(S, 1, 0), 0);
  EXPECT_NE(param(S, 0), W);
  ASSERT_EQ(adj_rt_session_load(S, Path.c_str()), 0);
  EXPECT_EQ(param(S, 0), W);
  adj_rt_session_info I;
  adj_rt_session_get_info(S, &I);
  EXPECT_EQ(I.step, 5);
  EXPECT_EQ(I.epoch, 1);
  EXPECT_EQ(adj_rt_session_load(S, (Dir + "/none").c_str()), 1);
  EXPECT_EQ(param(S, 0), W);
  adj_rt_session_free(S);
}

} // namespace
