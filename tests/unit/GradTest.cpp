//===- GradTest.cpp - Every differentiable op against central differences -===//
///
/// For each op the op table marks differentiable, at least three cases
/// (shapes with broadcasting, a scalar, a batch dim where it applies) build
///   loss = sum(op(p...) / w)
/// with random weights w in [0.5, 2] (so that e.g. softmax's gradient is not
/// zero; div rather than mul, so that the mul mutation test breaks only the
/// op it checks and not the harness's own loss), and
/// the analytic gradient of every parameter is compared with f64 central
/// differences. Each check also asserts the gradient is not all zero. A
/// coverage test asserts every differentiable op has a rule and cases, and
/// mutation tests break rules on purpose and expect the check to fail. The
/// worst relative error of the passing checks is printed at the end.
///
//===----------------------------------------------------------------------===//
#include "ir/ElementwiseMath.h"
#include "passes/GradRules.h"
#include "tools/engine/GradCheck.h"

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>
#include <map>
#include <optional>

using namespace adj;

namespace {

struct Case {
  std::vector<TensorType> Params; ///< operands that are parameters
  Attrs A;
  double Lo = -2, Hi = 2;
  /// Operand i is the batch input x instead of a parameter when set.
  std::vector<TensorType> Inputs;
  bool InputsFirst = true;
  /// Operand i is x_i * p_i instead (the batch input scaled by a parameter
  /// broadcast to it), so that a one-operand op sees a batch dim and still
  /// has a parameter to check.
  bool ScaleInputs = false;
  /// When set, p0 reaches the op as p0 + an input `b` of this type: a
  /// parameter through a batch dim for ops whose other operands are inputs.
  std::optional<TensorType> Shift;
};

TensorType f(std::vector<int64_t> D) { return TensorType(DType::F64, D); }

std::unique_ptr<Module> buildCase(OpKind K, const Case &C) {
  auto M = std::make_unique<Module>();
  Function &F = *M->addFunction("forward");
  std::vector<Value *> Operands;
  std::vector<Value *> Ins, Ps;
  for (size_t I = 0; I < C.Inputs.size(); ++I)
    Ins.push_back(
        F.addArg("x" + std::to_string(I), C.Inputs[I], ArgRole::Input));
  for (size_t I = 0; I < C.Params.size(); ++I)
    Ps.push_back(
        F.addArg("p" + std::to_string(I), C.Params[I], ArgRole::Param));
  Builder B(F);
  if (C.ScaleInputs) {
    for (size_t I = 0; I < Ins.size(); ++I)
      Operands.push_back(B.create(OpKind::Mul, {Ins[I], Ps[I]}));
    Operands.insert(Operands.end(), Ps.begin() + Ins.size(), Ps.end());
  } else if (C.InputsFirst) {
    Operands = Ins;
    Operands.insert(Operands.end(), Ps.begin(), Ps.end());
  } else {
    Operands = Ps;
    Operands.insert(Operands.end(), Ins.begin(), Ins.end());
  }
  if (C.Shift) {
    Value *Shift = F.addArg("b", *C.Shift, ArgRole::Input);
    std::replace(Operands.begin(), Operands.end(), Ps[0],
                 B.create(OpKind::Add, {Ps[0], Shift}));
  }
  Value *R = nullptr;
  TypeOrError T = B.tryCreate(K, Operands, C.A, R);
  EXPECT_TRUE(T.Type) << opInfo(K).Mnemonic << ": " << T.Error;
  if (!T.Type)
    return nullptr;
  // No mul here: a mutated mul rule must break only the op under test.
  Value *W = F.addArg("w", R->Type, ArgRole::Input);
  Value *L = B.create(OpKind::ReduceSum, {B.create(OpKind::Div, {R, W})},
                      {{"keepdims", false}});
  F.Results.push_back({"loss", L});
  return M;
}

/// Integer attributes.
Attrs ints(std::initializer_list<std::pair<const char *, int64_t>> L) {
  Attrs A;
  for (auto &[N, V] : L)
    A[N] = V;
  return A;
}

std::vector<Case> casesFor(OpKind K) {
  using V = std::vector<int64_t>;
  const std::vector<int64_t> P10{1, 0};
  if (hasProp(K, props::Unary)) {
    // Ops undefined at -1 (log, sqrt, ...) are checked on x > 0, from the
    // one formula of ir/ElementwiseMath.h.
    ScalarMath Math;
    double Lo =
        std::isnan(*math::unaryValue(Math, K, Attrs(), -1.0)) ? 0.5 : -2;
    double Hi = 2;
    // Mostly on the non-zero side of the kink, so the check sees a gradient.
    if (K == OpKind::Relu)
      Lo = -0.5;
    // Float attributes away from their defaults (leaky_relu 0.11, elu 1.1).
    Attrs A;
    for (const AttrSpec &S : opInfo(K).attrs())
      if (S.Kind == AttrKind::Float)
        A[S.Name] = S.Default + 0.1;
    // A lone scalar must land where relu has a gradient.
    double ScalarLo = K == OpKind::Relu ? 0.1 : Lo;
    return {{{f({4})}, A, Lo, Hi},
            {{f({2, 3})}, A, Lo, Hi},
            {{f({})}, A, ScalarLo, Hi}};
  }
  if (hasProp(K, props::Binary)) {
    double Lo = -2, Hi = 2;
    if (K == OpKind::Div || K == OpKind::Pow)
      Lo = 0.5;
    return {{{f({2, 3}), f({2, 3})}, {}, Lo, Hi},
            {{f({2, 3}), f({3})}, {}, Lo, Hi},
            {{f({}), f({2, 3})}, {}, Lo, Hi},
            {{f({3, 1}), f({1, 4})}, {}, Lo, Hi},
            // A batch input broadcast against a parameter.
            {{f({3})}, {}, Lo, Hi, {f({kBatch, 3})}}};
  }
  switch (K) {
  case OpKind::Transpose:
    return {{{f({2, 3})}, {{"perm", V{1, 0}}}},
            {{f({2, 3, 4})}, {{"perm", V{2, 0, 1}}}},
            {{f({4})}, {{"perm", V{0}}}}};
  case OpKind::Reshape:
    return {{{f({2, 3})}, {{"shape", V{3, 2}}}},
            {{f({2, 3, 4})}, {{"shape", V{6, 4}}}},
            {{f({})}, {{"shape", V{1, 1}}}}};
  case OpKind::BroadcastTo:
    return {{{f({3})}, {{"shape", V{2, 3}}}},
            {{f({1, 3})}, {{"shape", V{4, 3}}}},
            {{f({})}, {{"shape", V{2, 2}}}}};
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
    return {{{f({2, 3})}, {{"axes", V{1}}, {"keepdims", false}}},
            {{f({2, 3, 4})}, {{"axes", V{0, 2}}, {"keepdims", true}}},
            {{f({5})}, {{"keepdims", false}}},
            {{f({})}, {{"keepdims", false}}}};
  case OpKind::Slice:
    return {{{f({2, 5})}, ints({{"axis", 1}, {"start", 1}, {"end", 4}})},
            {{f({4, 3, 2})}, ints({{"axis", 0}, {"start", 2}, {"end", 4}})},
            {{f({3})}, ints({{"axis", 0}, {"start", 0}, {"end", 1}})}};
  case OpKind::Pad:
    return {{{f({2, 3})}, ints({{"axis", 1}, {"before", 1}, {"after", 2}})},
            {{f({3})}, ints({{"axis", 0}, {"before", 0}, {"after", 2}})},
            {{f({2, 2, 2})}, ints({{"axis", 2}, {"before", 3}, {"after", 0}})}};
  case OpKind::Concat:
    return {{{f({2, 3}), f({2, 1})}, ints({{"axis", 1}})},
            {{f({1, 3}), f({2, 3}), f({3, 3})}, ints({{"axis", 0}})},
            {{f({4})}, ints({{"axis", 0}})},
            // An input joined with a parameter: only the parameter's
            // slice of the adjoint is used.
            {{f({1, 3})}, ints({{"axis", 0}}), -2, 2, {f({2, 3})}}};
  case OpKind::MatMul:
    return {{{f({3, 4}), f({4, 2})}},
            {{f({1, 5}), f({5, 1})}},
            {{f({4, 3})}, {}, -2, 2, {f({kBatch, 4})}},
            // Batched, with NumPy broadcasting of the leading dims.
            {{f({2, 3, 4}), f({4, 5})}},
            {{f({2, 3, 4}), f({2, 4, 5})}},
            {{f({3, 4}), f({2, 4, 5})}},
            {{f({1, 3, 4}), f({2, 4, 2})}},
            {{f({2, 1, 3, 4}), f({3, 4, 2})}},
            {{f({4, 2})}, {}, -2, 2, {f({kBatch, 3, 4})}},
            {{f({3, 4})}, {}, -2, 2, {f({kBatch, 4, 2})}, false},
            // Transpose flags: each variant, 2-D and batched/broadcast.
            {{f({4, 3}), f({4, 2})}, {{"transpose_a", true}}},
            {{f({3, 4}), f({2, 4})}, {{"transpose_b", true}}},
            {{f({4, 3}), f({2, 4})},
             {{"transpose_a", true}, {"transpose_b", true}}},
            {{f({2, 4, 3}), f({4, 5})}, {{"transpose_a", true}}},
            {{f({4, 3})},
             {{"transpose_a", true}, {"transpose_b", true}},
             -2,
             2,
             {f({kBatch, 2, 4})},
             false},
            {{f({4, 3})}, {{"transpose_a", true}}, -2, 2, {f({4, kBatch})}},
            // A weight over a batch of matrices, read transposed or not:
            // its gradient is one reduce_leading product.
            {{f({2, 3, 4}), f({5, 4})}, {{"transpose_b", true}}},
            {{f({3, 2})}, {{"transpose_b", true}}, -2, 2, {f({kBatch, 4, 2})}},
            // reduce_leading: sum_p a_p^T @ b_p.
            {{f({2, 3, 4}), f({2, 3, 5})},
             {{"transpose_a", true}, {"reduce_leading", true}}},
            {{f({2, 2, 3, 1}), f({2, 2, 3, 2})},
             {{"transpose_a", true}, {"reduce_leading", true}}}};
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
    return {{{f({2, 5})}, {{"axis", int64_t(1)}}},
            {{f({3, 2})}, {{"axis", int64_t(0)}}},
            {{f({4})}, {{"axis", int64_t(0)}}}};
  case OpKind::Conv2d: {
    auto Conv = [](V Stride, V Padding, V Dilation, int64_t Groups) {
      return Attrs{{"stride", Stride},
                   {"padding", Padding},
                   {"dilation", Dilation},
                   {"groups", Groups}};
    };
    return {// Both operands parameters, no padding.
            {{f({2, 3, 5, 5}), f({4, 3, 3, 3})},
             Conv({1, 1}, {0, 0, 0, 0}, {1, 1}, 1)},
            // A batch input, odd sizes, stride 2, uneven padding, 2 groups.
            {{f({4, 1, 3, 2})},
             Conv({2, 2}, {1, 2, 0, 1}, {1, 1}, 2),
             -2,
             2,
             {f({kBatch, 2, 7, 6})}},
            // Dilation 2 with padding, strides [1, 2], 2 groups.
            {{f({1, 4, 7, 7}), f({2, 2, 3, 3})},
             Conv({1, 2}, {2, 2, 2, 2}, {2, 2}, 2)},
            // Depthwise (groups = C), stride 3 leaving the last row out.
            {{f({2, 3, 6, 7}), f({6, 1, 2, 3})},
             Conv({3, 2}, {0, 0, 1, 0}, {1, 2}, 3)}};
  }
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d: {
    auto Pool = [](V Kernel, V Stride, V Padding) {
      return Attrs{
          {"kernel", Kernel}, {"stride", Stride}, {"padding", Padding}};
    };
    // A batch input scaled by a parameter [C, H, W].
    Case Batch{{f({2, 5, 6})}, Pool({2, 2}, {2, 2}, {0, 0})};
    Batch.Inputs = {f({kBatch, 2, 5, 6})};
    Batch.ScaleInputs = true;
    return {// 2x2 windows at stride 2 on odd sizes: the last row and column
            // are in no window.
            {{f({2, 3, 5, 7})}, Pool({2, 2}, {2, 2}, {0, 0})},
            // 3x3 windows at stride 2 overlapping, padding 1.
            {{f({1, 2, 7, 6})}, Pool({3, 3}, {2, 2}, {1, 1})},
            // Non-square windows, strides [1, 2], padding [1, 0].
            {{f({2, 2, 6, 5})}, Pool({3, 2}, {1, 2}, {1, 0})},
            // Stride 1: every element in up to six windows, padding [0, 1].
            {{f({1, 1, 4, 5})}, Pool({2, 3}, {1, 1}, {0, 1})},
            Batch};
  }
  case OpKind::CrossEntropy: {
    TensorType L3(DType::I32, {3}), L23(DType::I32, {2, 3}),
        LN(DType::I32, {kBatch});
    Case A{{f({3, 5})}, {{"label_smoothing", 0.0}}, -2, 2, {L3}, false};
    Case S{{f({3, 5})}, {{"label_smoothing", 0.1}}, -2, 2, {L3}, false};
    Case T{{f({2, 3, 4})}, {{"label_smoothing", 0.0}}, -2, 2, {L23}, false};
    return {A, S, T};
  }
  case OpKind::Dropout: {
    // Operands (x, seed, step): the seed and step are inputs (x0, x1; see
    // check()), the mask is fixed for them, so central differences apply.
    std::vector<TensorType> Key{TensorType(DType::I32, {}), f({})};
    auto Drop = [](double P, int64_t Id) {
      return Attrs{{"p", P}, {"id", Id}};
    };
    Case Batch{{f({5})}, Drop(0.3, 2), -2, 2, Key, false};
    Batch.Shift = f({kBatch, 3, 5});
    return {{{f({2, 3})}, Drop(0, 0), -2, 2, Key, false}, // the identity
            {{f({7})}, Drop(0.5, 1), -2, 2, Key, false},
            {{f({3, 5, 3})}, Drop(0.9, 7), -2, 2, Key, false},
            Batch};
  }
  case OpKind::Embedding: {
    // (table, ids): more ids than rows, so ids repeat and their rows of dy
    // add up; a batch of ids; a table of one row.
    auto Ids = [](std::vector<int64_t> D) {
      return TensorType(DType::I32, std::move(D));
    };
    return {{{f({3, 4})}, {}, -2, 2, {Ids({7})}, false},
            {{f({5, 3})}, {}, -2, 2, {Ids({kBatch, 4})}, false},
            {{f({1, 2})}, {}, -2, 2, {Ids({2, 3})}, false}};
  }
  default:
    return {};
  }
}

class GradTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
};

GradCheckResult check(OpKind K, const Case &C, uint64_t Seed = 1) {
  std::unique_ptr<Module> M = buildCase(K, C);
  if (!M)
    return {};
  GradCheckOptions O;
  O.Seed = Seed;
  O.Batch = 3;
  for (size_t I = 0; I < C.Params.size(); ++I)
    O.Ranges["p" + std::to_string(I)] = {C.Lo, C.Hi};
  for (size_t I = 0; I < C.Inputs.size(); ++I)
    O.Ranges["x" + std::to_string(I)] = {C.Lo, C.Hi};
  O.Ranges["w"] = {0.5, 2}; // the loss divides by w
  // Label inputs: classes = the logits' last dim.
  if (K == OpKind::CrossEntropy)
    O.Classes["x0"] = C.Params[0].Dims.back();
  // Ids: in [0, the table's rows).
  if (K == OpKind::Embedding)
    O.Classes["x0"] = C.Params[0].Dims[0];
  // dropout's seed anywhere in [0, 2^30), its step a whole number >= 1.
  if (K == OpKind::Dropout) {
    O.Classes["x0"] = int64_t(1) << 30;
    O.Ranges["x1"] = {1, 1000};
    O.Integral.insert("x1");
  }
  return gradCheck(*M, O);
}

TEST_F(GradTest, EveryDifferentiableOpHasARuleAndCases) {
  for (unsigned I = 0; I < unsigned(OpKind::NumOps); ++I) {
    OpKind K = OpKind(I);
    if (!hasProp(K, props::Differentiable))
      continue;
    EXPECT_NE(gradRule(K), nullptr) << opInfo(K).Mnemonic << " has no rule";
    // A scan needs a body function: ScanTest.cpp checks it on models.
    if (K == OpKind::Scan)
      continue;
    EXPECT_GE(casesFor(K).size(), 3u) << opInfo(K).Mnemonic << " has no cases";
  }
}

/// The worst relative error seen by the passing checks, printed at the end.
struct Worst {
  double Rel = 0;
  std::string Where;
  unsigned Checks = 0;
};
Worst WorstSeen;

class OpGradTest : public GradTest,
                   public ::testing::WithParamInterface<unsigned> {
protected:
  static void TearDownTestSuite() {
    std::printf("[ gradcheck ] %u op checks; worst relative error %.3e (%s)\n",
                WorstSeen.Checks, WorstSeen.Rel, WorstSeen.Where.c_str());
  }
};

TEST_P(OpGradTest, MatchesCentralDifferences) {
  OpKind K = OpKind(GetParam());
  std::vector<Case> Cases = casesFor(K);
  for (size_t CI = 0; CI < Cases.size(); ++CI) {
    SCOPED_TRACE(testing::Message() << opInfo(K).Mnemonic << " case " << CI);
    GradCheckResult R = check(K, Cases[CI]);
    ASSERT_TRUE(R.Error.empty()) << R.Error;
    ASSERT_FALSE(R.Params.empty());
    EXPECT_TRUE(R.Ok) << formatGradCheck(R);
    for (const ParamCheck &P : R.Params) {
      EXPECT_GT(P.MaxAbsGrad, 0) << P.Name << ": gradient is all zero";
      ++WorstSeen.Checks;
      if (P.MaxRelErr > WorstSeen.Rel)
        WorstSeen = {
            P.MaxRelErr,
            fmt::format("{} case {} {}", opInfo(K).Mnemonic, CI, P.Name),
            WorstSeen.Checks};
    }
  }
}

std::vector<unsigned> differentiableOps() {
  std::vector<unsigned> Ks;
  for (unsigned I = 0; I < unsigned(OpKind::NumOps); ++I)
    if (hasProp(OpKind(I), props::Differentiable))
      Ks.push_back(I);
  return Ks;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradTest,
                         ::testing::ValuesIn(differentiableOps()),
                         [](const ::testing::TestParamInfo<unsigned> &I) {
                           return std::string(opInfo(OpKind(I.param)).Mnemonic);
                         });

/// A wrong rule: d(a*b)/da = 2*dy*b (off by a factor of two).
void wrongMulRule(GradContext &C) {
  Value *A = C.O.Operands[0], *B = C.O.Operands[1];
  Value *Two = C.constant(2);
  if (C.Needs[0])
    C.Grads[0] = C.unbroadcast(
        C.B.create(OpKind::Mul, {Two, C.B.create(OpKind::Mul, {C.DY, B})}),
        A->Type);
  if (C.Needs[1])
    C.Grads[1] = C.unbroadcast(C.B.create(OpKind::Mul, {C.DY, A}), B->Type);
}

/// A wrong concat rule: every operand gets the first operand's slice.
void wrongConcatRule(GradContext &C) {
  int64_t Axis = C.O.intAttr("axis");
  int64_t D = C.O.Operands[0]->Type.Dims[Axis];
  for (size_t I = 0; I < C.O.Operands.size(); ++I)
    if (C.Needs[I])
      C.Grads[I] = C.B.create(OpKind::Slice, {C.DY},
                              ints({{"axis", Axis}, {"start", 0}, {"end", D}}));
}

/// A wrong conv2d rule: adjoint \p Which (0: x, 1: w) computed with the
/// top and bottom padding swapped (the same sizes, the wrong taps).
template <size_t Which> void wrongConv2dRule(GradContext &C) {
  Value *X = C.O.Operands[0], *W = C.O.Operands[1];
  for (size_t I = 0; I < 2; ++I) {
    if (!C.Needs[I])
      continue;
    Attrs A = C.O.Attributes;
    auto &Pad = std::get<std::vector<int64_t>>(A["padding"]);
    if (I == Which)
      std::swap(Pad[0], Pad[1]);
    Value *Own = I == 0 ? X : W;
    A[I == 0 ? "input_size" : "kernel_size"] =
        std::vector<int64_t>{Own->Type.Dims[2], Own->Type.Dims[3]};
    C.Grads[I] =
        C.B.create(I == 0 ? OpKind::Conv2dGradInput : OpKind::Conv2dGradWeight,
                   {C.DY, I == 0 ? W : X}, A);
  }
}

/// A wrong max_pool2d rule: each window's adjoint sent to its first
/// minimum (the maximum of -x) instead of its first maximum.
void wrongMaxPool2dRule(GradContext &C) {
  Value *NegX = C.B.create(OpKind::Neg, {C.O.Operands[0]});
  C.Grads[0] = C.B.create(OpKind::MaxPool2dGrad, {C.DY, NegX}, C.O.Attributes);
}

/// A wrong avg_pool2d rule: each window's whole adjoint sent to its
/// maximum, as max_pool2d's.
void wrongAvgPool2dRule(GradContext &C) {
  C.Grads[0] = C.B.create(OpKind::MaxPool2dGrad, {C.DY, C.O.Operands[0]},
                          C.O.Attributes);
}

/// A wrong dropout rule: the mask of dropout op id + 1.
void wrongDropoutMask(GradContext &C) {
  Attrs A = C.O.Attributes;
  A["id"] = C.O.intAttr("id") + 1;
  C.Grads[0] =
      C.B.create(OpKind::Dropout, {C.DY, C.O.Operands[1], C.O.Operands[2]}, A);
}

/// A wrong dropout rule: kept elements scaled by 1 - p, not 1 / (1 - p).
void wrongDropoutScale(GradContext &C) {
  double Keep = 1 - C.O.floatAttr("p");
  Value *G =
      C.B.create(OpKind::Dropout, {C.DY, C.O.Operands[1], C.O.Operands[2]},
                 C.O.Attributes);
  C.Grads[0] = C.B.create(OpKind::Div, {G, C.constant(1 / (Keep * Keep))});
}

/// A wrong embedding rule: every row of dy added to the table's row of the
/// next id (id + 1 mod V) instead of its own, through an embedding_grad
/// whose rows are rotated by a concat of two slices.
void wrongEmbeddingRule(GradContext &C) {
  int64_t V = C.O.Operands[0]->Type.Dims[0];
  Value *G =
      C.B.create(OpKind::EmbeddingGrad, {C.DY, C.O.Operands[1]}, {{"rows", V}});
  Value *Last = C.B.create(OpKind::Slice, {G},
                           ints({{"axis", 0}, {"start", V - 1}, {"end", V}}));
  Value *Rest = C.B.create(OpKind::Slice, {G},
                           ints({{"axis", 0}, {"start", 0}, {"end", V - 1}}));
  C.Grads[0] = C.B.create(OpKind::Concat, {Last, Rest}, ints({{"axis", 0}}));
}

/// Replaces \p K's rule with \p Wrong, expects the check of \p C to fail
/// for parameter \p WrongParam only (the one whose adjoint the wrong rule
/// breaks), restores the rule and expects the same check to pass. The op
/// under test must be the only \p K op of the checked function, so that
/// the failure is the op's and not the harness's loss.
void expectCaught(OpKind K, GradRule Wrong, const Case &C,
                  const std::string &WrongParam) {
  std::unique_ptr<Module> M = buildCase(K, C);
  ASSERT_TRUE(M);
  size_t Count = 0;
  for (const auto &O : M->function("forward")->Ops)
    Count += O->Kind == K;
  ASSERT_EQ(Count, 1u) << opInfo(K).Mnemonic
                       << " is used outside the op under test";

  GradRule Old = replaceGradRuleForTesting(K, Wrong);
  GradCheckResult R = check(K, C);
  replaceGradRuleForTesting(K, Old);
  ASSERT_TRUE(R.Error.empty()) << R.Error;
  EXPECT_FALSE(R.Ok) << "a wrong gradient rule passed the check:\n"
                     << formatGradCheck(R);
  ASSERT_EQ(R.Params.size(), C.Params.size());
  for (const ParamCheck &P : R.Params)
    EXPECT_EQ(P.Pass, P.Name != WrongParam)
        << P.Name << (P.Pass ? " passed" : " failed") << ":\n"
        << formatGradCheck(R);
  EXPECT_TRUE(check(K, C).Ok);
}

TEST_F(GradTest, MutatedRuleIsCaught) {
  // The loss sum(mul(p0, p1) / w) has one mul, the op under test; its
  // wrong rule doubles p0's adjoint and leaves p1's right.
  expectCaught(OpKind::Mul, wrongMulRule, Case{{f({2, 3}), f({2, 3})}}, "p0");
  // p0 gets its own slice; p1 gets p0's.
  expectCaught(OpKind::Concat, wrongConcatRule,
               Case{{f({2, 3}), f({2, 3})}, ints({{"axis", 0}})}, "p1");
  Case Conv{{f({2, 2, 5, 6}), f({4, 1, 3, 3})},
            {{"stride", std::vector<int64_t>{2, 1}},
             {"padding", std::vector<int64_t>{0, 1, 1, 1}},
             {"dilation", std::vector<int64_t>{1, 1}},
             {"groups", int64_t(2)}}};
  expectCaught(OpKind::Conv2d, wrongConv2dRule<0>, Conv, "p0");
  expectCaught(OpKind::Conv2d, wrongConv2dRule<1>, Conv, "p1");
  Case Pool{{f({1, 2, 7, 6})},
            {{"kernel", std::vector<int64_t>{3, 3}},
             {"stride", std::vector<int64_t>{2, 2}},
             {"padding", std::vector<int64_t>{1, 1}}}};
  expectCaught(OpKind::MaxPool2d, wrongMaxPool2dRule, Pool, "p0");
  expectCaught(OpKind::AvgPool2d, wrongAvgPool2dRule, Pool, "p0");
  // The mask of another dropout op (id + 1), and the scale 1 - p instead of
  // 1 / (1 - p) (as dropout of dy times (1 - p)^2).
  Case Drop{{f({4, 5})}, {{"p", 0.5}, {"id", int64_t(3)}},    -2,
            2,           {TensorType(DType::I32, {}), f({})}, false};
  expectCaught(OpKind::Dropout, wrongDropoutMask, Drop, "p0");
  expectCaught(OpKind::Dropout, wrongDropoutScale, Drop, "p0");
  // Each id's rows of dy land in the next row of the table.
  expectCaught(
      OpKind::Embedding, wrongEmbeddingRule,
      Case{{f({4, 3})}, {}, -2, 2, {TensorType(DType::I32, {9})}, false}, "p0");
}

} // namespace
