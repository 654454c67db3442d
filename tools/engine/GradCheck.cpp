//===- GradCheck.cpp - Analytic vs numerical gradients --------------------===//
///
/// The model is converted to f64 and @train_step is built with the autodiff
/// pass alone (the verifier runs after it), then DCE and CSE; both
/// functions are JIT-compiled together. For each checked element p_i of a
/// parameter the loss is evaluated at p_i + eps and p_i - eps with
/// @forward (with @train_step's loss for a model with a training mode,
/// @forward_train, as batch norm's batch statistics and dropout's mask are
/// part of the function differentiated), and (L+ - L-) / 2 eps is compared
/// with the analytic gradient with |a - n| <= atol + rtol |n|. Dropout's
/// %seed and %step are fixed, so its mask is the same in every call. Every
/// failure (pipeline, passes, codegen, JIT, a step function's non-zero status)
/// ends the check with GradCheckResult::Error set.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/GradCheck.h"

#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "passes/Autodiff.h"
#include "passes/Pass.h"
#include "runtime/adjoint_rt.h"
#include "tools/engine/Engine.h"
#include "tools/engine/Memory.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <numeric>
#include <random>
#include <sstream>

namespace adj {

using StepFn = int32_t (*)(int64_t, void *const *, void *const *);

/// Bytes of \p T at batch size \p N, saturating.
static uint64_t bytesAt(const TensorType &T, int64_t N) {
  uint64_t B = 8;
  for (int64_t D : T.Dims)
    if (__builtin_mul_overflow(B, uint64_t(D == kBatch ? N : D), &B))
      return UINT64_MAX;
  return std::max<uint64_t>(B, 8);
}

static uint64_t addSat(uint64_t A, uint64_t B) {
  return __builtin_add_overflow(A, B, &A) ? UINT64_MAX : A;
}

static std::string bytesText(uint64_t B) {
  return B == UINT64_MAX ? std::string("more than 2^64") : groupDigits(B);
}

/// Empty when the check's buffers at O.Batch fit in O.MemoryLimit, else
/// the error with the estimate: @train_step's arguments and results (as
/// f64, one value at least each), @forward's results, and both functions'
/// scratch arenas.
static std::string checkMemory(const Module &M, const llvm::Module &LM,
                               const GradCheckOptions &O) {
  const Function &Train = *M.function("train_step");
  const int64_t N = O.Batch;
  uint64_t Args = 0, Results = 0, Scratch = 0;
  for (const auto &A : Train.Args)
    Args = addSat(Args, bytesAt(A->Type, N));
  for (const Function *F : {&Train, (const Function *)M.function("forward")})
    for (const auto &Res : F->Results)
      Results = addSat(Results, bytesAt(Res.V->Type, N));
  for (const char *Fn : {"train_step", "forward"})
    if (auto A = arenaBytes(LM, Fn, N))
      Scratch =
          addSat(Scratch, *A >= INT64_MAX - 64 ? UINT64_MAX : uint64_t(*A));
  uint64_t Total = addSat(addSat(Args, Results), Scratch);
  if (Total <= O.MemoryLimit)
    return "";
  return fmt::format(
      "at batch {} the check needs about {} bytes, more than the {} bytes of "
      "this machine's memory: {} for the arguments (parameters and inputs, "
      "as f64), {} for the results (gradients, loss), {} of scratch "
      "(activations and their gradients); give a smaller --batch",
      N, bytesText(Total), bytesText(O.MemoryLimit), bytesText(Args),
      bytesText(Results), bytesText(Scratch));
}

GradCheckResult gradCheck(const Module &Src, const GradCheckOptions &O) {
  GradCheckResult R;
  bool TrainMode = Src.function("forward_train") != nullptr;
  std::unique_ptr<Module> M = Src.clone();
  convertToF64(*M);
  auto PM = passPipeline(kGradCheckPipeline);
  if (!PM) {
    R.Error = llvm::toString(PM.takeError());
    return R;
  }
  PassContext Ctx;
  std::ostringstream Log;
  bool Ran = PM->run(*M, Ctx, Log);
  for (auto &W : Ctx.Warnings)
    R.Warnings.push_back(W.second);
  if (!Ran) {
    R.Error = Ctx.Errors.empty() ? "autodiff failed" : Ctx.Errors[0].second;
    return R;
  }
  const Function &Fwd = *M->function("forward");
  const Function &Train = *M->function("train_step");
  R.ForwardOps = Fwd.Ops.size();
  R.TrainOps = Train.Ops.size();

  auto Ctx2 = std::make_unique<llvm::LLVMContext>();
  auto LM = lowerToLLVM(*M, *Ctx2);
  if (!LM) {
    R.Error = llvm::toString(LM.takeError());
    return R;
  }
  if (O.MemoryLimit)
    if (std::string E = checkMemory(*M, **LM, O); !E.empty()) {
      R.Error = E;
      return R;
    }
  auto J = JIT::create(2);
  if (!J) {
    R.Error = llvm::toString(J.takeError());
    return R;
  }
  if (auto E = (*J)->addModule(std::move(*LM), std::move(Ctx2))) {
    R.Error = llvm::toString(std::move(E));
    return R;
  }
  auto FwdSym = (*J)->lookup("forward");
  if (!FwdSym) {
    R.Error = llvm::toString(FwdSym.takeError());
    return R;
  }
  auto TrainSym = (*J)->lookup("train_step");
  if (!TrainSym) {
    R.Error = llvm::toString(TrainSym.takeError());
    return R;
  }
  StepFn FwdFn = StepFn(*FwdSym), TrainFn = StepFn(*TrainSym);

  // Random arguments, shared by both functions (@train_step's arguments
  // are @forward's and the hyperparameters %seed and %step of a training
  // mode, which are fixed).
  const int64_t N = O.Batch;
  std::mt19937_64 Rng(O.Seed);
  std::vector<std::vector<double>> FBufs(Train.Args.size());
  std::vector<std::vector<int32_t>> IBufs(Train.Args.size());
  std::vector<void *> Args(Train.Args.size());
  for (size_t I = 0; I < Train.Args.size(); ++I) {
    const Value &A = *Train.Args[I];
    int64_t Count = A.Type.numElements(N);
    if (Train.Roles[I] == ArgRole::Hyper) {
      FBufs[I].assign(1, 1.0);
      IBufs[I].assign(1, 0x5EED);
      Args[I] = A.Type.Elt == DType::I32 ? (void *)IBufs[I].data()
                                         : (void *)FBufs[I].data();
      continue;
    }
    if (A.Type.Elt == DType::I32) {
      auto It = O.Classes.find(A.Name);
      int64_t C = It == O.Classes.end() ? 2 : It->second;
      std::uniform_int_distribution<int32_t> D(0, int32_t(C - 1));
      IBufs[I].resize(std::max<int64_t>(Count, 1));
      for (auto &V : IBufs[I])
        V = D(Rng);
      Args[I] = IBufs[I].data();
      continue;
    }
    auto Range = O.Ranges.count(A.Name) ? O.Ranges.at(A.Name)
                                        : std::make_pair(O.Lo, O.Hi);
    std::uniform_real_distribution<double> D(Range.first, Range.second);
    FBufs[I].resize(std::max<int64_t>(Count, 1));
    bool Whole = O.Integral.count(A.Name);
    for (auto &V : FBufs[I])
      V = Whole ? std::round(D(Rng)) : D(Rng);
    Args[I] = FBufs[I].data();
  }

  // Analytic gradients.
  std::vector<std::vector<double>> Outs(Train.Results.size());
  std::vector<void *> OutPtrs;
  for (size_t I = 0; I < Train.Results.size(); ++I) {
    Outs[I].resize(
        std::max<int64_t>(Train.Results[I].V->Type.numElements(N), 1));
    OutPtrs.push_back(Outs[I].data());
  }
  if (TrainFn(N, Args.data(), OutPtrs.data()) != 0) {
    R.Error = "@train_step rejected its inputs";
    return R;
  }
  const Function &LossF = TrainMode ? Train : Fwd;
  std::vector<std::vector<double>> FOuts(LossF.Results.size());
  std::vector<void *> FOutPtrs;
  for (size_t I = 0; I < LossF.Results.size(); ++I) {
    FOuts[I].resize(
        std::max<int64_t>(LossF.Results[I].V->Type.numElements(N), 1));
    FOutPtrs.push_back(FOuts[I].data());
  }
  size_t LossIdx = 0;
  for (size_t I = 0; I < LossF.Results.size(); ++I)
    if (LossF.Results[I].Name == "loss")
      LossIdx = I;
  std::vector<void *> FwdArgs;
  for (auto &A : Fwd.Args)
    FwdArgs.push_back(Args[Train.argIndex(A->Name)]);
  // The loss at the current arguments; false when the function rejects
  // them.
  auto Loss = [&](double &L) {
    int32_t Status = TrainMode ? TrainFn(N, Args.data(), FOutPtrs.data())
                               : FwdFn(N, FwdArgs.data(), FOutPtrs.data());
    if (Status != 0)
      return false;
    L = FOuts[LossIdx][0];
    return true;
  };

  R.Ok = true;
  auto Start = std::chrono::steady_clock::now();
  size_t Grads = 0, Done = 0;
  for (const auto &Res : Train.Results)
    Grads += Res.Name.rfind("grad.", 0) == 0;
  for (size_t RI = 0; RI < Train.Results.size(); ++RI) {
    const std::string &RName = Train.Results[RI].Name;
    if (RName.rfind("grad.", 0) != 0)
      continue;
    int AI = Train.argIndex(RName.substr(5));
    if (AI < 0)
      continue;
    ParamCheck PC;
    PC.Name = RName.substr(5);
    PC.Type = Train.Args[AI]->Type.str(M->BatchDim);
    std::vector<double> &P = FBufs[AI];
    const std::vector<double> &G = Outs[RI];
    int64_t Count = Train.Args[AI]->Type.numElements(N);
    std::vector<int64_t> Idx(Count);
    std::iota(Idx.begin(), Idx.end(), 0);
    if (Count > O.MaxElements) {
      std::shuffle(Idx.begin(), Idx.end(), Rng);
      Idx.resize(O.MaxElements);
    }
    PC.Pass = true;
    for (int64_t E : Idx) {
      double Saved = P[E], Plus = 0, Minus = 0;
      P[E] = Saved + O.Eps;
      bool Ran = Loss(Plus);
      P[E] = Saved - O.Eps;
      Ran = Ran && Loss(Minus);
      P[E] = Saved;
      if (!Ran) {
        R.Ok = false;
        R.Error = "@forward rejected its inputs";
        return R;
      }
      double Num = (Plus - Minus) / (2 * O.Eps);
      double Ana = G[E];
      double Abs = std::fabs(Ana - Num);
      double Rel = Abs / std::max(std::fabs(Num), 1e-12);
      if (!std::isfinite(Ana) || !std::isfinite(Num)) {
        // std::max would drop a NaN: the first non-finite one is shown.
        if (PC.NonFinite.empty()) {
          double Bad = std::isfinite(Ana) ? Num : Ana;
          PC.NonFinite =
              fmt::format("{} gradient {} at index {}",
                          std::isfinite(Ana) ? "numerical" : "analytic",
                          std::isnan(Bad) ? "nan"
                          : Bad > 0       ? "inf"
                                          : "-inf",
                          E);
          PC.MaxAbsErr = PC.MaxRelErr = std::isnan(Abs) ? NAN : INFINITY;
        }
        if (!std::isfinite(Ana))
          PC.MaxAbsGrad = std::fabs(Ana);
        PC.Pass = false;
        ++PC.Checked;
        continue;
      }
      if (PC.NonFinite.empty()) {
        PC.MaxAbsErr = std::max(PC.MaxAbsErr, Abs);
        if (std::fabs(Num) > O.Atol)
          PC.MaxRelErr = std::max(PC.MaxRelErr, Rel);
      }
      if (std::isfinite(PC.MaxAbsGrad))
        PC.MaxAbsGrad = std::max(PC.MaxAbsGrad, std::fabs(Ana));
      if (!(Abs <= O.Atol + O.Rtol * std::fabs(Num)))
        PC.Pass = false;
      ++PC.Checked;
    }
    R.Ok &= PC.Pass;
    R.Params.push_back(PC);
    double Secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - Start)
            .count();
    if (O.Progress && Secs > O.ProgressAfter)
      *O.Progress << fmt::format("gradcheck: {}/{} {} {}: {} elements, {}  "
                                 "({:.1f} s)\n",
                                 ++Done, Grads, PC.Name, PC.Type, PC.Checked,
                                 PC.Pass ? "ok" : "FAIL", Secs)
                  << std::flush;
    else
      ++Done;
  }
  return R;
}

std::string formatGradCheck(const GradCheckResult &R) {
  if (!R.Error.empty())
    return fmt::format("gradcheck failed: {}\n", R.Error);
  std::string S = fmt::format("{:<16} {:<18} {:>8} {:>12} {:>12} {:>12}  {}\n",
                              "parameter", "shape", "checked", "max abs err",
                              "max rel err", "max |grad|", "result");
  for (const ParamCheck &P : R.Params)
    S += fmt::format("{:<16} {:<18} {:>8} {:>12.3e} {:>12.3e} {:>12.3e}  {}\n",
                     P.Name, P.Type, P.Checked, P.MaxAbsErr, P.MaxRelErr,
                     P.MaxAbsGrad, P.Pass ? "ok" : "FAIL");
  for (const ParamCheck &P : R.Params)
    if (!P.NonFinite.empty())
      S += fmt::format("{}: not finite: {}\n", P.Name, P.NonFinite);
  S += fmt::format("gradcheck: {} ({} forward ops, {} in @train_step)\n",
                   R.Ok ? "passed" : "FAILED", R.ForwardOps, R.TrainOps);
  return S;
}

void rangesFromInitialisers(const ModelSpec &Spec, GradCheckOptions &O) {
  for (const ParamSpec &P : Spec.Params) {
    double Bound = 0;
    if (P.Init == InitKind::Uniform && P.A < P.B)
      O.Ranges.insert({P.Name, {P.A, P.B}});
    else if ((P.Init == InitKind::KaimingUniform ||
              P.Init == InitKind::UniformFanIn) &&
             P.FanIn > 0 && (Bound = 1 / std::sqrt(double(P.FanIn))) < 1)
      O.Ranges.insert({P.Name, {-Bound, Bound}});
  }
}

} // namespace adj
