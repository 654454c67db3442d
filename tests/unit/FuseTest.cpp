//===- FuseTest.cpp - The fuse pass against unfused code ------------------===//
///
/// Functions mixing elementwise chains (unary ops with attributes, adjoint
/// ops, broadcasts, values used twice, results), matmuls of explicit
/// transposes, matmuls followed by elementwise ops (epilogues) and
/// non-elementwise ops are compiled twice, as built and after the fuse
/// pass, and must compute the same results; the pass must actually have
/// fused. A malformed `fused` body is a codegen error, not a crash.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "passes/Pass.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

/// A function exercising the fusion rules.
void build(Module &M, DType T) {
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", ty(T, {kBatch, 5}), ArgRole::Input);
  Value *W = F.addArg("w", ty(T, {7, 5}), ArgRole::Param);
  Value *Bv = F.addArg("b", ty(T, {7}), ArgRole::Param);
  Value *S = F.addArg("s", ty(T, {}), ArgRole::Hyper);
  Value *Wt = B.create(OpKind::Transpose, {W}, {{"perm", Attr(Dims{1, 0})}});
  Value *H = B.create(OpKind::Add, {B.create(OpKind::MatMul, {X, Wt}), Bv});
  Value *A = B.create(OpKind::LeakyRelu, {H}, {{"alpha", 0.2}});
  Value *E = B.create(OpKind::Tanh, {B.create(OpKind::Mul, {A, S})});
  Value *G = B.create(OpKind::SigmoidGrad, {E, H});
  Value *R = B.create(OpKind::ReduceSum, {G}, axesAttr({1}));
  Value *Q = B.create(OpKind::Div, {G, B.create(OpKind::Exp, {Bv})});
  Value *Y = B.create(
      OpKind::Sub,
      {Q, B.create(OpKind::Reshape, {R}, {{"shape", Attr(Dims{kBatch, 1})}})});
  Value *Z = B.create(
      OpKind::MatMul,
      {B.create(OpKind::Transpose, {Y}, {{"perm", Attr(Dims{1, 0})}}), X});
  // A product whose bias and activation fold into its epilogue, and one
  // summed with another, which does not fold (a full-size input).
  Value *P = B.create(OpKind::MatMul, {X, Wt});
  Value *P2 = B.create(OpKind::MatMul, {X, Wt});
  Value *RQ = B.create(OpKind::Relu, {B.create(OpKind::Add, {P2, Bv})});
  Value *PQ = B.create(OpKind::Tanh, {B.create(OpKind::Add, {RQ, P})});
  F.Results = {{"a", A}, {"y", Y}, {"z", Z}, {"pq", PQ}};
}

TEST(Fuse, SameResultsAsUnfused) {
  for (DType T : FloatTypes) {
    Compiled Plain, Fused;
    build(Plain.M, T);
    build(Fused.M, T);
    PassManager PM;
    std::string Err;
    ASSERT_TRUE(PM.parsePipeline("fuse", Err)) << Err;
    PassContext Ctx;
    std::ostringstream Log;
    ASSERT_TRUE(PM.run(Fused.M, Ctx, Log)) << Log.str();
    const Function &F = *Fused.M.function("f");
    unsigned NumFused = 0, NumTransposes = 0, NumEpilogues = 0;
    for (auto &O : F.Ops) {
      NumFused += O->Kind == OpKind::Fused;
      NumTransposes += O->Kind == OpKind::Transpose;
      NumEpilogues += O->hasAttr("epilogue");
    }
    EXPECT_GE(NumFused, 2u);
    EXPECT_GE(NumEpilogues, 2u);
    EXPECT_EQ(NumTransposes, 0u);
    EXPECT_LT(F.Ops.size(), Plain.M.function("f")->Ops.size());
    Plain.compile();
    Fused.compile();
    for (int64_t N : BatchSizes) {
      std::vector<Vec> Args = {randVec(N * 5, -2, 2, T, 1),
                               randVec(35, -1, 1, T, 2),
                               randVec(7, -1, 1, T, 3),
                               {0.7}};
      std::vector<Vec> Want, Got;
      ASSERT_EQ(Plain.run("f", N, Args, Want), 0);
      ASSERT_EQ(Fused.run("f", N, Args, Got), 0);
      for (size_t I = 0; I < Want.size(); ++I)
        expectClose(Got[I], Want[I], tolFor(T) * 10,
                    label("fused result " + std::to_string(I), T, N));
    }
  }
}

TEST(Fuse, BadBodyIsACodegenError) {
  for (const char *Body :
       {"", "matmul i0 i1", "add i0 i9", "add i0 t0", "relu i0 i0",
        "leaky_relu:x i0", "leaky_relu:beta=1 i0", "leaky_relu:alpha= i0",
        "exp:alpha=1 i0", "neg q0"}) {
    Module M;
    Function &F = *M.addFunction("f");
    Builder B(F);
    Value *X = F.addArg("x", ty(DType::F32, {3}), ArgRole::Input);
    Value *V = B.createExplicit(
        OpKind::Fused, {X}, {{"body", std::string(Body)}}, ty(DType::F32, {3}));
    F.Results = {{"y", V}};
    llvm::LLVMContext Ctx;
    auto LM = lowerToLLVM(M, Ctx);
    EXPECT_FALSE(LM) << Body;
    if (!LM)
      llvm::consumeError(LM.takeError());
  }
}

} // namespace
