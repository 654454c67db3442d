//===- ScratchReleaseTest.cpp - JIT'd step functions free their scratch ---===//
///
/// A step function keeps its scratch arena in globals of the JIT'd code
/// (codegen/Lower.cpp); the JIT frees it through `<step>.scratch.release`
/// before unmapping that code (codegen/JIT.cpp). These tests compile a model
/// with a large arena, run it and destroy the JIT many times, and check that
/// the process's heap does not grow by an arena per model (mallinfo2; under
/// ASan, whose allocator mallinfo2 does not see, LeakSanitizer checks the
/// same thing at exit of the asan suite), and that the release function is
/// defined for exactly the step functions that have an arena.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "llvm/IR/Module.h"

#include <malloc.h>

using namespace adj;
using namespace adj::cgtest;

namespace {

constexpr int64_t Width = 256;

/// y = (x w1) w2 with x: f32[n, 256]: the hidden product lives in the arena.
void buildTwoMatMuls(Module &M) {
  Function *F = M.addFunction("mlp");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch, Width}), ArgRole::Input);
  Value *W1 = F->addArg("w1", ty(DType::F32, {Width, Width}), ArgRole::Param);
  Value *W2 = F->addArg("w2", ty(DType::F32, {Width, Width}), ArgRole::Param);
  Value *H = B.create(OpKind::MatMul, {X, W1});
  F->Results.push_back({"y", B.create(OpKind::MatMul, {H, W2})});
  // No arena: the only value is the result.
  Function *G = M.addFunction("single");
  Builder BG(*G);
  Value *A = G->addArg("a", ty(DType::F32, {kBatch}), ArgRole::Input);
  G->Results.push_back({"b", BG.create(OpKind::Exp, {A})});
}

/// Bytes the process's malloc has handed out and not got back.
size_t heapInUse() {
  struct mallinfo2 I = mallinfo2();
  return I.uordblks + I.hblkhd;
}

TEST(ScratchRelease, DefinedForStepsWithAnArena) {
  Module M;
  buildTwoMatMuls(M);
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(M, Ctx);
  ASSERT_TRUE(bool(LM)) << toString(LM.takeError());
  EXPECT_GT(arenaBytes(**LM, "mlp", 1).value_or(0), 0);
  EXPECT_EQ(arenaBytes(**LM, "single", 1).value_or(0), 0);
  llvm::Function *R =
      (*LM)->getFunction(std::string("mlp") + kScratchReleaseSuffix);
  ASSERT_NE(R, nullptr);
  EXPECT_FALSE(R->isDeclaration());
  EXPECT_FALSE(R->hasLocalLinkage());
  EXPECT_EQ((*LM)->getFunction(std::string("single") + kScratchReleaseSuffix),
            nullptr);
}

TEST(ScratchRelease, DestroyingTheJITFreesTheArena) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "mallinfo2 does not see ASan's allocator; LeakSanitizer "
                  "checks this test's JITs in the asan suite";
#endif
#endif
  const int64_t N = 4096; // a 4 MiB hidden product
  std::vector<float> X(N * Width, 0.5f), W(Width * Width, 0.01f), Y(N * Width);
  int64_t Arena = 0;
  auto CompileAndRun = [&] {
    Module M;
    buildTwoMatMuls(M);
    auto Ctx = std::make_unique<llvm::LLVMContext>();
    auto LM = lowerToLLVM(M, *Ctx);
    ASSERT_TRUE(bool(LM)) << toString(LM.takeError());
    Arena = arenaBytes(**LM, "mlp", N).value_or(0);
    auto J = JIT::create(/*OptLevel=*/0, "", /*CompileThreads=*/1);
    ASSERT_TRUE(bool(J)) << toString(J.takeError());
    ASSERT_FALSE(bool((*J)->addModule(std::move(*LM), std::move(Ctx))));
    auto Addr = (*J)->lookup("mlp");
    ASSERT_TRUE(bool(Addr)) << toString(Addr.takeError());
    void *Args[] = {X.data(), W.data(), W.data()};
    void *Results[] = {Y.data()};
    ASSERT_EQ(reinterpret_cast<StepFn>(*Addr)(N, Args, Results), 0);
    EXPECT_NEAR(Y[0], 0.5 * 0.01 * Width * 0.01 * Width, 1e-4);
  };
  // Warm up (the first JIT allocates lasting tables).
  CompileAndRun();
  ASSERT_GE(Arena, N * Width * 4);
  size_t Before = heapInUse();
  const int Models = 12;
  for (int I = 0; I < Models; ++I) {
    CompileAndRun();
    if (HasFatalFailure())
      return;
  }
  size_t After = heapInUse();
  // A leak would keep Models arenas (48 MiB); allow noise of two.
  EXPECT_LT(After, Before + 2 * size_t(Arena))
      << "heap grew from " << Before << " to " << After << " bytes over "
      << Models << " models of a " << Arena << "-byte arena";
}

} // namespace
