//===- IRTest.cpp - IR types, shape rules, printer, parser, verifier ------===//
#include "ir/IR.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

#include <gtest/gtest.h>
#include <sstream>

using namespace adj;

namespace {

TensorType t(std::vector<int64_t> D, DType E = DType::F32) {
  return TensorType(E, std::move(D));
}

TEST(ShapeRules, BroadcastWithBatchDim) {
  auto R = inferType(OpKind::Add, {t({kBatch, 256}), t({256})}, {});
  ASSERT_TRUE(R.Type);
  EXPECT_EQ(R.Type->str(), "f32[N,256]");
  R = inferType(OpKind::Add, {t({kBatch, 3}), t({4, 3})}, {});
  EXPECT_FALSE(R.Type);
  EXPECT_EQ(R.Error, "shapes f32[N,3] and f32[4,3] do not broadcast");
}

TEST(ShapeRules, MatMulInnerDims) {
  auto R = inferType(OpKind::MatMul, {t({kBatch, 784}), t({128, 10})}, {});
  EXPECT_FALSE(R.Type);
  EXPECT_EQ(R.Error,
            "matmul inner dimensions differ: f32[N,784] @ f32[128,10]");
  R = inferType(OpKind::MatMul, {t({kBatch, 784}), t({784, 10})}, {});
  ASSERT_TRUE(R.Type);
  EXPECT_EQ(R.Type->str(), "f32[N,10]");
}

TEST(ShapeRules, ReduceAxesAndKeepdims) {
  Attrs A{{"axes", std::vector<int64_t>{-1}}, {"keepdims", true}};
  auto R = inferType(OpKind::ReduceSum, {t({kBatch, 3, 4})}, A);
  ASSERT_TRUE(R.Type);
  EXPECT_EQ(R.Type->str(), "f32[N,3,1]");
  R = inferType(OpKind::ReduceMean, {t({kBatch, 3})}, {});
  ASSERT_TRUE(R.Type);
  EXPECT_EQ(R.Type->str(), "f32[]");
  R = inferType(OpKind::ReduceSum, {t({3})},
                {{"axes", std::vector<int64_t>{2}}});
  EXPECT_FALSE(R.Type);
}

TEST(ShapeRules, IntegerWhereFloatNeeded) {
  auto R = inferType(OpKind::Exp, {t({kBatch}, DType::I32)}, {});
  EXPECT_FALSE(R.Type);
  EXPECT_EQ(R.Error, "'exp' expects a float tensor, got i32[N]");
}

TEST(ShapeRules, CrossEntropyLabels) {
  auto R = inferType(OpKind::CrossEntropy,
                     {t({kBatch, 10}), t({kBatch}, DType::I32)}, {});
  ASSERT_TRUE(R.Type);
  EXPECT_EQ(R.Type->str(), "f32[]");
  R = inferType(OpKind::CrossEntropy, {t({kBatch, 10}), t({kBatch})}, {});
  EXPECT_FALSE(R.Type);
}

std::unique_ptr<Module> sample() {
  auto M = std::make_unique<Module>();
  Function &F = *M->addFunction("forward");
  Value *X = F.addArg("x", t({kBatch, 4}), ArgRole::Input);
  Value *Y = F.addArg("y", t({kBatch}, DType::I32), ArgRole::Input);
  Value *W = F.addArg("w", t({4, 3}), ArgRole::Param);
  Value *Bv = F.addArg("b", t({3}), ArgRole::Param, /*IsFrozen=*/true);
  Builder B(F);
  B.CurLoc = Loc{"m.adj", 3, 7, false};
  Value *H = B.create(OpKind::Add, {B.create(OpKind::MatMul, {X, W}), Bv});
  Value *R = B.create(OpKind::LeakyRelu, {H}, {{"alpha", 0.01}});
  Value *L = B.create(OpKind::CrossEntropy, {R, Y}, {{"label_smoothing", 0.0}});
  F.Results.push_back({"loss", L});
  F.Results.push_back({"accuracy", B.create(OpKind::Accuracy, {R, Y})});
  return M;
}

TEST(Printer, PrintsTheDesignedForm) {
  std::string S = printModule(*sample());
  EXPECT_NE(S.find("func @forward(%x: f32[N,4] {input}, %y: i32[N] {input}, "
                   "%w: f32[4,3] {param}, %b: f32[3] {param, frozen}) -> "
                   "(f32[], f32[]) {"),
            std::string::npos)
      << S;
  EXPECT_NE(S.find("%0 = matmul %x, %w : f32[N,3]"), std::string::npos) << S;
  EXPECT_NE(S.find("loc(\"m.adj\":3:7)"), std::string::npos) << S;
  EXPECT_NE(S.find("{alpha = 0.01}"), std::string::npos) << S;
  EXPECT_NE(S.find("return loss = %3, accuracy = %4"), std::string::npos) << S;
}

TEST(Parser, RoundTripsThroughEveryStage) {
  std::unique_ptr<Module> M = sample();
  PassManager PM;
  std::string Err;
  ASSERT_TRUE(PM.parsePipeline("autodiff,optimizer,cse,dce", Err));
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM.run(*M, Ctx, Log))
      << (Ctx.Errors.empty() ? "" : Ctx.Errors[0].second);
  std::string Text = printModule(*M);
  ParseError PE;
  auto M2 = parseModule("t.air", Text, PE);
  ASSERT_TRUE(M2) << PE.Message << " at " << PE.Where.Line << ":"
                  << PE.Where.Col;
  EXPECT_TRUE(verifyModule(*M2).empty());
  EXPECT_EQ(printModule(*M2), Text);
}

TEST(Parser, ReportsUndefinedValues) {
  ParseError PE;
  auto M = parseModule("bad.air",
                       "func @f(%x: f32[2] {input}) -> (f32[2]) {\n"
                       "  %0 = exp %y : f32[2]\n"
                       "  return loss = %0\n}\n",
                       PE);
  EXPECT_FALSE(M);
  EXPECT_EQ(PE.Message, "use of undefined value '%y'");
  EXPECT_EQ(PE.Where.Line, 2u);
  EXPECT_EQ(PE.Where.Col, 12u);
}

TEST(Verifier, CatchesAWrongResultType) {
  std::unique_ptr<Module> M = sample();
  M->Functions[0]->Ops[0]->Result.Type = t({kBatch, 5});
  std::vector<std::string> Errs = verifyModule(*M);
  ASSERT_FALSE(Errs.empty());
  EXPECT_NE(Errs[0].find("result type f32[N,5] does not match the shape "
                         "rule's f32[N,3]"),
            std::string::npos)
      << Errs[0];
}

TEST(Verifier, CatchesUseBeforeDefinition) {
  std::unique_ptr<Module> M = sample();
  Function &F = *M->Functions[0];
  std::swap(F.Ops[0], F.Ops[1]);
  std::vector<std::string> Errs = verifyModule(*M);
  ASSERT_FALSE(Errs.empty());
  EXPECT_NE(Errs[0].find("operand used before its definition"),
            std::string::npos);
}

TEST(Autodiff, FrozenParametersGetNoGradient) {
  std::unique_ptr<Module> M = sample();
  PassManager PM;
  std::string Err;
  ASSERT_TRUE(PM.parsePipeline("autodiff", Err));
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM.run(*M, Ctx, Log));
  Function *T = M->function("train_step");
  ASSERT_TRUE(T);
  EXPECT_TRUE(T->result("grad.w"));
  EXPECT_FALSE(T->result("grad.b"));
  EXPECT_FALSE(T->result("accuracy"));
  // Every adjoint op is marked as such.
  size_t Fwd = M->function("forward")->Ops.size();
  for (size_t I = Fwd; I < T->Ops.size(); ++I)
    EXPECT_TRUE(T->Ops[I]->Location.Grad);
}

TEST(Optimizer, AdamAddsStateAndHyperArguments) {
  std::unique_ptr<Module> M = sample();
  PassManager PM;
  std::string Err;
  ASSERT_TRUE(PM.parsePipeline("autodiff,optimizer", Err));
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM.run(*M, Ctx, Log));
  Function *T = M->function("train_step");
  EXPECT_TRUE(T->arg("opt.m.w"));
  EXPECT_TRUE(T->arg("opt.v.w"));
  EXPECT_FALSE(T->arg("opt.m.b"));
  EXPECT_EQ(T->Args[T->Args.size() - 2]->Name, "lr");
  EXPECT_EQ(T->Args.back()->Name, "step");
  EXPECT_TRUE(T->result("w"));
  EXPECT_TRUE(T->result("opt.m.w"));
  EXPECT_FALSE(T->result("grad.w"));
}

} // namespace

namespace {
TEST(ShapeRules, BroadcastNeverDuplicatesTheBatchDim) {
  auto R = inferType(OpKind::Add, {t({kBatch}), t({kBatch, 3, 1})}, {});
  EXPECT_FALSE(R.Type);
  EXPECT_EQ(R.Error, "shapes f32[N] and f32[N,3,1] broadcast to f32[N,3,N], "
                     "which has the batch dim twice");
}
} // namespace
