//===- HardeningTest.cpp - Limits a user can reach, and the tools' guards -===//
///
/// Units of the hardening work on user limits: gradCheck refuses a batch
/// whose buffers exceed its memory limit before allocating, with the
/// estimate, and reports progress per parameter once it has run for a
/// while; the diagnostics engine stops after 20 errors in a file and
/// escapes bytes that are not printable text; long binary chains are walked
/// without recursion (evalConst, destruction).
///
//===----------------------------------------------------------------------===//
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "ir/Parser.h"
#include "tools/engine/GradCheck.h"

#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>
#include <sstream>

using namespace adj;

namespace {

const char *const Linear = R"(
func @forward(%x: f32[N,3] {input}, %w: f32[3,2] {param}, %b: f32[2] {param}) -> (f32[]) {
  %0 = matmul %x, %w : f32[N,2]
  %1 = add %0, %b : f32[N,2]
  %2 = reduce_sum %1 : f32[]
  return loss = %2
}
)";

std::unique_ptr<Module> linearModule() {
  ParseError PE;
  std::unique_ptr<Module> M = parseModule("linear.air", Linear, PE);
  EXPECT_TRUE(M) << PE.Message;
  return M;
}

TEST(HardeningTest, GradCheckRefusesABatchBeyondItsMemory) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto M = linearModule();
  ASSERT_TRUE(M);
  GradCheckOptions O;
  O.Batch = 11000000;
  O.MemoryLimit = 100000000;
  GradCheckResult R = gradCheck(*M, O);
  EXPECT_FALSE(R.Ok);
  // x is 11e6 * 3 f64 values: 264,000,000 bytes; the results and scratch
  // hold [N, 2] values (and their gradients) too.
  EXPECT_NE(R.Error.find("at batch 11000000 the check needs about "),
            std::string::npos)
      << R.Error;
  EXPECT_NE(R.Error.find("more than the 100,000,000 bytes of this machine's "
                         "memory: 264,000,064 for the arguments"),
            std::string::npos)
      << R.Error;
  // A batch beyond 64 bits of bytes is refused the same way.
  O.Batch = int64_t(1) << 62;
  R = gradCheck(*M, O);
  EXPECT_NE(R.Error.find("needs about more than 2^64 bytes"), std::string::npos)
      << R.Error;
  // At a small batch it runs.
  O.Batch = 3;
  R = gradCheck(*M, O);
  EXPECT_TRUE(R.Ok) << formatGradCheck(R);
}

TEST(HardeningTest, GradCheckReportsProgressPerParameter) {
  auto M = linearModule();
  ASSERT_TRUE(M);
  std::ostringstream Progress;
  GradCheckOptions O;
  O.Progress = &Progress;
  O.ProgressAfter = -1; // at once
  GradCheckResult R = gradCheck(*M, O);
  EXPECT_TRUE(R.Ok) << formatGradCheck(R);
  std::string S = Progress.str();
  EXPECT_NE(S.find("gradcheck: 1/2 w f64[3,2]: 6 elements, ok  ("),
            std::string::npos)
      << S;
  EXPECT_NE(S.find("gradcheck: 2/2 b f64[2]: 2 elements, ok  ("),
            std::string::npos)
      << S;
  // Quick checks say nothing.
  std::ostringstream Quiet;
  O.Progress = &Quiet;
  O.ProgressAfter = 1000;
  gradCheck(*M, O);
  EXPECT_EQ(Quiet.str(), "");
}

TEST(HardeningTest, DiagnosticsStopAfterTwentyErrorsPerFile) {
  std::ostringstream OS;
  DiagEngine D(OS);
  for (int I = 0; I < 30; ++I)
    D.error(Loc{"a.adj", unsigned(I + 1), 1}, "bad");
  D.note(Loc{"a.adj", 30, 1}, "not shown, as its error is not");
  D.error(Loc{"b.adj", 1, 1}, "another file has its own count");
  EXPECT_EQ(D.errorCount(), 31u);
  std::string S = OS.str();
  EXPECT_NE(S.find("a.adj:20:1: error: bad\n"), std::string::npos);
  EXPECT_EQ(S.find("a.adj:21:1"), std::string::npos);
  EXPECT_NE(S.find("a.adj: error: too many errors emitted, stopping now\n"),
            std::string::npos);
  EXPECT_EQ(S.find("not shown"), std::string::npos);
  EXPECT_NE(S.find("b.adj:1:1: error: another file"), std::string::npos);
}

TEST(HardeningTest, EscapesBytesThatAreNotText) {
  EXPECT_EQ(escapeText("plain, tab\tand caf\xc3\xa9"),
            "plain, tab\tand caf\xc3\xa9");
  EXPECT_EQ(escapeText("bell\x07 esc\x1b[31m del\x7f"),
            "bell\\x07 esc\\x1b[31m del\\x7f");
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, an
  // overlong encoding, a surrogate.
  EXPECT_EQ(escapeText("\x80 \xc3 \xc0\xaf \xed\xa0\x80"),
            "\\x80 \\xc3 \\xc0\\xaf \\xed\\xa0\\x80");
  // The caret follows the escaped line.
  std::ostringstream OS;
  DiagEngine D(OS);
  D.addSource("m.adj", "x\x01 = y\n");
  D.error(Loc{"m.adj", 1, 5}, "here");
  EXPECT_EQ(OS.str(), "m.adj:1:5: error: here\nx\\x01 = y\n       ^\n");
}

TEST(HardeningTest, LongChainsAreWalkedWithoutRecursion) {
  // 1 - 1 - ... (200,000 terms): a recursive walk would overflow the stack.
  auto One = [] {
    auto E = std::make_unique<Expr>(ExprKind::Number, Loc{});
    E->Num = 1;
    return E;
  };
  ExprPtr Chain = One();
  for (int I = 1; I < 200000; ++I) {
    auto B = std::make_unique<Expr>(ExprKind::Binary, Loc{});
    B->Op = BinOp::Sub;
    B->Args.push_back(std::move(Chain));
    B->Args.push_back(One());
    Chain = std::move(B);
  }
  EXPECT_EQ(leftSpine(*Chain).size(), 199999u);
  EXPECT_EQ(evalConst(*Chain), std::optional<double>(1 - 199999.0));
  Chain.reset(); // destroyed in a loop
}

} // namespace
