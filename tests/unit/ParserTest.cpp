//===- ParserTest.cpp - Parsing model files -------------------------------===//
#include "frontend/Frontend.h"

#include <gtest/gtest.h>
#include <sstream>

using namespace adj;

namespace {

struct Parsed {
  bool Ok;
  std::string Dump;
  std::string Diags;
};

Parsed parse(const std::string &Src) {
  std::ostringstream OS;
  DiagEngine D(OS);
  std::string Out;
  bool Ok = dumpAST("t.adj", Src, D, Out);
  return {Ok, Out, OS.str()};
}

/// The dump of `h = <Expr>` without the Bind line.
std::string exprDump(const std::string &Expr) {
  Parsed P = parse("h = " + Expr + "\n");
  EXPECT_TRUE(P.Ok) << P.Diags;
  return P.Dump.substr(P.Dump.find('\n') + 1);
}

/// The first line of the diagnostics of \p Src.
std::string firstError(const std::string &Src) {
  Parsed P = parse(Src);
  EXPECT_FALSE(P.Ok);
  return P.Diags.substr(0, P.Diags.find('\n'));
}

TEST(ModelParser, ArithmeticPrecedence) {
  EXPECT_EQ(exprDump("a + b * c"), "  Binary + <1:7>\n"
                                   "    Name a <1:5>\n"
                                   "    Binary * <1:11>\n"
                                   "      Name b <1:9>\n"
                                   "      Name c <1:13>\n");
  EXPECT_EQ(exprDump("x @ w + b"), "  Binary + <1:11>\n"
                                   "    Binary @ <1:7>\n"
                                   "      Name x <1:5>\n"
                                   "      Name w <1:9>\n"
                                   "    Name b <1:13>\n");
  // Left-associative - and /.
  EXPECT_EQ(exprDump("a - b - c"), "  Binary - <1:11>\n"
                                   "    Binary - <1:7>\n"
                                   "      Name a <1:5>\n"
                                   "      Name b <1:9>\n"
                                   "    Name c <1:13>\n");
}

TEST(ModelParser, PowerAndUnaryMinus) {
  // -x ** 2 is -(x ** 2), as in Python.
  EXPECT_EQ(exprDump("-x ** 2"), "  Neg <1:5>\n"
                                 "    Binary ** <1:8>\n"
                                 "      Name x <1:6>\n"
                                 "      Number 2 <1:11>\n");
  // ** is right-associative and takes a unary minus on its right.
  EXPECT_EQ(exprDump("a ** b ** -c"), "  Binary ** <1:7>\n"
                                      "    Name a <1:5>\n"
                                      "    Binary ** <1:12>\n"
                                      "      Name b <1:10>\n"
                                      "      Neg <1:15>\n"
                                      "        Name c <1:16>\n");
  EXPECT_EQ(exprDump("-a * b"), "  Binary * <1:8>\n"
                                "    Neg <1:5>\n"
                                "      Name a <1:6>\n"
                                "    Name b <1:10>\n");
}

TEST(ModelParser, ComparisonsAreLoosest) {
  EXPECT_EQ(exprDump("a + 1 >= b * 2"), "  Binary >= <1:11>\n"
                                        "    Binary + <1:7>\n"
                                        "      Name a <1:5>\n"
                                        "      Number 1 <1:9>\n"
                                        "    Binary * <1:16>\n"
                                        "      Name b <1:14>\n"
                                        "      Number 2 <1:18>\n");
  EXPECT_EQ(firstError("h = a < b < c\n"),
            "t.adj:1:11: error: comparisons cannot be chained");
}

TEST(ModelParser, CallsListsAndLiterals) {
  EXPECT_EQ(exprDump("sum(x, axis = [0, -1], keepdims = true)"),
            "  Call sum <1:5>\n"
            "    Name x <1:9>\n"
            "    Keyword axis <1:12>\n"
            "      List <1:19>\n"
            "        Number 0 <1:20>\n"
            "        Neg <1:23>\n"
            "          Number 1 <1:24>\n"
            "    Keyword keepdims <1:28>\n"
            "      Bool true <1:39>\n");
  EXPECT_EQ(exprDump("(a + b) * 0.5"), "  Binary * <1:13>\n"
                                       "    Binary + <1:8>\n"
                                       "      Name a <1:6>\n"
                                       "      Name b <1:10>\n"
                                       "    Number 0.5 <1:15>\n");
  EXPECT_EQ(exprDump("f()"), "  Call f <1:5>\n");
  EXPECT_EQ(exprDump("\"a\\\"b\""), "  String \"a\\\"b\" <1:5>\n");
}

TEST(ModelParser, NewlinesInsideBracketsAreIgnored) {
  Parsed P = parse("h = dense(x,\n          w1,   # comment\n          b1)\n"
                   "g = [1,\n 2]\n");
  ASSERT_TRUE(P.Ok) << P.Diags;
  EXPECT_EQ(P.Dump, "Bind h <1:1>\n"
                    "  Call dense <1:5>\n"
                    "    Name x <1:11>\n"
                    "    Name w1 <2:11>\n"
                    "    Name b1 <3:11>\n"
                    "Bind g <4:1>\n"
                    "  List <4:5>\n"
                    "    Number 1 <4:6>\n"
                    "    Number 2 <5:2>\n");
}

TEST(ModelParser, Declarations) {
  Parsed P = parse("model m\n"
                   "input x : f32[N, 784]\n"
                   "input s : f64[]\n"
                   "param w : f32[784, 10] = normal(0, 0.01) frozen\n"
                   "def dense(x, w, b) = x @ w + b\n"
                   "def block(x) {\n"
                   "  h = relu(x)\n"
                   "\n"
                   "  return h\n"
                   "}\n"
                   "loss l\n"
                   "metric acc = accuracy(l, y)\n");
  ASSERT_TRUE(P.Ok) << P.Diags;
  EXPECT_EQ(P.Dump, "Model m <1:1>\n"
                    "Input x : f32[N, 784] <2:1>\n"
                    "Input s : f64[] <3:1>\n"
                    "Param w : f32[784, 10] frozen <4:1>\n"
                    "  Call normal <4:26>\n"
                    "    Number 0 <4:33>\n"
                    "    Number 0.01 <4:36>\n"
                    "Def dense(x, w, b) <5:1>\n"
                    "  Return <5:28>\n"
                    "    Binary + <5:28>\n"
                    "      Binary @ <5:24>\n"
                    "        Name x <5:22>\n"
                    "        Name w <5:26>\n"
                    "      Name b <5:30>\n"
                    "Def block(x) <6:1>\n"
                    "  Bind h <7:3>\n"
                    "    Call relu <7:7>\n"
                    "      Name x <7:12>\n"
                    "  Return <9:10>\n"
                    "    Name h <9:10>\n"
                    "Loss <11:1>\n"
                    "  Name l <11:6>\n"
                    "Metric acc <12:1>\n"
                    "  Call accuracy <12:14>\n"
                    "    Name l <12:23>\n"
                    "    Name y <12:26>\n");
}

TEST(ModelParser, TrainAndDataBlocks) {
  Parsed P = parse("train {\n"
                   "  optimizer = adam(lr = 0.001)\n"
                   "  batch = 64\n"
                   "}\n"
                   "data {\n"
                   "  train x = idx(\"a.gz\", scale = 1/255)\n"
                   "  test y = csv(\"b.csv\", columns = [1], header = true)\n"
                   "}\n");
  ASSERT_TRUE(P.Ok) << P.Diags;
  EXPECT_EQ(P.Dump, "Train <1:1>\n"
                    "  Setting optimizer <2:3>\n"
                    "    Call adam <2:15>\n"
                    "      Keyword lr <2:20>\n"
                    "        Number 0.001 <2:25>\n"
                    "  Setting batch <3:3>\n"
                    "    Number 64 <3:11>\n"
                    "Data <5:1>\n"
                    "  Source train x <6:3>\n"
                    "    Call idx <6:13>\n"
                    "      String \"a.gz\" <6:17>\n"
                    "      Keyword scale <6:25>\n"
                    "        Binary / <6:34>\n"
                    "          Number 1 <6:33>\n"
                    "          Number 255 <6:35>\n"
                    "  Source test y <7:3>\n"
                    "    Call csv <7:12>\n"
                    "      String \"b.csv\" <7:16>\n"
                    "      Keyword columns <7:25>\n"
                    "        List <7:35>\n"
                    "          Number 1 <7:36>\n"
                    "      Keyword header <7:40>\n"
                    "        Bool true <7:49>\n");
  // A one-line block.
  EXPECT_TRUE(parse("train { batch = 8 }\n").Ok);
}

TEST(ModelParser, SyntaxErrorMessages) {
  struct Case {
    const char *Src;
    const char *Error;
  } Cases[] = {
      {"h = dense(x, w\n", "t.adj:1:15: error: expected ')' after arguments"},
      {"h = (x + y\n", "t.adj:1:11: error: expected ')' after the expression"},
      {"h = [1, 2\n", "t.adj:1:10: error: expected ']' after the list"},
      {"h = x +\n", "t.adj:1:8: error: expected an expression"},
      {"h = x $ y\n", "t.adj:1:7: error: unexpected character '$'"},
      {"h = x y\n", "t.adj:1:7: error: expected end of line"},
      {"h x\n", "t.adj:1:3: error: expected '=' after 'h'"},
      {") = 3\n", "t.adj:1:1: error: expected a statement"},
      {"model\n", "t.adj:1:6: error: expected a model name after 'model'"},
      {"input : f32[N]\n",
       "t.adj:1:7: error: expected an input name after 'input'"},
      {"input x f32[N]\n",
       "t.adj:1:9: error: expected ':' after the input name"},
      {"input x : f16[N]\n",
       "t.adj:1:11: error: unknown dtype 'f16'; expected f32, f64 or i32"},
      {"input x : [N]\n",
       "t.adj:1:11: error: expected a type such as f32[N, 784]"},
      {"input x : f32 N\n", "t.adj:1:15: error: expected '[' after the dtype"},
      {"input x : f32[N, 2.5]\n",
       "t.adj:1:18: error: expected an integer dimension"},
      {"input x : f32[N, +]\n", "t.adj:1:18: error: expected a dimension"},
      {"input x : f32[N\n",
       "t.adj:1:16: error: expected ']' after the dimensions"},
      {"param w : f32[3]\n",
       "t.adj:1:17: error: expected '=' and an initialiser after the param "
       "type"},
      {"def (x) = x\n",
       "t.adj:1:5: error: expected a function name after 'def'"},
      {"def f x = x\n",
       "t.adj:1:7: error: expected '(' after the function name"},
      {"def f(x, 1) = x\n", "t.adj:1:10: error: expected a parameter name"},
      {"def f(x) x\n",
       "t.adj:1:10: error: expected '=' or '{' after the parameters"},
      {"def f(x) {\n  h = x\n}\n",
       "t.adj:3:1: error: expected 'return' before '}'"},
      {"def f(x) {\n  return x x\n}\n",
       "t.adj:2:12: error: expected '}' after the return value"},
      {"def f(x) {\n  h = x\n",
       "t.adj:2:8: error: expected 'return' and '}' to end the function body"},
      {"def f(x) {\n  3\n  return x\n}\n",
       "t.adj:2:3: error: expected a binding or 'return'"},
      {"metric = x\n",
       "t.adj:1:8: error: expected a metric name after 'metric'"},
      {"metric a x\n", "t.adj:1:10: error: expected '=' after the metric name"},
      {"train\n", "t.adj:1:6: error: expected '{' after 'train'"},
      {"train {\n  batch 3\n}\n",
       "t.adj:2:9: error: expected '=' after 'batch'"},
      {"train {\n  3 = 3\n}\n",
       "t.adj:2:3: error: expected a setting name such as 'batch'"},
      {"train {\n  batch = 3\n", "t.adj:2:12: error: expected '}' to close the "
                                 "train block"},
      {"data {\n  3 x = idx(\"a\")\n}\n",
       "t.adj:2:3: error: expected 'train' or 'test'"},
      {"data {\n  train = idx(\"a\")\n}\n",
       "t.adj:2:9: error: expected an input name after 'train'"},
      {"h = f(a = 1, 2)\n",
       "t.adj:1:14: error: positional argument after keyword argument"},
  };
  for (const Case &C : Cases)
    EXPECT_EQ(firstError(C.Src), C.Error) << C.Src;
}

TEST(ModelParser, ErrorsPrintTheLineAndACaret) {
  Parsed P = parse("h = dense(x, w1\n");
  EXPECT_EQ(P.Diags, "t.adj:1:16: error: expected ')' after arguments\n"
                     "h = dense(x, w1\n"
                     "               ^\n");
}

TEST(ModelParser, RecoversAtTheNextLine) {
  Parsed P = parse("input x : f32[N, 784]\n"
                   "h = dense(x, w1\n" // unclosed: resumes at line 3
                   "g = x $ 2\n"       // lexer error
                   "k = (x + \n"       // unclosed, ends at line 4
                   "train {\n"
                   "  batch = \n"     // error inside a block
                   "  epochs = 3 4\n" // and another one
                   "}\n"
                   "loss cross_entropy(h, y\n"
                   "metric a = accuracy(h, y)\n");
  EXPECT_FALSE(P.Ok);
  std::vector<std::string> Errors;
  std::istringstream IS(P.Diags);
  for (std::string Line; std::getline(IS, Line);)
    if (Line.find(": error: ") != std::string::npos)
      Errors.push_back(Line);
  EXPECT_EQ(Errors, (std::vector<std::string>{
                        "t.adj:2:16: error: expected ')' after arguments",
                        "t.adj:3:7: error: unexpected character '$'",
                        "t.adj:4:10: error: expected an expression",
                        "t.adj:6:11: error: expected an expression",
                        "t.adj:7:14: error: expected end of line",
                        "t.adj:9:24: error: expected ')' after arguments",
                    }));
}

TEST(ModelParser, ErrorInsideABlockKeepsTheBlock) {
  // The `}` on the failing line still closes the block.
  Parsed P = parse("train { batch = }\nloss x +\n");
  std::vector<std::string> Errors;
  std::istringstream IS(P.Diags);
  for (std::string Line; std::getline(IS, Line);)
    if (Line.find(": error: ") != std::string::npos)
      Errors.push_back(Line);
  EXPECT_EQ(Errors, (std::vector<std::string>{
                        "t.adj:1:17: error: expected an expression",
                        "t.adj:2:9: error: expected an expression"}));
}

TEST(ModelParser, DeepNestingIsAnErrorNotACrash) {
  for (std::string Src :
       {"h = " + std::string(100000, '(') + "x" + std::string(100000, ')'),
        "h = " + std::string(100000, '-') + "x",
        "h = " + std::string(300, '(') + "x" + std::string(300, ')')}) {
    Parsed P = parse(Src + "\n");
    EXPECT_FALSE(P.Ok);
    EXPECT_NE(P.Diags.find("error: expression is nested too deeply"),
              std::string::npos);
  }
  // Realistic nesting is fine.
  EXPECT_TRUE(
      parse("h = " + std::string(100, '(') + "x" + std::string(100, ')') + "\n")
          .Ok);
  // A flat chain is not nesting, whatever its length.
  std::string Chain = "h = x";
  for (int I = 0; I < 100000; ++I)
    Chain += I % 2 ? " + x" : " - x * x";
  Parsed P = parse(Chain + "\n");
  EXPECT_TRUE(P.Ok) << P.Diags;
}

} // namespace
