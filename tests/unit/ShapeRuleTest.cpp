//===- ShapeRuleTest.cpp - Result types of slice, pad, concat, matmul -----===//
///
/// The shape rules of the data-movement ops and of batched matmul: result
/// types, and the message for each way the operands can fail to fit (the
/// verifier and the frontend show these messages to users).
///
//===----------------------------------------------------------------------===//
#include "ir/IR.h"

#include <gtest/gtest.h>

using namespace adj;

namespace {

TensorType f(std::vector<int64_t> D) { return TensorType(DType::F32, D); }

Attrs ints(std::initializer_list<std::pair<const char *, int64_t>> L) {
  Attrs A;
  for (auto &[N, V] : L)
    A[N] = V;
  return A;
}

std::string typeOf(OpKind K, std::vector<TensorType> Ops, Attrs A = {}) {
  TypeOrError R = inferType(K, Ops, A);
  return R.Type ? R.Type->str() : "error: " + R.Error;
}

TEST(ShapeRules, BatchedMatMul) {
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({kBatch, 3, 4}), f({4, 5})}),
            "f32[N,3,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({kBatch, 3, 4}), f({kBatch, 4, 5})}),
            "f32[N,3,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({3, 4}), f({2, 1, 4, 5})}),
            "f32[2,1,3,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({2, 1, 3, 4}), f({6, 4, 5})}),
            "f32[2,6,3,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({4}), f({4, 5})}),
            "error: matmul expects operands of rank >= 2, got f32[4] @ "
            "f32[4,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({2, 3, 4}), f({3, 4, 5})}),
            "error: matmul batch dimensions do not broadcast: f32[2,3,4] @ "
            "f32[3,4,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({kBatch, 3, 4}), f({4, kBatch})}),
            "error: matmul f32[N,3,4] @ f32[4,N] would have the batch dim "
            "twice");
}

TEST(ShapeRules, MatMulReduceLeading) {
  Attrs R{{"transpose_a", true}, {"reduce_leading", true}};
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({kBatch, 7, 3}), f({kBatch, 7, 5})}, R),
            "f32[3,5]");
  EXPECT_EQ(
      typeOf(OpKind::MatMul, {f({2, kBatch, 4, 3}), f({2, kBatch, 4, 5})}, R),
      "f32[3,5]");
  const char *Needs = "error: matmul 'reduce_leading' needs 'transpose_a', no "
                      "'transpose_b' and operands with the same leading dims, "
                      "got ";
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({kBatch, 7, 3}), f({7, 5})}, R),
            std::string(Needs) + "f32[N,7,3]^T @ f32[7,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({2, 7, 3}), f({3, 7, 5})}, R),
            std::string(Needs) + "f32[2,7,3]^T @ f32[3,7,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({7, 3}), f({7, 5})}, R),
            std::string(Needs) + "f32[7,3]^T @ f32[7,5]");
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({2, 3, 7}), f({2, 7, 5})},
                   {{"reduce_leading", true}}),
            std::string(Needs) + "f32[2,3,7]^T @ f32[2,7,5]");
  Attrs RT = R;
  RT["transpose_b"] = true;
  EXPECT_EQ(typeOf(OpKind::MatMul, {f({2, 7, 3}), f({2, 5, 7})}, RT),
            std::string(Needs) + "f32[2,7,3]^T @ f32[2,5,7]^T");
}

TEST(ShapeRules, SlicePad) {
  Attrs S = ints({{"axis", 1}, {"start", 1}, {"end", 3}});
  EXPECT_EQ(typeOf(OpKind::Slice, {f({kBatch, 4})}, S), "f32[N,2]");
  EXPECT_EQ(typeOf(OpKind::Slice, {TensorType(DType::I32, {kBatch, 4})}, S),
            "i32[N,2]");
  EXPECT_EQ(typeOf(OpKind::Slice, {f({kBatch, 2})}, S),
            "error: slice [1:3] is empty or out of range for axis 1 of "
            "f32[N,2]");
  EXPECT_EQ(typeOf(OpKind::Slice, {f({4, kBatch})}, S),
            "error: 'slice' cannot change the batch dim N of f32[4,N]");
  EXPECT_EQ(typeOf(OpKind::Slice, {f({4})}, S),
            "error: axis 1 is out of range for f32[4]");
  EXPECT_EQ(typeOf(OpKind::Slice, {f({4})}, ints({{"axis", 0}})),
            "error: 'slice' needs integer 'axis', 'start' and 'end'");
  Attrs P = ints({{"axis", 0}, {"before", 2}, {"after", 1}});
  EXPECT_EQ(typeOf(OpKind::Pad, {f({3, kBatch})}, P), "f32[6,N]");
  EXPECT_EQ(typeOf(OpKind::Pad, {f({3})},
                   ints({{"axis", 0}, {"before", -1}, {"after", 1}})),
            "error: 'pad' needs non-negative 'before' and 'after', got -1 "
            "and 1");
}

TEST(ShapeRules, Concat) {
  Attrs A1 = ints({{"axis", 1}});
  EXPECT_EQ(typeOf(OpKind::Concat, {f({kBatch, 2}), f({kBatch, 3})}, A1),
            "f32[N,5]");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({kBatch, 2})}, A1), "f32[N,2]");
  EXPECT_EQ(typeOf(OpKind::Concat, {}, A1),
            "error: 'concat' needs at least one operand");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({kBatch, 2}), f({3, 2})}, A1),
            "error: 'concat' along axis 1 expects tensors that differ only "
            "in that axis, got f32[N,2] and f32[3,2]");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({2, 2}), f({2})}, ints({{"axis", 0}})),
            "error: 'concat' along axis 0 expects tensors that differ only "
            "in that axis, got f32[2,2] and f32[2]");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({kBatch, 2}), f({kBatch, 2})},
                   ints({{"axis", 0}})),
            "error: 'concat' cannot join along the batch dim N of f32[N,2]");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({2}), TensorType(DType::I32, {2})},
                   ints({{"axis", 0}})),
            "error: 'concat' along axis 0 expects tensors that differ only "
            "in that axis, got f32[2] and i32[2]");
  EXPECT_EQ(typeOf(OpKind::Concat, {f({2})}, ints({{"axis", 1}})),
            "error: 'concat' needs an integer 'axis' within rank 1");
}

} // namespace
