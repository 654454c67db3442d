//===- MemoryBoundTest.cpp - The memory lower bound and the arena ---------===//
///
/// memoryBound on a hand-built step whose bound is computed by hand: the
/// parameter, its gradient (excluded from the activations) and the
/// optimizer state once each, and the activations live at once as
/// polynomials in the batch size; heldBytes adds a second buffer per update
/// not written in place. The arena's offsets let smaller values fill the
/// block of a larger dead one. Then every example (examples/*.adj and
/// examples/transfer/*.adj), compiled to its final IR without LLVM: every
/// step function's blocks are aligned and apart when live at one unit, at
/// batch sizes below, at and above the model's (as lowered and in checked
/// mode); and what its train step holds (scratch arena + parameters,
/// buffers and optimizer state) is at most 1.2x the bound at the model's
/// batch size, except for the examples listed in kNotMet (none now), held
/// to their ratio. The table it prints is the one in bench/RESULTS.md.
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
  // Held at n = 10: e (12 n bytes in a block of 64 n, aligned for every
  // n) in the slice of n^1; g (12 bytes) and the constant (4), live
  // together at the update, in two 64-byte blocks of the slice of n^0;
  // + 64 bytes of slack; b and m updated in place.
  EXPECT_EQ(P.Arena.Slices, (std::vector<ByteSize>{{64, 1}, {128, 0}}));
  EXPECT_EQ(P.Arena.bytes(10), 640 + 128 + 64);
  EXPECT_EQ(heldBytes(F, P, 10), 832 + 12 + 12);
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

TEST(MemoryBound, SmallerValuesFillTheTopsOfLargerOnes) {
  // Without loop groups over x: f32[n, 32]: a = e^x (128 n bytes), b = a w
  // (64 n), c = e^b, d = -b (64 n each), the result c + d. a and b are
  // live together at the matmul, b, c and d at d's unit: 192 n bytes at
  // most. Once a is dead, c and d share the 128 n bytes a had: slices
  // shared whole (a's, b's and one more) would hold 256 n.
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", ty(DType::F32, {kBatch, 32}), ArgRole::Input);
  Value *W = F.addArg("w", ty(DType::F32, {32, 16}), ArgRole::Param);
  Value *A = B.create(OpKind::Exp, {X});
  Value *Bv = B.create(OpKind::MatMul, {A, W});
  Value *C = B.create(OpKind::Exp, {Bv});
  Value *D = B.create(OpKind::Neg, {Bv});
  F.Results = {{"e", B.create(OpKind::Add, {C, D})}};
  StepPlan P = planStep(F, {/*GroupLoops=*/false, /*InPlace=*/true});
  ASSERT_EQ(P.Units.size(), 5u);
  EXPECT_TRUE(P.Units[1].Workspace.empty());
  EXPECT_EQ(P.Arena.Slices, (std::vector<ByteSize>{{192, 1}}));
  std::vector<int64_t> Offsets;
  for (const Buffer &Buf : P.Arena.Buffers)
    Offsets.push_back(Buf.Kind == Buffer::Scratch ? Buf.Offset : -1);
  // a at 0, b above it, c where a was, d between c and b.
  EXPECT_EQ(Offsets, (std::vector<int64_t>{0, 128, 0, 64, -1}));
  MemoryBound Bound = memoryBound(F, P);
  EXPECT_EQ(Bound.activations(64), 192 * 64);
  EXPECT_EQ(P.Arena.bytes(64), 192 * 64 + 64);
}

/// A block of a step's arena: where it is, its size, the units it is live
/// at (as planArena defines them).
struct Block {
  ArenaPlace At;
  ByteSize Bytes;
  size_t First, Last;
};

/// Every block \p P places: the scratch values and the workspaces.
std::vector<Block> blocksOf(const StepPlan &P) {
  std::vector<Block> Blocks;
  std::map<const Value *, const Value *> Root;
  auto RootOf = [&](const Value *V) {
    auto It = Root.find(V);
    return It == Root.end() ? V : It->second;
  };
  std::map<const Value *, size_t> BlockOf;
  size_t Next = 0;
  for (size_t U = 0; U < P.Units.size(); ++U) {
    const StepUnit &Unit = P.Units[U];
    for (size_t K = 0; K < Unit.Outputs.size(); ++K, ++Next) {
      const Buffer &Buf = P.Arena.Buffers[Next];
      if (Buf.Kind == Buffer::Alias)
        Root[Buf.V] = RootOf(Buf.Source);
      if (Buf.Kind != Buffer::Scratch)
        continue;
      BlockOf[Buf.V] = Blocks.size();
      Blocks.push_back({{Buf.Index, Buf.Offset}, bytesOf(Buf.V->type()), U, U});
    }
    for (const Value *V : Unit.Inputs)
      if (auto It = BlockOf.find(RootOf(V)); It != BlockOf.end())
        Blocks[It->second].Last = U;
    for (size_t I = 0; I < Unit.Workspace.size(); ++I)
      Blocks.push_back({Unit.WorkspaceAt[I], Unit.Workspace[I], U, U});
  }
  return Blocks;
}

/// Checks that \p P's blocks are 64-byte aligned, inside the arena and
/// apart when live at one unit, at batch size \p N.
void checkLayout(const StepPlan &P, int64_t N, const std::string &Name) {
  std::vector<int64_t> Starts; // Of the slices.
  int64_t End = 0;
  for (ByteSize S : P.Arena.Slices) {
    Starts.push_back(End);
    End += (S.at(N) + 63) & ~int64_t(63);
  }
  std::vector<Block> Blocks = blocksOf(P);
  std::vector<std::pair<int64_t, int64_t>> Spans;
  for (const Block &B : Blocks) {
    ASSERT_LT(B.At.Slice, P.Arena.Slices.size()) << Name;
    unsigned Pow = P.Arena.Slices[B.At.Slice].Pow;
    EXPECT_EQ(Pow, B.Bytes.Pow) << Name;
    int64_t Begin = Starts[B.At.Slice] + ByteSize{B.At.Offset, Pow}.at(N);
    Spans.push_back({Begin, Begin + B.Bytes.at(N)});
    EXPECT_EQ(Begin % 64, 0) << Name << " at n = " << N;
    EXPECT_LE(Spans.back().second + 64, P.Arena.bytes(N)) << Name;
  }
  for (size_t I = 0; I < Blocks.size(); ++I)
    for (size_t J = I + 1; J < Blocks.size(); ++J)
      if (Blocks[I].First <= Blocks[J].Last &&
          Blocks[J].First <= Blocks[I].Last && Blocks[I].Bytes.Mul > 0 &&
          Blocks[J].Bytes.Mul > 0) {
        EXPECT_TRUE(Spans[I].second <= Spans[J].first ||
                    Spans[J].second <= Spans[I].first)
            << Name << ": blocks " << I << " and " << J
            << " overlap at n = " << N;
      }
}

struct Row {
  std::string Name;
  int64_t Batch, Bound, Arena, Params, Held;
};

/// The model file \p Path compiled to its final IR (no LLVM).
std::unique_ptr<Module> buildExample(const std::filesystem::path &Path,
                                     int64_t &Batch) {
  std::ostringstream OS;
  DiagEngine D(OS);
  auto Spec = compileModelFile(Path.string(), D);
  EXPECT_TRUE(Spec) << OS.str();
  if (!Spec)
    return nullptr;
  std::ostringstream Err;
  Engine E(EngineOptions{}, D, Err, "test");
  std::unique_ptr<Module> IR = E.buildIR(*Spec, /*AllOptimizers=*/false);
  EXPECT_TRUE(IR) << OS.str() << Err.str();
  Batch = Spec->Train.Batch;
  return IR;
}

/// The examples: examples/*.adj and examples/transfer/*.adj.
std::vector<std::filesystem::path> exampleFiles() {
  namespace fs = std::filesystem;
  std::vector<fs::path> Files;
  for (const char *Dir : {"/examples", "/examples/transfer"})
    for (const auto &E :
         fs::directory_iterator(ADJ_SOURCE_DIR + std::string(Dir)))
      if (E.path().extension() == ".adj")
        Files.push_back(E.path());
  std::sort(Files.begin(), Files.end());
  return Files;
}

/// The train step of the model file \p Path planned as lowering plans it.
std::optional<Row> measure(const std::filesystem::path &Path) {
  int64_t N = 0;
  std::unique_ptr<Module> IR = buildExample(Path, N);
  if (!IR)
    return std::nullopt;
  const Function &F = *IR->function("train_step");
  StepPlan P = planStep(F, LowerOptions{}, IR.get());
  MemoryBound B = memoryBound(F, P);
  Row R{Path.parent_path().filename().string() + "/" + Path.filename().string(),
        N,
        B.bytes(N),
        P.Arena.bytes(N),
        B.Params.at(N) + B.State.at(N),
        heldBytes(F, P, N)};
  return R;
}

TEST(MemoryBound, EveryExamplesBlocksLiveTogetherAreApartAtEveryBatch) {
  // Every step function of every example, planned as lowered and in
  // checked mode (one kernel per op), at batch sizes below, at and above
  // the model's: the same offsets serve every n.
  std::vector<std::filesystem::path> Files = exampleFiles();
  ASSERT_GE(Files.size(), 10u);
  for (const std::filesystem::path &Path : Files) {
    int64_t Batch = 0;
    std::unique_ptr<Module> IR = buildExample(Path, Batch);
    if (!IR)
      continue;
    for (const auto &F : IR->Functions)
      for (bool Checked : {false, true}) {
        LowerOptions Opts;
        if (Checked)
          Opts.CheckFunction = F->Name;
        StepPlan P = planStep(*F, Opts.forFunction(F->Name), IR.get());
        for (int64_t N : {int64_t(1), int64_t(7), Batch, int64_t(1000)})
          checkLayout(P, N, Path.filename().string() + " @" + F->Name);
      }
  }
}

/// The target: what a train step holds is at most 1.2x its bound.
constexpr double kTarget = 1.2;

/// Examples that do not meet the target yet, with the ratio they must not
/// exceed (today's, rounded up). None since the arena places every value at
/// its own offset (ArenaPlan); with slices shared whole, the convolutional
/// examples held 1.21x-1.52x the bound.
const std::map<std::string, double> kNotMet = {};

TEST(MemoryBound, EveryExampleHoldsAtMost1_2xTheBound) {
  namespace fs = std::filesystem;
  std::vector<fs::path> Files = exampleFiles();
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
    if (Known != kNotMet.end()) {
      EXPECT_GT(Ratio, kTarget) << R->Name << " meets the target now";
    }
  }
}

} // namespace
