//===- SwappedGemmTest.cpp - A @ B^T with few rows as C^T = B @ A^T ------===//
///
/// A 2-D matmul A[M, K] @ B[N, K]^T with a large B (N >= 128, K * N >=
/// 2^17) and 16 to 256 rows runs with roles swapped (MatMul.cpp,
/// swappedGemm): A^T and C^T in a workspace, C from C^T through the
/// epilogue. With the batch as M, a batch inside that window takes the
/// swapped path and one above it the plain GEMM, and the rows they share
/// must come out bit for bit the same: f32 and f64, odd sizes, no epilogue,
/// a bias, a bias then relu, tanh or sigmoid, and an epilogue reading a full
/// [M, N] operand. A static M in the window (swapped at compile time) is
/// checked the same way, batches below the window against the reference,
/// and the swapped product run with 1, 2 and 3 threads is bit-identical.
/// A^T @ B with a row stride of A a multiple of 2 KiB runs on a copy of
/// A^T (transposedAGemm), checked bit for bit against the plain product;
/// so does a reduce_leading A[P, K, M]^T @ B[P, K, N] with a 1-KiB stride
/// on AVX2 (the SwappedGemm.avx2 run), at 1, 2 and 3 threads.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "runtime/adjoint_rt.h"

#include <array>
#include <fmt/format.h>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// Rows the plain path takes (above the swapped window's 256).
constexpr int64_t kPlainRows = 300;

const char *const Epilogues[] = {"",
                                 "add i0 i1",
                                 "add i0 i1; relu t0",
                                 "add i0 i1; tanh t0",
                                 "add i1 i0; sigmoid t0",
                                 "add i0 i1; mul t0 i2"};

/// Builds A[M, K] @ B[N, K]^T with epilogue \p Epi: a bias [N] as its input
/// i1 unless empty, and an [M, N] operand as i2 when the body reads i2.
void build(Compiled &C, const std::string &Name, DType T, int64_t M, int64_t K,
           int64_t N, const std::string &Epi) {
  Function *F = C.add(Name);
  Builder B(*F);
  std::vector<Value *> Ops = {F->addArg("a", ty(T, {M, K}), ArgRole::Input),
                              F->addArg("b", ty(T, {N, K}), ArgRole::Input)};
  Attrs At{{"transpose_b", Attr(true)}};
  if (!Epi.empty()) {
    Ops.push_back(F->addArg("bias", ty(T, {N}), ArgRole::Input));
    At["epilogue"] = Epi;
  }
  if (Epi.find("i2") != std::string::npos)
    Ops.push_back(F->addArg("scale", ty(T, {M, N}), ArgRole::Input));
  F->Results.push_back({"c", B.create(OpKind::MatMul, Ops, At)});
}

/// The arguments of build's function for \p Rows rows of \p A: B, the bias
/// and the full operand from seeds after \p Seed.
std::vector<Vec> args(const Vec &A, int64_t Rows, int64_t K, int64_t N,
                      const std::string &Epi, DType T, unsigned Seed) {
  std::vector<Vec> V = {Vec(A.begin(), A.begin() + Rows * K),
                        randVec(N * K, -1, 1, T, Seed + 1)};
  if (!Epi.empty())
    V.push_back(randVec(N, -1, 1, T, Seed + 2));
  if (Epi.find("i2") != std::string::npos) {
    Vec S = randVec(kPlainRows * N, -2, 2, T, Seed + 3);
    V.push_back(Vec(S.begin(), S.begin() + Rows * N));
  }
  return V;
}

void expectSameRows(const Vec &Got, const Vec &Plain, int64_t Rows, int64_t N,
                    const std::string &What) {
  ASSERT_EQ(Got.size(), size_t(Rows * N)) << What;
  for (int64_t I = 0; I < Rows * N; ++I)
    ASSERT_EQ(Got[I], Plain[I]) << What << " at " << I;
}

// (K, N): the smallest B that swaps, odd; N a multiple of the tile; a long K
// across K blocks (the TF CNN's 3136 x 1024 in the threads test).
const std::vector<std::array<int64_t, 2>> Sizes = {
    {301, 437}, {129, 1024}, {1030, 131}};

TEST(SwappedGemm, BatchRowsMatchPlainPathBitwise) {
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [Kd, Nd] : Sizes)
      for (const char *Epi : Epilogues)
        build(C, fmt::format("s{}", Fn++), T, kBatch, Kd, Nd, Epi);
    C.compile();
    Fn = 0;
    for (auto [Kd, Nd] : Sizes)
      for (const char *Epi : Epilogues) {
        std::string Name = fmt::format("s{}", Fn++);
        Vec A = randVec(kPlainRows * Kd, -2, 2, T, 10 * Fn);
        std::vector<Vec> Plain;
        ASSERT_EQ(C.run(Name, kPlainRows,
                        args(A, kPlainRows, Kd, Nd, Epi, T, 10 * Fn), Plain),
                  0);
        if (!*Epi)
          expectClose(
              Plain[0],
              matmulRef(
                  A, transposed(args(A, 1, Kd, Nd, Epi, T, 10 * Fn)[1], Nd, Kd),
                  kPlainRows, Kd, Nd),
              tolFor(T) * 30 * (Kd > 256 ? 4 : 1),
              label(fmt::format("{}x{}x{}", kPlainRows, Kd, Nd), T,
                    kPlainRows));
        // Swapped inside the window; the plain path below it.
        for (int64_t Rows : {16, 37, 64, 256, 15, 1}) {
          std::vector<Vec> Res;
          ASSERT_EQ(
              C.run(Name, Rows, args(A, Rows, Kd, Nd, Epi, T, 10 * Fn), Res),
              0);
          expectSameRows(
              Res[0], Plain[0], Rows, Nd,
              label(fmt::format("{}x{}x{} epilogue '{}'", Rows, Kd, Nd, Epi), T,
                    Rows));
        }
      }
  }
}

TEST(SwappedGemm, StaticRowsMatchPlainPathBitwise) {
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [Kd, Nd] : Sizes)
      for (const char *Epi : Epilogues) {
        build(C, fmt::format("p{}", Fn), T, kBatch, Kd, Nd, Epi);
        build(C, fmt::format("m{}", Fn++), T, 40, Kd, Nd, Epi);
      }
    C.compile();
    Fn = 0;
    for (auto [Kd, Nd] : Sizes)
      for (const char *Epi : Epilogues) {
        unsigned Id = Fn++;
        Vec A = randVec(kPlainRows * Kd, -2, 2, T, 7 * Id + 1);
        std::vector<Vec> Plain, Res;
        ASSERT_EQ(C.run(fmt::format("p{}", Id), kPlainRows,
                        args(A, kPlainRows, Kd, Nd, Epi, T, 7 * Id), Plain),
                  0);
        ASSERT_EQ(C.run(fmt::format("m{}", Id), 1,
                        args(A, 40, Kd, Nd, Epi, T, 7 * Id), Res),
                  0);
        expectSameRows(
            Res[0], Plain[0], 40, Nd,
            label(fmt::format("static 40x{}x{} epilogue '{}'", Kd, Nd, Epi), T,
                  40));
      }
  }
}

TEST(SwappedGemm, TransposedAMatchesPlainABitwise) {
  // A[K, M]^T @ B[K, N] with M * 4 bytes a multiple of 2 KiB runs on A^T
  // copied to the workspace (f32: M = 512, 1024; f64 also M = 256), the
  // same sums as the plain product of A^T given as such. M = 1000 keeps the
  // transposed tiles: they too must agree bit for bit.
  for (DType T : FloatTypes)
    for (int64_t M : {256, 512, 1024, 1000})
      for (int64_t Kd : {kBatch, int64_t(37)})
        for (bool Bias : {false, true}) {
          constexpr int64_t Nd = 300;
          Compiled C;
          for (bool TA : {true, false}) {
            Function *F = C.add(TA ? "t" : "p");
            Builder B(*F);
            std::vector<Value *> Ops = {
                F->addArg("a", ty(T, TA ? Dims{Kd, M} : Dims{M, Kd}),
                          ArgRole::Input),
                F->addArg("b", ty(T, {Kd, Nd}), ArgRole::Input)};
            Attrs At{{"transpose_a", Attr(TA)}};
            if (Bias) {
              Ops.push_back(F->addArg("bias", ty(T, {Nd}), ArgRole::Input));
              At["epilogue"] = "add i0 i1; relu t0";
            }
            F->Results.push_back({"c", B.create(OpKind::MatMul, Ops, At)});
          }
          C.compile();
          int64_t Batch = 70, K = Kd == kBatch ? Batch : Kd;
          Vec A = randVec(M * K, -2, 2, T, 3),
              Bm = randVec(K * Nd, -1, 1, T, 4);
          std::vector<Vec> Args = {transposed(A, M, K), Bm};
          if (Bias)
            Args.push_back(randVec(Nd, -1, 1, T, 5));
          std::vector<Vec> Tr, Plain;
          ASSERT_EQ(C.run("t", Batch, Args, Tr), 0);
          Args[0] = A;
          ASSERT_EQ(C.run("p", Batch, Args, Plain), 0);
          std::string What =
              label(fmt::format("{}x{}x{} bias {}", M, K, Nd, Bias), T, Batch);
          expectSameRows(Tr[0], Plain[0], M, Nd, What);
          if (!Bias)
            expectClose(Tr[0], matmulRef(A, Bm, M, K, Nd), tolFor(T) * 30,
                        What);
        }
}

struct SwappedGemmLeading : ::testing::Test {
  void TearDown() override { adj_rt_set_threads(0); }
};

TEST_F(SwappedGemmLeading, TransposedAMatchesPlainABitwise) {
  // A[P, K, M]^T @ B[P, K, N] under reduce_leading: with AVX2 and M times
  // the element size a multiple of 1 KiB (f32 M = 256, 1024; f64 M = 128)
  // the copy of A^T; M = 136 keeps the transposed tiles. Compared with the
  // plain product of A^T [M, P * K] given as such, at 1, 2 and 3 threads;
  // K = 37 leaves a partial block in the copy.
  constexpr int64_t P = 3, Nd = 200;
  for (DType T : FloatTypes)
    for (int64_t M : {256, 1024, 128, 136})
      for (int64_t Kd : {kBatch, int64_t(37)}) {
        Compiled C;
        {
          Function *F = C.add("t");
          Builder B(*F);
          Value *A = F->addArg("a", ty(T, {P, Kd, M}), ArgRole::Input);
          Value *Bm = F->addArg("b", ty(T, {P, Kd, Nd}), ArgRole::Input);
          F->Results.push_back(
              {"c", B.create(OpKind::MatMul, {A, Bm},
                             Attrs{{"transpose_a", Attr(true)},
                                   {"reduce_leading", Attr(true)}})});
        }
        {
          int64_t PK = Kd == kBatch ? kBatch : P * Kd;
          Function *F = C.add("p");
          Builder B(*F);
          Value *A = F->addArg("a", ty(T, {M, PK}), ArgRole::Input);
          Value *Bm = F->addArg("b", ty(T, {PK, Nd}), ArgRole::Input);
          F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm})});
        }
        C.compile();
        int64_t Batch = 70, K = P * (Kd == kBatch ? Batch : Kd);
        int64_t Run = Kd == kBatch ? Batch : 1, RunP = Kd == kBatch ? K : 1;
        Vec AT = randVec(K * M, -2, 2, T, 6), Bm = randVec(K * Nd, -1, 1, T, 7);
        std::vector<Vec> Plain;
        ASSERT_EQ(C.run("p", RunP, {transposed(AT, K, M), Bm}, Plain), 0);
        std::string What =
            label(fmt::format("leading {}x{}x{}", M, K, Nd), T, Run);
        expectClose(Plain[0], matmulRef(transposed(AT, K, M), Bm, M, K, Nd),
                    tolFor(T) * 30, What);
        for (int Threads : {1, 2, 3}) {
          adj_rt_set_threads(Threads);
          std::vector<Vec> Tr;
          ASSERT_EQ(C.run("t", Run, {AT, Bm}, Tr), 0);
          expectSameRows(Tr[0], Plain[0], M, Nd,
                         What + fmt::format(", {} threads", Threads));
        }
      }
}

struct SwappedGemmThreads : ::testing::Test {
  void TearDown() override { adj_rt_set_threads(0); }
};

TEST_F(SwappedGemmThreads, ResultsDoNotDependOnTheThreadCount) {
  constexpr DType T = DType::F32;
  constexpr int64_t Kd = 3136, Nd = 1024, Rows = 64;
  Compiled C;
  build(C, "f", T, kBatch, Kd, Nd, "add i0 i1; relu t0");
  C.compile();
  Vec A = randVec(kPlainRows * Kd, -2, 2, T, 5);
  std::vector<Vec> Args = args(A, Rows, Kd, Nd, "add i0 i1", T, 5), One;
  adj_rt_set_threads(1);
  ASSERT_EQ(C.run("f", Rows, Args, One), 0);
  for (int Threads : {2, 3}) {
    adj_rt_set_threads(Threads);
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("f", Rows, Args, Res), 0);
    expectSameRows(Res[0], One[0], Rows, Nd,
                   fmt::format("{} threads", Threads));
  }
}

} // namespace
