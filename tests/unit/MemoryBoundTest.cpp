//===- MemoryBoundTest.cpp - The memory lower bound and the arena ---------===//
///
/// memoryBound on a hand-built step whose bound is computed by hand: the
/// parameter, its gradient (excluded from the activations) and the
/// optimizer state once each, and the activations live at once as
/// polynomials in the batch size; heldBytes adds a second buffer per update
/// not written in place. Then every example (examples/*.adj and
/// examples/transfer/*.adj), compiled to its final IR without LLVM: what its
/// train step holds (scratch arena + parameters, buffers and optimizer
/// state) is at most 1.2x the bound at the model's batch size, except for
/// the convolutional examples listed in kNotMet, held to today's ratio. The
/// table it prints is the one in bench/RESULTS.md.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "codegen/StepPlan.h"
#include "tools/engine/Engine.h"

#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// e = exp(x + b), loss = sum(e), g = sum over the batch of e (b's
/// gradient), m' = 0.9 m + g, b' = b - lr m' over x: f32[n, 3], b, m: [3].
void buildStep(Module &M) {
  Function &F = *M.addFunction("train_step");
  Builder B(F);
  Value *X = F.addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *Bv = F.addArg("b", ty(DType::F32, {3}), ArgRole::Param);
  Value *Mv = F.addArg("opt.momentum.b", ty(DType::F32, {3}), ArgRole::State);
  Value *Lr = F.addArg("lr", ty(DType::F32, {}), ArgRole::Hyper);
  Value *E = B.create(OpKind::Exp, {B.create(OpKind::Add, {X, Bv})});
  Value *Loss = B.create(OpKind::ReduceSum, {E}, axesAttr({0, 1}));
  Value *G = B.create(OpKind::ReduceSum, {E}, axesAttr({0}));
  Value *M2 =
      B.create(OpKind::Add,
               {B.create(OpKind::Mul, {B.constant(0.9, DType::F32), Mv}), G});
  Value *B2 = B.create(OpKind::Sub, {Bv, B.create(OpKind::Mul, {Lr, M2})});
  F.Results = {{"loss", Loss}, {"b", B2}, {"opt.momentum.b", M2}};
}

TEST(MemoryBound, ByHandOnASmallStep) {
  Module M;
  buildStep(M);
  const Function &F = *M.function("train_step");
  StepPlan P = planStep(F);
  MemoryBound Bound = memoryBound(F, P);
  // b, its gradient and m: 12 bytes each, whatever the batch.
  EXPECT_EQ(Bound.Params, BytePoly{{12}});
  EXPECT_EQ(Bound.Grads, BytePoly{{12}});
  EXPECT_EQ(Bound.State, BytePoly{{12}});
  // Units: exp(x + b) (one loop storing e), the two sums, the constant,
  // the update loop. e (12n bytes) is live from its loop through g's sum;
  // g is a gradient; the constant (4 bytes) through the update loop.
  ASSERT_EQ(P.Units.size(), 5u);
  ASSERT_EQ(Bound.Peaks.size(), 2u);
  EXPECT_EQ(Bound.Peaks[0], (BytePoly{{0, 12}}));
  EXPECT_EQ(Bound.PeakUnits[0], 0u);
  EXPECT_EQ(Bound.Peaks[1], BytePoly{{4}});
  EXPECT_EQ(Bound.PeakUnits[1], 3u);
  EXPECT_EQ(Bound.activations(0), 4);
  EXPECT_EQ(Bound.activations(10), 120);
  EXPECT_EQ(Bound.bytes(10), 36 + 120);
  EXPECT_EQ(Bound.bytes(1), 36 + 12);
  EXPECT_EQ(Bound.polynomials(),
            (std::vector<BytePoly>{BytePoly{{36, 12}}, BytePoly{{40}}}));
  // Held at n = 10: slices of 120 (e), 12 (g) and 4 bytes (the constant),
  // each rounded to 64, + 64 bytes of slack; b and m updated in place.
  EXPECT_EQ(P.Arena.bytes(10), 128 + 64 + 64 + 64);
  EXPECT_EQ(heldBytes(F, P, 10), 320 + 12 + 12);
  // Written elsewhere, the updates need a second b and m.
  StepPlan Copies = planStep(F, {/*GroupLoops=*/true, /*InPlace=*/false});
  EXPECT_EQ(heldBytes(F, Copies, 10), Copies.Arena.bytes(10) + 2 * 24);
}

TEST(MemoryBound, TheGradientIsNotAnActivation) {
  // Without loop groups every op stores its value: x + b and e are both
  // live at the exp; g (the gradient) is still excluded, while 0.9 m (12
  // bytes, live with the constant at the mul) is a temporary and counts.
  Module M;
  buildStep(M);
  const Function &F = *M.function("train_step");
  StepPlan P = planStep(F, {/*GroupLoops=*/false, /*InPlace=*/true});
  MemoryBound Bound = memoryBound(F, P);
  EXPECT_EQ(Bound.activations(0), 4 + 12);
  EXPECT_EQ(Bound.activations(10), 240); // x + b and e at the exp
}

struct Row {
  std::string Name;
  int64_t Batch, Bound, Arena, Params, Held;
};

/// The train step of the model file \p Path planned as lowering plans it.
std::optional<Row> measure(const std::filesystem::path &Path) {
  std::ostringstream OS;
  DiagEngine D(OS);
  auto Spec = compileModelFile(Path.string(), D);
  EXPECT_TRUE(Spec) << OS.str();
  if (!Spec)
    return std::nullopt;
  std::ostringstream Err;
  Engine E(EngineOptions{}, D, Err, "test");
  std::unique_ptr<Module> IR = E.buildIR(*Spec, /*AllOptimizers=*/false);
  EXPECT_TRUE(IR) << OS.str() << Err.str();
  if (!IR)
    return std::nullopt;
  const Function &F = *IR->function("train_step");
  StepPlan P = planStep(F, LowerOptions{}, IR.get());
  int64_t N = Spec->Train.Batch;
  MemoryBound B = memoryBound(F, P);
  Row R{Path.parent_path().filename().string() + "/" + Path.filename().string(),
        N,
        B.bytes(N),
        P.Arena.bytes(N),
        B.Params.at(N) + B.State.at(N),
        heldBytes(F, P, N)};
  return R;
}

/// The target: what a train step holds is at most 1.2x its bound.
constexpr double kTarget = 1.2;

/// Examples that do not meet the target yet, with the ratio they must not
/// exceed (today's, rounded up): convolutional steps whose largest values
/// (activations, im2col workspaces) differ in size, so that slices shared
/// whole between values (ArenaPlan) leave gaps an offset-based arena would
/// fill (docs/memory.md, "What is not met").
const std::map<std::string, double> kNotMet = {
    {"examples/lenet.adj", 1.33},       {"examples/mnist_cnn.adj", 1.25},
    {"examples/plain_small.adj", 1.53}, {"examples/resnet_small.adj", 1.22},
    {"transfer/finetune.adj", 1.25},    {"transfer/pretrain.adj", 1.25},
};

TEST(MemoryBound, EveryExampleHoldsAtMost1_2xTheBound) {
  namespace fs = std::filesystem;
  std::vector<fs::path> Files;
  for (const char *Dir : {"/examples", "/examples/transfer"})
    for (const auto &E :
         fs::directory_iterator(ADJ_SOURCE_DIR + std::string(Dir)))
      if (E.path().extension() == ".adj")
        Files.push_back(E.path());
  std::sort(Files.begin(), Files.end());
  ASSERT_GE(Files.size(), 10u);
  std::cout << "| example | batch | bound | arena | params + state | "
               "arena + params + state | ratio | <= 1.2x |\n"
               "|---|---|---|---|---|---|---|---|\n";
  for (const fs::path &Path : Files) {
    SCOPED_TRACE(Path.string());
    std::optional<Row> R = measure(Path);
    if (!R)
      continue;
    double Ratio = double(R->Held) / double(R->Bound);
    auto Known = kNotMet.find(R->Name);
    double Limit = Known == kNotMet.end() ? kTarget : Known->second;
    std::cout << fmt::format("| {} | {} | {} | {} | {} | {} | {:.3f} | {} |\n",
                             R->Name, R->Batch, R->Bound, R->Arena, R->Params,
                             R->Held, Ratio,
                             Ratio <= kTarget ? "met" : "NOT MET");
    EXPECT_GT(R->Bound, 0);
    EXPECT_EQ(R->Held, R->Arena + R->Params); // every update in place
    EXPECT_LE(Ratio, Limit) << R->Name << ": holds " << R->Held
                            << " bytes, the bound is " << R->Bound;
    // An example that meets the target comes off the list.
    if (Known != kNotMet.end())
      EXPECT_GT(Ratio, kTarget) << R->Name << " meets the target now";
  }
}

} // namespace
