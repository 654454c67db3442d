//===- CleanupPassesTest.cpp - canonicalize and constant-fold keep values -===//
///
/// The lit tests show what canonicalize and constant-fold rewrite; these
/// check that the rewritten functions compute the same values. Every
/// function of tests/lit/passes/{canonicalize,constant-fold}.air is
/// JIT-compiled before and after the pass and run on the same random inputs
/// (positive, so that log and sqrt are defined) for several batch sizes.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "ir/Parser.h"
#include "passes/Pass.h"

#include <fmt/format.h>
#include <fstream>
#include <sstream>

using namespace adj;
using namespace adj::cgtest;

namespace {

std::unique_ptr<Module> parseTestFile(const std::string &Name,
                                      const std::string &Pipeline) {
  std::string Path = std::string(ADJ_SOURCE_DIR) + "/tests/lit/passes/" + Name;
  std::ifstream In(Path);
  std::stringstream SS;
  SS << In.rdbuf();
  ParseError E;
  auto M = parseModule(Path, SS.str(), E);
  if (!M) {
    ADD_FAILURE() << Path << ":" << E.Where.Line << ": " << E.Message;
    return nullptr;
  }
  PassManager PM;
  std::string Err;
  EXPECT_TRUE(PM.parsePipeline(Pipeline, Err)) << Err;
  PassContext Ctx;
  std::ostringstream Log;
  EXPECT_TRUE(PM.run(*M, Ctx, Log)) << Pipeline;
  return M;
}

void compile(Compiled &C, std::unique_ptr<Module> M) {
  C.M.BatchDim = M->BatchDim;
  C.M.Functions = std::move(M->Functions);
  C.compile();
}

void expectSameValues(const std::string &File, const std::string &Pass) {
  Compiled Before, After;
  auto A = parseTestFile(File, "");
  auto B = parseTestFile(File, Pass);
  ASSERT_TRUE(A && B);
  compile(Before, std::move(A));
  compile(After, std::move(B));
  for (auto &F : Before.M.Functions)
    for (int64_t N : BatchSizes) {
      std::vector<Vec> Args;
      unsigned Seed = 1;
      for (auto &Arg : F->Args)
        Args.push_back(randVec(numel(concrete(Arg->Type, N)), 0.5, 2.0,
                               Arg->Type.Elt, Seed++));
      std::vector<Vec> Want, Got;
      ASSERT_EQ(Before.run(F->Name, N, Args, Want), 0);
      ASSERT_EQ(After.run(F->Name, N, Args, Got), 0);
      ASSERT_EQ(Got.size(), Want.size());
      for (size_t I = 0; I < Got.size(); ++I)
        expectClose(
            Got[I], Want[I], 1e-5,
            fmt::format("{} @{} result {} (n={})", Pass, F->Name, I, N));
    }
}

TEST(CleanupPasses, CanonicalizeKeepsValues) {
  expectSameValues("canonicalize.air", "canonicalize");
}

TEST(CleanupPasses, ConstantFoldKeepsValues) {
  expectSameValues("constant-fold.air", "constant-fold,dce");
}

} // namespace
