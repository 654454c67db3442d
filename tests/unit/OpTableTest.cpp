//===- OpTableTest.cpp - Everything about an op agrees with Ops.def -------===//
///
/// ir/Ops.def is the one table of ops; what is not derived from it is
/// checked against it here, each failure naming the op and the piece that
/// is missing (docs/adding-an-op.md lists the pieces):
/// - each entry is well formed: unique mnemonics, attribute schemas that
///   parse, defaults where code asks for them, a UNARY entry's `_grad` op
///   right after it;
/// - every builtin of the model language is documented in
///   docs/language.md, and every non-operator unary op is a builtin;
/// - every op has a kernel: elementwise ops and `fused` in loop units,
///   every other op an emitter in codegen/Kernels.def;
/// - every differentiable op has a gradient rule (GradTest checks each one
///   against central differences, which also compiles its lowering).
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "frontend/Builtins.h"
#include "passes/GradRules.h"

#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>

using namespace adj;

namespace {

std::string name(OpKind K) { return opInfo(K).Mnemonic; }

TEST(OpTable, EntriesAreWellFormed) {
  std::set<std::string> Seen;
  for (OpKind K : allOps()) {
    const OpInfo &I = opInfo(K);
    EXPECT_TRUE(Seen.insert(I.Mnemonic).second) << name(K) << " twice";
    EXPECT_EQ(opKindByName(I.Mnemonic), K) << name(K);
    EXPECT_GT(std::string(I.Doc).size(), 1u) << name(K) << " has no doc";
    std::set<std::string> Attrs;
    for (const AttrSpec &S : I.attrs()) {
      EXPECT_TRUE(Attrs.insert(S.Name).second)
          << name(K) << ": attribute '" << S.Name << "' twice";
      if (S.HasDefault) {
        EXPECT_TRUE(S.Kind == AttrKind::Float || S.Kind == AttrKind::Int ||
                    S.Kind == AttrKind::Bool)
            << name(K) << ": a default for a list or string attribute";
      }
    }
    if (hasProp(K, props::Unary)) {
      std::optional<OpKind> G = unaryGradOf(K);
      ASSERT_TRUE(G) << name(K);
      EXPECT_EQ(name(*G), name(K) + "_grad");
      EXPECT_EQ(unaryForwardOf(*G), K);
      EXPECT_EQ(opInfo(*G).AttrText, std::string(I.AttrText)) << name(*G);
    }
    if (hasProp(K, props::Unary) || hasProp(K, props::Binary)) {
      EXPECT_TRUE(hasProp(K, props::Elementwise)) << name(K);
    }
  }
}

TEST(OpTable, SchemaDefaultsReachOps) {
  Op O;
  O.Kind = OpKind::LeakyRelu;
  EXPECT_EQ(O.attrOr("alpha"), 0.01);
  O.Attributes["alpha"] = 0.5;
  EXPECT_EQ(O.attrOr("alpha"), 0.5);
  O.Kind = OpKind::Elu;
  O.Attributes.clear();
  EXPECT_EQ(O.attrOr("alpha"), 1.0);
  const AttrSpec *Keep = opInfo(OpKind::ReduceSum).attr("keepdims");
  ASSERT_TRUE(Keep);
  EXPECT_EQ(Keep->Kind, AttrKind::Bool);
  EXPECT_FALSE(Keep->Required);
  EXPECT_TRUE(opInfo(OpKind::Slice).attr("start")->Required);
  EXPECT_FALSE(opInfo(OpKind::Count).attr("axes")->HasDefault);
  EXPECT_EQ(opInfo(OpKind::Count).attr("axes")->Kind, AttrKind::IntList);
}

TEST(OpTable, UnaryOpsAreBuiltins) {
  for (OpKind K : allOps())
    if (hasProp(K, props::Unary) && !hasProp(K, props::Syntax)) {
      EXPECT_TRUE(findBuiltin(name(K)))
          << "'" << name(K) << "' is not a builtin of the model language";
    }
}

TEST(OpTable, EveryBuiltinIsDocumented) {
  std::ifstream In(ADJ_SOURCE_DIR "/docs/language.md");
  ASSERT_TRUE(In) << "docs/language.md";
  std::stringstream Doc;
  Doc << In.rdbuf();
  std::string Text = Doc.str();
  for (const std::string &B : builtinNames()) {
    // A name in a table cell or code span, as a whole word.
    bool Found = false;
    for (size_t P = Text.find(B); P != std::string::npos && !Found;
         P = Text.find(B, P + 1)) {
      auto Word = [](char C) {
        return std::isalnum((unsigned char)C) || C == '_';
      };
      Found = (P == 0 || !Word(Text[P - 1])) &&
              (P + B.size() >= Text.size() || !Word(Text[P + B.size()]));
    }
    EXPECT_TRUE(Found) << "builtin '" << B
                       << "' is not documented in docs/language.md";
  }
}

TEST(OpTable, DifferentiableOpsHaveGradientRules) {
  for (OpKind K : allOps())
    if (hasProp(K, props::Differentiable)) {
      EXPECT_TRUE(gradRule(K))
          << "'" << name(K)
          << "' is Differentiable in Ops.def but has no rule in "
             "passes/GradRules.cpp";
    }
}

TEST(OpTable, EveryOpHasAKernel) {
  for (OpKind K : allOps()) {
    bool LoopUnit = hasProp(K, props::Elementwise) || K == OpKind::Fused;
    if (K == OpKind::Scan) { // A unit of its own (codegen/Scan.cpp).
      EXPECT_FALSE(cg::hasKernel(K));
      continue;
    }
    EXPECT_NE(LoopUnit, cg::hasKernel(K))
        << "'" << name(K) << "': "
        << (LoopUnit ? "an elementwise op needs no entry in codegen/Kernels.def"
                     : "no emitter in codegen/Kernels.def");
  }
}

} // namespace
