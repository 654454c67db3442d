//===- Conv2dTest.cpp - conv2d and its adjoints against PyTorch -----------===//
///
/// For each configuration of tests/fixtures/conv2d.json (written by
/// scripts/torch_fixtures.py from torch.nn.functional.conv2d and autograd:
/// strides, "same" padding with an even kernel, dilation, groups), builds
/// y = conv2d(x, w) with x's batch dim symbolic, lets the gradient rule of
/// passes/GradRules.cpp emit dx and dw for a given dy (the conv2d_grad_input
/// and conv2d_grad_weight ops), JIT-compiles the function in f64 and f32
/// and compares y, dx and dw with PyTorch's: to 1e-10 in f64, 1e-5 in f32.
/// `padding = "same"` is resolved with ir/Conv2d.h's samePadding, as the
/// frontend does.
///
//===----------------------------------------------------------------------===//
#include "ir/Conv2d.h"
#include "CodegenTestUtil.h"
#include "codegen/ConvPath.h"
#include "passes/GradRules.h"

#include "Fixtures.h"
#include <fstream>
#include <nlohmann/json.hpp>

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() { return test::torchFixture("conv2d.json"); }

/// The op's geometry for a fixture, "same" resolved as the frontend does.
Conv2dGeometry geometry(const nlohmann::json &R) {
  Conv2dGeometry G;
  for (unsigned A = 0; A < 2; ++A) {
    G.Stride[A] = R["stride"][A];
    G.Dilation[A] = R["dilation"][A];
  }
  G.Groups = R["groups"];
  for (unsigned A = 0; A < 2; ++A) {
    if (R["padding"].is_string()) {
      EXPECT_EQ(R["padding"], "same");
      int64_t K = R["w_shape"][2 + A];
      std::tie(G.Padding[2 * A], G.Padding[2 * A + 1]) =
          samePadding(K, G.Dilation[A]);
    } else {
      G.Padding[2 * A] = G.Padding[2 * A + 1] = R["padding"][A];
    }
  }
  return G;
}

/// conv2d(x, w) and, from its gradient rule, dx and dw for dy.
void buildConv(Compiled &C, const nlohmann::json &R, DType T) {
  Function *F = C.add("conv");
  Dims XS = R["x_shape"], WS = R["w_shape"], YS = R["y_shape"];
  XS[0] = YS[0] = kBatch;
  Value *X = F->addArg("x", ty(T, XS), ArgRole::Input);
  Value *W = F->addArg("w", ty(T, WS), ArgRole::Input);
  Value *DY = F->addArg("dy", ty(T, YS), ArgRole::Input);
  Builder B(*F);
  Value *Y = nullptr;
  TypeOrError E = B.tryCreate(OpKind::Conv2d, {X, W}, geometry(R).attrs(), Y);
  ASSERT_TRUE(E.Type) << E.Error;
  ASSERT_EQ(Y->Type, ty(T, YS)) << "output shape differs from PyTorch's";
  GradContext G{B, *Y->Def, DY, {true, true}, {nullptr, nullptr}};
  gradRule(OpKind::Conv2d)(G);
  ASSERT_EQ(G.Grads[0]->Def->Kind, OpKind::Conv2dGradInput);
  ASSERT_EQ(G.Grads[1]->Def->Kind, OpKind::Conv2dGradWeight);
  F->Results = {{"y", Y}, {"dx", G.Grads[0]}, {"dw", G.Grads[1]}};
}

/// Compares conv2d, dx and dw with PyTorch for every fixture and dtype on
/// the path \p P (Auto: the one chosen per shape).
void matchesPyTorch(cg::ConvPath P) {
  ASSERT_TRUE(fixtures().is_object())
      << "tests/fixtures/conv2d.json: run /usr/bin/python3 "
         "scripts/torch_fixtures.py";
  const nlohmann::json &Configs = fixtures()["conv2d"];
  ASSERT_GE(Configs.size(), 8u);
  for (const nlohmann::json &R : Configs) {
    for (DType T : FloatTypes) {
      std::string Name = R["name"].get<std::string>() + " " + dtypeName(T);
      SCOPED_TRACE(Name);
      Compiled C;
      buildConv(C, R, T);
      if (::testing::Test::HasFatalFailure())
        return;
      cg::convPathForTesting() = P;
      C.compile();
      cg::convPathForTesting() = cg::ConvPath::Auto;
      std::vector<Vec> Res;
      int64_t N = R["x_shape"][0];
      ASSERT_EQ(C.run("conv", N, {R["x"], R["w"], R["dy"]}, Res), 0);
      double Tol = T == DType::F64 ? 1e-10 : 1e-5;
      expectClose(Res[0], R["y"], Tol, Name + ": y");
      expectClose(Res[1], R["dx"], Tol, Name + ": dx");
      expectClose(Res[2], R["dw"], Tol, Name + ": dw");
    }
  }
}

TEST(Conv2d, MatchesPyTorch) { matchesPyTorch(cg::ConvPath::Auto); }

/// im2col (vector rows for width stride 1) and the GEMM micro-kernels for
/// every shape, whatever the per-shape choice.
TEST(Conv2d, GemmPathMatchesPyTorch) { matchesPyTorch(cg::ConvPath::Gemm); }

/// The direct kernels for every shape: the weight gradient's vector rows
/// (width stride 1: strides, padding, dilation and groups of the fixtures),
/// the loop nests otherwise.
TEST(Conv2d, DirectPathMatchesPyTorch) { matchesPyTorch(cg::ConvPath::Direct); }

/// The direct kernels along the rows (conv2d and its weight gradient)
/// against the GEMM path, in both dtypes, on shapes whose 11 output
/// channels leave the last block of channels partly filled (it repeats
/// channel O - 1) and whose products of 117 or 333 columns end in a tile
/// of one vector on some ISA and dtype (columnBlocks), and whose 28 columns
/// (LeNet's) make a row of four f32 vectors with AVX2 (ctest runs this
/// test for an AVX2 target too: Conv2d.avx2).
TEST(Conv2d, RowKernelsMatchGemmPath) {
  for (int64_t OW : {13, 28, 37}) {
    nlohmann::json R;
    R["name"] = "rows" + std::to_string(OW);
    R["stride"] = {1, 1};
    R["dilation"] = {1, 1};
    R["groups"] = 1;
    R["padding"] = {1, 2};
    R["x_shape"] = {3, 2, 9, OW};
    R["w_shape"] = {11, 2, 3, 5};
    R["y_shape"] = {3, 11, 9, OW};
    R["x"] = randVec(3 * 2 * 9 * OW, -1, 1, DType::F64, 11);
    R["w"] = randVec(11 * 2 * 3 * 5, -1, 1, DType::F64, 12);
    R["dy"] = randVec(3 * 11 * 9 * OW, -1, 1, DType::F64, 13);
    for (DType T : FloatTypes) {
      std::vector<Vec> Res[2];
      for (int P = 0; P < 2; ++P) {
        Compiled C;
        buildConv(C, R, T);
        if (HasFatalFailure())
          return;
        cg::convPathForTesting() =
            P ? cg::ConvPath::Direct : cg::ConvPath::Gemm;
        C.compile();
        cg::convPathForTesting() = cg::ConvPath::Auto;
        ASSERT_EQ(C.run("conv", 3, {R["x"], R["w"], R["dy"]}, Res[P]), 0);
      }
      double Tol = T == DType::F64 ? 1e-12 : 1e-5;
      std::string Name = R["name"].get<std::string>() + " " + dtypeName(T);
      expectClose(Res[1][0], Res[0][0], Tol, Name + ": y");
      expectClose(Res[1][1], Res[0][1], Tol, Name + ": dx");
      expectClose(Res[1][2], Res[0][2], Tol, Name + ": dw");
    }
  }
}

/// The same convolution for batch sizes 1, 5 and 64 in one compiled
/// function: each image's y and dx are those of a batch of one, and dw is
/// the sum of the images' dw.
TEST(Conv2d, BatchSizesFromRunTime) {
  const nlohmann::json &R = fixtures()["conv2d"][1];
  Compiled C;
  buildConv(C, R, DType::F64);
  if (HasFatalFailure())
    return;
  C.compile();
  Dims XS = R["x_shape"], WS = R["w_shape"], YS = R["y_shape"];
  int64_t XImg = numel(XS) / XS[0], YImg = numel(YS) / YS[0];
  Vec W = R["w"];
  std::vector<Vec> One;
  for (int64_t N : BatchSizes) {
    Vec X = randVec(N * XImg, -1, 1, DType::F64, 7);
    Vec DY = randVec(N * YImg, -1, 1, DType::F64, 8);
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("conv", N, {X, W, DY}, Res), 0);
    Vec DW(W.size(), 0);
    for (int64_t I = 0; I < N; ++I) {
      Vec XI(X.begin() + I * XImg, X.begin() + (I + 1) * XImg);
      Vec DYI(DY.begin() + I * YImg, DY.begin() + (I + 1) * YImg);
      ASSERT_EQ(C.run("conv", 1, {XI, W, DYI}, One), 0);
      Vec Y(Res[0].begin() + I * YImg, Res[0].begin() + (I + 1) * YImg);
      Vec DX(Res[1].begin() + I * XImg, Res[1].begin() + (I + 1) * XImg);
      expectClose(Y, One[0], 1e-12, label("y", DType::F64, N));
      expectClose(DX, One[1], 1e-12, label("dx", DType::F64, N));
      for (size_t K = 0; K < DW.size(); ++K)
        DW[K] += One[2][K];
    }
    expectClose(Res[2], DW, 1e-12, label("dw", DType::F64, N));
  }
}

} // namespace
