//===- CheckedStepTest.cpp - Checked mode of codegen ---------------------===//
///
/// The function LowerOptions::CheckFunction names is lowered op by op with
/// every float result passed to adj_rt_check_values: it returns
/// ADJ_RT_STEP_NONFINITE (3) at the first op whose result is not finite and
/// the runtime records that op's index (its site) and the element; the same
/// function lowered normally just computes the NaN. The scan the loaders
/// and the training loop use (firstNonFinite) finds the first NaN or
/// infinity of any length and alignment.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "runtime/Trainer.h"

#include <cmath>
#include <cstring>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// loss = mean(log(x - 1) * 2): ops 0 constant, 1 sub, 2 log, 3 constant,
/// 4 mul, 5 reduce_mean.
void build(Compiled &C, const char *Name) {
  Function *F = C.add(Name);
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch}), ArgRole::Input);
  Value *Y = B.create(OpKind::Sub, {X, B.constant(1)});
  Value *L = B.create(OpKind::Log, {Y});
  Value *M = B.create(OpKind::Mul, {L, B.constant(2)});
  F->Results.push_back({"loss", B.create(OpKind::ReduceMean, {M})});
}

TEST(CheckedStep, StopsAtTheFirstNonFiniteOp) {
  Compiled C;
  build(C, "check_step");
  build(C, "plain");
  LowerOptions L;
  L.CheckFunction = "check_step";
  C.compile(2, L);
  ASSERT_EQ(C.M.function("check_step")->Ops[2]->Kind, OpKind::Log);

  std::vector<Vec> Res;
  rt::clearCheckFailure();
  EXPECT_EQ(C.run("check_step", 3, {{2, 3, 4}}, Res), 0);
  int64_t Site = -1, Index = -1;
  double Value = 0;
  EXPECT_FALSE(rt::lastCheckFailure(Site, Index, Value));

  // log(0.5 - 1) at element 1: the log (op 2) is the first non-finite one.
  EXPECT_EQ(C.run("check_step", 3, {{2, 0.5, 4}}, Res), ADJ_RT_STEP_NONFINITE);
  ASSERT_TRUE(rt::lastCheckFailure(Site, Index, Value));
  EXPECT_EQ(Site, 2);
  EXPECT_EQ(Index, 1);
  EXPECT_TRUE(std::isnan(Value));

  // Unchecked, the same function computes the NaN and returns 0.
  EXPECT_EQ(C.run("plain", 3, {{2, 0.5, 4}}, Res), 0);
  EXPECT_TRUE(std::isnan(Res[0][0]));
}

TEST(CheckedStep, FindsTheFirstNonFiniteValue) {
  for (int64_t Count : {1, 7, 1023, 1024, 1025, 5000})
    for (int64_t At : {int64_t(0), Count / 2, Count - 1}) {
      std::vector<float> F(size_t(Count) + 1, 1.5f);
      std::vector<double> D(size_t(Count) + 1, -2.5);
      EXPECT_EQ(rt::firstNonFinite(F.data(), ADJ_RT_F32, Count), -1);
      EXPECT_EQ(rt::firstNonFinite(D.data(), ADJ_RT_F64, Count), -1);
      F[size_t(At)] = At % 2 ? INFINITY : NAN;
      D[size_t(At)] = At % 2 ? -INFINITY : NAN;
      F.back() = D.back() = NAN; // past the end: not looked at
      EXPECT_EQ(rt::firstNonFinite(F.data(), ADJ_RT_F32, Count), At);
      EXPECT_EQ(rt::firstNonFinite(D.data(), ADJ_RT_F64, Count), At);
      // Unaligned, as in a safetensors file.
      std::vector<unsigned char> Bytes(size_t(Count) * 4 + 1);
      std::memcpy(Bytes.data() + 1, F.data(), size_t(Count) * 4);
      EXPECT_EQ(rt::firstNonFinite(Bytes.data() + 1, ADJ_RT_F32, Count), At);
    }
  int32_t I[3] = {-1, 0x7F800000, 0x7FC00000};
  EXPECT_EQ(rt::firstNonFinite(I, ADJ_RT_I32, 3), -1);
}

} // namespace
