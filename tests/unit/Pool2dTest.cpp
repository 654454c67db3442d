//===- Pool2dTest.cpp - max_pool2d, avg_pool2d and adjoints vs PyTorch ----===//
///
/// For each configuration of tests/fixtures/pool2d.json (written by
/// scripts/torch_fixtures.py from torch.nn.functional.max_pool2d /
/// avg_pool2d and autograd: odd sizes, padding, non-square and overlapping
/// windows, tied maxima), builds y = pool(x) with x's batch dim symbolic,
/// lets the gradient rule of passes/GradRules.cpp emit dx for a given dy
/// (the max_pool2d_grad and avg_pool2d_grad ops), JIT-compiles the function
/// in f64 and f32 and compares y and dx with the fixture's: to 1e-10 in
/// f64, 1e-5 in f32. With tied maxima the fixture's dx is Adjoint's rule
/// (the first maximum of each window in row-major order), which the script
/// checks against autograd where there are no ties. The tied inputs are
/// small integers, exact in f32 too. The kernels' parallel split is checked
/// with 1, 2 and 3 threads on a pool large enough to be split. The 2 x 2
/// pool of 14 x 14 planes (the TF CNN's second, whose 7-column rows the
/// kernels pack several to a vector) and of 10 x 6 planes are compared with
/// a scalar reference, in f32 and f64, as is max_pool2d over a relu's
/// output, whose adjoint is masked by relu's.
///
//===----------------------------------------------------------------------===//
#include "ir/Pool2d.h"
#include "CodegenTestUtil.h"
#include "passes/GradRules.h"
#include "runtime/adjoint_rt.h"

#include "Fixtures.h"
#include <fstream>
#include <nlohmann/json.hpp>

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() { return test::torchFixture("pool2d.json"); }

Pool2dGeometry geometry(const nlohmann::json &R) {
  Pool2dGeometry G;
  for (unsigned A = 0; A < 2; ++A) {
    G.Kernel[A] = R["kernel"][A];
    G.Stride[A] = R["stride"][A];
    G.Padding[A] = R["padding"][A];
  }
  return G;
}

OpKind kindOf(const nlohmann::json &R) {
  return R["op"] == "max_pool2d" ? OpKind::MaxPool2d : OpKind::AvgPool2d;
}

/// y = pool(x) and, from its gradient rule, dx for dy.
void buildPool(Compiled &C, OpKind K, const Pool2dGeometry &Geo, Dims XS,
               Dims YS, DType T) {
  Function *F = C.add("pool");
  XS[0] = YS[0] = kBatch;
  Value *X = F->addArg("x", ty(T, XS), ArgRole::Input);
  Value *DY = F->addArg("dy", ty(T, YS), ArgRole::Input);
  Builder B(*F);
  Value *Y = nullptr;
  TypeOrError E = B.tryCreate(K, {X}, Geo.attrs(), Y);
  ASSERT_TRUE(E.Type) << E.Error;
  ASSERT_EQ(Y->Type, ty(T, YS)) << "output shape differs from PyTorch's";
  GradContext G{B, *Y->Def, DY, {true}, {nullptr}};
  gradRule(K)(G);
  ASSERT_EQ(G.Grads[0]->Def->Kind, K == OpKind::MaxPool2d
                                       ? OpKind::MaxPool2dGrad
                                       : OpKind::AvgPool2dGrad);
  F->Results = {{"y", Y}, {"dx", G.Grads[0]}};
}

/// A scalar reference of a pool over \p Planes planes of H x W (\p Geo's
/// windows, taps in the padding skipped, which avg_pool2d's divisor still
/// counts) and of its adjoint for \p DY: y the max or mean of each
/// window, dx accumulating dy at the window's first maximum in row-major
/// order or dy / (kh * kw) at every tap. With \p Relu, max_pool2d over
/// relu(x) and the adjoint of both: windows whose maximum is 0 pass none.
struct PoolReference {
  Vec Y, DX;
};
PoolReference poolReference(OpKind K, const Pool2dGeometry &Geo, int64_t Planes,
                            int64_t H, int64_t W, const Vec &X, const Vec &DY,
                            bool Relu = false) {
  int64_t OH = Geo.outSize(0, H), OW = Geo.outSize(1, W);
  int64_t Taps = Geo.Kernel[0] * Geo.Kernel[1];
  PoolReference R{Vec(Planes * OH * OW), Vec(X.size(), 0.0)};
  for (int64_t P = 0; P < Planes; ++P)
    for (int64_t Oh = 0; Oh < OH; ++Oh)
      for (int64_t Ow = 0; Ow < OW; ++Ow) {
        int64_t YI = (P * OH + Oh) * OW + Ow, Arg = -1;
        double Acc = 0;
        for (int64_t Kh = 0; Kh < Geo.Kernel[0]; ++Kh)
          for (int64_t Kw = 0; Kw < Geo.Kernel[1]; ++Kw) {
            int64_t Ih = Oh * Geo.Stride[0] - Geo.Padding[0] + Kh,
                    Iw = Ow * Geo.Stride[1] - Geo.Padding[1] + Kw;
            if (Ih < 0 || Ih >= H || Iw < 0 || Iw >= W)
              continue;
            int64_t XI = (P * H + Ih) * W + Iw;
            double V = Relu ? std::max(X[XI], 0.0) : X[XI];
            if (K == OpKind::AvgPool2d) {
              Acc += V;
              R.DX[XI] += DY[YI] / double(Taps);
            } else if (Arg < 0 || V > Acc) {
              Acc = V;
              Arg = XI;
            }
          }
        R.Y[YI] = K == OpKind::AvgPool2d ? Acc / double(Taps) : Acc;
        // relu_grad(max_pool2d_grad): dy at the first maximum, kept where
        // relu's output there is > 0.
        if (Arg >= 0 && (!Relu || Acc > 0))
          R.DX[Arg] += DY[YI];
      }
  return R;
}

TEST(Pool2d, MatchesPyTorch) {
  ASSERT_TRUE(fixtures().is_object())
      << "tests/fixtures/pool2d.json: run /usr/bin/python3 "
         "scripts/torch_fixtures.py";
  const nlohmann::json &Configs = fixtures()["pool2d"];
  ASSERT_GE(Configs.size(), 10u);
  unsigned Ties = 0;
  for (const nlohmann::json &R : Configs) {
    Ties += R["name"].get<std::string>().find("ties") != std::string::npos;
    for (DType T : FloatTypes) {
      std::string Name = R["name"].get<std::string>() + " " + dtypeName(T);
      SCOPED_TRACE(Name);
      Compiled C;
      buildPool(C, kindOf(R), geometry(R), R["x_shape"], R["y_shape"], T);
      if (HasFatalFailure())
        return;
      C.compile();
      std::vector<Vec> Res;
      int64_t N = R["x_shape"][0];
      ASSERT_EQ(C.run("pool", N, {R["x"], R["dy"]}, Res), 0);
      double Tol = T == DType::F64 ? 1e-10 : 1e-5;
      expectClose(Res[0], R["y"], Tol, Name + ": y");
      expectClose(Res[1], R["dx"], Tol, Name + ": dx");
    }
  }
  EXPECT_GE(Ties, 1u) << "no configuration with tied maxima";
}

/// A pool split over several tasks (many planes of a large image) gives
/// bit-identical y and dx for 1, 2 and 3 threads, and its batch-size
/// independence holds: image i's results are those of a batch of one.
TEST(Pool2d, ThreadsAndBatchSizes) {
  Pool2dGeometry Geo;
  Geo.Kernel = {3, 3};
  Geo.Stride = {2, 2};
  Geo.Padding = {1, 1};
  Dims XS{kBatch, 8, 33, 31}, YS{kBatch, 8, 17, 16};
  for (OpKind K : {OpKind::MaxPool2d, OpKind::AvgPool2d}) {
    SCOPED_TRACE(opInfo(K).Mnemonic);
    Compiled C;
    buildPool(C, K, Geo, XS, YS, DType::F32);
    if (HasFatalFailure())
      return;
    C.compile();
    int64_t N = 16, XImg = 8 * 33 * 31, YImg = 8 * 17 * 16;
    Vec X = randVec(N * XImg, -1, 1, DType::F32, 3);
    Vec DY = randVec(N * YImg, -1, 1, DType::F32, 4);
    std::vector<Vec> One, Many, Single;
    adj_rt_set_threads(1);
    ASSERT_EQ(C.run("pool", N, {X, DY}, One), 0);
    for (int Threads : {2, 3}) {
      adj_rt_set_threads(Threads);
      ASSERT_EQ(C.run("pool", N, {X, DY}, Many), 0);
      EXPECT_EQ(One, Many) << Threads << " threads";
    }
    adj_rt_set_threads(0);
    for (int64_t I : {int64_t(0), N - 1}) {
      Vec XI(X.begin() + I * XImg, X.begin() + (I + 1) * XImg);
      Vec DYI(DY.begin() + I * YImg, DY.begin() + (I + 1) * YImg);
      ASSERT_EQ(C.run("pool", 1, {XI, DYI}, Single), 0);
      EXPECT_EQ(Vec(One[0].begin() + I * YImg, One[0].begin() + (I + 1) * YImg),
                Single[0]);
      EXPECT_EQ(Vec(One[1].begin() + I * XImg, One[1].begin() + (I + 1) * XImg),
                Single[1]);
    }
  }
}

/// Pools of k x k windows tiling n x m planes (rows of several outputs
/// to a vector: 7 columns, and 3, with 7 and 5 rows, the last vector of a
/// plane partly filled) match a scalar reference: y the max or mean of
/// each window, dx dy at the window's first maximum (random values: no
/// ties) or dy / k^2 at every tap.
TEST(Pool2d, RowsPerVectorMatchReference) {
  struct Case {
    int64_t C, H, W, KS;
  };
  for (Case Cs : {Case{8, 14, 14, 2}, Case{3, 10, 6, 2}, Case{2, 9, 9, 3}})
    for (OpKind K : {OpKind::MaxPool2d, OpKind::AvgPool2d})
      for (DType T : FloatTypes) {
        SCOPED_TRACE(std::string(opInfo(K).Mnemonic) + " " + dtypeName(T) +
                     " " + std::to_string(Cs.H) + "x" + std::to_string(Cs.W));
        Pool2dGeometry Geo;
        Geo.Kernel = Geo.Stride = {Cs.KS, Cs.KS};
        Geo.Padding = {0, 0};
        int64_t OH = Cs.H / Cs.KS, OW = Cs.W / Cs.KS, N = 3;
        Compiled C;
        buildPool(C, K, Geo, Dims{kBatch, Cs.C, Cs.H, Cs.W},
                  Dims{kBatch, Cs.C, OH, OW}, T);
        if (HasFatalFailure())
          return;
        C.compile();
        int64_t Planes = N * Cs.C;
        Vec X = randVec(Planes * Cs.H * Cs.W, -1, 1, T, 5);
        Vec DY = randVec(Planes * OH * OW, -1, 1, T, 6);
        PoolReference Want = poolReference(K, Geo, Planes, Cs.H, Cs.W, X, DY);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run("pool", N, {X, DY}, Res), 0);
        double Tol = T == DType::F64 ? 1e-12 : 1e-6;
        expectClose(Res[0], Want.Y, Tol, "y");
        expectClose(Res[1], Want.DX, Tol, "dx");
      }
}

/// max_pool2d over a relu's output: the pool's gradient rule marks its
/// adjoint relu (dy only where the window's maximum is > 0) and relu's rule
/// then passes it on instead of a relu_grad. dx matches a scalar reference
/// of relu_grad(max_pool2d_grad) for tiling windows (LeNet's 28 x 28 and 14
/// x 14 planes, rows of several outputs to a vector, a partial last row)
/// and for overlapping padded ones (the loop path, windows sharing a
/// maximum), with inputs in [-1, 0.5]: many windows are all zeros after
/// the relu (ties at 0, no adjoint), others mix zeros and positives.
TEST(Pool2d, MaxPoolOfReluMatchesReference) {
  struct Case {
    int64_t C, H, W, KS, Stride, Pad;
  };
  for (Case Cs : {Case{6, 28, 28, 2, 2, 0}, Case{4, 14, 14, 2, 2, 0},
                  Case{3, 10, 6, 2, 2, 0}, Case{2, 9, 8, 3, 2, 1}})
    for (DType T : FloatTypes) {
      SCOPED_TRACE(std::string(dtypeName(T)) + " " + std::to_string(Cs.H) +
                   "x" + std::to_string(Cs.W) + " k" + std::to_string(Cs.KS));
      Pool2dGeometry Geo;
      Geo.Kernel = {Cs.KS, Cs.KS};
      Geo.Stride = {Cs.Stride, Cs.Stride};
      Geo.Padding = {Cs.Pad, Cs.Pad};
      int64_t OH = Geo.outSize(0, Cs.H), OW = Geo.outSize(1, Cs.W), N = 3;
      Compiled C;
      Function *F = C.add("pool");
      Value *X =
          F->addArg("x", ty(T, {kBatch, Cs.C, Cs.H, Cs.W}), ArgRole::Input);
      Value *DY =
          F->addArg("dy", ty(T, {kBatch, Cs.C, OH, OW}), ArgRole::Input);
      Builder B(*F);
      Value *R = nullptr, *Y = nullptr;
      ASSERT_TRUE(B.tryCreate(OpKind::Relu, {X}, {}, R).Type);
      ASSERT_TRUE(B.tryCreate(OpKind::MaxPool2d, {R}, Geo.attrs(), Y).Type);
      GradContext GP{B, *Y->Def, DY, {true}, {nullptr}};
      gradRule(OpKind::MaxPool2d)(GP);
      ASSERT_EQ(GP.Grads[0]->Def->Kind, OpKind::MaxPool2dGrad);
      EXPECT_TRUE(GP.Grads[0]->Def->boolAttr("relu"));
      GradContext GR{B, *R->Def, GP.Grads[0], {true}, {nullptr}};
      gradRule(OpKind::Relu)(GR);
      EXPECT_EQ(GR.Grads[0], GP.Grads[0]) << "relu_grad of a masked adjoint";
      F->Results = {{"y", Y}, {"dx", GR.Grads[0]}};
      C.compile();
      int64_t Planes = N * Cs.C;
      Vec XV = randVec(Planes * Cs.H * Cs.W, -1, 0.5, T, 9);
      Vec DYV = randVec(Planes * OH * OW, -1, 1, T, 10);
      PoolReference Want = poolReference(OpKind::MaxPool2d, Geo, Planes, Cs.H,
                                         Cs.W, XV, DYV, /*Relu=*/true);
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("pool", N, {XV, DYV}, Res), 0);
      double Tol = T == DType::F64 ? 1e-12 : 1e-6;
      expectClose(Res[0], Want.Y, Tol, "y");
      expectClose(Res[1], Want.DX, Tol, "dx");
    }
}

} // namespace
