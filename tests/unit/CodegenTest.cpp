//===- CodegenTest.cpp - Generated kernels against C++ references ---------===//
///
/// Builds small IR functions by hand, lowers them to LLVM, JIT-compiles them
/// and runs them on random data for several batch sizes (1, 5, 64) without
/// recompiling, comparing every op of Ops.def with a plain double-precision
/// C++ reference: in f32 to ~1e-5 relative, in f64 to ~1e-12. Also checks
/// the step-function ABI (results that are arguments or repeated, reshape
/// aliases, invalid labels returning 1) and the target plumbing.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "ir/IR.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>

using namespace adj;

namespace {

using Vec = std::vector<double>;
using Dims = std::vector<int64_t>;
using StepFn = int32_t (*)(int64_t, void *const *, void *const *);

const DType FloatTypes[] = {DType::F32, DType::F64};
const int64_t BatchSizes[] = {1, 5, 64};

TensorType ty(DType T, Dims D) { return TensorType(T, std::move(D)); }
Attrs axesAttr(Dims A) { return {{"axes", Attr(std::move(A))}}; }

Dims concrete(const TensorType &T, int64_t N) {
  Dims D = T.Dims;
  for (int64_t &X : D)
    X = X == kBatch ? N : X;
  return D;
}

int64_t numel(const Dims &D) {
  int64_t E = 1;
  for (int64_t X : D)
    E *= X;
  return E;
}

/// Calls F(index, linear) for every multi-index of \p D in row-major order.
void forIndex(const Dims &D,
              const std::function<void(const Dims &, int64_t)> &F) {
  Dims I(D.size(), 0);
  for (int64_t L = 0, E = numel(D); L < E; ++L) {
    F(I, L);
    for (size_t K = D.size(); K-- > 0;)
      if (++I[K] < D[K])
        break;
      else
        I[K] = 0;
  }
}

/// The linear index in \p Src (NumPy-broadcast to \p I's rank) of index I.
int64_t bcastIndex(const Dims &Src, const Dims &I) {
  int64_t L = 0;
  size_t Off = I.size() - Src.size();
  for (size_t K = 0; K < Src.size(); ++K)
    L = L * Src[K] + (Src[K] == 1 ? 0 : I[Off + K]);
  return L;
}

double roundTo(DType T, double V) {
  return T == DType::F32 ? double(float(V)) : V;
}

Vec randVec(int64_t Size, double Lo, double Hi, DType T, unsigned Seed) {
  std::mt19937 R(Seed);
  std::uniform_real_distribution<double> U(Lo, Hi);
  Vec V(Size);
  for (double &X : V)
    X = roundTo(T, U(R));
  return V;
}

Vec randLabels(int64_t Size, int64_t C, unsigned Seed) {
  std::mt19937 R(Seed);
  Vec V(Size);
  for (double &X : V)
    X = double(R() % C);
  return V;
}

/// A module under test, compiled by its own JIT.
struct Compiled {
  Module M;
  std::unique_ptr<JIT> J;

  Function *add(const std::string &Name) { return M.addFunction(Name); }

  void compile(int Opt = 2) {
    auto Ctx = std::make_unique<llvm::LLVMContext>();
    auto LM = lowerToLLVM(M, *Ctx);
    if (!LM)
      throw std::runtime_error(toString(LM.takeError()));
    auto JE = JIT::create(Opt);
    if (!JE)
      throw std::runtime_error(toString(JE.takeError()));
    J = std::move(*JE);
    if (llvm::Error E = J->addModule(std::move(*LM), std::move(Ctx)))
      throw std::runtime_error(toString(std::move(E)));
  }

  /// Runs \p Name with batch size \p N on \p Args (any dtype, as doubles);
  /// fills \p Results and returns the status.
  int run(const std::string &Name, int64_t N, const std::vector<Vec> &Args,
          std::vector<Vec> &Results) {
    const Function &F = *M.function(Name);
    auto Addr = J->lookup(Name);
    if (!Addr)
      throw std::runtime_error(toString(Addr.takeError()));
    std::vector<std::vector<char>> ArgBufs, ResBufs;
    std::vector<void *> ArgPtrs, ResPtrs;
    for (size_t I = 0; I < F.Args.size(); ++I) {
      const TensorType &T = F.Args[I]->type();
      int64_t E = numel(concrete(T, N));
      EXPECT_EQ(int64_t(Args.at(I).size()), E) << "argument " << I;
      ArgBufs.emplace_back(E * dtypeBytes(T.Elt) + 1);
      for (int64_t K = 0; K < E; ++K)
        store(T.Elt, ArgBufs.back().data(), K, Args[I][K]);
      ArgPtrs.push_back(ArgBufs.back().data());
    }
    for (const Result &R : F.Results) {
      const TensorType &T = R.V->type();
      ResBufs.emplace_back(numel(concrete(T, N)) * dtypeBytes(T.Elt) + 1, 0x7f);
      ResPtrs.push_back(ResBufs.back().data());
    }
    int RC = reinterpret_cast<StepFn>(*Addr)(N, ArgPtrs.data(), ResPtrs.data());
    Results.clear();
    for (size_t I = 0; I < F.Results.size(); ++I) {
      const TensorType &T = F.Results[I].V->type();
      Vec V(numel(concrete(T, N)));
      for (size_t K = 0; K < V.size(); ++K)
        V[K] = load(T.Elt, ResBufs[I].data(), K);
      Results.push_back(std::move(V));
    }
    return RC;
  }

  static void store(DType T, char *P, int64_t K, double V) {
    if (T == DType::F32) {
      float X = V;
      std::memcpy(P + 4 * K, &X, 4);
    } else if (T == DType::F64) {
      std::memcpy(P + 8 * K, &V, 8);
    } else {
      int32_t X = int32_t(V);
      std::memcpy(P + 4 * K, &X, 4);
    }
  }
  static double load(DType T, const char *P, int64_t K) {
    if (T == DType::F32) {
      float X;
      std::memcpy(&X, P + 4 * K, 4);
      return X;
    }
    if (T == DType::F64) {
      double X;
      std::memcpy(&X, P + 8 * K, 8);
      return X;
    }
    int32_t X;
    std::memcpy(&X, P + 4 * K, 4);
    return X;
  }
};

double tolFor(DType T) { return T == DType::F32 ? 1e-5 : 1e-12; }

void expectClose(const Vec &Got, const Vec &Want, double Tol,
                 const std::string &What) {
  ASSERT_EQ(Got.size(), Want.size()) << What;
  for (size_t I = 0; I < Got.size(); ++I) {
    if (Got[I] == Want[I] || (std::isnan(Got[I]) && std::isnan(Want[I])))
      continue;
    ASSERT_LE(std::abs(Got[I] - Want[I]), Tol * (1 + std::abs(Want[I])))
        << What << " at " << I << ": got " << Got[I] << ", want " << Want[I];
  }
}

std::string label(const std::string &What, DType T, int64_t N) {
  return What + " (" + dtypeName(T) + ", n=" + std::to_string(N) + ")";
}

//===----------------------------------------------------------------------===//
// Unary ops and their adjoints.
//===----------------------------------------------------------------------===//

double sigmoidRef(double X) { return 1 / (1 + std::exp(-X)); }
double phiRef(double X) { return std::exp(-X * X / 2) / std::sqrt(2 * M_PI); }

struct UnaryRef {
  OpKind Kind;
  bool Positive; ///< Domain x > 0.
  std::function<double(double)> F, D;
};

const double Alpha = 0.2;

std::vector<UnaryRef> unaryRefs() {
  auto S = sigmoidRef;
  return {
      {OpKind::Neg, false, [](double X) { return -X; },
       [](double) { return -1.0; }},
      {OpKind::Exp, false, [](double X) { return std::exp(X); },
       [](double X) { return std::exp(X); }},
      {OpKind::Log, true, [](double X) { return std::log(X); },
       [](double X) { return 1 / X; }},
      {OpKind::Sqrt, true, [](double X) { return std::sqrt(X); },
       [](double X) { return 0.5 / std::sqrt(X); }},
      {OpKind::Rsqrt, true, [](double X) { return 1 / std::sqrt(X); },
       [](double X) { return -0.5 * std::pow(X, -1.5); }},
      {OpKind::Abs, false, [](double X) { return std::abs(X); },
       [](double X) { return X > 0   ? 1.0
                             : X < 0 ? -1.0
                                     : 0.0; }},
      {OpKind::Sin, false, [](double X) { return std::sin(X); },
       [](double X) { return std::cos(X); }},
      {OpKind::Cos, false, [](double X) { return std::cos(X); },
       [](double X) { return -std::sin(X); }},
      {OpKind::Tanh, false, [](double X) { return std::tanh(X); },
       [](double X) { return 1 - std::tanh(X) * std::tanh(X); }},
      {OpKind::Sigmoid, false, S, [=](double X) { return S(X) * (1 - S(X)); }},
      {OpKind::Relu, false, [](double X) { return X > 0 ? X : 0.0; },
       [](double X) { return X > 0 ? 1.0 : 0.0; }},
      {OpKind::LeakyRelu, false, [](double X) { return X > 0 ? X : Alpha * X; },
       [](double X) { return X > 0 ? 1.0 : Alpha; }},
      {OpKind::Elu, false,
       [](double X) { return X > 0 ? X : Alpha * std::expm1(X); },
       [](double X) { return X > 0 ? 1.0 : Alpha * std::exp(X); }},
      {OpKind::Gelu, false,
       [](double X) { return 0.5 * X * (1 + std::erf(X / std::sqrt(2.0))); },
       [](double X) {
         return 0.5 * (1 + std::erf(X / std::sqrt(2.0))) + X * phiRef(X);
       }},
      {OpKind::Softplus, false,
       [](double X) {
         return std::max(X, 0.0) + std::log1p(std::exp(-std::abs(X)));
       },
       S},
      {OpKind::Swish, false, [=](double X) { return X * S(X); },
       [=](double X) { return S(X) + X * S(X) * (1 - S(X)); }},
  };
}

TEST(Codegen, UnaryOpsAndGradients) {
  std::vector<UnaryRef> Refs = unaryRefs();
  // Every unary op of the table has a reference here.
  unsigned NumUnary = 0;
  for (unsigned K = 0; K < unsigned(OpKind::NumOps); ++K)
    NumUnary += hasProp(OpKind(K), props::Unary);
  ASSERT_EQ(NumUnary, Refs.size());

  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("unary");
    Builder B(*F);
    Value *X = F->addArg("x", ty(T, {kBatch, 7}), ArgRole::Input);
    Value *XP = F->addArg("xp", ty(T, {kBatch, 7}), ArgRole::Input);
    Value *DY = F->addArg("dy", ty(T, {kBatch, 7}), ArgRole::Input);
    for (const UnaryRef &R : Refs) {
      Attrs A;
      if (R.Kind == OpKind::LeakyRelu || R.Kind == OpKind::Elu)
        A["alpha"] = Alpha;
      Value *In = R.Positive ? XP : X;
      F->Results.push_back({"f", B.create(R.Kind, {In}, A)});
      F->Results.push_back({"df", B.create(*unaryGradOf(R.Kind), {DY, In}, A)});
    }
    C.compile();
    for (int64_t N : BatchSizes) {
      Vec XV = randVec(7 * N, -3, 3, T, 1), XPV = randVec(7 * N, 0.05, 4, T, 2);
      Vec DYV = randVec(7 * N, -2, 2, T, 3);
      const double Specials[] = {0, 1e-3, 30, -30, 1000, -1000};
      for (size_t I = 0; I < 6; ++I)
        XV[I] = Specials[I];
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("unary", N, {XV, XPV, DYV}, Res), 0);
      for (size_t K = 0; K < Refs.size(); ++K) {
        const UnaryRef &R = Refs[K];
        const Vec &In = R.Positive ? XPV : XV;
        Vec WantF(In.size()), WantD(In.size());
        for (size_t I = 0; I < In.size(); ++I) {
          WantF[I] = R.F(In[I]);
          WantD[I] = DYV[I] * R.D(In[I]);
        }
        std::string Name = opInfo(R.Kind).Mnemonic;
        expectClose(Res[2 * K], WantF, tolFor(T), label(Name, T, N));
        expectClose(Res[2 * K + 1], WantD, tolFor(T),
                    label(Name + "_grad", T, N));
      }
    }
  }
}

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
  default:
    return NAN;
  }
}

TEST(Codegen, BinaryOpsBroadcast) {
  std::vector<OpKind> Kinds;
  for (unsigned K = 0; K < unsigned(OpKind::NumOps); ++K)
    if (hasProp(OpKind(K), props::Binary))
      Kinds.push_back(OpKind(K));
  ASSERT_EQ(Kinds.size(), 9u);
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
// Fills, counts, shape ops.
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
    Out.Loss += M + std::log(S) - (1 - Ls) * Row[Lab] - Ls * Sum / Cl;
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

TEST(Codegen, CrossEntropyAccuracyArgMax) {
  const std::vector<Dims> Logits = {{kBatch, 10}, {kBatch, 2, 5}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Logits.size(); ++S) {
      Function *F = C.add("ce" + std::to_string(S));
      Builder B(*F);
      Dims LabDims(Logits[S].begin(), Logits[S].end() - 1);
      Value *X = F->addArg("x", ty(T, Logits[S]), ArgRole::Input);
      Value *Y = F->addArg("y", ty(DType::I32, LabDims), ArgRole::Input);
      Value *Dy = F->addArg("dy", ty(T, {}), ArgRole::Input);
      for (double Ls : {0.0, 0.1}) {
        Attrs A = {{"label_smoothing", Ls}};
        F->Results.push_back(
            {"loss", B.create(OpKind::CrossEntropy, {X, Y}, A)});
        F->Results.push_back(
            {"grad", B.create(OpKind::CrossEntropyGrad, {Dy, X, Y}, A)});
      }
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

//===----------------------------------------------------------------------===//
// Matrix multiplication.
//===----------------------------------------------------------------------===//

Vec matmulRef(const Vec &A, const Vec &B, int64_t M, int64_t K, int64_t N) {
  Vec C(M * N, 0);
  for (int64_t I = 0; I < M; ++I)
    for (int64_t P = 0; P < K; ++P)
      for (int64_t J = 0; J < N; ++J)
        C[I * N + J] += A[I * K + P] * B[P * N + J];
  return C;
}

TEST(Codegen, MatMulShapes) {
  // (A dims, B dims): static odd sizes, batch rows, batch inner dim, batch
  // columns, and sizes straddling the register tiles.
  const std::vector<std::pair<Dims, Dims>> Cases = {
      {{7, 13}, {13, 5}},          {{kBatch, 13}, {13, 5}},
      {{13, kBatch}, {kBatch, 5}}, {{5, 13}, {13, kBatch}},
      {{kBatch, 40}, {40, 37}},    {{kBatch, 3}, {3, 70}}};
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Cases.size(); ++S) {
      Function *F = C.add("mm" + std::to_string(S));
      Builder B(*F);
      Value *A = F->addArg("a", ty(T, Cases[S].first), ArgRole::Input);
      Value *Bm = F->addArg("b", ty(T, Cases[S].second), ArgRole::Param);
      F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm})});
    }
    C.compile();
    for (int64_t N : {1, 5, 13, 64})
      for (size_t S = 0; S < Cases.size(); ++S) {
        Dims DA = concrete(ty(T, Cases[S].first), N),
             DB = concrete(ty(T, Cases[S].second), N);
        Vec AV = randVec(numel(DA), -1, 1, T, 13),
            BV = randVec(numel(DB), -1, 1, T, 14);
        std::vector<Vec> Res;
        ASSERT_EQ(C.run("mm" + std::to_string(S), N, {AV, BV}, Res), 0);
        expectClose(Res[0], matmulRef(AV, BV, DA[0], DA[1], DB[1]),
                    tolFor(T) * 10, label("matmul " + std::to_string(S), T, N));
      }
  }
}

TEST(Codegen, MatMulMnistSize) {
  Compiled C;
  Function *F = C.add("mm");
  Builder B(*F);
  Value *A = F->addArg("a", ty(DType::F32, {kBatch, 784}), ArgRole::Input);
  Value *W = F->addArg("w", ty(DType::F32, {784, 256}), ArgRole::Param);
  F->Results.push_back({"c", B.create(OpKind::MatMul, {A, W})});
  C.compile();
  Vec AV = randVec(64 * 784, 0, 1, DType::F32, 15);
  Vec WV = randVec(784 * 256, -0.1, 0.1, DType::F32, 16);
  std::vector<Vec> Res;
  ASSERT_EQ(C.run("mm", 64, {AV, WV}, Res), 0);
  Vec Want = matmulRef(AV, WV, 64, 784, 256);
  for (size_t I = 0; I < Want.size(); ++I) {
    // Error bound of an f32 dot product of 784 terms, relative to sum |ab|.
    double Mag = 0;
    for (int64_t P = 0; P < 784; ++P)
      Mag += std::abs(AV[I / 256 * 784 + P] * WV[P * 256 + I % 256]);
    ASSERT_LE(std::abs(Res[0][I] - Want[I]), 1e-5 * Mag) << I;
  }
}

//===----------------------------------------------------------------------===//
// The step function ABI and the target plumbing.
//===----------------------------------------------------------------------===//

TEST(Codegen, ResultsThatAreArgumentsOrRepeated) {
  Compiled C;
  Function *F = C.add("abi");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *W = F->addArg("w", ty(DType::F64, {2}), ArgRole::Param);
  Value *E = B.create(OpKind::Exp, {X});
  F->Results.push_back({"w", W});
  F->Results.push_back({"e", E});
  F->Results.push_back({"e2", E});
  F->Results.push_back({"x", X});
  F->Results.push_back({"s", B.create(OpKind::ReduceSum, {E})});
  // Two static-size intermediates get distinct scratch slices.
  Value *W1 = B.create(OpKind::Exp, {W});
  Value *W2 = B.create(OpKind::Neg, {W1});
  F->Results.push_back({"ww", B.create(OpKind::Mul, {W1, W2})});
  C.compile();
  for (int64_t N : BatchSizes) {
    Vec XV = randVec(3 * N, -1, 1, DType::F32, 17), WV = {1.5, -2.25};
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("abi", N, {XV, WV}, Res), 0);
    Vec EV(XV.size());
    double Sum = 0;
    for (size_t I = 0; I < XV.size(); ++I)
      Sum += EV[I] = std::exp(XV[I]);
    EXPECT_EQ(Res[0], WV);
    expectClose(Res[1], EV, 1e-6, "e");
    EXPECT_EQ(Res[2], Res[1]);
    EXPECT_EQ(Res[3], XV);
    expectClose(Res[4], {Sum}, 1e-5, "sum");
    expectClose(Res[5], {-std::exp(3.0), -std::exp(-4.5)}, 1e-12, "ww");
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

TEST(Codegen, HostTargetIsDetected) {
  HostTarget H = detectHostTarget();
  EXPECT_FALSE(H.Triple.empty());
  EXPECT_FALSE(H.CPU.empty());
  EXPECT_FALSE(H.Features.empty());
  auto TM = createHostTargetMachine(2);
  ASSERT_TRUE(TM);
  EXPECT_EQ(TM->getTargetCPU().str(), H.CPU);
}

TEST(Codegen, PrintAssemblyAndObject) {
  Module M;
  Function *F = M.addFunction("step");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *V = F->addArg("v", ty(DType::F32, {3}), ArgRole::Param);
  F->Results.push_back({"y", B.create(OpKind::Add, {X, V})});
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(M, Ctx);
  ASSERT_TRUE(bool(LM)) << toString(LM.takeError());
  std::string IR = printLLVM(**LM);
  EXPECT_NE(IR.find("define i32 @step(i64 %n, ptr %args, ptr %results)"),
            std::string::npos)
      << IR;
  EXPECT_NE(IR.find("define internal void @step.0.add(ptr noalias"),
            std::string::npos)
      << IR;
  EXPECT_NE(IR.find("fadd reassoc contract float"), std::string::npos) << IR;
  auto TM = createHostTargetMachine(2);
  ASSERT_TRUE(TM);
  optimizeLLVM(**LM, *TM, 2);
  auto Asm = emitAssembly(**LM, *TM);
  ASSERT_TRUE(bool(Asm)) << toString(Asm.takeError());
  EXPECT_NE(Asm->find("step:"), std::string::npos);
  std::string Path = ::testing::TempDir() + "adj_codegen_test.o";
  ASSERT_FALSE(bool(emitObjectFile(**LM, *TM, Path)));
  FILE *Obj = std::fopen(Path.c_str(), "rb");
  ASSERT_TRUE(Obj);
  char Magic[4] = {};
  EXPECT_EQ(std::fread(Magic, 1, 4, Obj), 4u);
  std::fclose(Obj);
  std::remove(Path.c_str());
  EXPECT_EQ(std::string(Magic + 1, 3), "ELF");
}

TEST(Codegen, UnsupportedTypesAreErrors) {
  Module M;
  Function *F = M.addFunction("bad");
  Builder B(*F);
  Value *X = F->addArg("x", ty(DType::I32, {3}), ArgRole::Input);
  F->Results.push_back(
      {"y", B.createExplicit(OpKind::Exp, {X}, {}, ty(DType::I32, {3}))});
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(M, Ctx);
  ASSERT_FALSE(bool(LM));
  EXPECT_NE(toString(LM.takeError()).find("cannot lower 'exp'"),
            std::string::npos);
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
