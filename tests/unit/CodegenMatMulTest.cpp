//===- CodegenMatMulTest.cpp - matmul, the ABI and the target ------------===//
///
/// matmul (2-D with any dim the batch, sizes around the register tiles, an
/// MNIST-sized product, and batched products with broadcast leading dims)
/// against a C++ reference; the step-function ABI (results that are
/// arguments or repeated, scratch slices); host detection, assembly and
/// object emission; and unsupported types being errors.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include <array>
#include <fmt/format.h>

using namespace adj;
using namespace adj::cgtest;

namespace {

TEST(Codegen, MatMulShapes) {
  // (A dims, B dims): static odd sizes, batch rows, batch inner dim, batch
  // columns, and sizes straddling the register tiles.
  const std::vector<std::pair<Dims, Dims>> Cases = {
      {{7, 13}, {13, 5}},          {{kBatch, 13}, {13, 5}},
      {{13, kBatch}, {kBatch, 5}}, {{5, 13}, {13, kBatch}},
      {{kBatch, 40}, {40, 37}},    {{kBatch, 3}, {3, 70}}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Cases.size(); ++S) {
      Function *F = C.add("mm" + std::to_string(S));
      Builder B(*F);
      Value *A = F->addArg("a", ty(T, Cases[S].first), ArgRole::Input);
      Value *Bm = F->addArg("b", ty(T, Cases[S].second), ArgRole::Param);
      F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm})});
    }
    C.compile();
    for (int64_t N : {1, 5, 13, 64})
      for (size_t S = 0; S < Cases.size(); ++S) {
        Dims DA = concrete(ty(T, Cases[S].first), N),
             DB = concrete(ty(T, Cases[S].second), N);
        Vec AV = randVec(numel(DA), -1, 1, T, 13),
            BV = randVec(numel(DB), -1, 1, T, 14);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run("mm" + std::to_string(S), N, {AV, BV}, Res), 0);
        expectClose(Res[0], matmulRef(AV, BV, DA[0], DA[1], DB[1]),
                    tolFor(T) * 10, label("matmul " + std::to_string(S), T, N));
      }
  }
}

TEST(Codegen, MatMulTransposeFlags) {
  // (M, K, N) with kBatch for the batch size; every transpose variant,
  // sizes below, at and around the register tiles and the K block (256),
  // the MNIST backward shapes (X^T dY, dY W^T) and skinny ones (N = 10).
  const std::vector<std::array<int64_t, 3>> Sizes = {
      {7, 13, 5},        {kBatch, 13, 5},   {13, kBatch, 40},
      {kBatch, 40, 37},  {784, kBatch, 33}, {kBatch, 10, 128},
      {kBatch, 300, 10}, {1, 1, 1},         {9, 520, 17}};
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [M, Kd, Nd] : Sizes)
      for (int Flags = 0; Flags < 4; ++Flags) {
        bool TA = Flags & 1, TB = Flags & 2;
        Function *F = C.add("mt" + std::to_string(Fn++));
        Builder B(*F);
        Dims DA = TA ? Dims{Kd, M} : Dims{M, Kd};
        Dims DB = TB ? Dims{Nd, Kd} : Dims{Kd, Nd};
        Value *A = F->addArg("a", ty(T, DA), ArgRole::Input);
        Value *Bm = F->addArg("b", ty(T, DB), ArgRole::Input);
        Attrs At;
        if (TA)
          At["transpose_a"] = true;
        if (TB)
          At["transpose_b"] = true;
        F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm}, At)});
      }
    C.compile();
    for (int64_t N : {1, 7, 64}) {
      Fn = 0;
      for (auto [M, Kd, Nd] : Sizes)
        for (int Flags = 0; Flags < 4; ++Flags) {
          bool TA = Flags & 1, TB = Flags & 2;
          int64_t Mc = M == kBatch ? N : M, Kc = Kd == kBatch ? N : Kd,
                  Nc = Nd == kBatch ? N : Nd;
          Vec AV = randVec(Mc * Kc, -1, 1, T, 3 + Fn),
              BV = randVec(Kc * Nc, -1, 1, T, 90 + Fn);
          std::vector<Vec> Res;
          std::string Name = "mt" + std::to_string(Fn++);
          ASSERT_EQ(C.run(Name, N,
                          {TA ? transposed(AV, Mc, Kc) : AV,
                           TB ? transposed(BV, Kc, Nc) : BV},
                          Res),
                    0);
          expectClose(Res[0], matmulRef(AV, BV, Mc, Kc, Nc), tolFor(T) * 10,
                      label(fmt::format("matmul {}x{}x{} ta={} tb={}", Mc, Kc,
                                        Nc, TA, TB),
                            T, N));
        }
    }
  }
}

/// Compiles one matmul per size in \p Sizes and transpose variant (named
/// \p Prefix and a number) and checks each against the double-precision
/// reference on random inputs seeded from \p Seed.
void checkEveryTransposeVariant(
    const std::vector<std::array<int64_t, 3>> &Sizes, const std::string &Prefix,
    unsigned Seed) {
  for (DType T : FloatTypes) {
    Compiled C;
    unsigned Fn = 0;
    for (auto [M, Kd, Nd] : Sizes)
      for (int Flags = 0; Flags < 4; ++Flags) {
        bool TA = Flags & 1, TB = Flags & 2;
        Function *F = C.add(Prefix + std::to_string(Fn++));
        Builder B(*F);
        Value *A = F->addArg("a", ty(T, TA ? Dims{Kd, M} : Dims{M, Kd}),
                             ArgRole::Input);
        Value *Bm = F->addArg("b", ty(T, TB ? Dims{Nd, Kd} : Dims{Kd, Nd}),
                              ArgRole::Input);
        Attrs At{{"transpose_a", Attr(TA)}, {"transpose_b", Attr(TB)}};
        F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm}, At)});
      }
    C.compile();
    Fn = 0;
    for (auto [M, Kd, Nd] : Sizes)
      for (int Flags = 0; Flags < 4; ++Flags) {
        bool TA = Flags & 1, TB = Flags & 2;
        Vec AV = randVec(M * Kd, -1, 1, T, Seed + Fn),
            BV = randVec(Kd * Nd, -1, 1, T, 10 * Seed + Fn);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run(Prefix + std::to_string(Fn++), 1,
                        {TA ? transposed(AV, M, Kd) : AV,
                         TB ? transposed(BV, Kd, Nd) : BV},
                        Res),
                  0);
        expectClose(
            Res[0], matmulRef(AV, BV, M, Kd, Nd), tolFor(T) * 30,
            label(fmt::format("matmul {}x{}x{} ta={} tb={}", M, Kd, Nd, TA, TB),
                  T, 1));
      }
  }
}

TEST(Codegen, MatMulLargeOddShapes) {
  // Odd sizes past the K block and many register tiles in every dim, with
  // every transpose variant, against the double-precision reference.
  // 1100 rows cross the packed path's M blocks (256 or 168 rows) with an
  // odd remainder.
  checkEveryTransposeVariant(
      {{257, 513, 129}, {129, 300, 515}, {1100, 130, 131}}, "ml", 7);
}

TEST(Codegen, MatMulSlabsAndPowerOfTwoStrides) {
  // The packed path's B slabs (2048 columns of f32, 1024 of f64): N = 2100
  // spans two with a masked last tile; A's rows 512 or 2048 elements apart
  // shrink its M blocks (64 or 128 rows, 300 rows cross several); every
  // transpose variant (a transposed B packs panel by panel).
  checkEveryTransposeVariant({{130, 512, 2100}, {300, 2048, 140}}, "ms", 5);
}

TEST(Codegen, MatMulLongKBlocks) {
  // More rows than one M block (256 or 168) take K blocks of 1024, whose
  // slabs hold 512 columns of f32 (256 of f64): K = 1032 is a long block
  // and a short one, N = 1040 spans three or five slabs with a masked last
  // tile, 264 rows end in a partial M block; every transpose variant.
  checkEveryTransposeVariant({{264, 1032, 1040}}, "mk", 11);
}

TEST(Codegen, MatMulFewRowsWideB) {
  // Fewer than 128 rows but at least 32, with a large B (K * N >= 2^17),
  // take the packed path: 40 x 1100 x 130 (several K blocks) and
  // 33 x 128 x 1030 (one short K block, a masked last tile); 31 rows stay
  // on the plain path. Every transpose variant.
  checkEveryTransposeVariant(
      {{40, 1100, 130}, {33, 128, 1030}, {31, 1100, 130}}, "mw", 13);
}

TEST(Codegen, MatMulUnrolledKRemainders) {
  // The packed path runs its k loop four steps per trip, then the rest one
  // by one: K blocks that leave 3 (1031 = 1024 + 7, more rows than one M
  // block), 2 (518 = 256 + 256 + 6), 1 (a single block of 129) and 1 again
  // on the few-rows path (1025 = 4 x 256 + 1); odd N ends in a masked
  // tile. Every transpose variant.
  checkEveryTransposeVariant(
      {{264, 1031, 133}, {140, 518, 131}, {130, 129, 150}, {36, 1025, 130}},
      "mu", 17);
}

TEST(Codegen, MatMulMoreRowsSplitAlongN) {
  // More rows than columns, split among tasks along N when that gives at
  // least four tasks and re-reads A less than splitting along M would
  // re-pack B (132 x 1024 x 128, 264 x 520 x 160 with a masked last
  // tile), and along M when M is much larger (1100 x 300 x 100); every
  // transpose variant.
  checkEveryTransposeVariant(
      {{132, 1024, 128}, {264, 520, 160}, {1100, 300, 100}}, "mn", 19);
}

TEST(Codegen, BatchedMatMul) {
  // Leading dims broadcast as in NumPy: a 2-D operand against a batched
  // one, batched against batched (the batch dim in both), size-1 leading
  // dims, a 4-D result, and sizes spanning the register tiles.
  const std::vector<std::pair<Dims, Dims>> Cases = {
      {{kBatch, 3, 4}, {4, 5}},       {{kBatch, 3, 4}, {kBatch, 4, 5}},
      {{3, 4}, {kBatch, 4, 5}},       {{1, 7, 3}, {kBatch, 3, 20}},
      {{2, 1, 3, 4}, {kBatch, 4, 2}}, {{kBatch, 13, 9}, {2, 1, 9, 17}},
      {{2, kBatch, 8}, {2, 8, 3}}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Cases.size(); ++S) {
      Function *F = C.add("bmm" + std::to_string(S));
      Builder B(*F);
      Value *A = F->addArg("a", ty(T, Cases[S].first), ArgRole::Input);
      Value *Bm = F->addArg("b", ty(T, Cases[S].second), ArgRole::Input);
      F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm})});
    }
    C.compile();
    for (int64_t N : {1, 3, 8})
      for (size_t S = 0; S < Cases.size(); ++S) {
        const Function &F = *C.M.function("bmm" + std::to_string(S));
        Dims DA = concrete(F.Args[0]->type(), N),
             DB = concrete(F.Args[1]->type(), N),
             DC = concrete(F.Results[0].V->type(), N);
        Vec AV = randVec(numel(DA), -1, 1, T, 25 + S),
            BV = randVec(numel(DB), -1, 1, T, 50 + S);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run(F.Name, N, {AV, BV}, Res), 0);
        int64_t M = DC[DC.size() - 2], P = DC.back(), K = DA.back();
        Dims Batch(DC.begin(), DC.end() - 2);
        Dims LA(DA.begin(), DA.end() - 2), LB(DB.begin(), DB.end() - 2);
        Vec Want(numel(DC));
        forIndex(Batch, [&](const Dims &I, int64_t L) {
          Vec AM(AV.begin() + bcastIndex(LA, I) * M * K,
                 AV.begin() + (bcastIndex(LA, I) + 1) * M * K);
          Vec BM(BV.begin() + bcastIndex(LB, I) * K * P,
                 BV.begin() + (bcastIndex(LB, I) + 1) * K * P);
          Vec CM = matmulRef(AM, BM, M, K, P);
          std::copy(CM.begin(), CM.end(), Want.begin() + L * M * P);
        });
        expectClose(Res[0], Want, tolFor(T) * 10,
                    label("matmul " + F.Name, T, N));
      }
  }
}

TEST(Codegen, MatMulReduceLeading) {
  // sum_p a_p^T @ b_p over the leading dims (a weight gradient over
  // [N, T, ...] activations): small, around the tiles, the batch dim
  // inside the leading dims.
  const std::vector<std::pair<Dims, Dims>> Cases = {
      {{kBatch, 3, 4}, {kBatch, 3, 5}},
      {{kBatch, 9, 37}, {kBatch, 9, 70}},
      {{2, kBatch, 5, 3}, {2, kBatch, 5, 17}}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Cases.size(); ++S) {
      Function *F = C.add("rl" + std::to_string(S));
      Builder B(*F);
      Value *A = F->addArg("a", ty(T, Cases[S].first), ArgRole::Input);
      Value *Bm = F->addArg("b", ty(T, Cases[S].second), ArgRole::Input);
      F->Results.push_back(
          {"c", B.create(OpKind::MatMul, {A, Bm},
                         {{"transpose_a", true}, {"reduce_leading", true}})});
    }
    C.compile();
    for (int64_t N : {1, 3, 8})
      for (size_t S = 0; S < Cases.size(); ++S) {
        const Function &F = *C.M.function("rl" + std::to_string(S));
        Dims DA = concrete(F.Args[0]->type(), N),
             DB = concrete(F.Args[1]->type(), N);
        Vec AV = randVec(numel(DA), -1, 1, T, 70 + S),
            BV = randVec(numel(DB), -1, 1, T, 90 + S);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run(F.Name, N, {AV, BV}, Res), 0);
        int64_t M = DA.back(), P = DB.back();
        int64_t Rows = numel(DA) / M;
        // The stacks are [Rows, M] and [Rows, P] matrices.
        Vec Want = matmulRef(transposed(AV, Rows, M), BV, M, Rows, P);
        expectClose(Res[0], Want, tolFor(T) * 10,
                    label("matmul " + F.Name, T, N));
      }
  }
}

TEST(Codegen, MatMulMnistSize) {
  Compiled C;
  Function *F = C.add("mm");
  Builder B(*F);
  Value *A = F->addArg("a", ty(DType::F32, {kBatch, 784}), ArgRole::Input);
  Value *W = F->addArg("w", ty(DType::F32, {784, 256}), ArgRole::Param);
  F->Results.push_back({"c", B.create(OpKind::MatMul, {A, W})});
  C.compile();
  Vec AV = randVec(64 * 784, 0, 1, DType::F32, 15);
  Vec WV = randVec(784 * 256, -0.1, 0.1, DType::F32, 16);
  std::vector<Vec> Res;
  ASSERT_EQ(C.run("mm", 64, {AV, WV}, Res), 0);
  Vec Want = matmulRef(AV, WV, 64, 784, 256);
  for (size_t I = 0; I < Want.size(); ++I) {
    // Error bound of an f32 dot product of 784 terms, relative to sum |ab|.
    double Mag = 0;
    for (int64_t P = 0; P < 784; ++P)
      Mag += std::abs(AV[I / 256 * 784 + P] * WV[P * 256 + I % 256]);
    ASSERT_LE(std::abs(Res[0][I] - Want[I]), 1e-5 * Mag) << I;
  }
}

//===----------------------------------------------------------------------===//
// The step function ABI and the target plumbing.
//===----------------------------------------------------------------------===//

TEST(Codegen, ResultsThatAreArgumentsOrRepeated) {
  Compiled C;
  Function *F = C.add("abi");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *W = F->addArg("w", ty(DType::F64, {2}), ArgRole::Param);
  Value *E = B.create(OpKind::Exp, {X});
  F->Results.push_back({"w", W});
  F->Results.push_back({"e", E});
  F->Results.push_back({"e2", E});
  F->Results.push_back({"x", X});
  F->Results.push_back({"s", B.create(OpKind::ReduceSum, {E})});
  // Two static-size intermediates get distinct scratch slices.
  Value *W1 = B.create(OpKind::Exp, {W});
  Value *W2 = B.create(OpKind::Neg, {W1});
  F->Results.push_back({"ww", B.create(OpKind::Mul, {W1, W2})});
  C.compile();
  for (int64_t N : BatchSizes) {
    Vec XV = randVec(3 * N, -1, 1, DType::F32, 17), WV = {1.5, -2.25};
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("abi", N, {XV, WV}, Res), 0);
    Vec EV(XV.size());
    double Sum = 0;
    for (size_t I = 0; I < XV.size(); ++I)
      Sum += EV[I] = std::exp(XV[I]);
    EXPECT_EQ(Res[0], WV);
    expectClose(Res[1], EV, 1e-6, "e");
    EXPECT_EQ(Res[2], Res[1]);
    EXPECT_EQ(Res[3], XV);
    expectClose(Res[4], {Sum}, 1e-5, "sum");
    expectClose(Res[5], {-std::exp(3.0), -std::exp(-4.5)}, 1e-12, "ww");
  }
}

TEST(Codegen, HostTargetIsDetected) {
  HostTarget H = detectHostTarget();
  EXPECT_FALSE(H.Triple.empty());
  EXPECT_FALSE(H.CPU.empty());
  EXPECT_FALSE(H.Features.empty());
  auto TM = llvm::cantFail(createHostTargetMachine(2));
  ASSERT_TRUE(TM);
  EXPECT_EQ(TM->getTargetCPU().str(), H.CPU);
}

/// ADJ_CPU targets another x86 CPU with only the features it implies (an
/// AVX2 machine's code on an AVX-512 host); an unknown name is an error.
TEST(Codegen, AdjCpuOverridesTheHost) {
  if (detectHostTarget().Triple.find("x86_64") == std::string::npos)
    GTEST_SKIP() << "x86 only";
  ::setenv("ADJ_CPU", "znver3", 1);
  HostTarget H = detectHostTarget();
  auto TM = createHostTargetMachine(2);
  ::setenv("ADJ_CPU", "no-such-cpu", 1);
  auto Bad = createHostTargetMachine(2);
  ::unsetenv("ADJ_CPU");
  EXPECT_EQ(H.CPU, "znver3");
  EXPECT_NE(H.Features.find("+avx2"), std::string::npos) << H.Features;
  EXPECT_EQ(H.Features.find("avx512"), std::string::npos) << H.Features;
  ASSERT_TRUE(bool(TM)) << llvm::toString(TM.takeError());
  EXPECT_EQ((*TM)->getTargetCPU().str(), "znver3");
  ASSERT_FALSE(bool(Bad));
  EXPECT_EQ(llvm::toString(Bad.takeError()),
            "ADJ_CPU: unknown x86 CPU 'no-such-cpu' (e.g. znver3, znver4, "
            "skylake-avx512, x86-64-v3)");
}

TEST(Codegen, PrintAssemblyAndObject) {
  Module M;
  Function *F = M.addFunction("step");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *V = F->addArg("v", ty(DType::F32, {3}), ArgRole::Param);
  F->Results.push_back({"y", B.create(OpKind::Add, {X, V})});
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(M, Ctx);
  ASSERT_TRUE(bool(LM)) << toString(LM.takeError());
  std::string IR = printLLVM(**LM);
  EXPECT_NE(IR.find("define i32 @step(i64 %n, ptr %args, ptr %results)"),
            std::string::npos)
      << IR;
  EXPECT_NE(IR.find("define internal void @step.0.add(ptr noalias"),
            std::string::npos)
      << IR;
  EXPECT_NE(IR.find("fadd reassoc contract float"), std::string::npos) << IR;
  auto TM = llvm::cantFail(createHostTargetMachine(2));
  ASSERT_TRUE(TM);
  optimizeLLVM(**LM, *TM, 2);
  auto Asm = emitAssembly(**LM, *TM);
  ASSERT_TRUE(bool(Asm)) << toString(Asm.takeError());
  EXPECT_NE(Asm->find("step:"), std::string::npos);
  std::string Path = ::testing::TempDir() + "adj_codegen_test.o";
  ASSERT_FALSE(bool(emitObjectFile(**LM, *TM, Path)));
  FILE *Obj = std::fopen(Path.c_str(), "rb");
  ASSERT_TRUE(Obj);
  char Magic[4] = {};
  EXPECT_EQ(std::fread(Magic, 1, 4, Obj), 4u);
  std::fclose(Obj);
  std::remove(Path.c_str());
  EXPECT_EQ(std::string(Magic + 1, 3), "ELF");
}

TEST(Codegen, UnsupportedTypesAreErrors) {
  Module M;
  Function *F = M.addFunction("bad");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::I32, {3}), ArgRole::Input);
  F->Results.push_back(
      {"y", B.createExplicit(OpKind::Exp, {X}, {}, ty(DType::I32, {3}))});
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(M, Ctx);
  ASSERT_FALSE(bool(LM));
  EXPECT_NE(toString(LM.takeError()).find("cannot lower 'exp'"),
            std::string::npos);
}

} // namespace
