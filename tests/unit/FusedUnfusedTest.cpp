//===- FusedUnfusedTest.cpp - Fusion changes speed, not what is learned ---===//
///
/// \file
/// Trains examples/mnist_mlp.adj with Adam and with SGD (bias + relu as
/// matmul epilogues, fused relu adjoints and optimizer updates; SGD's
/// lr * dW in the epilogue of the weight gradient's matmul) for a few steps
/// with the full pipeline and with the `fuse` pass left out
/// (EngineOptions::Fuse, adjc -disable-fuse), through the engine and the
/// runtime's training loop, and compares every saved tensor (parameters
/// and optimizer state) within float tolerance: a fused loop or epilogue
/// evaluates the same expressions, so only rounding (contracted
/// multiply-adds, vector math) may differ.
///
//===----------------------------------------------------------------------===//

#include "frontend/Frontend.h"
#include "runtime/adjoint_rt.h"
#include "tools/engine/Engine.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using Tensors = std::map<std::string, std::vector<float>>;

std::string readFile(const std::string &Path) {
  std::ifstream In(Path, std::ios::binary);
  std::stringstream S;
  S << In.rdbuf();
  return S.str();
}

/// The F32 tensors of a safetensors file.
Tensors readSafetensors(const std::string &Path) {
  std::string Bytes = readFile(Path);
  uint64_t N = 0;
  EXPECT_GE(Bytes.size(), 8u);
  std::memcpy(&N, Bytes.data(), 8);
  auto Header = nlohmann::json::parse(Bytes.substr(8, N));
  const char *Data = Bytes.data() + 8 + N;
  Tensors Out;
  for (auto &[Name, T] : Header.items()) {
    if (Name == "__metadata__" || T["dtype"] != "F32")
      continue;
    size_t Begin = T["data_offsets"][0], End = T["data_offsets"][1];
    std::vector<float> V((End - Begin) / 4);
    std::memcpy(V.data(), Data + Begin, End - Begin);
    Out[Name] = std::move(V);
  }
  return Out;
}

/// The number of `fused` ops and of matmuls with an epilogue in \p M.
std::pair<size_t, size_t> countFused(const adj::Module &M) {
  std::pair<size_t, size_t> N;
  for (const auto &F : M.Functions)
    for (const auto &O : F->Ops) {
      N.first += O->Kind == adj::OpKind::Fused;
      N.second += O->hasAttr("epilogue");
    }
  return N;
}

/// Compiles the MNIST MLP for \p Optimizer with or without fusion, trains
/// \p Steps steps on one thread and returns what --save wrote.
Tensors train(bool Fuse, const char *Optimizer, int Steps,
              const std::string &Save, std::pair<size_t, size_t> &FusedOps) {
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  std::ostringstream Err;
  adj::DiagEngine Diags(Err);
  auto Spec = adj::compileModelSource(Path, readFile(Path), Diags);
  EXPECT_TRUE(Spec) << Err.str();
  if (!Spec)
    return {};
  adj::EngineOptions EO;
  EO.Fuse = Fuse;
  EO.Optimizer = Optimizer;
  EO.ObjectCache = false;
  adj::Engine E(EO, Diags, Err, "test");
  auto CM = E.compile(std::move(Spec));
  EXPECT_TRUE(CM) << Err.str();
  if (!CM)
    return {};
  FusedOps = countFused(*CM->IR);
  adj_rt_options O;
  adj_rt_options_init(&O);
  std::string StepsS = std::to_string(Steps);
  EXPECT_EQ(adj_rt_options_set(&O, "steps", StepsS.c_str()), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "threads", "1"), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "save", Save.c_str()), 0);
  EXPECT_EQ(adj_rt_options_set(&O, "quiet", nullptr), 0);
  EXPECT_EQ(adj_rt_train(&CM->runtimeModel(), &O), 0) << adj_rt_last_error();
  adj_rt_options_free(&O);
  return readSafetensors(Save);
}

class FusedUnfused : public ::testing::TestWithParam<const char *> {};

TEST_P(FusedUnfused, SameParametersAfterTraining) {
  std::string Tmpl = (fs::temp_directory_path() / "adj-fuse-XXXXXX").string();
  std::string Dir = mkdtemp(&Tmpl[0]);
  std::pair<size_t, size_t> FusedOn, FusedOff;
  Tensors Fused =
      train(true, GetParam(), 30, Dir + "/fused.safetensors", FusedOn);
  Tensors Unfused =
      train(false, GetParam(), 30, Dir + "/unfused.safetensors", FusedOff);
  fs::remove_all(Dir);
  EXPECT_GT(FusedOn.first, 0u) << "the full pipeline fuses no loops";
  // In @forward and in @train_step: bias + relu twice, the logits' bias.
  EXPECT_GE(FusedOn.second, 6u) << "fewer epilogues than expected";
  EXPECT_EQ(FusedOff, std::make_pair(size_t(0), size_t(0)))
      << "Fuse = false still fuses";
  ASSERT_FALSE(Fused.empty());
  ASSERT_EQ(Fused.size(), Unfused.size());
  for (auto &[Name, A] : Fused) {
    ASSERT_TRUE(Unfused.count(Name)) << Name;
    const std::vector<float> &B = Unfused.at(Name);
    ASSERT_EQ(A.size(), B.size()) << Name;
    float MaxAbs = 0, MaxDiff = 0;
    for (size_t I = 0; I < A.size(); ++I) {
      ASSERT_TRUE(std::isfinite(A[I]) && std::isfinite(B[I])) << Name;
      MaxAbs = std::max(MaxAbs, std::fabs(A[I]));
      MaxDiff = std::max(MaxDiff, std::fabs(A[I] - B[I]));
    }
    // Rounding differences only: far below the tensor's scale.
    EXPECT_LE(MaxDiff, 1e-6f + 1e-4f * MaxAbs)
        << Name << ": max |fused - unfused| = " << MaxDiff
        << ", max |fused| = " << MaxAbs;
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, FusedUnfused,
                         ::testing::Values("adam", "sgd"));

} // namespace
