//===- ElementwiseMathTest.cpp - One formula per op, checked three ways ---===//
///
/// ir/ElementwiseMath.h writes each elementwise op's math once; the constant
/// folder evaluates it in double and codegen emits it as LLVM IR. These
/// tests check, for every elementwise op of Ops.def (each failure names the
/// op and the missing piece):
/// - it has math: a case in ElementwiseMath.h;
/// - the math matches PyTorch in f64 (tests/fixtures/elementwise.json,
///   written by scripts/torch_fixtures.py from Ops.def's Torch column);
/// - the constant-fold pass and JIT-compiled code (f64 and f32) agree at
///   thousands of points, for f and for the `_grad` op dy * f'(x).
///
//===----------------------------------------------------------------------===//
#include "ir/ElementwiseMath.h"
#include "CodegenTestUtil.h"
#include "passes/ConstantFold.h"

#include "Fixtures.h"
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() {
  return test::torchFixture("elementwise.json");
}

std::vector<OpKind> opsWith(unsigned Prop) {
  std::vector<OpKind> Out;
  for (OpKind K : allOps())
    if (hasProp(K, Prop))
      Out.push_back(K);
  return Out;
}

std::string name(OpKind K) { return opInfo(K).Mnemonic; }

/// The sweep: [-10, 10] by 0.01 and the tails.
Vec sweep() {
  Vec X;
  for (int I = -1000; I <= 1000; ++I)
    X.push_back(I * 0.01);
  for (double S : {1e-3, 1e-6, 30.0, 80.0, 1000.0})
    X.insert(X.end(), {S, -S});
  return X;
}

double scalar(OpKind K, const std::vector<double> &Args) {
  ScalarMath M;
  std::optional<double> V = math::elementwiseValue(M, K, Attrs(), Args);
  return V ? *V : std::nan("");
}

void expectNear(double Got, double Want, double Tol, const std::string &What) {
  if (Got == Want || (std::isnan(Got) && std::isnan(Want)))
    return;
  EXPECT_LE(std::abs(Got - Want), Tol * (1 + std::abs(Want)))
      << What << ": got " << Got << ", want " << Want;
}

TEST(ElementwiseMath, EveryElementwiseOpHasMath) {
  for (OpKind K : opsWith(props::Elementwise)) {
    ScalarMath M;
    std::vector<double> Args(hasProp(K, props::Unary) ? 1 : 2, 0.5);
    EXPECT_TRUE(math::elementwiseValue(M, K, Attrs(), Args))
        << "'" << name(K) << "' has no case in ir/ElementwiseMath.h";
    EXPECT_NE(opInfo(K).Fusion, FusionClass::None)
        << "'" << name(K) << "' is elementwise: give it a Fusion class";
  }
  for (OpKind K : allOps())
    if (!hasProp(K, props::Elementwise)) {
      EXPECT_EQ(opInfo(K).Fusion, FusionClass::None) << name(K);
    }
}

TEST(ElementwiseMath, UnaryOpsMatchPyTorch) {
  ASSERT_TRUE(fixtures().is_object()) << "tests/fixtures/elementwise.json";
  for (OpKind K : opsWith(props::Unary)) {
    const nlohmann::json &Unary = fixtures()["unary"];
    ASSERT_TRUE(Unary.contains(name(K)))
        << "no PyTorch reference for '" << name(K)
        << "': give its UNARY entry a Torch column and run "
           "/usr/bin/python3 scripts/torch_fixtures.py";
    const nlohmann::json &R = Unary[name(K)];
    unsigned Compared = 0;
    for (size_t I = 0; I < R["x"].size(); ++I) {
      if (R["f"][I].is_null() || R["df"][I].is_null())
        continue; // outside the op's domain
      double X = R["x"][I];
      std::string At = fmt::format("{} at {}", name(K), X);
      expectNear(scalar(K, {X}), R["f"][I], 1e-10, At);
      expectNear(scalar(*unaryGradOf(K), {1.0, X}), R["df"][I], 1e-10,
                 At + " (derivative)");
      ++Compared;
    }
    EXPECT_GE(Compared, 20u) << name(K);
  }
}

TEST(ElementwiseMath, BinaryOpsMatchPyTorch) {
  for (OpKind K : opsWith(props::Binary)) {
    const nlohmann::json &Binary = fixtures()["binary"];
    ASSERT_TRUE(Binary.contains(name(K)))
        << "no PyTorch reference for '" << name(K)
        << "': add it to BINARY in scripts/torch_fixtures.py and run it";
    const nlohmann::json &R = Binary[name(K)];
    for (size_t I = 0; I < R["a"].size(); ++I)
      if (!R["f"][I].is_null())
        expectNear(scalar(K, {R["a"][I], R["b"][I]}), R["f"][I], 1e-12,
                   fmt::format("{}({}, {})", name(K), double(R["a"][I]),
                               double(R["b"][I])));
  }
}

/// Folds op(constant x) for every x of \p X with the constant-fold pass.
Vec folded(OpKind K, const Vec &X, double DY) {
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  std::vector<Value *> Vals;
  for (double V : X) {
    std::vector<Value *> Ops;
    if (unaryForwardOf(K))
      Ops.push_back(B.constant(DY, DType::F64));
    Ops.push_back(B.constant(V, DType::F64));
    Vals.push_back(B.create(K, Ops));
  }
  PassContext Ctx;
  EXPECT_TRUE(createConstantFoldPass()->run(M, Ctx));
  Vec Out;
  for (Value *V : Vals) {
    EXPECT_EQ(V->Def->Kind, OpKind::Constant) << name(K) << " not folded";
    Out.push_back(V->Def->floatAttr("value"));
  }
  return Out;
}

TEST(ElementwiseMath, FoldingAndCodegenAgree) {
  const Vec X = sweep();
  const double DY = 1.25;
  std::vector<OpKind> Ops;
  for (OpKind K : opsWith(props::Unary))
    Ops.insert(Ops.end(), {K, *unaryGradOf(K)});
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("math");
    Builder B(*F);
    int64_t Size = X.size();
    Value *XA = F->addArg("x", ty(T, {Size}), ArgRole::Input);
    Value *DYA = F->addArg("dy", ty(T, {Size}), ArgRole::Input);
    for (OpKind K : Ops) {
      std::vector<Value *> Args{XA};
      if (unaryForwardOf(K))
        Args.insert(Args.begin(), DYA);
      F->Results.push_back({name(K), B.create(K, Args)});
    }
    C.compile();
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("math", 1, {X, Vec(Size, DY)}, Res), 0);
    for (size_t I = 0; I < Ops.size(); ++I) {
      // f32 code computes on x rounded to f32.
      Vec XT = X;
      for (double &V : XT)
        V = roundTo(T, V);
      Vec Want = folded(Ops[I], XT, DY);
      for (size_t J = 0; J < X.size(); ++J) {
        // In f32, results past its range are infinite.
        if (T == DType::F32 && std::abs(Want[J]) > 3e38)
          continue;
        expectNear(
            Res[I][J], Want[J], T == DType::F32 ? 2e-5 : 1e-12,
            fmt::format("{} ({}) at {}", name(Ops[I]), dtypeName(T), XT[J]));
      }
    }
  }
}

} // namespace
