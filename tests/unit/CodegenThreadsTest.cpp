//===- CodegenThreadsTest.cpp - Parallel kernels do not depend on --threads
//===//
///
/// GEMMs split along N and along M (plain, transposed A, transposed B), a
/// batched matmul split across its matrices, a large fused elementwise kernel
/// (flat and with a broadcast operand) and reductions over the leading and the
/// trailing axis are lowered to parallel loops; run with 1, 2 and 3 threads
/// their results are bit-identical and match the C++ reference.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "runtime/adjoint_rt.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

struct CodegenThreads : ::testing::Test {
  void TearDown() override { adj_rt_set_threads(0); }
};

TEST_F(CodegenThreads, ResultsDoNotDependOnTheThreadCount) {
  constexpr DType T = DType::F32;
  constexpr int64_t W = 3000; // Fused and reduced rows.
  Compiled C;
  Function *F = C.add("f");
  Builder B(*F);
  Value *X = F->addArg("x", ty(T, {kBatch, 300}), ArgRole::Input);
  Value *Wt = F->addArg("w", ty(T, {300, 200}), ArgRole::Param);
  Value *A = F->addArg("a", ty(T, {kBatch, 500}), ArgRole::Input);
  Value *G = F->addArg("g", ty(T, {kBatch, 130}), ArgRole::Input);
  Value *V = F->addArg("v", ty(T, {170, 300}), ArgRole::Param);
  Value *P = F->addArg("p", ty(T, {kBatch, W}), ArgRole::Input);
  Value *Q = F->addArg("q", ty(T, {kBatch, W}), ArgRole::Input);
  Value *R = F->addArg("r", ty(T, {W}), ArgRole::Param);
  Value *Z = F->addArg("z", ty(T, {kBatch, 40, 50}), ArgRole::Input);
  Value *U = F->addArg("u", ty(T, {kBatch, 50, 60}), ArgRole::Input);
  auto Flags = [](bool TA, bool TB) {
    return Attrs{{"transpose_a", Attr(TA)}, {"transpose_b", Attr(TB)}};
  };
  // x @ w: M = n <= N = 200, split along N; a^T @ g: M = 500 > N, along M;
  // x @ v^T: packed panels of a transposed B.
  F->Results.push_back({"xw", B.create(OpKind::MatMul, {X, Wt})});
  F->Results.push_back(
      {"ag", B.create(OpKind::MatMul, {A, G}, Flags(true, false))});
  F->Results.push_back(
      {"xv", B.create(OpKind::MatMul, {X, V}, Flags(false, true))});
  const char *Body = "mul i0 i1;exp t0;add t1 i0";
  F->Results.push_back(
      {"flat", B.createExplicit(OpKind::Fused, {P, Q}, {{"body", Body}},
                                ty(T, {kBatch, W}))});
  F->Results.push_back(
      {"bcast", B.createExplicit(OpKind::Fused, {P, R}, {{"body", Body}},
                                 ty(T, {kBatch, W}))});
  F->Results.push_back(
      {"cols", B.create(OpKind::ReduceSum, {P}, axesAttr({0}))});
  F->Results.push_back(
      {"rows", B.create(OpKind::ReduceSum, {P}, axesAttr({1}))});
  F->Results.push_back({"bmm", B.create(OpKind::MatMul, {Z, U})});

  {
    llvm::LLVMContext Ctx;
    auto LM = lowerToLLVM(C.M, Ctx);
    ASSERT_TRUE(bool(LM)) << toString(LM.takeError());
    std::string IR = printLLVM(**LM);
    size_t Calls = 0;
    for (size_t At = 0;
         (At = IR.find("call void @adj_rt_parallel_for(", At)) != IR.npos; ++At)
      ++Calls;
    EXPECT_EQ(Calls, F->Results.size()) << "every kernel is a parallel loop";
  }
  C.compile();

  for (int64_t N : {64, 37}) {
    std::vector<Vec> Args = {
        randVec(N * 300, -1, 1, T, 1),   randVec(300 * 200, -1, 1, T, 2),
        randVec(N * 500, -1, 1, T, 3),   randVec(N * 130, -1, 1, T, 4),
        randVec(170 * 300, -1, 1, T, 5), randVec(N * W, -1, 1, T, 6),
        randVec(N * W, -1, 1, T, 7),     randVec(W, -1, 1, T, 8),
        randVec(N * 2000, -1, 1, T, 9),  randVec(N * 3000, -1, 1, T, 10)};
    std::vector<Vec> One;
    adj_rt_set_threads(1);
    ASSERT_EQ(C.run("f", N, Args, One), 0);
    for (int64_t Threads : {2, 3}) {
      adj_rt_set_threads(Threads);
      for (int Rep = 0; Rep < 3; ++Rep) {
        std::vector<Vec> Many;
        ASSERT_EQ(C.run("f", N, Args, Many), 0);
        for (size_t I = 0; I < One.size(); ++I)
          ASSERT_EQ(Many[I], One[I]) << F->Results[I].Name << ", n=" << N
                                     << ", " << Threads << " threads";
      }
    }

    const Vec &Xv = Args[0], &Pv = Args[5], &Qv = Args[6], &Rv = Args[7];
    double Tol = tolFor(T) * 10;
    expectClose(One[0], matmulRef(Xv, Args[1], N, 300, 200), Tol, "x @ w");
    expectClose(One[1],
                matmulRef(transposed(Args[2], N, 500), Args[3], 500, N, 130),
                Tol, "a^T @ g");
    expectClose(One[2],
                matmulRef(Xv, transposed(Args[4], 170, 300), N, 300, 170), Tol,
                "x @ v^T");
    Vec Flat(N * W), Bcast(N * W), Cols(W, 0), Rows(N, 0);
    for (int64_t I = 0; I < N * W; ++I) {
      Flat[I] = std::exp(Pv[I] * Qv[I]) + Pv[I];
      Bcast[I] = std::exp(Pv[I] * Rv[I % W]) + Pv[I];
      Cols[I % W] += Pv[I];
      Rows[I / W] += Pv[I];
    }
    expectClose(One[3], Flat, Tol, "fused");
    expectClose(One[4], Bcast, Tol, "fused, broadcast");
    expectClose(One[5], Cols, Tol, "reduce_sum axis 0");
    expectClose(One[6], Rows, Tol * 10, "reduce_sum axis 1");
    Vec Bmm;
    for (int64_t I = 0; I < N; ++I) {
      Vec Zi(Args[8].begin() + I * 2000, Args[8].begin() + (I + 1) * 2000);
      Vec Ui(Args[9].begin() + I * 3000, Args[9].begin() + (I + 1) * 3000);
      Vec Ci = matmulRef(Zi, Ui, 40, 50, 60);
      Bmm.insert(Bmm.end(), Ci.begin(), Ci.end());
    }
    expectClose(One[7], Bmm, Tol, "batched z @ u");
  }
}

} // namespace
