//===- Engine.cpp - The compile-and-train engine --------------------------===//
///
/// Compilation is a list of stages: frontend (done by the caller), the pass
/// pipeline on a module holding @forward (autodiff, optimizer, canonicalize,
/// constant-fold, cse, dce), optional f64 conversion, LLVM lowering, and the
/// JIT. The compiled functions are described to the runtime by name and
/// role, which is all the runtime's training loop needs.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Engine.h"

#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "ir/Dot.h"
#include "ir/Printer.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <sstream>

namespace adj {

CompiledModel::~CompiledModel() = default;

OptimizerConfig optimizerConfig(const OptimizerSpec &S,
                                const std::string &Override) {
  OptimizerConfig C;
  static_cast<OptimizerSpec &>(C) = S;
  if (!Override.empty() && Override != S.Name) {
    // A different optimizer from the command line takes its own defaults.
    return OptimizerConfig(Override);
  }
  return C;
}

std::string pipelineFor(Stage Last, bool Fuse) {
  if (Last <= Stage::Grad)
    return "autodiff,optimizer";
  return Fuse ? "autodiff,optimizer,canonicalize,constant-fold,cse,dce,fuse"
              : "autodiff,optimizer,canonicalize,constant-fold,cse,dce";
}

void reportPassErrors(const PassContext &Ctx, DiagEngine &Diags,
                      const std::string &Prog, std::ostream &OS) {
  for (auto &[L, Msg] : Ctx.Warnings) {
    if (L.known())
      Diags.warning(L, Msg);
    else
      OS << Prog << ": warning: " << Msg << "\n";
  }
  for (auto &[L, Msg] : Ctx.Errors) {
    if (L.known())
      Diags.error(L, Msg);
    else if (Msg.find(": error: ") != std::string::npos)
      OS << Msg << "\n";
    else
      OS << Prog << ": error: " << Msg << "\n";
  }
}

bool Engine::runPipeline(Module &M, const TrainSpec &Train, Stage Last,
                         std::ostream &Log) {
  PassManager PM(Opts.Passes);
  std::string PipelineErr;
  bool Parsed = PM.parsePipeline(pipelineFor(Last, Opts.Fuse), PipelineErr);
  (void)Parsed;
  PassContext Ctx;
  Ctx.Optimizer = optimizerConfig(Train.Optimizer, Opts.Optimizer);
  Ctx.Optimizer.ClipNorm = Train.ClipNorm;
  bool Ok = PM.run(M, Ctx, Log);
  PassTimes = PM.timings();
  reportPassErrors(Ctx, Diags, Prog, Err);
  return Ok;
}

bool Engine::lowerModule(const Module &M, llvm::LLVMContext &Ctx,
                         std::unique_ptr<llvm::Module> &Out) {
  auto LM = lowerToLLVM(M, Ctx, Opts.Lower);
  if (!LM) {
    Err << Prog << ": error: " << llvm::toString(LM.takeError()) << "\n";
    return false;
  }
  Out = std::move(*LM);
  return true;
}

std::unique_ptr<llvm::TargetMachine>
Engine::lowerAndOptimize(const Module &M, llvm::LLVMContext &Ctx,
                         std::unique_ptr<llvm::Module> &LM) {
  if (!lowerModule(M, Ctx, LM))
    return nullptr;
  auto TM = createHostTargetMachine(Opts.OptLevel);
  if (!TM) {
    Err << Prog << ": error: no LLVM backend for the host CPU\n";
    return nullptr;
  }
  optimizeLLVM(*LM, *TM, Opts.OptLevel);
  return TM;
}

bool Engine::emit(ModelSpec &Spec, Stage S, std::string &Out) {
  std::unique_ptr<Module> M = Spec.M->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*M);
  if (S == Stage::IR) {
    Out = printModule(*M);
    return true;
  }
  std::ostringstream Log;
  bool Ok = runPipeline(*M, Spec.Train,
                        S == Stage::Grad ? Stage::Grad : Stage::Opt, Log);
  Err << Log.str();
  if (!Ok)
    return false;
  if (S == Stage::Grad || S == Stage::Opt) {
    Out = printModule(*M);
    return true;
  }
  if (S == Stage::Dot) {
    Out = printDot(*M);
    return true;
  }
  llvm::LLVMContext Ctx;
  std::unique_ptr<llvm::Module> LM;
  std::unique_ptr<llvm::TargetMachine> TM = lowerAndOptimize(*M, Ctx, LM);
  if (!TM)
    return false;
  if (S == Stage::LLVM) {
    Out = printLLVM(*LM);
    return true;
  }
  if (S == Stage::Asm) {
    auto Asm = emitAssembly(*LM, *TM);
    if (!Asm) {
      Err << Prog << ": error: " << llvm::toString(Asm.takeError()) << "\n";
      return false;
    }
    Out = std::move(*Asm);
    return true;
  }
  Err << Prog << ": error: this output stage is not supported yet\n";
  return false;
}

std::string Engine::optimizerName(const ModelSpec &Spec) const {
  return Opts.Optimizer.empty() ? Spec.Train.Optimizer.Name : Opts.Optimizer;
}

std::unique_ptr<Module> Engine::buildIR(const ModelSpec &Spec,
                                        bool AllOptimizers) {
  std::unique_ptr<Module> M = Spec.M->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*M);
  std::ostringstream Log;
  bool Ok = runPipeline(*M, Spec.Train, Stage::Opt, Log);
  Err << Log.str();
  if (!Ok)
    return nullptr;
  if (!AllOptimizers)
    return M;
  std::string Chosen = optimizerName(Spec);
  for (const OptimizerInfo &Info : optimizerTable()) {
    const char *Name = Info.Name;
    if (Chosen == Name)
      continue;
    EngineOptions VO = Opts;
    VO.Optimizer = Name;
    VO.Passes = PassManagerOptions();
    VO.Passes.VerifyEach = Opts.Passes.VerifyEach;
    VO.Fuse = Opts.Fuse;
    Engine Variant(VO, Diags, Err, Prog);
    std::unique_ptr<Module> V = Spec.M->clone();
    if (Opts.Elt == DType::F64)
      convertToF64(*V);
    std::ostringstream VLog;
    if (!Variant.runPipeline(*V, Spec.Train, Stage::Opt, VLog))
      return nullptr;
    for (auto &F : V->Functions)
      if (F->Name == "train_step") {
        F->Name = std::string(kOptimizerStepPrefix) + Name;
        M->Functions.push_back(std::move(F));
      }
  }
  return M;
}

std::unique_ptr<CompiledModel>
Engine::compile(std::unique_ptr<ModelSpec> Spec) {
  using Clock = std::chrono::steady_clock;
  auto Start = Clock::now();
  auto CM = std::make_unique<CompiledModel>();
  auto Last = Start;
  auto Lap = [&](const char *Stage) {
    auto Now = Clock::now();
    double S = std::chrono::duration<double>(Now - Last).count();
    CM->StageSeconds.push_back({Stage, S});
    Last = Now;
    return S;
  };
  auto Since = [](Clock::time_point T) {
    return std::chrono::duration<double>(Clock::now() - T).count();
  };
  // -time-passes: one table of the adj passes and the LLVM stages.
  bool Time = Opts.Passes.TimePasses;
  bool Deferred = Opts.Passes.DeferTimingReport;
  Opts.Passes.DeferTimingReport = true;
  CM->IR = buildIR(*Spec, /*AllOptimizers=*/false);
  Opts.Passes.DeferTimingReport = Deferred;
  if (!CM->IR)
    return nullptr;
  StageTimes Table = PassTimes;
  Lap("passes");
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> LM;
  if (!lowerModule(*CM->IR, *Ctx, LM))
    return nullptr;
  if (auto A = arenaBytes(*LM, "train_step", Spec->Train.Batch))
    CM->ArenaBytes = *A;
  Table.push_back({"llvm lowering", Lap("lower")});
  auto J = JIT::create(Opts.OptLevel,
                       Opts.ObjectCache ? defaultObjectCacheDir() : "");
  if (!J) {
    Err << Prog << ": error: " << llvm::toString(J.takeError()) << "\n";
    return nullptr;
  }
  CM->Jit = std::move(*J);
  if (auto E = CM->Jit->addModule(std::move(LM), std::move(Ctx))) {
    Err << Prog << ": error: " << llvm::toString(std::move(E)) << "\n";
    return nullptr;
  }
  const JITStats &JS = CM->Jit->stats();
  CM->CacheState = JS.cacheName();
  bool CacheHit = JS.Cache == JITStats::Hit;
  double Add = Since(Last);
  if (JS.Cache != JITStats::Off)
    Table.push_back(
        {"llvm cache key (hash of the IR text)", JS.CacheKeySeconds});
  if (JS.Parts > 1)
    Table.push_back({fmt::format("llvm merge + split into {} parts", JS.Parts),
                     JS.PartitionSeconds});
  if (CacheHit) {
    Table.push_back({"jit load cached object + link", JS.CompileSeconds});
  } else if (JS.Parts > 1) {
    // The stages overlap on the compile threads: their wall time together,
    // and each stage's thread time in a note.
    Table.push_back(
        {fmt::format("llvm optimisation (O{}) + codegen + jit link, {} threads",
                     Opts.OptLevel, JS.Parts),
         JS.CompileSeconds});
  } else {
    Table.push_back({fmt::format("llvm optimisation (O{})", Opts.OptLevel),
                     JS.OptimizeSeconds});
    Table.push_back({"llvm codegen (object code)", JS.CodegenSeconds});
    Table.push_back(
        {"jit link", std::max(0.0, JS.CompileSeconds - JS.OptimizeSeconds -
                                       JS.CodegenSeconds)});
  }
  Table.push_back({"jit setup",
                   std::max(0.0, Add - JS.CacheKeySeconds -
                                     JS.PartitionSeconds - JS.CompileSeconds)});
  std::string LookupErr;
  auto Resolve = [&](const std::string &Name) -> void * {
    auto Sym = CM->Jit->lookup(Name);
    if (!Sym) {
      LookupErr = llvm::toString(Sym.takeError());
      return nullptr;
    }
    return *Sym;
  };
  CM->Description = std::make_unique<ModelDescription>(
      *CM->IR, *Spec, optimizerName(*Spec), Resolve, Opts.Lower);
  if (!LookupErr.empty()) {
    Err << Prog << ": error: " << LookupErr << "\n";
    return nullptr;
  }
  double Lookup = Since(Last) - Add;
  Lap("jit");
  Table.push_back({"jit symbol lookup", Lookup});
  CM->CompileSeconds =
      std::chrono::duration<double>(Clock::now() - Start).count();
  if (Time) {
    std::vector<std::string> Notes;
    std::string Cache = std::string("object cache: ") + JS.cacheName();
    if (JS.Cache == JITStats::Corrupt)
      Cache += " entry ignored, recompiled";
    if (JS.Cache != JITStats::Off)
      Cache += " " + JS.CacheFile;
    Notes.push_back(Cache);
    if (JS.Parts > 1 && !CacheHit) {
      std::string Sizes;
      for (size_t I : JS.PartInstructions)
        Sizes += (Sizes.empty() ? "" : ", ") + std::to_string(I);
      Notes.push_back(fmt::format(
          "llvm parts: {} ({} instructions); thread seconds: optimisation "
          "{:.4f}, codegen {:.4f}",
          JS.Parts, Sizes, JS.OptimizeSeconds, JS.CodegenSeconds));
    }
    if (CM->ArenaBytes >= 0)
      Notes.push_back(
          fmt::format("scratch arena @train_step: {} bytes at batch {}",
                      CM->ArenaBytes, Spec->Train.Batch));
    if (const Function *F = CM->IR->function("train_step")) {
      StepPlan P = planStep(*F, Opts.Lower);
      Notes.push_back(fmt::format(
          "@train_step: {} kernels, {} loop groups of {} ops, {} of {} "
          "results in place",
          P.Units.size(), P.numGroups(), P.numGroupedOps(),
          std::count(P.InPlace.begin(), P.InPlace.end(), true),
          P.InPlace.size()));
    }
    Notes.push_back(fmt::format("compile seconds: {:.4f}", CM->CompileSeconds));
    Err << formatTimingReport(Table, Notes);
  }
  CM->Spec = std::move(Spec);
  return CM;
}

const adj_rt_model &CompiledModel::runtimeModel() const {
  return Description->model();
}

} // namespace adj
