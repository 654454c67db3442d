//===- FuseReduceTest.cpp - Reductions fused with their producers ---------===//
///
/// A function with reductions of elementwise values (a bias gradient whose
/// relu_grad is read again, row sums, a batch mean with keepdims, a max and
/// a min) is compiled as built and after the fuse pass, which turns them
/// into fused ops with reducing bodies (ir/Body.h) run in their producers'
/// loops. The results agree with the unfused ones (the bias gradient's sum
/// over the batch bit for bit: the loop sums in the same order), with and
/// without loop groups, and do not depend on the thread count. Malformed
/// reducing bodies are codegen errors. The sum of cross_entropy_grad's
/// rows runs in its kernel (a row group).
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "codegen/StepPlan.h"
#include "ir/Body.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "runtime/adjoint_rt.h"

#include <numeric>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// Reductions of loop values, one of an argument (not fused).
void build(Module &M, DType T, int64_t W) {
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *A = F.addArg("a", ty(T, {kBatch, W}), ArgRole::Input);
  Value *H = F.addArg("h", ty(T, {kBatch, W}), ArgRole::Input);
  Value *Bv = F.addArg("b", ty(T, {W}), ArgRole::Param);
  Value *G = B.create(OpKind::ReluGrad, {A, H});
  Value *Db = B.create(OpKind::ReduceSum, {G}, axesAttr({0}));
  Value *U = B.create(OpKind::Mul, {G, Bv}); // G read again, after Db.
  Value *Rows = B.create(
      OpKind::ReduceSum,
      {B.create(OpKind::Exp, {B.create(OpKind::Mul, {A, H})})}, axesAttr({1}));
  Attrs Keep = axesAttr({0});
  Keep["keepdims"] = true;
  Value *Mean =
      B.create(OpKind::ReduceMean, {B.create(OpKind::Sub, {A, Bv})}, Keep);
  Value *Max = B.create(OpKind::ReduceMax, {B.create(OpKind::Tanh, {A})}, {});
  Value *Min =
      B.create(OpKind::ReduceMin, {B.create(OpKind::Neg, {H})}, axesAttr({1}));
  Value *Plain = B.create(OpKind::ReduceSum, {A}, axesAttr({0}));
  F.Results = {{"db", Db},   {"u", U},     {"rows", Rows},  {"mean", Mean},
               {"max", Max}, {"min", Min}, {"plain", Plain}};
}

void fuse(Module &M) {
  PassManager PM;
  std::string Err;
  ASSERT_TRUE(PM.parsePipeline("fuse", Err)) << Err;
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM.run(M, Ctx, Log)) << Log.str();
  std::vector<std::string> Errors = verifyModule(M);
  EXPECT_TRUE(Errors.empty()) << Errors.front();
}

std::vector<Vec> argsFor(DType T, int64_t N, int64_t W) {
  return {randVec(N * W, -2, 2, T, 1), randVec(N * W, -1, 1, T, 2),
          randVec(W, -1, 1, T, 3)};
}

TEST(FuseReduce, SameResultsAsUnfused) {
  // 16 and 37 f32 columns (16 f64) keep the column sums in registers
  // (Elementwise.cpp's emitColumnReductions), 37 f64 and 100 do not.
  for (int64_t W : {37, 16, 100})
    for (DType T : FloatTypes)
      for (bool Groups : {true, false}) {
        Compiled Plain, Fused;
        build(Plain.M, T, W);
        build(Fused.M, T, W);
        fuse(Fused.M);
        const Function &F = *Fused.M.function("f");
        unsigned Reducing = 0, Reductions = 0;
        for (auto &O : F.Ops) {
          Reducing += isReducingFused(*O);
          Reductions += isBodyReduction(O->Kind);
        }
        EXPECT_EQ(Reducing, 5u) << "db, rows, mean, max, min";
        EXPECT_EQ(Reductions, 1u) << "the sum of an argument is no loop's";
        // The bias gradient joins relu_grad's loop, with u: one unit.
        bool Joined = false;
        for (const StepUnit &U : planStep(F).Units)
          Joined |= U.Ops.size() == 3 && isReducingFused(*F.Ops[U.Ops[1]]);
        EXPECT_TRUE(Joined);
        LowerOptions L;
        L.GroupLoops = Groups;
        Plain.compile(2, L);
        Fused.compile(2, L);
        for (int64_t N : BatchSizes) {
          std::vector<Vec> Args = argsFor(T, N, W), Want, Got;
          ASSERT_EQ(Plain.run("f", N, Args, Want), 0);
          ASSERT_EQ(Fused.run("f", N, Args, Got), 0);
          EXPECT_EQ(Got[0], Want[0])
              << "the bias gradient, n=" << N << ", w=" << W;
          for (size_t I = 1; I < Want.size(); ++I)
            expectClose(Got[I], Want[I], tolFor(T) * 10,
                        label(F.Results[I].Name, T, N));
        }
      }
}

/// The output layer's gradients: cross_entropy_grad of [N, ..., C] logits
/// and the sum of its rows (the bias gradient).
void buildRows(Module &M, DType T, const Dims &D) {
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *Dy = F.addArg("dy", ty(T, {}), ArgRole::Input);
  Value *L = F.addArg("l", ty(T, D), ArgRole::Input);
  Value *Y = F.addArg("y", ty(DType::I32, Dims(D.begin(), D.end() - 1)),
                      ArgRole::Input);
  Value *G = B.create(OpKind::CrossEntropyGrad, {Dy, L, Y});
  std::vector<int64_t> Lead(D.size() - 1);
  std::iota(Lead.begin(), Lead.end(), 0);
  F.Results = {{"g", G},
               {"db", B.create(OpKind::ReduceSum, {G}, axesAttr(Lead))}};
}

TEST(FuseReduce, CrossEntropyGradRowSums) {
  // fuse makes the bias gradient a row sum (isRowSum) and StepPlan puts it
  // in cross_entropy_grad's unit (a row group), whose kernel sums the rows
  // as it computes them: rows as lanes up to 8 classes, else row by row.
  // The gradient is bit for bit the unfused one, the sums agree, and a bad
  // label still fails the step.
  for (DType T : FloatTypes)
    for (const Dims &D :
         {Dims{kBatch, 3}, Dims{kBatch, 12}, Dims{kBatch, 2, 5}})
      for (bool Groups : {true, false}) {
        Compiled Plain, Fused;
        buildRows(Plain.M, T, D);
        buildRows(Fused.M, T, D);
        fuse(Fused.M);
        const Function &F = *Fused.M.function("f");
        ASSERT_TRUE(isRowSum(*F.Ops[1]));
        LowerOptions L;
        L.GroupLoops = Groups;
        EXPECT_EQ(planStep(F, L).Units.size(), Groups ? 1u : 2u);
        Plain.compile(2, L);
        Fused.compile(2, L);
        for (int64_t N : {1, 5, 16, 21, 64}) {
          int64_t C = D.back(), R = numel(concrete(ty(T, D), N)) / C;
          std::vector<Vec> Args = {Vec{0.5}, randVec(R * C, -4, 4, T, 5),
                                   randLabels(R, C, 6)},
                           Want, Got;
          ASSERT_EQ(Plain.run("f", N, Args, Want), 0);
          ASSERT_EQ(Fused.run("f", N, Args, Got), 0);
          std::string What = label("C=" + std::to_string(C), T, N);
          EXPECT_EQ(Got[0], Want[0]) << What;
          expectClose(Got[1], Want[1], tolFor(T) * 10, What);
          Args[2][R - 1] = double(C);
          EXPECT_EQ(Fused.run("f", N, Args, Got), 1) << What;
        }
      }
}

TEST(FuseReduce, ResultsDoNotDependOnTheThreadCount) {
  constexpr DType T = DType::F32;
  for (int64_t W : {3000, 24}) {
    Compiled Fused;
    build(Fused.M, T, W);
    fuse(Fused.M);
    Fused.compile();
    for (int64_t N : {64, 37}) {
      std::vector<Vec> Args = argsFor(T, N, W), One;
      adj_rt_set_threads(1);
      ASSERT_EQ(Fused.run("f", N, Args, One), 0);
      for (int64_t Threads : {2, 3}) {
        adj_rt_set_threads(Threads);
        std::vector<Vec> Many;
        ASSERT_EQ(Fused.run("f", N, Args, Many), 0);
        for (size_t I = 0; I < One.size(); ++I)
          ASSERT_EQ(Many[I], One[I]) << I << ", n=" << N << ", " << Threads;
      }
      // The bias gradient against a plain sum in row order.
      Vec Db(W, 0);
      for (int64_t R = 0; R < N; ++R)
        for (int64_t C = 0; C < W; ++C)
          Db[C] += Args[1][R * W + C] > 0 ? Args[0][R * W + C] : 0;
      expectClose(One[0], Db, tolFor(T) * 10, "db");
    }
  }
  adj_rt_set_threads(0);
}

TEST(FuseReduce, BadReducingBodyIsACodegenError) {
  struct Case {
    const char *Body;
    Dims Result;
  };
  for (Case C :
       {Case{"reduce_sum i0", {3}}, // Sums all: f32[].
        Case{"reduce_sum:axes=[0] i0; neg t0", {3}},
        Case{"reduce_sum:axes=[0] i0 i0", {3}},
        Case{"reduce_sum:axes=[5] i0", {3}}, Case{"reduce_sum:axes=[0 i0", {3}},
        Case{"reduce_sum:axes=[0,] i0", {3}},
        Case{"reduce_max:keepdims=1 i0", {}}}) {
    Module M;
    Function &F = *M.addFunction("f");
    Builder B(F);
    Value *X = F.addArg("x", ty(DType::F32, {2, 3}), ArgRole::Input);
    Value *V =
        B.createExplicit(OpKind::Fused, {X}, {{"body", std::string(C.Body)}},
                         ty(DType::F32, C.Result));
    F.Results = {{"y", V}};
    EXPECT_FALSE(verifyModule(M).empty()) << C.Body;
    llvm::LLVMContext Ctx;
    auto LM = lowerToLLVM(M, Ctx);
    EXPECT_FALSE(LM) << C.Body;
    if (!LM)
      llvm::consumeError(LM.takeError());
  }
}

} // namespace
