//===- IRParserTest.cpp - Reading the IR's text form ----------------------===//
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace adj;

namespace {

const char *Sample =
    R"(func @forward(%x: f32[B,4] {input}, %y: i32[B] {input}, %w: f32[4,3] {param}, %b: f32[3] {param, frozen}) -> (f32[], f32[]) {
  %0 = matmul %x, %w : f32[B,3]                     loc("m.adj":3:7)
  %1 = add %0, %b : f32[B,3]                        loc("m.adj":3:11)
  %2 = leaky_relu %1 {alpha = 0.01} : f32[B,3]      loc("m.adj":4:5)
  %3 = reduce_max %2 {axes = [-1], keepdims = true} : f32[B,1]  loc("m.adj":5:5, grad)
  %4 = constant {value = -inf} : f32[]              loc(grad)
  %5 = constant {value = 1e-08} : f64[2,3]
  %6 = cross_entropy %2, %y {label_smoothing = 0.1} : f32[]  loc("m.adj":6:6)
  %7 = accuracy %2, %y : f32[]                      loc("m.adj":7:19)
  return loss = %6, accuracy = %7
}
)";

std::unique_ptr<Module> parse(const std::string &Text, ParseError &E,
                              SourceMap *Map = nullptr) {
  return parseModule("t.air", Text, E, Map);
}

TEST(IRParser, PrintsBackWhatItRead) {
  ParseError E;
  auto M = parse(Sample, E);
  ASSERT_TRUE(M) << E.Message << " at " << E.Where.Line << ":" << E.Where.Col;
  EXPECT_EQ(M->BatchDim, "B");
  EXPECT_EQ(printModule(*M), Sample);
  const Function &F = *M->Functions[0];
  EXPECT_TRUE(F.Frozen[3]);
  EXPECT_EQ(F.Ops[3]->Location.Line, 5u);
  EXPECT_TRUE(F.Ops[3]->Location.Grad);
  EXPECT_TRUE(F.Ops[4]->Location.Grad);
  EXPECT_FALSE(F.Ops[4]->Location.known());
  EXPECT_EQ(F.Ops[4]->floatAttr("value"), -HUGE_VAL);
  EXPECT_EQ(F.Ops[5]->Result.Type.Elt, DType::F64);
}

TEST(IRParser, QuotesInFileNamesRoundTrip) {
  const char *Text = "func @f(%x: f32[2] {input}) -> (f32[2]) {\n"
                     "  %0 = exp %x : f32[2]                              "
                     "loc(\"dir\\\\a\\\"b.adj\":1:2)\n"
                     "  return out = %0\n}\n";
  ParseError E;
  auto M = parse(Text, E);
  ASSERT_TRUE(M) << E.Message;
  EXPECT_EQ(M->Functions[0]->Ops[0]->Location.File, "dir\\a\"b.adj");
  EXPECT_EQ(printModule(*M), Text);
}

TEST(IRParser, ForwardReferencesResolveForTheVerifier) {
  SourceMap Map;
  ParseError E;
  auto M = parse("func @f(%x: f32[2] {input}) -> (f32[2]) {\n"
                 "  %a = exp %b : f32[2]\n"
                 "  %b = log %x : f32[2]\n"
                 "  return out = %a\n}\n",
                 E, &Map);
  ASSERT_TRUE(M) << E.Message;
  const Function &F = *M->Functions[0];
  EXPECT_EQ(F.Ops[0]->Operands[0], &F.Ops[1]->Result);
  std::vector<Violation> V = verify(*M, &Map);
  ASSERT_EQ(V.size(), 1u);
  EXPECT_EQ(V[0].Message, "%a = exp: operand used before its definition: %b");
  EXPECT_EQ(V[0].Where.Line, 2u);
  EXPECT_EQ(V[0].Where.Col, 3u);
}

TEST(IRParser, UndefinedValueIsReportedAtItsFirstUse) {
  ParseError E;
  auto M = parse("func @f(%x: f32[2] {input}) -> (f32[2]) {\n"
                 "  %0 = exp %z : f32[2]\n"
                 "  %1 = add %0, %q : f32[2]\n"
                 "  %2 = add %1, %z : f32[2]\n"
                 "  return out = %2\n}\n",
                 E);
  EXPECT_FALSE(M);
  EXPECT_EQ(E.Message, "use of undefined value '%z'");
  EXPECT_EQ(E.Where.Line, 2u);
  EXPECT_EQ(E.Where.Col, 12u);
}

TEST(IRParser, ResultsCannotReferToLaterValues) {
  ParseError E;
  EXPECT_FALSE(parse("func @f(%x: f32[2] {input}) -> (f32[2]) {\n"
                     "  return out = %0\n}\n",
                     E));
  EXPECT_EQ(E.Message, "use of undefined value '%0'");
  EXPECT_EQ(E.Where.Line, 2u);
}

TEST(IRParser, SourceMapPointsAtDefinitions) {
  SourceMap Map;
  ParseError E;
  auto M = parse(Sample, E, &Map);
  ASSERT_TRUE(M);
  const Function &F = *M->Functions[0];
  EXPECT_EQ(Map.Functions.at(&F).Line, 1u);
  EXPECT_EQ(Map.Functions.at(&F).Col, 6u);
  EXPECT_EQ(Map.Values.at(F.Args[1].get()).Col, 37u);
  EXPECT_EQ(Map.Values.at(&F.Ops[2]->Result).Line, 4u);
  EXPECT_EQ(Map.Names.at(&F.Ops[2]->Result), "2");
  ASSERT_EQ(Map.Results.at(&F).size(), 2u);
  EXPECT_EQ(Map.Results.at(&F)[1].Line, 10u);
  EXPECT_EQ(Map.Results.at(&F)[1].Col, 21u);
}

TEST(IRParser, EmptyTextIsAnEmptyModule) {
  ParseError E;
  auto M = parse(" \n// only a comment\n", E);
  ASSERT_TRUE(M);
  EXPECT_TRUE(M->Functions.empty());
  EXPECT_EQ(printModule(*M), "");
}

/// Every prefix of a valid module either parses or reports an error inside
/// the text; none crashes.
TEST(IRParser, EveryTruncationIsAnError) {
  std::string Text = Sample;
  for (size_t N = 0; N < Text.size(); ++N) {
    ParseError E;
    auto M = parse(Text.substr(0, N), E);
    if (M)
      continue;
    EXPECT_GE(E.Where.Line, 1u) << N;
    EXPECT_FALSE(E.Message.empty()) << N;
  }
}

/// Random byte flips never crash the parser or the verifier.
TEST(IRParser, SurvivesRandomBytes) {
  std::mt19937 Rng(42);
  std::string Text = Sample;
  for (int I = 0; I < 2000; ++I) {
    std::string T = Text;
    for (int J = 0; J < 3; ++J)
      T[Rng() % T.size()] = char(Rng() % 256);
    ParseError E;
    if (auto M = parse(T, E))
      verify(*M);
  }
}

TEST(IRParser, DiagnosticsNameTheProblem) {
  struct Case {
    const char *Text;
    const char *Message;
  };
  const Case Cases[] = {
      {"func @f(%x: f32[2] {input}) -> () {\n  %0 = exp %x\n",
       "expected ':', got end of file"},
      {"func @f(%x: f32[N] {input}, %y: f32[M] {input}) -> () { return }",
       "symbolic dim 'M' conflicts with 'N'"},
      {"func @f(%x: f32[2] {input}) -> () { %0 = exp %x {a = 1, a = 2} : "
       "f32[2] return }",
       "attribute 'a' is given twice"},
      {"func @f(%x: bf16[2] {input}) -> () { return }",
       "unknown element type 'bf16'"},
      {"func @f(%x: f32[2] {input}) -> () { %0 = add %x : f32[2] return }",
       "'add' expects 2 operands, got 1"},
      {"func @f() -> () { %0 = constant {value = 1.0.0} : f32[] return }",
       "bad number '1.0.0'"},
      {"func f() -> () {}", "expected a function name like '@forward', got "
                            "'f'"},
  };
  for (const Case &C : Cases) {
    ParseError E;
    EXPECT_FALSE(parse(C.Text, E)) << C.Text;
    EXPECT_EQ(E.Message, C.Message) << C.Text;
  }
}

} // namespace
