//===- TrainerCheckpointTest.cpp - Tests of trainer checkpoints -----------===//
///
/// \file
/// Checkpoints written by --save and read by --load: the format, exact resume
/// bit for bit (also inside an epoch), epochs and steps counted on top,
/// fine-tuning from parameters only, another optimizer's state, errors naming
/// tensors; --optimizer picking the step by name and --freeze keeping
/// parameters and their state. The model is the one of TrainerTestModel.h.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

using namespace adj::trainertest;

namespace {

/// What --load's errors about a tensor end with.
const std::string InitFromHint =
    "; --load resumes this model exactly, --init-from CKPT copies the tensors "
    "that match\n";

//===--- Checkpoints and resuming -----------------------------------------===//

TEST(TrainerCheckpoint, WritesTheDesignsFormat) {
  for (adj_rt_dtype t : {ADJ_RT_F32, ADJ_RT_F64}) {
    TempDir dir;
    Model b = linearModel(dir, t);
    std::string ck = dir.file("ck.safetensors");
    train(b.model(), {"--epochs", "1", "--save", ck});
    Checkpoint c(ck);
    const char *dtype = t == ADJ_RT_F64 ? "F64" : "F32";
    EXPECT_EQ(c.Header["w"]["dtype"], dtype);
    EXPECT_EQ(c.Header["w"]["shape"], nlohmann::json({1, 1}));
    EXPECT_EQ(c.Header["b"]["shape"], nlohmann::json({1}));
    EXPECT_EQ(c.Header["opt.v.w"]["dtype"], dtype);
    EXPECT_EQ(c.Header["opt.v.b"]["shape"], nlohmann::json({1}));
    EXPECT_EQ(c.Header.size(), 5u); // 4 tensors and __metadata__
    EXPECT_EQ(c.meta("format"), "adjoint-1");
    EXPECT_EQ(c.meta("model"), "linear");
    EXPECT_EQ(c.meta("optimizer"), "sgd");
    EXPECT_EQ(c.meta("step"), "8");
    EXPECT_EQ(c.meta("epoch"), "1");
    EXPECT_EQ(c.meta("epoch_samples"), "0");
    EXPECT_TRUE(std::regex_match(c.meta("rng"), std::regex("[0-9a-f]{64}")));
    EXPECT_EQ(c.Data.size(), 4u * (t == ADJ_RT_F64 ? 8 : 4));
    // The header length is a multiple of 8, padded with spaces.
    std::string bytes = readFile(ck);
    EXPECT_EQ((bytes.size() - c.Data.size()) % 8, 0u);
    // No temporary file is left behind.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()),
                            fs::directory_iterator()),
              5);
  }
}

TEST(TrainerCheckpoint, ResumesBitForBit) {
  for (adj_rt_dtype t : {ADJ_RT_F32, ADJ_RT_F64}) {
    TempDir dir;
    Model b = linearModel(dir, t);
    std::string whole = dir.file("whole.safetensors"),
                half = dir.file("half.safetensors"),
                resumed = dir.file("resumed.safetensors");
    train(b.model(), {"--epochs", "2", "--save", whole});
    train(b.model(), {"--epochs", "1", "--save", half});
    // --epochs after --load counts the epochs on top.
    train(b.model(), {"--load", half, "--epochs", "1", "--save", resumed});
    Checkpoint w(whole), r(resumed), h(half);
    for (const char *tensor : {"w", "b", "opt.v.w", "opt.v.b"}) {
      EXPECT_EQ(w.bytes(tensor), r.bytes(tensor)) << tensor;
      EXPECT_NE(w.bytes(tensor), h.bytes(tensor)) << tensor;
    }
    EXPECT_EQ(readFile(whole), readFile(resumed));

    // Stopping inside an epoch with --steps resumes inside it too.
    std::string part = dir.file("part.safetensors");
    train(b.model(), {"--steps", "11", "--save", part});
    Checkpoint p(part);
    EXPECT_EQ(p.meta("step"), "11");
    EXPECT_EQ(p.meta("epoch"), "1");
    EXPECT_EQ(p.meta("epoch_samples"), "24");
    train(b.model(), {"--load", part, "--steps", "5", "--save", resumed});
    EXPECT_EQ(readFile(whole), readFile(resumed));
  }
}

TEST(TrainerCheckpoint, ResumedRunsCountEpochsAndStepsOnTop) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("ck.safetensors"), report = dir.file("r.json");
  train(b.model(), {"--epochs", "1", "--save", ck});
  std::string out;
  ASSERT_EQ(runMain(b.model(),
                    {"--load", ck, "--epochs", "2", "--report", report}, &out),
            0);
  EXPECT_TRUE(contains(out, "\nepoch 2/3: train_loss")) << out;
  EXPECT_TRUE(contains(out, "\nepoch 3/3: train_loss")) << out;
  EXPECT_FALSE(contains(out, "epoch 1/")) << out;
  nlohmann::json j = readJson(report);
  EXPECT_EQ(j["epochs"], 3);
  EXPECT_EQ(j["steps"], 24);
}

/// Writes a parameters-only checkpoint with w and b.
void writeParams(const std::string &path, float w, float b) {
  adj_rt_named_tensor t[] = {{"w", ADJ_RT_F32, 2, OneByOne, &w},
                             {"b", ADJ_RT_F32, 1, One, &b}};
  ASSERT_EQ(adj_rt_save_checkpoint(path.c_str(), 2, t, 0, nullptr), 0)
      << adj_rt_last_error();
}

/// The values of w and b in a new session of `m` with the options `opts`
/// (flag, value); fails the test when the session cannot be created.
std::pair<float, float>
sessionValues(const adj_rt_model *m,
              std::vector<std::pair<const char *, const char *>> opts,
              std::string *out = nullptr) {
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = out ? 0 : 1;
  for (const auto &[flag, value] : opts)
    EXPECT_EQ(adj_rt_options_set(&o, flag, value), 0) << adj_rt_last_error();
  testing::internal::CaptureStdout();
  adj_rt_session *s = adj_rt_session_create(m, &o);
  std::string printed = testing::internal::GetCapturedStdout();
  if (out)
    *out = printed;
  adj_rt_options_free(&o);
  EXPECT_NE(s, nullptr) << adj_rt_last_error();
  if (!s)
    return {NAN, NAN};
  adj_rt_named_tensor w, b;
  EXPECT_EQ(adj_rt_session_param(s, 0, &w), 0);
  EXPECT_EQ(adj_rt_session_param(s, 1, &b), 0);
  adj_rt_session_info info;
  adj_rt_session_get_info(s, &info);
  EXPECT_EQ(info.step, 0); // the optimizer starts fresh
  std::pair<float, float> v = {*static_cast<float *>(w.data),
                               *static_cast<float *>(b.data)};
  adj_rt_session_free(s);
  return v;
}

TEST(TrainerCheckpoint, InitFromCopiesTheTensorsThatMatch) {
  TempDir dir;
  Model b = linearModel(dir);
  auto fresh = sessionValues(b.model(), {});
  std::string ck = dir.file("ck.safetensors");
  float seven = 7, eight = 8, wide[2] = {1, 2}, state = 3;
  const int64_t oneByTwo[] = {1, 2};
  std::vector<const char *> meta = {"format", "adjoint-1", "optimizer", "sgd",
                                    "step",   "8",         "epoch",     "1",
                                    "rng",    nullptr};
  std::string rng(64, 'a');
  meta.back() = rng.c_str();
  // w matches; b is absent; `head` would fit b; optimizer state is ignored.
  adj_rt_named_tensor t[] = {{"w", ADJ_RT_F32, 2, OneByOne, &seven},
                             {"head", ADJ_RT_F32, 1, One, &eight},
                             {"opt.v.w", ADJ_RT_F32, 2, OneByOne, &state}};
  ASSERT_EQ(adj_rt_save_checkpoint(ck.c_str(), 3, t, 5, meta.data()), 0);
  std::string out;
  auto v = sessionValues(b.model(), {{"init-from", ck.c_str()}}, &out);
  EXPECT_EQ(v.first, 7);
  EXPECT_EQ(v.second, fresh.second);
  EXPECT_EQ(out, "init-from '" + ck +
                     "': loaded 1 of 2 tensors\n"
                     "  loaded   w\n"
                     "  new      b\n"
                     "  unused   head\n"
                     "  ignored  1 optimizer-state tensors; the optimizer "
                     "starts fresh\n");
  v = sessionValues(b.model(), {{"init-from", ck.c_str()}, {"map", "b=head"}});
  EXPECT_EQ(v.first, 7);
  EXPECT_EQ(v.second, 8);
  // Another shape is skipped; nothing loaded is an error unless allowed.
  adj_rt_named_tensor other[] = {{"w", ADJ_RT_F32, 2, oneByTwo, wide}};
  ASSERT_EQ(adj_rt_save_checkpoint(ck.c_str(), 1, other, 0, nullptr), 0);
  EXPECT_EQ(trainError(b.model(), {"--init-from", ck}),
            "linear-trainer: error: '" + ck +
                "': no tensor matches a parameter or buffer of the model by "
                "name and shape (1 skipped, 1 not in the checkpoint; it has: "
                "); rename with --map NEW=OLD, or start from the initialisers "
                "with --allow-empty\n");
  v = sessionValues(b.model(), {{"init-from", ck.c_str()}, {"allow-empty", ""}},
                    &out);
  EXPECT_EQ(v, fresh);
  EXPECT_TRUE(contains(out, "  skipped  w (shape [1, 2] in the checkpoint, "
                            "[1, 1] in the model)\n"))
      << out;
  EXPECT_EQ(trainError(b.model(), {"--init-from", ck, "--map", "b=nope"}),
            "linear-trainer: error: --map: '" + ck +
                "' has no tensor 'nope' (to load into 'b')\n");
}

TEST(TrainerCheckpoint, ParametersOnlyStartFreshAtStepZero) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string pre = dir.file("pre.safetensors"), report = dir.file("r.json");
  writeParams(pre, 3, 0.5f);
  // The exact solution: evaluating it gives a zero loss.
  train(b.model(), {"--load", pre, "--eval-only", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-10);
  EXPECT_EQ(readJson(report)["steps"], 0);

  std::string ck = dir.file("ck.safetensors");
  writeParams(pre, 1, 0);
  train(b.model(), {"--load", pre, "--epochs", "1", "--save", ck});
  Checkpoint c(ck);
  EXPECT_EQ(c.meta("step"), "8");
  EXPECT_EQ(c.meta("epoch"), "1");
  // Started from the loaded w = 1, not from the initialiser: the same run
  // from another loaded w ends elsewhere.
  writeParams(pre, 2, 0);
  std::string ck2 = dir.file("ck2.safetensors");
  train(b.model(), {"--load", pre, "--epochs", "1", "--save", ck2});
  EXPECT_NE(Checkpoint(ck2).first("w"), c.first("w"));
}

TEST(TrainerCheckpoint, IgnoresAnotherOptimizersStateWithANote) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("sgd.safetensors"),
              adam = dir.file("adam.safetensors");
  train(b.model(), {"--epochs", "1", "--save", ck});
  std::string err;
  ASSERT_EQ(runMain(b.model(),
                    {"--load", ck, "--optimizer", "adam", "--epochs", "1",
                     "--save", adam, "--quiet"},
                    nullptr, &err),
            0)
      << err;
  EXPECT_EQ(err, "note: '" + ck +
                     "': ignoring the optimizer state of sgd; training with "
                     "adam from fresh state at step 0\n");
  Checkpoint c(adam);
  EXPECT_EQ(c.meta("optimizer"), "adam");
  EXPECT_EQ(c.meta("step"), "8");
  EXPECT_EQ(c.Header.size(), 7u); // w, b, opt.{m,v}.{w,b}, __metadata__
  EXPECT_NE(c.Header.find("opt.m.w"), c.Header.end());
  EXPECT_EQ(c.Header.find("opt.v.w")->at("shape"), nlohmann::json({1, 1}));

  // Adam resumes from its own state bit for bit.
  std::string whole = dir.file("whole.safetensors"),
              half = dir.file("half.safetensors");
  train(b.model(), {"--optimizer", "adam", "--epochs", "2", "--save", whole});
  train(b.model(), {"--optimizer", "adam", "--epochs", "1", "--save", half});
  train(b.model(), {"--optimizer", "adam", "--load", half, "--epochs", "1",
                    "--save", adam});
  EXPECT_EQ(readFile(whole), readFile(adam));
}

TEST(TrainerCheckpoint, RejectsCheckpointsThatDoNotFitTheModel) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("ck.safetensors");
  std::string prefix = "linear-trainer: error: '" + ck + "': ";
  float two[2] = {1, 2}, one = 1;
  const int64_t twoDims[] = {1, 2};
  adj_rt_named_tensor w = {"w", ADJ_RT_F32, 2, OneByOne, &one},
                      wide = {"w", ADJ_RT_F32, 2, twoDims, two},
                      bias = {"b", ADJ_RT_F32, 1, One, &one},
                      extra = {"c", ADJ_RT_F32, 1, One, &one},
                      state = {"opt.v.w", ADJ_RT_F32, 2, OneByOne, &one};
  auto write = [&](std::vector<adj_rt_named_tensor> t,
                   std::vector<const char *> meta = {}) {
    ASSERT_EQ(adj_rt_save_checkpoint(ck.c_str(), int(t.size()), t.data(),
                                     int(meta.size() / 2), meta.data()),
              0);
  };
  write({wide, bias});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "tensor 'w' has shape [1, 2], the model expects [1, 1]\n");
  write({w});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "no tensor for parameter 'b'" + InitFromHint);
  write({w, bias, extra});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix +
                "unknown tensor 'c' (neither a parameter of the model "
                "nor state of its optimizer)" +
                InitFromHint);
  // A full checkpoint of the same optimizer must hold all of its state.
  std::vector<const char *> meta = {"format", "adjoint-1", "optimizer", "sgd",
                                    "step",   "8",         "epoch",     "1",
                                    "rng",    nullptr};
  std::string rng(64, 'a');
  meta.back() = rng.c_str();
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "no tensor for optimizer state 'opt.v.b'\n");
  meta[5] = "eight";
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "__metadata__ 'step' is not a non-negative integer: "
                     "'eight'\n");
  meta[5] = "8";
  meta.back() = "xyz";
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "__metadata__ has no valid 'rng' state\n");
  // Evaluating needs the parameters only.
  write({w, bias, state}, meta);
  std::string err;
  EXPECT_EQ(runMain(b.model(), {"--load", ck, "--eval-only", "--quiet"},
                    nullptr, &err),
            0)
      << err;
  EXPECT_EQ(err, "");
}

//===--- Optimizers and freezing ------------------------------------------===//

TEST(TrainerOptimizer, PicksTheStepByName) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string sgd = dir.file("sgd.safetensors"),
              adam = dir.file("adam.safetensors");
  train(b.model(), {"--optimizer", "sgd", "--epochs", "1", "--save", sgd});
  train(b.model(), {"--optimizer", "adam", "--epochs", "1", "--save", adam});
  EXPECT_EQ(Checkpoint(sgd).Header.size(), 5u);
  EXPECT_EQ(Checkpoint(adam).Header.size(), 7u);
  EXPECT_NE(Checkpoint(sgd).first("w"), Checkpoint(adam).first("w"));
}

TEST(TrainerFreeze, KeepsParametersAndTheirState) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string pre = dir.file("pre.safetensors"),
              ck = dir.file("ck.safetensors");
  writeParams(pre, 0.25f, 0);
  train(b.model(), {"--load", pre, "--freeze", "w", "--save", ck});
  Checkpoint c(ck);
  EXPECT_EQ(c.first("w"), 0.25);
  EXPECT_EQ(c.first("opt.v.w"), 0.0);
  EXPECT_NE(c.first("b"), 0.0);
  EXPECT_NE(c.first("opt.v.b"), 0.0);

  train(b.model(), {"--load", pre, "--freeze", "w,b", "--save", ck});
  EXPECT_EQ(Checkpoint(ck).first("w"), 0.25);
  EXPECT_EQ(Checkpoint(ck).first("b"), 0.0);
}

} // namespace
