//===- gemm_bench.cpp - Times the JIT-compiled matmul kernel --------------===//
///
/// adj-gemm-bench [--threads N] [--reps R] [--cpu-time] [MxKxN[:tn|:nt|:tnl]
/// ...]
///
/// Builds one f32 single-matmul adj::Function per shape (C = A @ B; with
/// `:tn` A stored [K, M] and transposed (a weight gradient X^T @ dY), with
/// `:nt` B stored [N, K] and transposed, with `:tnl` A [K/32, 32, M] and B
/// [K/32, 32, N] under reduce_leading, as a recurrent model's weight
/// gradient over its steps of 32 rows), JIT-compiles them all, and prints for
/// each shape the median time of R runs and its GFLOP/s (2 M K N / time), one
/// line per shape:
///
///   M K N threads seconds gflops
///
/// --cpu-time times runs by the process's CPU time instead of wall-clock
/// time and reports the fastest run instead of the median (with one
/// thread: steadier on a loaded machine).
///
/// Default shapes: 64x784x256 128x1024x1024 512^3 1024^3 2048^3.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "ir/IR.h"
#include "runtime/adjoint_rt.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <time.h>
#include <vector>

using namespace adj;

namespace {
using StepFn = int32_t (*)(int64_t, void *const *, void *const *);

[[noreturn]] void die(const std::string &Msg) {
  std::fprintf(stderr, "adj-gemm-bench: %s\n", Msg.c_str());
  std::exit(1);
}
} // namespace

int main(int argc, char **argv) {
  int64_t Threads = 1;
  int Reps = 0;
  bool CpuTime = false;
  std::vector<std::array<int64_t, 3>> Shapes;
  std::vector<std::string> Modes; // "", "tn", "nt" or "tnl" per shape.
  for (int I = 1; I < argc; ++I) {
    std::string A = argv[I];
    if (A == "--threads" && I + 1 < argc)
      Threads = std::atoll(argv[++I]);
    else if (A == "--cpu-time")
      CpuTime = true;
    else if (A == "--reps" && I + 1 < argc)
      Reps = std::atoi(argv[++I]);
    else {
      std::array<int64_t, 3> S;
      char Mode[8] = "";
      int Got =
          std::sscanf(A.c_str(), "%ldx%ldx%ld:%7s", &S[0], &S[1], &S[2], Mode);
      std::string Md = Mode;
      if (Got < 3 || (Md != "" && Md != "tn" && Md != "nt" && Md != "tnl") ||
          (Md == "tnl" && S[1] % 32 != 0))
        die("usage: adj-gemm-bench [--threads N] [--reps R] [--cpu-time] "
            "[MxKxN[:tn|:nt|:tnl] ...]");
      Shapes.push_back(S);
      Modes.push_back(Md);
    }
  }
  auto Now = [CpuTime] {
    if (!CpuTime)
      return std::chrono::duration<double>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    timespec TS;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &TS);
    return TS.tv_sec + 1e-9 * TS.tv_nsec;
  };
  if (Shapes.empty())
    Shapes = {{64, 784, 256},
              {128, 1024, 1024},
              {512, 512, 512},
              {1024, 1024, 1024},
              {2048, 2048, 2048}};
  Modes.resize(Shapes.size());

  Module M;
  for (size_t S = 0; S < Shapes.size(); ++S) {
    auto [Mm, Kk, Nn] = Shapes[S];
    Function *F = M.addFunction("mm" + std::to_string(S));
    Builder B(*F);
    const std::string &Md = Modes[S];
    bool TA = Md == "tn" || Md == "tnl", TB = Md == "nt";
    std::vector<int64_t> ADims = TA ? std::vector<int64_t>{Kk, Mm}
                                    : std::vector<int64_t>{Mm, Kk},
                         BDims = TB ? std::vector<int64_t>{Nn, Kk}
                                    : std::vector<int64_t>{Kk, Nn};
    Attrs At{{"transpose_a", Attr(TA)}, {"transpose_b", Attr(TB)}};
    if (Md == "tnl") {
      ADims = {Kk / 32, 32, Mm};
      BDims = {Kk / 32, 32, Nn};
      At["reduce_leading"] = Attr(true);
    }
    Value *A = F->addArg("a", TensorType(DType::F32, ADims), ArgRole::Input);
    Value *Bm = F->addArg("b", TensorType(DType::F32, BDims), ArgRole::Input);
    F->Results.push_back({"c", B.create(OpKind::MatMul, {A, Bm}, At)});
  }
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  auto LM = lowerToLLVM(M, *Ctx);
  if (!LM)
    die(llvm::toString(LM.takeError()));
  auto J = JIT::create(2);
  if (!J)
    die(llvm::toString(J.takeError()));
  if (llvm::Error E = (*J)->addModule(std::move(*LM), std::move(Ctx)))
    die(llvm::toString(std::move(E)));
  adj_rt_set_threads(Threads);

  std::mt19937 R(1);
  std::uniform_real_distribution<float> U(-1, 1);
  for (size_t S = 0; S < Shapes.size(); ++S) {
    auto [Mm, Kk, Nn] = Shapes[S];
    bool TA = Modes[S] == "tn" || Modes[S] == "tnl", TB = Modes[S] == "nt";
    auto Addr = (*J)->lookup("mm" + std::to_string(S));
    if (!Addr)
      die(llvm::toString(Addr.takeError()));
    auto Fn = reinterpret_cast<StepFn>(*Addr);
    std::vector<float> A(Mm * Kk), Bv(Kk * Nn), C(Mm * Nn);
    for (float &X : A)
      X = U(R);
    for (float &X : Bv)
      X = U(R);
    void *Args[] = {A.data(), Bv.data()};
    void *Res[] = {C.data()};
    double Flops = 2.0 * Mm * Kk * Nn;
    // Enough runs for ~0.5 s per shape (at least 5), after one warm-up.
    Fn(1, Args, Res);
    double T0 = Now();
    Fn(1, Args, Res);
    double One = Now() - T0;
    int N = Reps ? Reps : std::clamp(int(0.5 / std::max(One, 1e-9)), 5, 200);
    std::vector<double> Times;
    for (int I = 0; I < N; ++I) {
      double T = Now();
      Fn(1, Args, Res);
      Times.push_back(Now() - T);
    }
    std::sort(Times.begin(), Times.end());
    double Med = CpuTime ? Times[0] : Times[Times.size() / 2];
    // A spot check against a double-precision dot product.
    double MaxErr = 0;
    for (int64_t P = 0; P < 16; ++P) {
      int64_t I = (P * 7919) % Mm, Jc = (P * 104729) % Nn;
      double Ref = 0, Mag = 0;
      for (int64_t Q = 0; Q < Kk; ++Q) {
        double P2 = double(A[TA ? Q * Mm + I : I * Kk + Q]) *
                    Bv[TB ? Jc * Kk + Q : Q * Nn + Jc];
        Ref += P2;
        Mag += std::abs(P2);
      }
      MaxErr = std::max(MaxErr, std::abs(C[I * Nn + Jc] - Ref) / (1 + Mag));
    }
    if (MaxErr > 1e-5)
      die("wrong result for shape " + std::to_string(S));
    std::printf("%ld %ld %ld %ld %.6g %.2f%s%s\n", Mm, Kk, Nn, Threads, Med,
                Flops / Med / 1e9, Modes[S].empty() ? "" : " ",
                Modes[S].c_str());
    std::fflush(stdout);
  }
  return 0;
}
