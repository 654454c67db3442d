//===- DropoutTest.cpp - Philox, the dropout kernel and PyTorch's formula -===//
///
/// - Philox-4x32-10 against Random123's known-answer vectors, through the
///   scalar reference (ir/Philox.h) and through codegen's emitPhilox
///   JIT-compiled on vectors and on scalars; the dropout kernel reproduces
///   the first vector's words at the exact keep/drop boundary of p.
/// - The JIT-compiled dropout op equals the scalar reference bit for bit
///   (f32 and f64, batch sizes, partial chunks, several p, seeds, steps and
///   ids), and its gradient rule applies the same mask and scale to dy.
/// - Statistics over 2^20 elements: the kept fraction is within 5 sigma of
///   1 - p in total and per word of the block, the mean is preserved, other
///   seeds, steps and ids give independent masks, the same key the same
///   mask, and 1, 2 and 3 threads give identical results.
/// - tests/fixtures/dropout.json (scripts/torch_fixtures.py): with
///   PyTorch's mask, Adjoint's formula gives F.dropout's output and
///   gradient bit for bit, and where both masks keep an element the kernel's
///   value is PyTorch's.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"
#include "codegen/Kernel.h"
#include "ir/Philox.h"
#include "passes/GradRules.h"
#include "runtime/adjoint_rt.h"

#include "Fixtures.h"
#include <fstream>
#include <nlohmann/json.hpp>

using namespace adj;
using namespace adj::cgtest;

namespace {

using philox::Block;
using philox::Key;

/// Random123's kat_vectors for philox4x32_10: counter, key, result.
struct Kat {
  Block Ctr;
  Key K;
  Block Want;
};
const Kat Kats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(Philox, KnownAnswerVectors) {
  for (const Kat &V : Kats)
    EXPECT_EQ(philox::philox4x32(V.Ctr, V.K), V.Want);
}

/// JIT-compiles `void kat(ptr in, ptr out)`: emitPhilox on <Lanes x i32>
/// (or i32 for 1 lane) of in[0..6) (c0..c3, k0, k1, Lanes words each),
/// storing the four result words to out.
using KatFn = void (*)(const uint32_t *, uint32_t *);
KatFn compileKat(std::unique_ptr<JIT> &J, unsigned Lanes) {
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  auto M = std::make_unique<llvm::Module>("kat", *Ctx);
  llvm::IRBuilder<> B(*Ctx);
  auto *F = llvm::Function::Create(
      llvm::FunctionType::get(B.getVoidTy(), {B.getPtrTy(), B.getPtrTy()},
                              false),
      llvm::GlobalValue::ExternalLinkage, "kat", *M);
  B.SetInsertPoint(llvm::BasicBlock::Create(*Ctx, "entry", F));
  llvm::Type *T = B.getInt32Ty();
  if (Lanes > 1)
    T = llvm::FixedVectorType::get(T, Lanes);
  auto At = [&](llvm::Value *P, unsigned I) {
    return B.CreateConstInBoundsGEP1_64(B.getInt32Ty(), P, I * Lanes);
  };
  std::array<llvm::Value *, 6> In;
  for (unsigned I = 0; I < 6; ++I)
    In[I] = B.CreateAlignedLoad(T, At(F->getArg(0), I), llvm::Align(4));
  std::array<llvm::Value *, 4> Out =
      cg::emitPhilox(B, {In[0], In[1], In[2], In[3]}, In[4], In[5]);
  for (unsigned I = 0; I < 4; ++I)
    B.CreateAlignedStore(Out[I], At(F->getArg(1), I), llvm::Align(4));
  B.CreateRetVoid();
  auto JE = JIT::create(2);
  if (!JE)
    throw std::runtime_error(toString(JE.takeError()));
  J = std::move(*JE);
  if (llvm::Error E = J->addModule(std::move(M), std::move(Ctx)))
    throw std::runtime_error(toString(std::move(E)));
  auto Addr = J->lookup("kat");
  if (!Addr)
    throw std::runtime_error(toString(Addr.takeError()));
  return reinterpret_cast<KatFn>(*Addr);
}

TEST(Philox, JITMatchesKnownAnswers) {
  // Vectors: lane L holds vector L % 3 (and random counters and keys in a
  // fourth lane, against the scalar reference).
  for (unsigned Lanes : {1u, 4u, 16u}) {
    std::unique_ptr<JIT> J;
    KatFn Fn = compileKat(J, Lanes);
    std::mt19937 Rng(Lanes);
    auto R = [&] { return uint32_t(Rng()); };
    std::vector<Block> Ctrs(Lanes);
    std::vector<Key> Keys(Lanes);
    std::vector<uint32_t> In(6 * Lanes), Out(4 * Lanes);
    for (unsigned L = 0; L < Lanes; ++L) {
      Ctrs[L] = Kats[L % 3].Ctr;
      Keys[L] = Kats[L % 3].K;
      if (L % 4 == 3) {
        Ctrs[L] = {R(), R(), R(), R()};
        Keys[L] = {R(), R()};
      }
      for (unsigned W = 0; W < 4; ++W)
        In[W * Lanes + L] = Ctrs[L][W];
      In[4 * Lanes + L] = Keys[L][0];
      In[5 * Lanes + L] = Keys[L][1];
    }
    Fn(In.data(), Out.data());
    for (unsigned L = 0; L < Lanes; ++L) {
      Block Got{Out[L], Out[Lanes + L], Out[2 * Lanes + L], Out[3 * Lanes + L]};
      Block Want =
          L % 4 == 3 ? philox::philox4x32(Ctrs[L], Keys[L]) : Kats[L % 3].Want;
      EXPECT_EQ(Got, Want) << Lanes << " lanes, lane " << L;
    }
  }
}

Attrs dropAttrs(double P, int64_t Id) { return {{"p", P}, {"id", Id}}; }

/// A function `Name`(x: \p X, seed: i32[], step: T[]) returning one
/// dropout of x per (p, id) of \p Ops.
Function *buildDropouts(Compiled &C, const std::string &Name,
                        const TensorType &X,
                        const std::vector<std::pair<double, int64_t>> &Ops) {
  Function *F = C.add(Name);
  Value *XV = F->addArg("x", X, ArgRole::Input);
  Value *Seed = F->addArg("seed", TensorType(DType::I32, {}), ArgRole::Hyper);
  Value *Step = F->addArg("step", TensorType(X.Elt, {}), ArgRole::Hyper);
  Builder B(*F);
  for (size_t I = 0; I < Ops.size(); ++I)
    F->Results.push_back({"y" + std::to_string(I),
                          B.create(OpKind::Dropout, {XV, Seed, Step},
                                   dropAttrs(Ops[I].first, Ops[I].second))});
  return F;
}

/// The multiplier of element \p I: 1 / (1 - p) in \p T where kept, else 0.
double multiplier(DType T, int32_t Seed, double Step, int64_t Id, double P,
                  uint64_t I) {
  if (!philox::dropoutKeep(uint32_t(Seed), uint32_t(Id), philox::stepWord(Step),
                           I, P))
    return 0;
  return T == DType::F32 ? philox::dropoutScale<float>(P)
                         : philox::dropoutScale<double>(P);
}

/// x * m in \p T.
double times(DType T, double X, double M) {
  return T == DType::F32 ? double(float(X) * float(M)) : X * M;
}

TEST(Dropout, KernelReproducesTheFirstKnownAnswerAtTheBoundary) {
  // seed 0, id 0, step 0: elements 0..3 are the words of the all-zero
  // vector. With u = word >> 8, p = u 2^-24 keeps element i and
  // p = (u + 1) 2^-24 drops it.
  std::vector<std::pair<double, int64_t>> Ops;
  for (uint32_t W : Kats[0].Want) {
    double U = W >> 8;
    Ops.push_back({U / 16777216.0, 0});
    Ops.push_back({(U + 1) / 16777216.0, 0});
  }
  Compiled C;
  buildDropouts(C, "kat", ty(DType::F64, {4}), Ops);
  C.compile();
  std::vector<Vec> Res;
  ASSERT_EQ(C.run("kat", 1, {{1, 1, 1, 1}, {0}, {0}}, Res), 0);
  for (unsigned I = 0; I < 4; ++I) {
    EXPECT_NE(Res[2 * I][I], 0) << "element " << I << " dropped at p = u/2^24";
    EXPECT_EQ(Res[2 * I + 1][I], 0)
        << "element " << I << " kept at p = (u+1)/2^24";
  }
}

TEST(Dropout, KernelMatchesTheReference) {
  const std::vector<std::pair<double, int64_t>> Ops = {
      {0.0, 0}, {0.25, 0}, {0.5, 1}, {0.9, 5}, {1.0 / 3, 2}};
  for (DType T : FloatTypes) {
    for (Dims D : {Dims{kBatch, 37}, Dims{kBatch, 1001}, Dims{3, kBatch, 5}}) {
      Compiled C;
      TensorType X = ty(T, D);
      buildDropouts(C, "f", X, Ops);
      C.compile();
      for (int64_t N : BatchSizes) {
        for (auto [Seed, Step] : {std::pair<int32_t, double>{12345, 1},
                                  {-7, 3.7},
                                  {2147483647, 100000}}) {
          Vec XV = randVec(numel(concrete(X, N)), -2, 2, T, unsigned(N));
          std::vector<Vec> Res;
          ASSERT_EQ(C.run("f", N, {XV, {double(Seed)}, {Step}}, Res), 0);
          for (size_t K = 0; K < Ops.size(); ++K)
            for (size_t I = 0; I < XV.size(); ++I) {
              double M =
                  multiplier(T, Seed, Step, Ops[K].second, Ops[K].first, I);
              ASSERT_EQ(Res[K][I], times(T, XV[I], M))
                  << label("dropout", T, N) << " p " << Ops[K].first << " seed "
                  << Seed << " step " << Step << " at " << I;
            }
        }
      }
    }
  }
}

TEST(Dropout, GradientAppliesTheSameMaskToDy) {
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("g");
    TensorType XT = ty(T, {kBatch, 7, 3});
    Value *X = F->addArg("x", XT, ArgRole::Input);
    Value *Seed = F->addArg("seed", TensorType(DType::I32, {}), ArgRole::Hyper);
    Value *Step = F->addArg("step", TensorType(T, {}), ArgRole::Hyper);
    Value *DY = F->addArg("dy", XT, ArgRole::Input);
    Builder B(*F);
    Value *Y = B.create(OpKind::Dropout, {X, Seed, Step}, dropAttrs(0.4, 3));
    GradContext G{
        B, *Y->Def, DY, {true, false, false}, {nullptr, nullptr, nullptr}};
    gradRule(OpKind::Dropout)(G);
    ASSERT_TRUE(G.Grads[0] && !G.Grads[1] && !G.Grads[2]);
    F->Results = {{"y", Y}, {"dx", G.Grads[0]}};
    C.compile();
    int64_t N = 5;
    Vec XV = randVec(N * 21, 0.5, 2, T, 1), DYV = randVec(N * 21, -1, 1, T, 2);
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("g", N, {XV, {99}, {42}, DYV}, Res), 0);
    size_t Kept = 0;
    for (size_t I = 0; I < XV.size(); ++I) {
      double M = multiplier(T, 99, 42, 3, 0.4, I);
      EXPECT_EQ(Res[1][I], times(T, DYV[I], M)) << I;
      EXPECT_EQ(Res[0][I] != 0, Res[1][I] != 0) << I;
      Kept += M != 0;
    }
    EXPECT_GT(Kept, 0u);
    EXPECT_LT(Kept, XV.size());
  }
}

struct DropoutStats : ::testing::Test {
  void TearDown() override { adj_rt_set_threads(0); }
};

/// Fraction of elements where the masks of \p A and \p B agree.
double agreement(const Vec &A, const Vec &B) {
  size_t Same = 0;
  for (size_t I = 0; I < A.size(); ++I)
    Same += (A[I] != 0) == (B[I] != 0);
  return double(Same) / A.size();
}

TEST_F(DropoutStats, MasksAreUnbiasedIndependentAndThreadCountFree) {
  constexpr double P = 0.3;
  constexpr int64_t E = int64_t(1) << 20;
  Compiled C;
  // id 0 and id 1 of the same x, seed and step.
  buildDropouts(C, "f", ty(DType::F32, {kBatch, 1024}), {{P, 0}, {P, 1}});
  C.compile();
  Vec X = randVec(E, 0.5, 1.5, DType::F32, 7);
  auto Run = [&](int32_t Seed, double Step) {
    std::vector<Vec> Res;
    EXPECT_EQ(C.run("f", E / 1024, {X, {double(Seed)}, {Step}}, Res), 0);
    return Res;
  };
  std::vector<Vec> Base = Run(1234, 10);
  const Vec &Y = Base[0];

  // Kept fraction, in total and per word of the Philox block.
  double Sigma = std::sqrt(P * (1 - P) / E);
  size_t Kept = 0, KeptWord[4] = {};
  double SumX = 0, SumY = 0;
  for (int64_t I = 0; I < E; ++I) {
    Kept += Y[I] != 0;
    KeptWord[I % 4] += Y[I] != 0;
    SumX += X[I];
    SumY += Y[I];
  }
  EXPECT_NEAR(double(Kept) / E, 1 - P, 5 * Sigma);
  for (size_t W : KeptWord)
    EXPECT_NEAR(double(W) / (E / 4), 1 - P, 10 * Sigma);
  // E[y] = E[x]; Var y = E[x^2] / (1 - p) - E[x]^2 for x ~ U(0.5, 1.5).
  double SigmaMean = std::sqrt(((1 + 1.0 / 12) / (1 - P) - 1) / E);
  EXPECT_NEAR(SumY / E, SumX / E, 5 * SigmaMean);

  // Independent masks agree on p^2 + (1-p)^2 of the elements; the same key
  // gives the same output.
  double Indep = P * P + (1 - P) * (1 - P);
  double SigmaAgree = std::sqrt(Indep * (1 - Indep) / E);
  EXPECT_NEAR(agreement(Y, Base[1]), Indep, 5 * SigmaAgree) << "id";
  EXPECT_NEAR(agreement(Y, Run(1235, 10)[0]), Indep, 5 * SigmaAgree) << "seed";
  EXPECT_NEAR(agreement(Y, Run(1234, 11)[0]), Indep, 5 * SigmaAgree) << "step";
  EXPECT_EQ(Run(1234, 10)[0], Y) << "same key";
  EXPECT_EQ(Run(1234, 10.9)[0], Y) << "step rounds toward zero";

  for (int64_t Threads : {1, 2, 3}) {
    adj_rt_set_threads(Threads);
    EXPECT_EQ(Run(1234, 10), Base) << Threads << " threads";
  }
}

const nlohmann::json &fixtures() { return test::torchFixture("dropout.json"); }

TEST(Dropout, MatchesPyTorchsFormula) {
  ASSERT_TRUE(fixtures().is_object())
      << "tests/fixtures/dropout.json: run /usr/bin/python3 "
         "scripts/torch_fixtures.py";
  const nlohmann::json &Configs = fixtures()["dropout"];
  ASSERT_EQ(Configs.size(), 10u);
  for (const nlohmann::json &R : Configs) {
    DType T = R["dtype"] == "f32" ? DType::F32 : DType::F64;
    double P = R["p"];
    Vec X = R["x"], DY = R["dy"], Y = R["y"], DX = R["dx"];
    std::string What = label("dropout p " + std::to_string(P), T, 6);
    double Scale = T == DType::F32 ? philox::dropoutScale<float>(P)
                                   : philox::dropoutScale<double>(P);
    // PyTorch's mask, Adjoint's formula.
    for (size_t I = 0; I < X.size(); ++I) {
      ASSERT_NE(X[I], 0);
      double M = Y[I] != 0 ? Scale : 0;
      EXPECT_EQ(Y[I], times(T, X[I], M)) << What << " y at " << I;
      EXPECT_EQ(DX[I], times(T, DY[I], M)) << What << " dx at " << I;
      if (P == 0) {
        EXPECT_EQ(Y[I], X[I]) << What << ": p = 0 is the identity";
      }
    }
    // Adjoint's kernel and gradient: PyTorch's values where both keep.
    Compiled C;
    Function *F = C.add("f");
    TensorType XT = ty(T, {kBatch, 8});
    Value *XV = F->addArg("x", XT, ArgRole::Input);
    Value *Seed = F->addArg("seed", TensorType(DType::I32, {}), ArgRole::Hyper);
    Value *Step = F->addArg("step", TensorType(T, {}), ArgRole::Hyper);
    Value *DYV = F->addArg("dy", XT, ArgRole::Input);
    Builder B(*F);
    Value *YV = B.create(OpKind::Dropout, {XV, Seed, Step}, dropAttrs(P, 0));
    GradContext G{B, *YV->Def, DYV, {true, false, false}, {}};
    G.Grads.assign(3, nullptr);
    gradRule(OpKind::Dropout)(G);
    F->Results = {{"y", YV}, {"dx", G.Grads[0]}};
    C.compile();
    std::vector<Vec> Res;
    ASSERT_EQ(C.run("f", 6, {X, {5}, {1}, DY}, Res), 0);
    for (size_t I = 0; I < X.size(); ++I) {
      if (Res[0][I] == 0 || Y[I] == 0)
        continue;
      EXPECT_EQ(Res[0][I], Y[I]) << What << " y at " << I;
      EXPECT_EQ(Res[1][I], DX[I]) << What << " dx at " << I;
    }
  }
}

} // namespace
