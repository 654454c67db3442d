//===- ScanTest.cpp - scan's gradient against central differences ---------===//
///
/// A scan needs a body function, so the op-level harness of GradTest.cpp
/// cannot build one; these models do, through the frontend: one carry, two
/// carries, two sequences, parameters read inside the body, a gradient
/// reaching the initial carry and the sequence itself, a length-1 scan, a
/// scan over axis 2 and a scan inside a scan's body. Each goes through
/// adj::gradCheck (f64 central differences, every gradient non-zero).
/// Mutation tests break backpropagation through time on purpose (each step
/// recomputed from the wrong carry; no adjoint reaching earlier steps) and
/// expect the check to fail.
///
//===----------------------------------------------------------------------===//
#include "ir/Scan.h"
#include "frontend/Frontend.h"
#include "passes/GradRules.h"
#include "tools/engine/GradCheck.h"

#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>

#include <sstream>

using namespace adj;

namespace {

class ScanTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
};

std::unique_ptr<ModelSpec> compile(const std::string &Src) {
  std::ostringstream Errs;
  DiagEngine D(Errs);
  auto Spec = compileModelSource("scan.adj", Src, D);
  EXPECT_TRUE(Spec) << Errs.str();
  return Spec;
}

GradCheckResult check(const std::string &Src) {
  auto Spec = compile(Src);
  if (!Spec)
    return {};
  GradCheckOptions O;
  O.Classes["y"] = 3;
  return gradCheck(*Spec->M, O);
}

void expectPasses(const std::string &Src) {
  GradCheckResult R = check(Src);
  EXPECT_TRUE(R.Error.empty()) << R.Error;
  for (const ParamCheck &P : R.Params) {
    EXPECT_TRUE(P.Pass) << P.Name << ": rel " << P.MaxRelErr;
    EXPECT_GT(P.MaxAbsGrad, 0) << P.Name << " has an all-zero gradient";
  }
  EXPECT_TRUE(R.Ok) << Src;
}

/// An Elman RNN over x [N, 4, 3]; the loss reads every step's state.
const char *OneCarry = R"(
input x : f32[N, 4, 3]
input y : i32[N]
param wi : f32[3, 5] = glorot_uniform
param wh : f32[5, 5] = glorot_uniform
param b : f32[5] = normal(0, 0.1)
param h0 : f32[5] = normal(0, 0.5)
param wo : f32[5, 3] = glorot_uniform
def cell(h, xt) = tanh(xt @ wi + h @ wh + b)
hs = scan(cell, broadcast_to(h0, [N, 5]), x)
loss cross_entropy(hs @ wo, broadcast_to(reshape(y, [N, 1]), [N, 4]))
)";

TEST_F(ScanTest, OneCarry) { expectPasses(OneCarry); }

TEST_F(ScanTest, TwoCarriesTwoSequences) {
  expectPasses(R"(
input x : f32[N, 3, 2]
input u : f32[N, 3, 4]
input y : i32[N]
param a : f32[2, 4] = glorot_uniform
param wh : f32[4, 4] = glorot_uniform
param wo : f32[4, 3] = glorot_uniform
def cell(h, c, xt, ut) {
  g = xt @ a + h @ wh
  c2 = sigmoid(g) * c + tanh(ut * g)
  return tanh(c2) * ut, c2
}
hs, cs = scan(cell, [zeros([N, 4]), ones([N, 4])], [x, u])
last = reshape(slice(hs + cs, 1, 2, 3), [N, 4])
loss cross_entropy(last @ wo, y)
)");
}

TEST_F(ScanTest, GradientReachesInitAndSequence) {
  // x and h0 come from parameters, so the scan's inputs need adjoints too.
  expectPasses(R"(
input x : f32[N, 5, 2]
input y : i32[N]
param scale : f32[2] = normal(1, 0.3)
param wh : f32[3, 3] = glorot_uniform
param wx : f32[2, 3] = glorot_uniform
param w0 : f32[2, 3] = glorot_uniform
param wo : f32[3, 3] = glorot_uniform
def cell(h, xt) = tanh(h @ wh + xt @ wx)
h0 = tanh(reshape(slice(x, 1, 0, 1), [N, 2]) @ w0)
hs = scan(cell, h0, x * scale)
loss cross_entropy(reshape(slice(hs, 1, 4, 5), [N, 3]) @ wo, y)
)");
}

TEST_F(ScanTest, LengthOneAndAxisTwo) {
  expectPasses(R"(
input x : f32[N, 2, 1, 3]
input y : i32[N]
param w : f32[2, 2] = glorot_uniform
param v : f32[2] = normal(0, 1)
def cell(h, xt) = sin(h @ w + xt * v)
hs = scan(cell, zeros([N, 2]), reshape(x, [N, 2, 3]), axis = 2)
loss cross_entropy(reshape(sum(hs, axis = 1), [N, 3]), y)
)");
  expectPasses(R"(
input x : f32[N, 1, 3]
input y : i32[N]
param w : f32[3, 3] = glorot_uniform
def cell(h, xt) = tanh(h @ w + xt)
hs = scan(cell, ones([N, 3]), x)
loss cross_entropy(reshape(hs, [N, 3]), y)
)");
}

TEST_F(ScanTest, ScanInsideAScanBody) {
  // The inner body reads `w` through the outer body's capture.
  expectPasses(R"(
input x : f32[N, 3, 2, 2]
input y : i32[N]
param w : f32[2, 2] = glorot_uniform
param v : f32[2, 3] = glorot_uniform
def inner(g, xt) = tanh(g @ w + xt)
def outer(h, xs) {
  gs = scan(inner, h, xs)
  return reshape(slice(gs, 1, 1, 2), [N, 2])
}
hs = scan(outer, zeros([N, 2]), x)
loss cross_entropy(reshape(slice(hs, 1, 2, 3), [N, 2]) @ v, y)
)");
}

TEST_F(ScanTest, BodyIsHeldOnce) {
  // The IR does not grow with the sequence length.
  auto Count = [](int T) {
    auto Spec = compile("input x : f32[N, " + std::to_string(T) +
                        ", 3]\nparam w : f32[3, 3] = glorot_uniform\n"
                        "def cell(h, xt) = tanh(h @ w + xt)\n"
                        "loss sum(scan(cell, zeros([N, 3]), x))\n");
    size_t Ops = 0;
    for (auto &F : Spec->M->Functions)
      Ops += F->Ops.size();
    return Ops;
  };
  EXPECT_EQ(Count(16), Count(1024));
}

TEST_F(ScanTest, MutatedBackpropagationThroughTimeIsCaught) {
  for (ScanGradMutation M :
       {ScanGradMutation::NoShift, ScanGradMutation::OneStep}) {
    setScanGradMutationForTesting(M);
    GradCheckResult R = check(OneCarry);
    setScanGradMutationForTesting(ScanGradMutation::None);
    EXPECT_TRUE(R.Error.empty()) << R.Error;
    EXPECT_FALSE(R.Ok) << "mutation " << int(M) << " passed the check";
  }
  EXPECT_TRUE(check(OneCarry).Ok);
}

} // namespace
