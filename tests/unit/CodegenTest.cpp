//===- CodegenTest.cpp - Generated kernels against C++ references ---------===//
///
/// Every elementwise, data-movement and reduction op of Ops.def against a
/// C++ reference, in f32 and f64, for batch sizes 1, 5 and 64 without
/// recompiling (helpers in CodegenTestUtil.h). CodegenRowOpsTest.cpp covers
/// softmax and the losses, CodegenMatMulTest.cpp matmul, the step-function
/// ABI and the target plumbing.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

//===----------------------------------------------------------------------===//
// Unary ops and their adjoints.
//===----------------------------------------------------------------------===//

// Unary ops and their adjoints: tests/unit/ElementwiseMathTest.cpp checks
// every one against PyTorch and the constant folder.

TEST(Codegen, ExpIsAccurateEverywhere) {
  // exp is inlined as a polynomial: check a dense sweep, the overflow and
  // underflow edges, infinities and NaN.
  for (DType T : FloatTypes) {
    bool F32 = T == DType::F32;
    double Lo = F32 ? -110 : -760, Hi = F32 ? 95 : 720;
    int64_t Steps = 20000;
    Vec XV(Steps);
    for (int64_t I = 0; I < Steps; ++I)
      XV[I] = roundTo(T, Lo + (Hi - Lo) * I / (Steps - 1));
    Vec Edges = {0.0,
                 -0.0,
                 1e-30,
                 INFINITY,
                 -INFINITY,
                 NAN,
                 F32 ? 88.72 : 709.78,
                 F32 ? 88.73 : 709.79,
                 F32 ? -87.33 : -708.39,
                 F32 ? -103.9 : -745.1};
    for (size_t I = 0; I < Edges.size(); ++I)
      XV[I] = roundTo(T, Edges[I]);
    Compiled C;
    Function *F = C.add("e");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch}), ArgRole::Input);
    F->Results.push_back({"y", B.create(OpKind::Exp, {X})});
    C.compile();
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("e", Steps, {XV}, Res), 0);
    double Ulp = F32 ? 0x1p-23 : 0x1p-52, Tiny = F32 ? 0x1p-126 : 0x1p-1022;
    for (int64_t I = 0; I < Steps; ++I) {
      double Want = roundTo(T, std::exp(XV[I])), Got = Res[0][I];
      if (std::isnan(Want)) {
        EXPECT_TRUE(std::isnan(Got)) << XV[I];
        continue;
      }
      if (std::isinf(Want) || Want == 0) {
        EXPECT_EQ(Got, Want) << XV[I];
        continue;
      }
      EXPECT_LE(std::abs(Got - Want), std::max(2 * Ulp * Want, Tiny))
          << dtypeName(T) << " exp(" << XV[I] << ")";
    }
  }
}

//===----------------------------------------------------------------------===//
// Binary ops with broadcasting.
//===----------------------------------------------------------------------===//

double binaryRef(OpKind K, double A, double B) {
  switch (K) {
  case OpKind::Add:
    return A + B;
  case OpKind::Sub:
    return A - B;
  case OpKind::Mul:
    return A * B;
  case OpKind::Div:
    return A / B;
  case OpKind::Pow:
    return std::pow(A, B);
  case OpKind::Maximum:
    return std::max(A, B);
  case OpKind::Minimum:
    return std::min(A, B);
  case OpKind::GreaterMask:
    return A > B;
  case OpKind::GreaterEqualMask:
    return A >= B;
  case OpKind::EqualMask:
    return A == B;
  case OpKind::NotEqualMask:
    return A != B;
  default:
    return NAN;
  }
}

TEST(Codegen, BinaryOpsBroadcast) {
  std::vector<OpKind> Kinds;
  for (unsigned K = 0; K < unsigned(OpKind::NumOps); ++K)
    if (hasProp(OpKind(K), props::Binary))
      Kinds.push_back(OpKind(K));
  ASSERT_EQ(Kinds.size(), 11u);
  const std::vector<std::pair<Dims, Dims>> Shapes = {
      {{kBatch, 3}, {kBatch, 3}}, {{kBatch, 3}, {3}},
      {{kBatch, 1}, {1, 4}},      {{}, {kBatch, 3}},
      {{kBatch, 3}, {}},          {{kBatch, 1, 3}, {4, 1}},
      {{2, 1, 3}, {2, 5, 1}},     {{3, 1}, {kBatch, 1, 1}}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Shapes.size(); ++S) {
      Function *F = C.add("bin" + std::to_string(S));
      Builder B(*F);
      Value *A = F->addArg("a", ty(T, Shapes[S].first), ArgRole::Input);
      Value *Bv = F->addArg("b", ty(T, Shapes[S].second), ArgRole::Input);
      for (OpKind K : Kinds)
        F->Results.push_back({"r", B.create(K, {A, Bv})});
    }
    C.compile();
    for (int64_t N : BatchSizes)
      for (size_t S = 0; S < Shapes.size(); ++S) {
        const Function &F = *C.M.function("bin" + std::to_string(S));
        Dims DA = concrete(F.Args[0]->type(), N),
             DB = concrete(F.Args[1]->type(), N);
        Dims DO = concrete(F.Results[0].V->type(), N);
        Vec AV = randVec(numel(DA), 0.25, 2, T, 4 + S); // pow needs a > 0
        Vec BV = randVec(numel(DB), -2, 2, T, 40 + S);
        if (S == 0)
          BV[0] = AV[0]; // A tie for the masks, maximum and minimum.
        std::vector<Vec> Res;
        ASSERT_EQ(C.run(F.Name, N, {AV, BV}, Res), 0);
        for (size_t K = 0; K < Kinds.size(); ++K) {
          Vec Want(numel(DO));
          forIndex(DO, [&](const Dims &I, int64_t L) {
            Want[L] = binaryRef(Kinds[K], AV[bcastIndex(DA, I)],
                                BV[bcastIndex(DB, I)]);
          });
          expectClose(
              Res[K], Want, tolFor(T),
              label(std::string(opInfo(Kinds[K]).Mnemonic) + " " + F.Name, T,
                    N));
        }
      }
  }
}

//===----------------------------------------------------------------------===//
// Fills, counts, shape ops, slices, pads and concatenation.
//===----------------------------------------------------------------------===//

TEST(Codegen, ConstantAndCount) {
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("cc");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 3, 4}), ArgRole::Input);
    F->Results.push_back({"c", B.constant(2.5, T, {2, 3})});
    F->Results.push_back({"cn", B.constant(-1.25, T, {kBatch, 3})});
    F->Results.push_back({"all", B.create(OpKind::Count, {X})});
    F->Results.push_back({"ax0", B.create(OpKind::Count, {X}, axesAttr({0}))});
    F->Results.push_back(
        {"ax12", B.create(OpKind::Count, {X}, axesAttr({1, -1}))});
    C.compile();
    for (int64_t N : BatchSizes) {
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("cc", N, {Vec(12 * N, 1.0)}, Res), 0);
      EXPECT_EQ(Res[0], Vec(6, 2.5));
      EXPECT_EQ(Res[1], Vec(3 * N, -1.25));
      EXPECT_EQ(Res[2], Vec{double(12 * N)});
      EXPECT_EQ(Res[3], Vec{double(N)});
      EXPECT_EQ(Res[4], Vec{12.0});
    }
  }
}

TEST(Codegen, TransposeReshapeBroadcastTo) {
  const std::vector<Dims> Perms = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                   {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("shape");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 3, 4}), ArgRole::Input);
    Value *V = F->addArg("v", ty(T, {3}), ArgRole::Input);
    Value *Col = F->addArg("col", ty(T, {kBatch, 1}), ArgRole::Input);
    for (const Dims &P : Perms)
      F->Results.push_back(
          {"t", B.create(OpKind::Transpose, {X}, {{"perm", P}})});
    F->Results.push_back(
        {"r", B.create(OpKind::Reshape, {X}, {{"shape", Dims{kBatch, 12}}})});
    // A reshape that is not a result aliases its operand.
    Value *R2 = B.create(OpKind::Reshape, {X}, {{"shape", Dims{4, kBatch, 3}}});
    F->Results.push_back({"nr", B.create(OpKind::Neg, {R2})});
    F->Results.push_back({"b1", B.create(OpKind::BroadcastTo, {V},
                                         {{"shape", Dims{kBatch, 2, 3}}})});
    F->Results.push_back({"b2", B.create(OpKind::BroadcastTo, {Col},
                                         {{"shape", Dims{kBatch, 4}}})});
    C.compile();
    for (int64_t N : BatchSizes) {
      Vec XV = randVec(12 * N, -1, 1, T, 5), VV = randVec(3, -1, 1, T, 6);
      Vec CV = randVec(N, -1, 1, T, 7);
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("shape", N, {XV, VV, CV}, Res), 0);
      Dims DX = {N, 3, 4};
      for (size_t P = 0; P < Perms.size(); ++P) {
        Dims DO = {DX[Perms[P][0]], DX[Perms[P][1]], DX[Perms[P][2]]};
        Vec Want(XV.size());
        forIndex(DO, [&](const Dims &I, int64_t L) {
          Dims Src(3);
          for (int D = 0; D < 3; ++D)
            Src[Perms[P][D]] = I[D];
          Want[L] = XV[(Src[0] * 3 + Src[1]) * 4 + Src[2]];
        });
        expectClose(Res[P], Want, 0, label("transpose", T, N));
      }
      expectClose(Res[6], XV, 0, label("reshape", T, N));
      Vec Neg = XV;
      for (double &D : Neg)
        D = -D;
      expectClose(Res[7], Neg, 0, label("neg of reshape", T, N));
      Vec B1(6 * N), B2(4 * N);
      for (int64_t I = 0; I < 6 * N; ++I)
        B1[I] = VV[I % 3];
      for (int64_t I = 0; I < 4 * N; ++I)
        B2[I] = CV[I / 4];
      expectClose(Res[8], B1, 0, label("broadcast_to [3]", T, N));
      expectClose(Res[9], B2, 0, label("broadcast_to [N,1]", T, N));
    }
  }
}

/// Row-major linear index of \p I in dims \p D.
int64_t linear(const Dims &D, const Dims &I) {
  int64_t L = 0;
  for (size_t K = 0; K < D.size(); ++K)
    L = L * D[K] + I[K];
  return L;
}

struct Piece {
  Vec V;
  Dims D;
};

/// concat of \p Ps along \p Axis; a slice is one piece read at an offset,
/// a pad one piece written at an offset.
Vec joinRef(const std::vector<Piece> &Ps, int64_t Axis, const Dims &Out,
            int64_t Before = 0) {
  Vec R(numel(Out), 0);
  forIndex(Out, [&](const Dims &I, int64_t L) {
    int64_t At = I[Axis] - Before;
    for (const Piece &P : Ps) {
      if (At >= 0 && At < P.D[Axis]) {
        Dims J = I;
        J[Axis] = At;
        R[L] = P.V[linear(P.D, J)];
        return;
      }
      At -= P.D[Axis];
    }
  });
  return R;
}

Vec sliceRef(const Piece &P, int64_t Axis, int64_t Start, int64_t End) {
  Dims Out = P.D;
  Out[Axis] = End - Start;
  Vec R(numel(Out));
  forIndex(Out, [&](const Dims &I, int64_t L) {
    Dims J = I;
    J[Axis] += Start;
    R[L] = P.V[linear(P.D, J)];
  });
  return R;
}

Attrs sliceAttr(int64_t Axis, int64_t Start, int64_t End) {
  return {{"axis", Axis}, {"start", Start}, {"end", End}};
}
Attrs padAttr(int64_t Axis, int64_t Before, int64_t After) {
  return {{"axis", Axis}, {"before", Before}, {"after", After}};
}
Attrs axisAttr(int64_t Axis) { return {{"axis", Axis}}; }

TEST(Codegen, SlicePadConcat) {
  // Every dtype (they move data), the batch dim first or last, and static
  // tensors.
  for (DType T : {DType::F32, DType::F64, DType::I32}) {
    Compiled C;
    Function *F = C.add("move");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 5, 4}), ArgRole::Input);
    Value *Y = F->addArg("y", ty(T, {3, kBatch}), ArgRole::Input);
    Value *V = F->addArg("v", ty(T, {6}), ArgRole::Input);
    auto Res = [&](OpKind K, std::vector<Value *> Ops, Attrs A) {
      F->Results.push_back({"r", B.create(K, Ops, A)});
      return F->Results.back().V;
    };
    Value *XS = Res(OpKind::Slice, {X}, sliceAttr(2, 0, 2));
    Res(OpKind::Slice, {X}, sliceAttr(1, 1, 4));
    Res(OpKind::Slice, {X}, sliceAttr(2, 3, 4));
    Res(OpKind::Pad, {X}, padAttr(1, 2, 1));
    Res(OpKind::Pad, {X}, padAttr(2, 0, 3));
    Res(OpKind::Concat, {X, XS}, axisAttr(2));
    Value *XM = B.create(OpKind::Slice, {X}, sliceAttr(1, 0, 2));
    Res(OpKind::Concat, {X, XM, X}, axisAttr(1));
    Res(OpKind::Slice, {Y}, sliceAttr(0, 1, 3));
    Res(OpKind::Pad, {Y}, padAttr(0, 1, 2));
    Res(OpKind::Concat, {Y, Y}, axisAttr(0));
    Res(OpKind::Slice, {V}, sliceAttr(0, 2, 5));
    Res(OpKind::Pad, {V}, padAttr(0, 1, 0));
    Res(OpKind::Concat, {V}, axisAttr(0));
    C.compile();
    for (int64_t N : BatchSizes) {
      Piece PX{randVec(20 * N, -5, 5, T, 31), {N, 5, 4}};
      Piece PY{randVec(3 * N, -5, 5, T, 32), {3, N}};
      Piece PV{randVec(6, -5, 5, T, 33), {6}};
      if (T == DType::I32)
        for (Piece *P : {&PX, &PY, &PV})
          for (double &E : P->V)
            E = std::round(E);
      std::vector<Vec> R;
      ASSERT_EQ(C.run("move", N, {PX.V, PY.V, PV.V}, R), 0);
      Piece PXS{sliceRef(PX, 2, 0, 2), {N, 5, 2}};
      Piece PXM{sliceRef(PX, 1, 0, 2), {N, 2, 4}};
      std::vector<Vec> Want = {PXS.V,
                               sliceRef(PX, 1, 1, 4),
                               sliceRef(PX, 2, 3, 4),
                               joinRef({PX}, 1, {N, 8, 4}, 2),
                               joinRef({PX}, 2, {N, 5, 7}, 0),
                               joinRef({PX, PXS}, 2, {N, 5, 6}),
                               joinRef({PX, PXM, PX}, 1, {N, 12, 4}),
                               sliceRef(PY, 0, 1, 3),
                               joinRef({PY}, 0, {6, N}, 1),
                               joinRef({PY, PY}, 0, {6, N}),
                               sliceRef(PV, 0, 2, 5),
                               joinRef({PV}, 0, {7}, 1),
                               PV.V};
      ASSERT_EQ(R.size(), Want.size());
      for (size_t I = 0; I < Want.size(); ++I)
        expectClose(
            R[I], Want[I], 0,
            label(std::string(opInfo(F->Results[I].V->Def->Kind).Mnemonic) +
                      " " + std::to_string(I),
                  T, N));
    }
  }
}

//===----------------------------------------------------------------------===//
// Reductions.
//===----------------------------------------------------------------------===//

TEST(Codegen, Reductions) {
  const OpKind Kinds[] = {OpKind::ReduceSum, OpKind::ReduceMean,
                          OpKind::ReduceMax, OpKind::ReduceMin};
  const std::vector<std::optional<Dims>> AxisSets = {
      std::nullopt, Dims{0},    Dims{1},    Dims{2},
      Dims{0, 1},   Dims{1, 2}, Dims{0, 2}, Dims{-1}};
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("reduce");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 3, 4}), ArgRole::Input);
    for (OpKind K : Kinds)
      for (const auto &Axes : AxisSets)
        for (bool Keep : {false, true}) {
          Attrs A;
          if (Axes)
            A["axes"] = *Axes;
          A["keepdims"] = Keep;
          F->Results.push_back({"r", B.create(K, {X}, A)});
        }
    C.compile();
    for (int64_t N : BatchSizes) {
      Vec XV = randVec(12 * N, -2, 2, T, 8);
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("reduce", N, {XV}, Res), 0);
      Dims DX = {N, 3, 4};
      size_t R = 0;
      for (OpKind K : Kinds)
        for (const auto &Axes : AxisSets)
          for (bool Keep : {false, true}) {
            std::vector<bool> Red(3, !Axes);
            if (Axes)
              for (int64_t A : *Axes)
                Red[(A + 3) % 3] = true;
            Dims DO;
            int64_t Count = 1;
            for (int D = 0; D < 3; ++D)
              Red[D] ? Count *= DX[D] : (DO.push_back(DX[D]), 0);
            double Init = K == OpKind::ReduceMax   ? -INFINITY
                          : K == OpKind::ReduceMin ? INFINITY
                                                   : 0;
            Vec Want(numel(DO), Init);
            forIndex(DX, [&](const Dims &I, int64_t L) {
              int64_t O = 0;
              for (int D = 0; D < 3; ++D)
                if (!Red[D])
                  O = O * DX[D] + I[D];
              double &W = Want[O];
              W = K == OpKind::ReduceMax   ? std::max(W, XV[L])
                  : K == OpKind::ReduceMin ? std::min(W, XV[L])
                                           : W + XV[L];
            });
            if (K == OpKind::ReduceMean)
              for (double &W : Want)
                W /= Count;
            EXPECT_EQ(F->Results[R].V->type().rank(), Keep ? 3u : DO.size());
            expectClose(Res[R++], Want, tolFor(T) * 4,
                        label(std::string(opInfo(K).Mnemonic) +
                                  " keepdims=" + std::to_string(Keep),
                              T, N));
          }
    }
  }
}

} // namespace
