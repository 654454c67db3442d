//===- CodegenRowOpsTest.cpp - softmax, losses and metrics ---------------===//
///
/// The row kernels (softmax family, cross-entropy and its adjoint,
/// accuracy, argmax) against C++ references, invalid labels returning 1,
/// a small MLP's forward pass and loss, and the LLVM optimisation levels
/// agreeing.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

//===----------------------------------------------------------------------===//
// Softmax family, losses, metrics.
//===----------------------------------------------------------------------===//

/// Reference for the softmax family along \p Axis of a tensor of dims \p D.
Vec softmaxRef(OpKind K, const Dims &D, int64_t Axis, const Vec &X,
               const Vec &Y) {
  int64_t Outer = 1, Len = D[Axis], Inner = 1;
  for (int64_t I = 0; I < Axis; ++I)
    Outer *= D[I];
  for (size_t I = Axis + 1; I < D.size(); ++I)
    Inner *= D[I];
  Vec Out(X.size());
  for (int64_t O = 0; O < Outer; ++O)
    for (int64_t In = 0; In < Inner; ++In) {
      auto At = [&](int64_t J) { return (O * Len + J) * Inner + In; };
      double M = -INFINITY, S = 0, Dot = 0, SumDy = 0;
      for (int64_t J = 0; J < Len; ++J)
        M = std::max(M, X[At(J)]);
      for (int64_t J = 0; J < Len; ++J) {
        S += std::exp(X[At(J)] - M);
        Dot += X[At(J)] * Y[At(J)];
        SumDy += X[At(J)];
      }
      for (int64_t J = 0; J < Len; ++J) {
        double V = X[At(J)], W = Y[At(J)];
        Out[At(J)] = K == OpKind::Softmax       ? std::exp(V - M) / S
                     : K == OpKind::LogSoftmax  ? V - M - std::log(S)
                     : K == OpKind::SoftmaxGrad ? W * (V - Dot)
                                                : V - std::exp(W) * SumDy;
      }
    }
  return Out;
}

TEST(Codegen, SoftmaxFamily) {
  const OpKind Kinds[] = {OpKind::Softmax, OpKind::LogSoftmax,
                          OpKind::SoftmaxGrad, OpKind::LogSoftmaxGrad};
  const std::vector<std::pair<Dims, int64_t>> Cases = {{{kBatch, 5}, 0},
                                                       {{kBatch, 5}, 1},
                                                       {{kBatch, 5}, -1},
                                                       {{kBatch, 3, 4}, 1}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Cases.size(); ++S) {
      Function *F = C.add("sm" + std::to_string(S));
      Builder B(*F);
      Value *X = F->addArg("x", ty(T, Cases[S].first), ArgRole::Input);
      Value *Y = F->addArg("y", ty(T, Cases[S].first), ArgRole::Input);
      for (OpKind K : Kinds) {
        std::vector<Value *> Ops = {X};
        if (K == OpKind::SoftmaxGrad || K == OpKind::LogSoftmaxGrad)
          Ops.push_back(Y);
        F->Results.push_back(
            {"r", B.create(K, Ops, {{"axis", Cases[S].second}})});
      }
    }
    C.compile();
    for (int64_t N : BatchSizes)
      for (size_t S = 0; S < Cases.size(); ++S) {
        Dims D = concrete(ty(T, Cases[S].first), N);
        int64_t Axis = (Cases[S].second + D.size()) % D.size();
        Vec XV = randVec(numel(D), -4, 4, T, 9),
            YV = randVec(numel(D), -3, 0, T, 10);
        XV[0] = 80; // Needs the max subtracted in f32.
        std::vector<Vec> Res;
        ASSERT_EQ(C.run("sm" + std::to_string(S), N, {XV, YV}, Res), 0);
        for (size_t K = 0; K < 4; ++K)
          expectClose(Res[K], softmaxRef(Kinds[K], D, Axis, XV, YV),
                      tolFor(T) * 4,
                      label(std::string(opInfo(Kinds[K]).Mnemonic) + " axis " +
                                std::to_string(Cases[S].second),
                            T, N));
      }
  }
}

struct CeRef {
  double Loss = 0, Acc = 0;
  Vec Grad;
};

CeRef crossEntropyRef(const Vec &X, const Vec &L, int64_t R, int64_t Cl,
                      double Ls, double Dy) {
  CeRef Out;
  Out.Grad.resize(X.size());
  for (int64_t I = 0; I < R; ++I) {
    const double *Row = &X[I * Cl];
    int64_t Lab = int64_t(L[I]), Arg = 0;
    double M = -INFINITY, S = 0, Sum = 0;
    for (int64_t J = 0; J < Cl; ++J) {
      if (Row[J] > M)
        M = Row[J], Arg = J;
      Sum += Row[J];
    }
    for (int64_t J = 0; J < Cl; ++J)
      S += std::exp(Row[J] - M);
    // A -inf logit makes Sum -inf: the smoothing term only when smoothing.
    Out.Loss +=
        M + std::log(S) - (1 - Ls) * Row[Lab] - (Ls != 0 ? Ls * Sum / Cl : 0);
    Out.Acc += Arg == Lab;
    for (int64_t J = 0; J < Cl; ++J)
      Out.Grad[I * Cl + J] =
          Dy * (std::exp(Row[J] - M) / S - (J == Lab ? 1 - Ls : 0) - Ls / Cl) /
          R;
  }
  Out.Loss /= R;
  Out.Acc /= R;
  return Out;
}

/// Gives \p F inputs x (\p Logits), y (labels) and dy (a scalar) and
/// results loss and grad of cross_entropy without and with label smoothing
/// 0.1; returns x and y.
std::pair<Value *, Value *> addCrossEntropyResults(Function &F, DType T,
                                                   const Dims &Logits) {
  Builder B(F);
  Dims LabDims(Logits.begin(), Logits.end() - 1);
  Value *X = F.addArg("x", ty(T, Logits), ArgRole::Input);
  Value *Y = F.addArg("y", ty(DType::I32, LabDims), ArgRole::Input);
  Value *Dy = F.addArg("dy", ty(T, {}), ArgRole::Input);
  for (double Ls : {0.0, 0.1}) {
    Attrs A = {{"label_smoothing", Ls}};
    F.Results.push_back({"loss", B.create(OpKind::CrossEntropy, {X, Y}, A)});
    F.Results.push_back(
        {"grad", B.create(OpKind::CrossEntropyGrad, {Dy, X, Y}, A)});
  }
  return {X, Y};
}

TEST(Codegen, CrossEntropyAccuracyArgMax) {
  const std::vector<Dims> Logits = {{kBatch, 10}, {kBatch, 2, 5}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Logits.size(); ++S) {
      Function *F = C.add("ce" + std::to_string(S));
      auto [X, Y] = addCrossEntropyResults(*F, T, Logits[S]);
      Builder B(*F);
      F->Results.push_back({"acc", B.create(OpKind::Accuracy, {X, Y})});
      F->Results.push_back(
          {"am", B.create(OpKind::ArgMax, {X}, {{"axis", int64_t(-1)}})});
      F->Results.push_back(
          {"am0", B.create(OpKind::ArgMax, {X}, {{"axis", int64_t(0)}})});
    }
    C.compile();
    for (int64_t N : BatchSizes)
      for (size_t S = 0; S < Logits.size(); ++S) {
        Dims D = concrete(ty(T, Logits[S]), N);
        int64_t Cl = D.back(), R = numel(D) / Cl;
        Vec XV = randVec(numel(D), -3, 3, T, 11), YV = randLabels(R, Cl, 12);
        XV[0] = XV[1] = 50; // A tie: argmax takes the first.
        YV[0] = 0;
        std::string Name = "ce" + std::to_string(S);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run(Name, N, {XV, YV, Vec{0.75}}, Res), 0);
        for (int L = 0; L < 2; ++L) {
          CeRef Ref = crossEntropyRef(XV, YV, R, Cl, L ? 0.1 : 0.0, 0.75);
          expectClose(Res[2 * L], {Ref.Loss}, tolFor(T) * 4,
                      label("cross_entropy", T, N));
          expectClose(Res[2 * L + 1], Ref.Grad, tolFor(T),
                      label("cross_entropy_grad", T, N));
          if (L == 0)
            expectClose(Res[4], {Ref.Acc}, tolFor(T), label("accuracy", T, N));
        }
        Vec Am(R), Am0(numel(D) / D[0]);
        for (int64_t I = 0; I < R; ++I)
          Am[I] = std::max_element(&XV[I * Cl], &XV[I * Cl] + Cl) - &XV[I * Cl];
        for (int64_t J = 0; J < int64_t(Am0.size()); ++J) {
          int64_t Best = 0;
          for (int64_t I = 1; I < D[0]; ++I)
            if (XV[I * Am0.size() + J] > XV[Best * Am0.size() + J])
              Best = I;
          Am0[J] = Best;
        }
        EXPECT_EQ(Res[5], Am) << label("argmax", T, N);
        EXPECT_EQ(Res[6], Am0) << label("argmax axis 0", T, N);
        // Labels outside [0, C) make the step return 1, reading nothing.
        for (double Bad : {-1.0, double(Cl), 1e9}) {
          Vec YB = YV;
          YB[R - 1] = Bad;
          EXPECT_EQ(C.run(Name, N, {XV, YB, Vec{1}}, Res), 1) << Bad;
        }
      }
  }
}

TEST(Codegen, CrossEntropyRowsAsLanes) {
  // Up to 8 classes, cross_entropy and its adjoint run 16 (f32) or 8 (f64)
  // rows at once as vector lanes, then the remaining rows one by one; 9
  // classes take the row loop. Against the f64 reference: batch sizes
  // around the block size, rows of large logits (the max subtracted) and of
  // -inf logits (masked classes: e^-inf = 0, no NaN), with and without
  // label smoothing, and a bad label in the last (tail) row failing.
  const std::vector<int64_t> Classes = {1, 2, 3, 8, 9};
  for (DType T : FloatTypes) {
    Compiled C;
    for (int64_t Cl : Classes)
      for (Dims D : {Dims{kBatch, Cl}, Dims{kBatch, 3, Cl}}) {
        Function *F =
            C.add("ce" + std::to_string(Cl) + "_" + std::to_string(D.size()));
        addCrossEntropyResults(*F, T, D);
      }
    C.compile();
    for (int64_t Cl : Classes)
      for (size_t Rank : {2, 3})
        for (int64_t N : {1, 7, 15, 16, 17, 33, 40}) {
          int64_t R = N * (Rank == 3 ? 3 : 1);
          std::string Name =
              "ce" + std::to_string(Cl) + "_" + std::to_string(Rank);
          Vec XV = randVec(R * Cl, -3, 3, T, 31), YV = randLabels(R, Cl, 32);
          double Big = T == DType::F32 ? 80 : 700;
          for (int64_t J = 0; J < Cl; ++J) {
            XV[J] += Big; // e^x alone would overflow
            if (R > 1 && J != int64_t(YV[1]))
              XV[Cl + J] = -INFINITY;
          }
          std::string What = std::string(dtypeName(T)) +
                             " C=" + std::to_string(Cl) +
                             " rows=" + std::to_string(R);
          std::vector<Vec> Res;
          ASSERT_EQ(C.run(Name, N, {XV, YV, Vec{0.5}}, Res), 0) << What;
          for (int L = 0; L < 2; ++L) {
            CeRef Ref = crossEntropyRef(XV, YV, R, Cl, L ? 0.1 : 0.0, 0.5);
            // With smoothing, a -inf logit makes the loss +inf.
            expectClose(Res[2 * L], {Ref.Loss}, tolFor(T) * 4, "loss " + What);
            expectClose(Res[2 * L + 1], Ref.Grad, tolFor(T), "grad " + What);
          }
          Vec YB = YV;
          YB[R - 1] = double(Cl);
          EXPECT_EQ(C.run(Name, N, {XV, YB, Vec{1}}, Res), 1) << What;
          YB[R - 1] = -1;
          EXPECT_EQ(C.run(Name, N, {XV, YB, Vec{1}}, Res), 1) << What;
        }
  }
}

TEST(Codegen, InvalidLabelsInEachKernel) {
  // Each validating kernel on its own returns 1.
  for (OpKind K :
       {OpKind::CrossEntropy, OpKind::CrossEntropyGrad, OpKind::Accuracy}) {
    Compiled C;
    Function *F = C.add("f");
    Builder B(*F);
    Value *X = F->addArg("x", ty(DType::F32, {kBatch, 4}), ArgRole::Input);
    Value *Y = F->addArg("y", ty(DType::I32, {kBatch}), ArgRole::Input);
    Value *Dy = F->addArg("dy", ty(DType::F32, {}), ArgRole::Input);
    std::vector<Value *> Ops = {X, Y};
    if (K == OpKind::CrossEntropyGrad)
      Ops.insert(Ops.begin(), Dy);
    Value *V = B.create(K, Ops);
    F->Results.push_back({"r", B.create(OpKind::Neg, {V})}); // via scratch
    C.compile();
    std::vector<Vec> Res;
    EXPECT_EQ(C.run("f", 3, {Vec(12, 0.5), Vec{0, 3, 2}, Vec{1}}, Res), 0);
    EXPECT_EQ(C.run("f", 3, {Vec(12, 0.5), Vec{0, 4, 2}, Vec{1}}, Res), 1);
    EXPECT_EQ(C.run("f", 3, {Vec(12, 0.5), Vec{-5, 1, 2}, Vec{1}}, Res), 1);
  }
}

TEST(Codegen, MlpForwardAndLoss) {
  // relu(x @ w1 + b1) @ w2 + b2 -> cross_entropy: intermediates in scratch.
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("mlp");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 20}), ArgRole::Input);
    Value *Y = F->addArg("y", ty(DType::I32, {kBatch}), ArgRole::Input);
    Value *W1 = F->addArg("w1", ty(T, {20, 16}), ArgRole::Param);
    Value *B1 = F->addArg("b1", ty(T, {16}), ArgRole::Param);
    Value *W2 = F->addArg("w2", ty(T, {16, 4}), ArgRole::Param);
    Value *B2 = F->addArg("b2", ty(T, {4}), ArgRole::Param);
    Value *H = B.create(
        OpKind::Relu,
        {B.create(OpKind::Add, {B.create(OpKind::MatMul, {X, W1}), B1})});
    Value *L = B.create(OpKind::Add, {B.create(OpKind::MatMul, {H, W2}), B2});
    F->Results.push_back({"loss", B.create(OpKind::CrossEntropy, {L, Y})});
    F->Results.push_back({"logits", L});
    C.compile();
    for (int64_t N : BatchSizes) {
      Vec XV = randVec(20 * N, -1, 1, T, 18), YV = randLabels(N, 4, 19);
      Vec W1V = randVec(320, -0.5, 0.5, T, 20),
          B1V = randVec(16, -0.1, 0.1, T, 21);
      Vec W2V = randVec(64, -0.5, 0.5, T, 22),
          B2V = randVec(4, -0.1, 0.1, T, 23);
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("mlp", N, {XV, YV, W1V, B1V, W2V, B2V}, Res), 0);
      Vec HV = matmulRef(XV, W1V, N, 20, 16);
      for (int64_t I = 0; I < 16 * N; ++I)
        HV[I] = std::max(HV[I] + B1V[I % 16], 0.0);
      Vec LV = matmulRef(HV, W2V, N, 16, 4);
      for (int64_t I = 0; I < 4 * N; ++I)
        LV[I] += B2V[I % 4];
      expectClose(Res[1], LV, tolFor(T) * 10, label("logits", T, N));
      expectClose(Res[0], {crossEntropyRef(LV, YV, N, 4, 0, 1).Loss},
                  tolFor(T) * 10, label("loss", T, N));
    }
  }
}

TEST(Codegen, OptLevelsAgree) {
  for (int Opt : {0, 1, 3}) {
    Compiled C;
    Function *F = C.add("f");
    Builder B(*F);
    Value *X = F->addArg("x", ty(DType::F32, {kBatch, 9}), ArgRole::Input);
    Value *S = B.create(OpKind::Softmax, {B.create(OpKind::Tanh, {X})},
                        {{"axis", int64_t(1)}});
    F->Results.push_back(
        {"s", B.create(OpKind::ReduceSum, {S}, axesAttr({0}))});
    C.compile(Opt);
    Vec XV = randVec(9 * 5, -2, 2, DType::F32, 24);
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("f", 5, {XV}, Res), 0);
    Vec T(XV.size());
    for (size_t I = 0; I < XV.size(); ++I)
      T[I] = std::tanh(XV[I]);
    Vec Sm = softmaxRef(OpKind::Softmax, {5, 9}, 1, T, T), Want(9, 0);
    for (size_t I = 0; I < Sm.size(); ++I)
      Want[I % 9] += Sm[I];
    expectClose(Res[0], Want, 1e-5, "O" + std::to_string(Opt));
  }
}

} // namespace
