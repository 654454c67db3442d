//===- SmallGemmTest.cpp - inline small products against the library ----===//
///
/// A matmul whose static sizes multiply to at most 32 x 32 runs its register
/// tiles inline when the run-time work is one task's (MatMul.cpp,
/// smallOrParallelGemm), and the kernel library's GEMM (or the parallel
/// split) above that. With the batch in the rows, a small batch takes the
/// inline path and a large one the library, and the rows they share must
/// come out bit for bit the same: for every transpose variant, f32 and f64,
/// with no epilogue, a bias, and a bias then tanh or sigmoid (applied in
/// registers inline, in the library's callback otherwise). Products with the
/// batch as K (the weight gradient's X^T @ dY) and all-static ones are
/// checked against the double-precision reference on both sides of the
/// threshold.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include <array>
#include <fmt/format.h>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// The run-time work (M * K * N) from which a product runs in parallel
/// tasks through the library: kGemmGrain in MatMul.cpp.
constexpr int64_t kGrain = int64_t(1) << 18;

const char *const Epilogues[] = {"", "add i0 i1", "add i0 i1; tanh t0",
                                 "add i1 i0; sigmoid t0"};

/// Builds op(A) @ op(B) of sizes \p M x \p K x \p N (kBatch for the run-time
/// size) with epilogue \p Epi (a bias [N] as its input i1 unless empty).
void build(Compiled &C, const std::string &Name, DType T, int64_t M, int64_t K,
           int64_t N, bool TA, bool TB, const std::string &Epi) {
  Function *F = C.add(Name);
  Builder B(*F);
  std::vector<Value *> Ops = {
      F->addArg("a", ty(T, TA ? Dims{K, M} : Dims{M, K}), ArgRole::Input),
      F->addArg("b", ty(T, TB ? Dims{N, K} : Dims{K, N}), ArgRole::Input)};
  Attrs At{{"transpose_a", Attr(TA)}, {"transpose_b", Attr(TB)}};
  if (!Epi.empty()) {
    Ops.push_back(F->addArg("bias", ty(T, {N}), ArgRole::Input));
    At["epilogue"] = Epi;
  }
  F->Results.push_back({"c", B.create(OpKind::MatMul, Ops, At)});
}

TEST(SmallGemm, InlineRowsMatchLibraryBitwise) {
  // (K, N) with the batch as M; each static product at most 32 x 32.
  const std::vector<std::array<int64_t, 2>> Sizes = {
      {16, 16}, {2, 16}, {16, 2}, {31, 33}, {1, 33}};
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [Kd, Nd] : Sizes)
      for (int Flags = 0; Flags < 4; ++Flags)
        for (const char *Epi : Epilogues)
          build(C, fmt::format("r{}", Fn++), T, kBatch, Kd, Nd, Flags & 1,
                Flags & 2, Epi);
    C.compile();
    Fn = 0;
    for (auto [Kd, Nd] : Sizes) {
      // Rows enough for the library, and a batch below one task's work.
      int64_t Big = kGrain / (Kd * Nd) + 9, Small = 32;
      ASSERT_LT(Small * Kd * Nd, kGrain);
      for (int Flags = 0; Flags < 4; ++Flags)
        for (const char *Epi : Epilogues) {
          bool TA = Flags & 1, TB = Flags & 2;
          std::string Name = fmt::format("r{}", Fn++);
          Vec A = randVec(Big * Kd, -2, 2, T, Fn),
              Bm = randVec(Kd * Nd, -1, 1, T, 100 + Fn),
              Bias = randVec(Nd, -1, 1, T, 200 + Fn);
          Vec ASmall(A.begin(), A.begin() + Small * Kd);
          auto Args = [&](const Vec &AV, int64_t Rows) {
            std::vector<Vec> V = {TA ? transposed(AV, Rows, Kd) : AV,
                                  TB ? transposed(Bm, Kd, Nd) : Bm};
            if (*Epi)
              V.push_back(Bias);
            return V;
          };
          std::vector<Vec> Lib, In;
          ASSERT_EQ(C.run(Name, Big, Args(A, Big), Lib), 0);
          ASSERT_EQ(C.run(Name, Small, Args(ASmall, Small), In), 0);
          std::string What =
              label(fmt::format("{}x{}x{} ta={} tb={} epilogue '{}'", Small, Kd,
                                Nd, TA, TB, Epi),
                    T, Small);
          ASSERT_EQ(In[0].size(), size_t(Small * Nd)) << What;
          for (int64_t I = 0; I < Small * Nd; ++I)
            ASSERT_EQ(In[0][I], Lib[0][I]) << What << " at " << I;
          // And both right: the library's rows against the reference.
          if (!*Epi)
            expectClose(Lib[0], matmulRef(A, Bm, Big, Kd, Nd), tolFor(T) * 30,
                        What);
        }
    }
  }
}

TEST(SmallGemm, BatchInnerAndStaticAgainstReference) {
  // (M, K, N): the batch as K (inline for a small batch, the library for a
  // large one, whose K also crosses the 256-wide K blocks), and static
  // products just under and over the inline limit.
  const std::vector<std::array<int64_t, 3>> Sizes = {
      {16, kBatch, 16}, {2, kBatch, 16}, {16, kBatch, 2},
      {16, 16, 16},     {32, 1, 32},     {33, 1, 32}};
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [M, Kd, Nd] : Sizes)
      for (int Flags = 0; Flags < 4; ++Flags)
        build(C, fmt::format("k{}", Fn++), T, M, Kd, Nd, Flags & 1, Flags & 2,
              "");
    C.compile();
    for (int64_t Batch : {1, 32, 2000}) {
      Fn = 0;
      for (auto [M, Kd, Nd] : Sizes) {
        int64_t Kc = Kd == kBatch ? Batch : Kd;
        for (int Flags = 0; Flags < 4; ++Flags) {
          bool TA = Flags & 1, TB = Flags & 2;
          std::string Name = fmt::format("k{}", Fn++);
          Vec A = randVec(M * Kc, -1, 1, T, 7 + Fn),
              Bm = randVec(Kc * Nd, -1, 1, T, 70 + Fn);
          std::vector<Vec> Res;
          ASSERT_EQ(C.run(Name, Batch,
                          {TA ? transposed(A, M, Kc) : A,
                           TB ? transposed(Bm, Kc, Nd) : Bm},
                          Res),
                    0);
          expectClose(
              Res[0], matmulRef(A, Bm, M, Kc, Nd),
              tolFor(T) * 30 * (Kc > 256 ? 4 : 1),
              label(fmt::format("{}x{}x{} ta={} tb={}", M, Kc, Nd, TA, TB), T,
                    Batch));
        }
      }
    }
  }
}

} // namespace
