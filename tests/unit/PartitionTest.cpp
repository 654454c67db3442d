//===- PartitionTest.cpp - Splitting modules for parallel compilation -----===//
///
/// \file
/// partitionModule on the MNIST example's lowered module: every part is
/// valid LLVM IR in a context of its own, every function is defined in
/// exactly one part, everything a part uses from another is an external
/// definition there, the parts are about equally large, and the split is
/// the same every time (the object cache keys rely on it). The JIT then
/// runs the split module and the whole one on the same inputs and must
/// give the same bits.
///
//===----------------------------------------------------------------------===//

#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "frontend/Frontend.h"
#include "ir/Parser.h"
#include "tools/engine/Engine.h"

#include "CodegenTestUtil.h"
#include "TestUtil.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

namespace {

using namespace adj;

std::unique_ptr<adj::Module> mnistIR() {
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  std::ostringstream Err;
  DiagEngine Diags(Err);
  auto Spec = compileModelSource(Path, adj::test::readFile(Path), Diags);
  EXPECT_TRUE(Spec) << Err.str();
  if (!Spec)
    return nullptr;
  EngineOptions EO;
  EO.ObjectCache = false;
  Engine E(EO, Diags, Err, "test");
  auto IR = E.buildIR(*Spec, /*AllOptimizers=*/false);
  EXPECT_TRUE(IR) << Err.str();
  return IR;
}

std::vector<ModulePart> split(const adj::Module &IR, unsigned Parts) {
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(IR, Ctx);
  EXPECT_TRUE(bool(LM));
  if (!LM)
    return {};
  auto P = partitionModule(**LM, Parts, "__test.");
  EXPECT_TRUE(bool(P));
  if (!P)
    return {};
  return std::move(*P);
}

std::string text(const llvm::Module &M) {
  std::string S;
  llvm::raw_string_ostream OS(S);
  M.print(OS, nullptr);
  return OS.str();
}

TEST(Partition, PartsAreValidAndDefineEachFunctionOnce) {
  auto IR = mnistIR();
  ASSERT_TRUE(IR);
  std::vector<ModulePart> Parts = split(*IR, 3);
  ASSERT_EQ(Parts.size(), 3u);
  std::map<std::string, unsigned> DefinedIn;
  size_t Total = 0, Largest = 0;
  for (unsigned P = 0; P < Parts.size(); ++P) {
    llvm::Module &M = *Parts[P].M;
    std::string Errors;
    llvm::raw_string_ostream OS(Errors);
    EXPECT_FALSE(llvm::verifyModule(M, &OS)) << OS.str();
    EXPECT_GT(Parts[P].Instructions, 0u);
    Total += Parts[P].Instructions;
    Largest = std::max(Largest, Parts[P].Instructions);
    for (const llvm::GlobalValue &GV : M.global_values()) {
      if (GV.isDeclaration())
        continue;
      if (GV.hasLocalLinkage())
        continue;
      EXPECT_TRUE(DefinedIn.emplace(GV.getName().str(), P).second)
          << GV.getName().str() << " is defined in two parts";
    }
  }
  EXPECT_TRUE(DefinedIn.count("train_step"));
  EXPECT_TRUE(DefinedIn.count("forward"));
  // What a part declares and uses is defined in another part, or comes
  // from outside (libc, the runtime, intrinsics).
  for (const ModulePart &MP : Parts)
    for (const llvm::GlobalValue &GV : MP.M->global_values()) {
      if (!GV.isDeclaration() || GV.use_empty())
        continue;
      std::string Name = GV.getName().str();
      if (Name.rfind("llvm.", 0) == 0 || Name.rfind("adj_rt_", 0) == 0 ||
          Name.rfind("adj_kl_", 0) == 0 || // the kernel library
          Name == "malloc" || Name == "free" || Name == "memset" ||
          Name == "memcpy")
        continue;
      EXPECT_TRUE(DefinedIn.count(Name)) << Name << " is defined nowhere";
      EXPECT_EQ(Name.rfind("__test.", 0), 0u)
          << Name << " crosses parts without the prefix";
    }
  // Longest-processing-time scheduling: no part is much above the mean,
  // unless it is the part of @train_step, whose group (the step wrapper and
  // the kernels it calls directly) is one piece: with the kernel library's
  // GEMMs it is above a third of MNIST's module.
  size_t Mean = Total / Parts.size();
  unsigned LargestPart = 0;
  for (unsigned P = 0; P < Parts.size(); ++P)
    if (Parts[P].Instructions == Largest)
      LargestPart = P;
  const llvm::Function *Step = Parts[LargestPart].M->getFunction("train_step");
  bool StepPart = Step && !Step->isDeclaration();
  EXPECT_TRUE(Largest <= Mean * 3 / 2 || StepPart) << "unbalanced split";
}

TEST(Partition, SplitIsDeterministic) {
  auto IR = mnistIR();
  ASSERT_TRUE(IR);
  std::vector<ModulePart> A = split(*IR, 2), B = split(*IR, 2);
  ASSERT_EQ(A.size(), 2u);
  ASSERT_EQ(A.size(), B.size());
  for (size_t P = 0; P < A.size(); ++P)
    EXPECT_EQ(text(*A[P].M), text(*B[P].M)) << "part " << P;
}

TEST(Partition, OnePartIsTheWholeModule) {
  auto IR = mnistIR();
  ASSERT_TRUE(IR);
  std::vector<ModulePart> Parts = split(*IR, 1);
  ASSERT_EQ(Parts.size(), 1u);
  for (const llvm::Function &F : *Parts[0].M)
    EXPECT_EQ(F.getName().str().rfind("__test.", 0), std::string::npos)
        << F.getName().str() << " renamed without a second part";
}

/// The task functions of \p LM whose names contain \p Part.
unsigned countTasks(const llvm::Module &LM, llvm::StringRef Part) {
  unsigned N = 0;
  for (const llvm::Function &F : LM)
    N += !F.isDeclaration() && F.getName().endswith(".task") &&
         F.getName().contains(Part);
  return N;
}

// A GEMM body reads its sizes at run time, so products of one variant
// (transposes, tile shape, static choices) share one body after merging
// whatever their sizes; another variant keeps its own.
TEST(Partition, ProductsOfOneVariantShareTheirCode) {
  const char *Text =
      R"(func @f(%a: f32[N,512] {input}, %w: f32[512,256] {param}, %c: f32[N,384] {input}, %v: f32[384,128] {param}, %t: f32[N,256] {input}) -> (f32[N,256], f32[N,128], f32[512,N]) {
  %0 = matmul %a, %w : f32[N,256]
  %1 = matmul %c, %v : f32[N,128]
  %2 = matmul %w, %t {transpose_b = true} : f32[512,N]
  return x = %0, y = %1, z = %2
}
)";
  ParseError PE;
  auto IR = parseModule("test.air", Text, PE);
  ASSERT_TRUE(IR) << PE.Message;
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(*IR, Ctx);
  ASSERT_TRUE(bool(LM)) << llvm::toString(LM.takeError());
  EXPECT_EQ(countTasks(**LM, "matmul"), 3u);
  mergeIdenticalFunctions(**LM);
  EXPECT_EQ(countTasks(**LM, "matmul"), 2u)
      << "the two plain products of other sizes did not merge";
}

/// Runs @forward of the MNIST module compiled on \p Threads threads on
/// fixed inputs; \p Parts is how many parts the JIT compiled.
std::vector<cgtest::Vec> runForward(const adj::Module &IR, unsigned Threads,
                                    unsigned &Parts) {
  cgtest::Compiled C;
  C.M = std::move(*IR.clone());
  C.compile(2, {}, Threads);
  Parts = C.J->stats().Parts;
  const Function &F = *C.M.function("forward");
  const int64_t N = 5;
  std::vector<cgtest::Vec> Args, Results;
  for (size_t I = 0; I < F.Args.size(); ++I) {
    const TensorType &T = F.Args[I]->type();
    int64_t E = cgtest::numel(cgtest::concrete(T, N));
    Args.push_back(T.Elt == DType::I32
                       ? cgtest::randLabels(E, 10, 7 + I)
                       : cgtest::randVec(E, -0.3, 0.3, T.Elt, 7 + I));
  }
  EXPECT_EQ(C.run("forward", N, Args, Results), 0);
  return Results;
}

TEST(Partition, SplitAndWholeCompileToTheSameResults) {
  auto IR = mnistIR();
  ASSERT_TRUE(IR);
  unsigned PartsOne = 0, PartsThree = 0;
  std::vector<cgtest::Vec> One = runForward(*IR, 1, PartsOne);
  std::vector<cgtest::Vec> Three = runForward(*IR, 3, PartsThree);
  EXPECT_EQ(PartsOne, 1u);
  // Split (into fewer parts than threads when the GEMMs are the kernel
  // library's: the module is then below 3 parts' worth of instructions).
  EXPECT_GE(PartsThree, 2u);
  ASSERT_FALSE(One.empty());
  ASSERT_EQ(One.size(), Three.size());
  for (size_t I = 0; I < One.size(); ++I)
    EXPECT_EQ(One[I], Three[I]) << "result " << I;
}

} // namespace
