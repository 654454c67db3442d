//===- TrainerCliTest.cpp - Tests of the trainer's command line -----------===//
///
/// \file
/// adj_rt_trainer_main's command line from the outside: every option of
/// TrainerOptions.def in --help with the model's defaults, bad values and
/// arguments, options in either syntax, and adj_rt_options_set storing every
/// option. The model is the one of TrainerTestModel.h.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

using namespace adj::trainertest;

namespace {

//===--- Command line -----------------------------------------------------===//

struct DefOption {
  const char *Flag, *Kind, *Value, *Help;
};
const DefOption AllOptions[] = {
#define OPTION(Name, Flag, Kind, Field, Value, Help) {Flag, #Kind, Value, Help},
#include "runtime/TrainerOptions.def"
};

TEST(TrainerMain, HelpListsEveryOptionAndTheModelsDefaults) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string out;
  ASSERT_EQ(runMain(b.model(), {"--help"}, &out), 0);
  EXPECT_TRUE(contains(out, "Trains the model 'linear'")) << out;
  for (const DefOption &o : AllOptions) {
    std::string line = std::string("--") + o.Flag;
    if (*o.Value)
      line += std::string(" ") + o.Value;
    EXPECT_TRUE(contains(out, line)) << line << "\n" << out;
    EXPECT_TRUE(contains(out, o.Help)) << o.Help;
  }
  EXPECT_TRUE(contains(out, "[default: 8]")) << out; // batch
  EXPECT_TRUE(contains(out, "[default: 0.05]")) << out;
  EXPECT_TRUE(contains(out, "Optimizers: sgd, adam")) << out;
  EXPECT_TRUE(contains(out, "train.x = npy(")) << out;
  EXPECT_EQ(runMain(b.model(), {"-h"}, &out), 0);
}

TEST(TrainerMain, ReportsBadCommandLines) {
  TempDir dir;
  Model b = linearModel(dir);
  struct {
    std::vector<std::string> Args;
    const char *Message;
  } cases[] = {
      {{"--batch", "0"}, "--batch: 0 is not a positive integer"},
      {{"--epochs", "1.5"}, "--epochs: 1.5 is not a positive integer"},
      {{"--steps=-2"}, "--steps: -2 is not a positive integer"},
      {{"--seed", "-1"}, "--seed: -1 is not a non-negative integer"},
      {{"--lr", "abc"}, "--lr: abc is not a positive number"},
      {{"--lr", "inf"}, "--lr: inf is not a positive number"},
      {{"--threads", "0"}, "--threads: 0 is not a positive integer"},
      {{"--batch"}, "--batch: expects a value"},
      {{"--batch", "--epochs", "2"},
       "--batch: --epochs is not a positive "
       "integer"},
      {{"--save", ""}, "--save: expects a non-empty value"},
      {{"--bogus"}, "unknown option '--bogus' (see --help)"},
      {{"model.adj"}, "unexpected argument 'model.adj'"},
      {{"--data", "x.npy"}, "--data: 'x.npy' is not SPLIT.INPUT=PATH"},
      {{"--data", "valid.x=x.npy"},
       "--data: unknown split 'valid' in 'valid.x=x.npy' (expected train or "
       "test)"},
      {{"--data", "train.z=x.npy"}, "--data: the model has no input 'z'"},
      {{"--data", "train.x=x.bin"},
       "--data: cannot tell the format of 'x.bin' (expected a .npy, .csv, "
       ".txt, .idx, -ubyte or .gz file)"},
      {{"--freeze", "w,,b"}, "--freeze: empty name in 'w,,b'"},
      {{"--schedule", "foo"},
       "--schedule: unknown schedule 'foo'; expected constant, step or "
       "cosine"},
      {{"--schedule", "step:gamma=0.5"},
       "--schedule: 'step' needs step_size, e.g. "
       "step:step_size=100,gamma=0.5"},
      {{"--warmup", "-1"}, "--warmup: -1 is not a non-negative integer"},
      {{"--freeze", "w", "--freeze", "c"},
       "--freeze: the model has no parameter 'c'"},
      {{"--optimizer", "rmsprop"},
       "unknown optimizer 'rmsprop' (the model has: sgd, adam)"},
      {{"--eval-only", "--save", "c.safetensors"},
       "--save cannot be used with --eval-only, which does not train"},
  };
  for (const auto &c : cases) {
    std::string err = trainError(b.model(), c.Args);
    EXPECT_EQ(err, std::string("linear-trainer: error: ") + c.Message + "\n");
  }
  // A failure of training itself is reported the same way.
  fs::remove(dir.file("train-y.npy"));
  EXPECT_EQ(trainError(b.model(), {}),
            "linear-trainer: error: '" + dir.file("train-y.npy") +
                "': cannot open: No such file or directory\n");
}

TEST(TrainerMain, TrainsWithOptionsInEitherSyntax) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string report = dir.file("r.json"), out;
  ASSERT_EQ(runMain(b.model(),
                    {"--epochs=10", "--batch", "16", "--lr", "0.1", "--seed",
                     "3", "--threads", "4", "--no-shuffle", "--report", report},
                    &out),
            0);
  EXPECT_TRUE(std::regex_search(out, std::regex("^linear: 2 params \\(2 "
                                                "values\\), train 64, test "
                                                "32 samples\n(  .*\n){4}epoch "
                                                "1/10: ")))
      << out;
  nlohmann::json j = readJson(report);
  EXPECT_EQ(j["epochs"], 10);
  EXPECT_EQ(j["steps"], 40);
  EXPECT_LT(j["test_loss"].get<double>(), 0.1);
}

TEST(TrainerOptions, SetChecksAndStoresEveryOption) {
  // Every option of the table is accepted by adj_rt_options_set.
  for (const DefOption &d : AllOptions) {
    std::string kind = d.Kind;
    const char *sample = kind == "PosInt"     ? "3"
                         : kind == "UInt"     ? "0"
                         : kind == "PosFloat" ? "0.5"
                         : kind == "List"     ? "a,b"
                         : kind == "Map"      ? "train.x=a.npy"
                         : kind == "Pairs"    ? "a=b,c=d"
                         : kind == "String"   ? "name"
                         : kind == "Schedule" ? "cosine:t_max=10"
                                              : nullptr;
    adj_rt_options o;
    adj_rt_options_init(&o);
    EXPECT_EQ(adj_rt_options_set(&o, d.Flag, sample), 0)
        << d.Flag << ": " << adj_rt_last_error();
    adj_rt_options_free(&o);
  }

  adj_rt_options o;
  adj_rt_options_init(&o);
  const char *mine[] = {"w"};
  o.freeze = mine; // set by the caller: kept, then appended to
  o.num_freeze = 1;
  std::string value = "b,c";
  ASSERT_EQ(adj_rt_options_set(&o, "freeze", value.c_str()), 0);
  value = "xxx"; // values are copied
  ASSERT_EQ(o.num_freeze, 3);
  EXPECT_STREQ(o.freeze[0], "w");
  EXPECT_STREQ(o.freeze[1], "b");
  EXPECT_STREQ(o.freeze[2], "c");
  ASSERT_EQ(adj_rt_options_set(&o, "data", "train.x=a=b.csv"), 0);
  ASSERT_EQ(adj_rt_options_set(&o, "data", "test.y=y.npy"), 0);
  ASSERT_EQ(o.num_data, 2);
  EXPECT_STREQ(o.data_keys[0], "train.x");
  EXPECT_STREQ(o.data_values[0], "a=b.csv");
  EXPECT_STREQ(o.data_keys[1], "test.y");
  EXPECT_STREQ(o.data_values[1], "y.npy");
  ASSERT_EQ(adj_rt_options_set(&o, "seed", "0"), 0);
  EXPECT_EQ(o.seed, 0);
  ASSERT_EQ(adj_rt_options_set(&o, "no-shuffle", nullptr), 0);
  EXPECT_EQ(o.shuffle, 0);
  ASSERT_EQ(adj_rt_options_set(&o, "lr", "1e-3"), 0);
  EXPECT_EQ(o.lr, 1e-3);
  EXPECT_EQ(adj_rt_options_set(&o, "batch", "99999999999999999999"), 1);
  EXPECT_STREQ(adj_rt_last_error(),
               "--batch: 99999999999999999999 is not a positive integer");
  EXPECT_EQ(adj_rt_options_set(&o, "nope", "1"), 1);
  EXPECT_STREQ(adj_rt_last_error(), "unknown trainer option '--nope'");
  adj_rt_options_free(&o);
  EXPECT_EQ(o.storage, nullptr);
}

} // namespace
