//===- VecMathTest.cpp - Vectorised log, tanh, sigmoid against libm -------===//
///
/// The inline polynomials of codegen/VectorMath.cpp, run through the JIT on
/// inputs spread over the whole float range (every 509th f32 bit pattern,
/// both signs, plus the specials: 0, subnormals, inf, NaN) and on random
/// f64 bit patterns, are compared with libm evaluated in long double: at
/// most 4 ulp (f32 tanh: 1 ulp, and every float in its exponential range
/// is checked), and the same NaN / inf results. The generated code must not
/// call libm for them.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// Distance in units in the last place of type T between two finite values.
template <typename T> double ulpDiff(T A, T B) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  auto Ord = [](T X) {
    I Bits;
    std::memcpy(&Bits, &X, sizeof(T));
    return Bits < 0 ? std::numeric_limits<I>::min() - Bits : Bits;
  };
  I DA = Ord(A), DB = Ord(B);
  return double(DA > DB ? uint64_t(DA) - uint64_t(DB)
                        : uint64_t(DB) - uint64_t(DA));
}

long double refOf(OpKind K, long double X) {
  switch (K) {
  case OpKind::Log:
    return logl(X);
  case OpKind::Tanh:
    return tanhl(X);
  default:
    return 1.0L / (1.0L + expl(-X));
  }
}

template <typename T> std::vector<T> inputs() {
  std::vector<T> V = {0.0,
                      -0.0,
                      1.0,
                      -1.0,
                      std::numeric_limits<T>::min(),
                      std::numeric_limits<T>::denorm_min(),
                      std::numeric_limits<T>::max(),
                      std::numeric_limits<T>::infinity(),
                      -std::numeric_limits<T>::infinity(),
                      std::numeric_limits<T>::quiet_NaN()};
  std::mt19937_64 R(7);
  if constexpr (sizeof(T) == 4) {
    for (uint64_t B = 0; B < (uint64_t(1) << 32); B += 509) {
      uint32_t Bits = uint32_t(B);
      float X;
      std::memcpy(&X, &Bits, 4);
      V.push_back(X);
    }
  } else {
    for (int I = 0; I < 400000; ++I) {
      uint64_t Bits = R();
      double X;
      std::memcpy(&X, &Bits, 8);
      V.push_back(X);
    }
  }
  // Dense around the places where the formulas switch.
  for (int I = 0; I < 20000; ++I)
    V.push_back(T(std::uniform_real_distribution<double>(-4, 4)(R)));
  return V;
}

template <typename T> void checkOp(OpKind K, DType DT, double MaxUlp = 4) {
  std::vector<T> In = inputs<T>();
  int64_t Count = In.size();
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", TensorType(DT, {Count}), ArgRole::Input);
  F.Results = {{"y", B.create(K, {X})}};

  auto Ctx = std::make_unique<llvm::LLVMContext>();
  auto LM = lowerToLLVM(M, *Ctx);
  ASSERT_TRUE(bool(LM));
  std::string IR = printLLVM(**LM);
  for (const char *Libm : {"@logf", "@log(", "@tanhf", "@tanh(", "llvm.log."})
    EXPECT_EQ(IR.find(Libm), std::string::npos)
        << opInfo(K).Mnemonic << " calls " << Libm;
  auto J = JIT::create(2);
  ASSERT_TRUE(bool(J));
  ASSERT_FALSE(bool((*J)->addModule(std::move(*LM), std::move(Ctx))));
  auto Fn = (*J)->lookup("f");
  ASSERT_TRUE(bool(Fn));
  std::vector<T> Out(Count);
  void *Args[] = {In.data()}, *Res[] = {Out.data()};
  ASSERT_EQ(reinterpret_cast<StepFn>(*Fn)(1, Args, Res), 0);

  double Worst = 0;
  T WorstAt = 0;
  for (int64_t I = 0; I < Count; ++I) {
    T Want = T(refOf(K, (long double)In[I]));
    T Got = Out[I];
    if (std::isnan(Want) || std::isnan(Got)) {
      EXPECT_EQ(std::isnan(Want), std::isnan(Got))
          << opInfo(K).Mnemonic << "(" << In[I] << ") = " << Got;
      continue;
    }
    if (std::isinf(Want) || std::isinf(Got)) {
      EXPECT_EQ(Want, Got) << opInfo(K).Mnemonic << "(" << In[I] << ")";
      continue;
    }
    double D = ulpDiff(Got, Want);
    if (D > Worst) {
      Worst = D;
      WorstAt = In[I];
    }
  }
  EXPECT_LE(Worst, MaxUlp) << opInfo(K).Mnemonic << " " << dtypeName(DT)
                           << ": worst at x = " << WorstAt;
  std::printf("[ vecmath ] %s %s: %lld inputs, worst %.0f ulp at %.9g\n",
              opInfo(K).Mnemonic, dtypeName(DT), (long long)Count, Worst,
              double(WorstAt));
}

TEST(VecMath, F32WithinFourUlp) {
  for (OpKind K : {OpKind::Log, OpKind::Sigmoid})
    checkOp<float>(K, DType::F32);
  checkOp<float>(OpKind::Tanh, DType::F32, 1);
}

/// f32 tanh against libm's double tanh on every float of magnitude in
/// [0.5, 16], both signs: the range of the exponential form and its
/// reciprocal (below, the odd polynomial; above, +-1), in chunks of one
/// JIT-compiled function. At most 1 ulp.
TEST(VecMath, F32TanhWithinOneUlpEverywhereInItsExpRange) {
  constexpr int64_t Count = int64_t(1) << 20;
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", TensorType(DType::F32, {Count}), ArgRole::Input);
  F.Results = {{"y", B.create(OpKind::Tanh, {X})}};
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  auto LM = lowerToLLVM(M, *Ctx);
  ASSERT_TRUE(bool(LM));
  auto J = JIT::create(2);
  ASSERT_TRUE(bool(J));
  ASSERT_FALSE(bool((*J)->addModule(std::move(*LM), std::move(Ctx))));
  auto Fn = (*J)->lookup("f");
  ASSERT_TRUE(bool(Fn));
  std::vector<float> In(Count), Out(Count);
  const uint32_t First = 0x3F000000, Last = 0x41800000; // 0.5, 16.
  double Worst = 0;
  float WorstAt = 0;
  int64_t Checked = 0;
  for (uint32_t Sign : {0u, 0x80000000u}) {
    for (uint32_t Base = First; Base < Last; Base += Count) {
      for (int64_t I = 0; I < Count; ++I) {
        uint32_t Bits = std::min(Base + uint32_t(I), Last) | Sign;
        std::memcpy(&In[I], &Bits, 4);
      }
      void *Args[] = {In.data()}, *Res[] = {Out.data()};
      ASSERT_EQ(reinterpret_cast<StepFn>(*Fn)(1, Args, Res), 0);
      for (int64_t I = 0; I < Count; ++I) {
        double D = ulpDiff(Out[I], float(std::tanh(double(In[I]))));
        if (D > Worst) {
          Worst = D;
          WorstAt = In[I];
        }
      }
      Checked += Count;
    }
  }
  EXPECT_LE(Worst, 1) << "worst at x = " << WorstAt;
  std::printf("[ vecmath ] tanh f32 on [0.5, 16]: %lld inputs, worst %.0f ulp "
              "at %.9g\n",
              (long long)Checked, Worst, double(WorstAt));
}

TEST(VecMath, F64WithinFourUlp) {
  for (OpKind K : {OpKind::Log, OpKind::Tanh, OpKind::Sigmoid})
    checkOp<double>(K, DType::F64);
}

} // namespace
