//===- CodegenTestUtil.h - Running hand-built IR in the JIT -----*- C++ -*-===//
///
/// Shared by the Codegen*Test.cpp files: small IR functions are built by
/// hand, lowered to LLVM, JIT-compiled and run on random data for several
/// batch sizes without recompiling, and compared with plain double-precision
/// C++ references: in f32 to ~1e-5 relative, in f64 to ~1e-12.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_CODEGENTESTUTIL_H
#define ADJ_TESTS_CODEGENTESTUTIL_H

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

namespace adj::cgtest {

using Vec = std::vector<double>;
using Dims = std::vector<int64_t>;
using StepFn = int32_t (*)(int64_t, void *const *, void *const *);

inline constexpr DType FloatTypes[] = {DType::F32, DType::F64};
inline constexpr int64_t BatchSizes[] = {1, 5, 64};

inline TensorType ty(DType T, Dims D) { return TensorType(T, std::move(D)); }

/// Row-major transpose of an R x C matrix (the operand of a matmul with
/// transpose_a or transpose_b).
inline Vec transposed(const Vec &X, int64_t R, int64_t C) {
  Vec T(X.size());
  for (int64_t I = 0; I < R; ++I)
    for (int64_t J = 0; J < C; ++J)
      T[J * R + I] = X[I * C + J];
  return T;
}
inline Attrs axesAttr(Dims A) { return {{"axes", Attr(std::move(A))}}; }

inline Dims concrete(const TensorType &T, int64_t N) {
  Dims D = T.Dims;
  for (int64_t &X : D)
    X = X == kBatch ? N : X;
  return D;
}

inline int64_t numel(const Dims &D) {
  int64_t E = 1;
  for (int64_t X : D)
    E *= X;
  return E;
}

/// Calls F(index, linear) for every multi-index of \p D in row-major order.
inline void forIndex(const Dims &D,
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
inline int64_t bcastIndex(const Dims &Src, const Dims &I) {
  int64_t L = 0;
  size_t Off = I.size() - Src.size();
  for (size_t K = 0; K < Src.size(); ++K)
    L = L * Src[K] + (Src[K] == 1 ? 0 : I[Off + K]);
  return L;
}

inline double roundTo(DType T, double V) {
  return T == DType::F32 ? double(float(V)) : V;
}

inline Vec randVec(int64_t Size, double Lo, double Hi, DType T, unsigned Seed) {
  std::mt19937 R(Seed);
  std::uniform_real_distribution<double> U(Lo, Hi);
  Vec V(Size);
  for (double &X : V)
    X = roundTo(T, U(R));
  return V;
}

inline Vec randLabels(int64_t Size, int64_t C, unsigned Seed) {
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

  /// Lowers and JIT-compiles M (on \p Threads compile threads; 0: the
  /// default).
  void compile(int Opt = 2, const LowerOptions &L = {}, unsigned Threads = 0) {
    auto Ctx = std::make_unique<llvm::LLVMContext>();
    auto LM = lowerToLLVM(M, *Ctx, L);
    if (!LM)
      throw std::runtime_error(toString(LM.takeError()));
    auto JE = JIT::create(Opt, "", Threads);
    if (!JE)
      throw std::runtime_error(toString(JE.takeError()));
    J = std::move(*JE);
    if (llvm::Error E = J->addModule(std::move(*LM), std::move(Ctx)))
      throw std::runtime_error(toString(std::move(E)));
  }

  /// Runs \p Name with batch size \p N on \p Args (any dtype, as doubles);
  /// fills \p Results and returns the status. With \p InPlace, the results
  /// planStep marks in place get their arguments' buffers.
  int run(const std::string &Name, int64_t N, const std::vector<Vec> &Args,
          std::vector<Vec> &Results, bool InPlace = false) {
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
    std::vector<bool> Shared = planStep(F).InPlace;
    for (size_t I = 0; I < F.Results.size(); ++I) {
      const TensorType &T = F.Results[I].V->type();
      ResBufs.emplace_back(numel(concrete(T, N)) * dtypeBytes(T.Elt) + 1, 0x7f);
      ResPtrs.push_back(ResBufs.back().data());
      if (InPlace && Shared[I])
        ResPtrs.back() = ArgPtrs[F.argIndex(F.Results[I].Name)];
    }
    int RC = reinterpret_cast<StepFn>(*Addr)(N, ArgPtrs.data(), ResPtrs.data());
    Results.clear();
    for (size_t I = 0; I < F.Results.size(); ++I) {
      const TensorType &T = F.Results[I].V->type();
      Vec V(numel(concrete(T, N)));
      for (size_t K = 0; K < V.size(); ++K)
        V[K] = load(T.Elt, static_cast<const char *>(ResPtrs[I]), K);
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

inline double tolFor(DType T) { return T == DType::F32 ? 1e-5 : 1e-12; }

inline void expectClose(const Vec &Got, const Vec &Want, double Tol,
                        const std::string &What) {
  ASSERT_EQ(Got.size(), Want.size()) << What;
  for (size_t I = 0; I < Got.size(); ++I) {
    if (Got[I] == Want[I] || (std::isnan(Got[I]) && std::isnan(Want[I])))
      continue;
    ASSERT_LE(std::abs(Got[I] - Want[I]), Tol * (1 + std::abs(Want[I])))
        << What << " at " << I << ": got " << Got[I] << ", want " << Want[I];
  }
}

inline std::string label(const std::string &What, DType T, int64_t N) {
  return What + " (" + dtypeName(T) + ", n=" + std::to_string(N) + ")";
}

/// C[M,N] = A[M,K] @ B[K,N], row-major.
inline Vec matmulRef(const Vec &A, const Vec &B, int64_t M, int64_t K,
                     int64_t N) {
  Vec C(M * N, 0);
  for (int64_t I = 0; I < M; ++I)
    for (int64_t P = 0; P < K; ++P)
      for (int64_t J = 0; J < N; ++J)
        C[I * N + J] += A[I * K + P] * B[P * N + J];
  return C;
}

} // namespace adj::cgtest

#endif
