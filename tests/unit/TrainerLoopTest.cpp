//===- TrainerLoopTest.cpp - The training loop's per-step fast path -------===//
///
/// \file
/// The epoch loop (runtime/Train.cpp) binds the step's buffers once per
/// epoch, decides each update's buffer when the step is bound and reads the
/// clock only for --log. These tests pin what it must keep: the checkpoints
/// of the model of TrainerTestModel.h are byte for byte those the loop wrote
/// before that work was cut (FNV-1a hashes of the files, recorded with the
/// runtime of main at ca37c92) for SGD and Adam, f32 and f64, a schedule with
/// warm-up, a frozen parameter, --no-shuffle, --on-nonfinite=skip and a stop
/// inside an epoch; and resuming inside an epoch equals training at once when
/// updates go to the other buffer and are never made current (--freeze) and
/// with Adam's extra state.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace adj::trainertest;

namespace {

uint64_t fnv1a(const std::string &bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

struct Golden {
  std::vector<std::string> Args;
  bool F64;
  uint64_t Hash;
};

TEST(TrainerLoop, CheckpointsAreThoseOfThePreviousLoop) {
  const std::vector<Golden> cases = {
      {{"--epochs", "2"}, false, 5552390193216668139ull},
      {{"--epochs", "2"}, true, 15499500130091969173ull},
      {{"--optimizer", "adam", "--epochs", "3"}, false, 6055573760994817464ull},
      {{"--optimizer", "adam", "--schedule", "cosine:t_max=30", "--warmup", "5",
        "--epochs", "3"},
       true,
       15156071852611341298ull},
      {{"--freeze", "b", "--epochs", "2"}, false, 18190708631617236677ull},
      {{"--no-shuffle", "--batch", "5", "--epochs", "2"},
       false,
       15988840932672389939ull},
      {{"--on-nonfinite", "skip", "--epochs", "2"},
       false,
       5552390193216668139ull},
      {{"--steps", "11"}, false, 18238404883751083593ull},
  };
  for (const Golden &g : cases) {
    TempDir dir;
    Model b = linearModel(dir, g.F64 ? ADJ_RT_F64 : ADJ_RT_F32);
    std::string ck = dir.file("ck.safetensors");
    std::vector<std::string> args = g.Args;
    args.insert(args.end(), {"--save", ck});
    train(b.model(), args);
    std::string what = g.F64 ? "f64" : "f32";
    for (const std::string &a : g.Args)
      what += " " + a;
    EXPECT_EQ(fnv1a(readFile(ck)), g.Hash) << what;
  }
}

TEST(TrainerLoop, ResumingInsideAnEpochEqualsTrainingAtOnce) {
  const std::vector<std::vector<std::string>> runs = {
      {"--freeze", "w"},
      {"--freeze", "b", "--optimizer", "adam"},
      {"--optimizer", "adam", "--schedule", "cosine:t_max=30", "--warmup", "3"},
  };
  for (const auto &extra : runs) {
    TempDir dir;
    Model b = linearModel(dir);
    std::string whole = dir.file("whole.safetensors"),
                part = dir.file("part.safetensors"),
                resumed = dir.file("resumed.safetensors");
    auto with = [&](std::vector<std::string> args) {
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    // 8 steps an epoch: 19 steps stop 3 steps into the third epoch.
    train(b.model(), with({"--steps", "19", "--save", whole}));
    train(b.model(), with({"--steps", "11", "--save", part}));
    EXPECT_EQ(Checkpoint(part).meta("epoch_samples"), "24");
    train(b.model(), with({"--load", part, "--steps", "8", "--save", resumed}));
    EXPECT_EQ(readFile(whole), readFile(resumed)) << extra[1];
  }
}

} // namespace
