//===- VerifierTest.cpp - The IR's invariants, one rule at a time ---------===//
///
/// The lit tests in tests/lit/ir/verify-*.air cover every rule reachable
/// from IR text; these cover the rest (IR built in memory) and the way
/// violations are located.
///
//===----------------------------------------------------------------------===//
#include "ir/Verifier.h"
#include "ir/Parser.h"
#include "passes/Pass.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sstream>

using namespace adj;

namespace {

TensorType t(std::vector<int64_t> D, DType E = DType::F32) {
  return TensorType(E, std::move(D));
}

/// @forward(x, y, w): loss = cross_entropy(x @ w, y).
std::unique_ptr<Module> sample() {
  auto M = std::make_unique<Module>();
  Function &F = *M->addFunction("forward");
  Value *X = F.addArg("x", t({kBatch, 4}), ArgRole::Input);
  Value *Y = F.addArg("y", t({kBatch}, DType::I32), ArgRole::Input);
  Value *W = F.addArg("w", t({4, 3}), ArgRole::Param);
  Builder B(F);
  B.CurLoc = Loc{"m.adj", 3, 7, false};
  Value *L =
      B.create(OpKind::CrossEntropy, {B.create(OpKind::MatMul, {X, W}), Y},
               {{"label_smoothing", 0.0}});
  F.Results.push_back({"loss", L});
  return M;
}

std::vector<std::string> messages(const Module &M) {
  std::vector<std::string> Out;
  for (const Violation &V : verify(M))
    Out.push_back(V.Message);
  return Out;
}

TEST(Verifier, AcceptsEveryStageOfThePipeline) {
  for (const char *Pipeline :
       {"", "autodiff", "autodiff,optimizer",
        "autodiff,optimizer,canonicalize,constant-fold,cse,dce",
        "autodiff,optimizer,canonicalize,constant-fold,cse,dce,fuse"}) {
    std::unique_ptr<Module> M = sample();
    PassManager PM;
    std::string Err;
    ASSERT_TRUE(PM.parsePipeline(Pipeline, Err));
    PassContext Ctx;
    std::ostringstream Log;
    ASSERT_TRUE(PM.run(*M, Ctx, Log)) << Pipeline;
    EXPECT_TRUE(verify(*M).empty()) << Pipeline;
  }
}

TEST(Verifier, OpsWithoutLocationsNameTheirFunction) {
  std::unique_ptr<Module> M = sample();
  Function &F = *M->Functions[0];
  F.Ops[0]->Result.Type = t({kBatch, 5});
  F.Ops[0]->Location = Loc();
  EXPECT_EQ(messages(*M),
            std::vector<std::string>{"@forward: %0 = matmul: result type "
                                     "f32[N,5] does not match the shape "
                                     "rule's f32[N,3]"});
  // With its source location, the op is found by it.
  F.Ops[0]->Location = Loc{"m.adj", 3, 7, true};
  std::vector<Violation> V = verify(*M);
  ASSERT_EQ(V.size(), 1u);
  EXPECT_EQ(V[0].Where.File, "m.adj");
  EXPECT_EQ(V[0].Where.Line, 3u);
  EXPECT_FALSE(V[0].Where.Grad);
  EXPECT_EQ(verifyModule(*M)[0].rfind("m.adj:3:7: error: %0 = matmul: ", 0),
            0u);
}

TEST(Verifier, OperandsOfAnotherFunctionAreRejected) {
  std::unique_ptr<Module> M = sample();
  Function &G = *M->addFunction("other");
  Value *Z = G.addArg("z", t({4, 3}), ArgRole::Param);
  (void)Z;
  M->Functions[0]->Ops[0]->Operands[1] = G.Args[0].get();
  EXPECT_EQ(messages(*M)[0],
            "%0 = matmul: an operand is not a value of @forward");
}

TEST(Verifier, OperandCountComesFromTheOpTable) {
  std::unique_ptr<Module> M = sample();
  Function &F = *M->Functions[0];
  F.Ops[1]->Operands.pop_back();
  EXPECT_EQ(messages(*M)[0], "%1 = cross_entropy: expects 2 operands, got 1");
  F.Ops[1]->Operands.push_back(F.Args[1].get());
  // matmul is variadic in the table; its shape rule counts its operands.
  F.Ops[0]->Operands.push_back(F.Args[2].get());
  EXPECT_EQ(messages(*M)[0], "%0 = matmul: 'matmul' expects 2 operands "
                             "without an 'epilogue', got 3");
  F.Ops[0]->Operands.pop_back();
  Builder B(F);
  B.constant(1.0)->Def->Operands.push_back(F.Args[0].get());
  EXPECT_EQ(messages(*M).back(), "@forward: %2 = constant: expects 0 "
                                 "operands, got 1");
}

TEST(Verifier, ArgumentsAreUniqueAndIndexed) {
  std::unique_ptr<Module> M = sample();
  Function &F = *M->Functions[0];
  F.Args[1]->Name = "x";
  F.Args[2]->ArgNo = 7;
  EXPECT_EQ(messages(*M), (std::vector<std::string>{
                              "@forward: argument %x is defined twice",
                              "@forward: argument %w has index 7, expected 2",
                          }));
}

TEST(Verifier, FunctionsAreUnique) {
  std::unique_ptr<Module> M = sample();
  M->Functions.push_back(M->Functions[0]->clone());
  EXPECT_EQ(messages(*M), std::vector<std::string>{
                              "@forward: function @forward is defined twice"});
}

TEST(Verifier, ResultsAreValuesOfTheirFunction) {
  std::unique_ptr<Module> M = sample();
  std::unique_ptr<Function> G = M->Functions[0]->clone();
  M->Functions[0]->Results[0].V = G->Results[0].V;
  EXPECT_EQ(messages(*M), std::vector<std::string>{
                              "@forward: result 'loss' is not a value of "
                              "@forward"});
}

TEST(Verifier, ResultsPointBackToTheirOps) {
  std::unique_ptr<Module> M = sample();
  Function &F = *M->Functions[0];
  F.Ops[1]->Result.Def = F.Ops[0].get();
  EXPECT_EQ(messages(*M)[0], "%1 = cross_entropy: result does not point back "
                             "to its op");
}

/// Every op of the op table has an attribute schema (Ops.def's Attrs
/// column): an attribute it does not take is reported.
TEST(Verifier, EveryOpHasAnAttributeSchema) {
  std::vector<std::string> Names;
  for (OpKind K : allOps())
    Names.push_back(opInfo(K).Mnemonic);
  for (const std::string &Name : Names) {
    std::optional<OpKind> K = opKindByName(Name);
    ASSERT_TRUE(K) << Name;
    Module M;
    Function &F = *M.addFunction("f");
    Value *X = F.addArg("x", t({2, 2}), ArgRole::Input);
    auto O = std::make_unique<Op>();
    O->Kind = *K;
    O->Result.Type = t({2, 2});
    O->Result.Def = O.get();
    int Arity = opInfo(*K).Arity;
    O->Operands.assign(Arity < 0 ? 1 : Arity, X);
    O->Attributes["bogus"] = int64_t(1);
    F.Ops.push_back(std::move(O));
    std::vector<std::string> Msgs = messages(M);
    ASSERT_FALSE(Msgs.empty()) << Name;
    EXPECT_EQ(Msgs[0],
              fmt::format("@f: %0 = {}: unknown attribute 'bogus'", Name));
  }
}

TEST(Verifier, ViolationsPointIntoTheText) {
  const char *Text = "func @f(%x: f32[2] {input}) -> (f32[3]) {\n"
                     "  %0 = exp %x : f32[3]\n"
                     "  return loss = %0\n}\n";
  SourceMap Map;
  ParseError E;
  auto M = parseModule("v.air", Text, E, &Map);
  ASSERT_TRUE(M);
  std::vector<Violation> V = verify(*M, &Map);
  ASSERT_EQ(V.size(), 2u);
  EXPECT_EQ(V[0].Where.File, "v.air");
  EXPECT_EQ(V[0].Where.Line, 2u);
  EXPECT_EQ(V[0].Message,
            "%0 = exp: result type f32[3] does not match the shape rule's "
            "f32[2]");
  EXPECT_EQ(V[1].Where.Line, 3u);
  EXPECT_EQ(V[1].Where.Col, 10u);
  EXPECT_EQ(V[1].Message, "the loss must be a float scalar, got f32[3]");
}

} // namespace
