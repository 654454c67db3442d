//===- Engine.cpp - The compile-and-train engine --------------------------===//
///
/// Compilation is a list of stages: frontend (done by the caller), the pass
/// pipeline on a module holding @forward (autodiff, optimizer, canonicalize,
/// constant-fold, cse, dce, fuse), optional f64 conversion, the object
/// cache's lookup (keyed on the optimised Adjoint IR's text, so that a hit
/// skips LLVM entirely), LLVM lowering, and the JIT. compile() calls them in
/// order; each stage prints its errors (an llvm::Error from codegen becomes
/// `prog: error: message`) and reports its time into a CompileTimer (Timing.h).
/// The compiled functions are described to the runtime by name and role, which
/// is all the runtime's training loop needs.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Engine.h"

#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "codegen/StepPlan.h"
#include "ir/Dot.h"
#include "ir/Printer.h"
#include "tools/engine/Tiers.h"
#include "tools/engine/Timing.h"

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <sstream>

namespace adj {

/// An LLVM module with its context, from lowering to the JIT.
struct LLVMCode {
  std::unique_ptr<llvm::LLVMContext> Ctx;
  std::unique_ptr<llvm::Module> M;
};

CompiledModel::~CompiledModel() {
  // The background compile calls into Tiers: let it end first.
  if (Jit)
    Jit->waitForOptimised();
}

bool CompiledModel::waitForOptimised(
    std::vector<std::pair<std::string, int64_t>> *QuickCalls, double *Seconds) {
  if (!Jit || !Tiers)
    return true;
  Jit->waitForOptimised();
  if (QuickCalls)
    *QuickCalls = Tiers->quickCalls();
  if (Seconds)
    *Seconds = Jit->optimisedStats().Seconds;
  return Jit->optimisedStats().Done;
}

/// Whether compile() tiers: not at -O0 (nothing to gain), nor with ADJ_TIER
/// set to 0.
static bool tieringWanted(const EngineOptions &O) {
  const char *Env = std::getenv("ADJ_TIER");
  if (Env && std::strcmp(Env, "0") == 0)
    return false;
  return O.Tiered && O.OptLevel > 0;
}

bool holdsOptimised(int Hold, unsigned CPUs) {
  return Hold > 0 || (Hold < 0 && CPUs <= 2);
}

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

std::string pipelineFor(Stage Last, bool Fuse, bool Mpi) {
  std::string P = Mpi ? "autodiff,allreduce,optimizer" : "autodiff,optimizer";
  if (Last <= Stage::Grad)
    return P;
  return P + (Fuse ? ",canonicalize,constant-fold,cse,dce,fuse"
                   : ",canonicalize,constant-fold,cse,dce");
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

llvm::Expected<PassManager> passPipeline(const std::string &Pipeline,
                                         PassManagerOptions Opts) {
  PassManager PM(std::move(Opts));
  std::string Err;
  if (!PM.parsePipeline(Pipeline, Err))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        fmt::format("cannot build the pass pipeline '{}': {}", Pipeline, Err));
  return PM;
}

bool Engine::fail(llvm::Error E) {
  Err << Prog << ": error: " << llvm::toString(std::move(E)) << "\n";
  return false;
}

bool Engine::runPipeline(Module &M, const TrainSpec &Train, Stage Last,
                         std::ostream &Log) {
  auto PM = passPipeline(pipelineFor(Last, Opts.Fuse, Opts.Mpi), Opts.Passes);
  if (!PM)
    return fail(PM.takeError());
  PassContext Ctx;
  Ctx.Optimizer = optimizerConfig(Train.Optimizer, Opts.Optimizer);
  Ctx.Optimizer.ClipNorm = Train.ClipNorm;
  Ctx.Optimizer.LrMult = Train.LrMult;
  bool Ok = PM->run(M, Ctx, Log);
  PassTimes = PM->timings();
  reportPassErrors(Ctx, Diags, Prog, Err);
  return Ok;
}

bool Engine::lowerModule(const Module &M, llvm::LLVMContext &Ctx,
                         std::unique_ptr<llvm::Module> &Out) {
  auto LM = lowerToLLVM(M, Ctx, Opts.Lower);
  if (!LM)
    return fail(LM.takeError());
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
    fail(TM.takeError());
    return nullptr;
  }
  optimizeLLVM(*LM, **TM, Opts.OptLevel);
  return std::move(*TM);
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
    if (!Asm)
      return fail(Asm.takeError());
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
  if (!Ok || !addPredict(Spec, *M))
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

bool Engine::addPredict(const ModelSpec &Spec, Module &M) {
  if (!Spec.Predict)
    return true;
  std::unique_ptr<Module> P = Spec.Predict->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*P);
  PassManagerOptions PO;
  PO.VerifyEach = Opts.Passes.VerifyEach;
  auto PM = passPipeline(Opts.Fuse ? "canonicalize,constant-fold,cse,dce,fuse"
                                   : "canonicalize,constant-fold,cse,dce",
                         PO);
  if (!PM)
    return fail(PM.takeError());
  PassContext Ctx;
  std::ostringstream Log;
  bool Ok = PM->run(*P, Ctx, Log);
  reportPassErrors(Ctx, Diags, Prog, Err);
  if (!Ok)
    return false;
  for (auto &F : P->Functions)
    M.Functions.push_back(std::move(F));
  return true;
}

std::unique_ptr<CompiledModel>
Engine::compile(std::unique_ptr<ModelSpec> Spec) {
  // The frontend (parse, sema, lowering to @forward) ran in the caller. The
  // verifier checks the IR on entry to the pass pipeline and after each
  // pass; each stage reports its time into Timer.
  CompileTimer Timer;
  auto CM = std::make_unique<CompiledModel>();
  CM->CompileStart = std::chrono::steady_clock::now();
  // autodiff, optimizer, canonicalize, constant-fold, cse, dce, fuse (unless
  // -disable-fuse)
  if (!runPasses(*Spec, *CM, Timer))
    return nullptr;
  // The JIT, and the object cache's entry for the optimised Adjoint IR: on
  // a hit its objects are linked and LLVM is never involved.
  if (!createJIT(*CM, Timer))
    return nullptr;
  std::string Key;
  if (!loadCachedObjects(*CM, Key, Timer))
    return nullptr;
  if (CM->CacheState != "hit") {
    LLVMCode Code;
    // codegen: @forward and @train_step as LLVM IR
    if (!lowerToLLVMIR(*CM, Code, Timer))
      return nullptr;
    // LLVM optimisation, object code and link (the entry written under Key)
    if (!jitCompile(*CM, Code, Key, Timer))
      return nullptr;
  }
  // The scratch arena at the model's batch size, planned as lowering does.
  if (const Function *Step = CM->IR->function("train_step"))
    CM->ArenaBytes = planStep(*Step, Opts.Lower, CM->IR.get())
                         .Arena.bytes(Spec->Train.Batch);
  // the compiled functions by name and role, for the runtime
  if (!describeForRuntime(*Spec, *CM, Timer))
    return nullptr;
  reportTimes(*Spec, *CM, Timer);
  CM->Spec = std::move(Spec);
  return CM;
}

bool Engine::runPasses(const ModelSpec &Spec, CompiledModel &CM,
                       CompileTimer &T) {
  // The pass manager keeps its times: -time-passes prints them in one table
  // with the LLVM stages.
  bool Deferred = Opts.Passes.DeferTimingReport;
  Opts.Passes.DeferTimingReport = true;
  CM.IR = buildIR(Spec, /*AllOptimizers=*/false);
  Opts.Passes.DeferTimingReport = Deferred;
  if (!CM.IR)
    return false;
  T.passesEnded(PassTimes);
  return true;
}

bool Engine::createJIT(CompiledModel &CM, CompileTimer &T) {
  auto J = JIT::create(Opts.OptLevel,
                       Opts.ObjectCache ? defaultObjectCacheDir() : "");
  if (!J)
    return fail(J.takeError());
  CM.Jit = std::move(*J);
  T.jitCreated();
  return true;
}

std::string Engine::cacheContent(const Module &M) const {
  // Everything lowerToLLVM reads: the module (its text is complete:
  // print(parse(print(x))) is byte-identical) and the lowering options.
  return fmt::format("adjoint-ir loop-groups={} in-place={}\n",
                     Opts.Lower.GroupLoops, Opts.Lower.InPlace) +
         printModule(M);
}

bool Engine::loadCachedObjects(CompiledModel &CM, std::string &Key,
                               CompileTimer &T) {
  CM.CacheState = CM.Jit->stats().cacheName();
  if (CM.Jit->stats().Cache == JITStats::Off)
    return true;
  Key = CM.Jit->cacheKey(cacheContent(*CM.IR));
  T.cacheKeyed();
  auto Hit = CM.Jit->addCachedObjects(Key);
  if (!Hit)
    return fail(Hit.takeError());
  CM.CacheState = CM.Jit->stats().cacheName();
  if (*Hit)
    T.jitEnded(CM.Jit->stats(), Opts.OptLevel);
  return true;
}

bool Engine::lowerToLLVMIR(CompiledModel &CM, LLVMCode &Code, CompileTimer &T) {
  Code.Ctx = std::make_unique<llvm::LLVMContext>();
  if (!lowerModule(*CM.IR, *Code.Ctx, Code.M))
    return false;
  T.loweringEnded();
  return true;
}

bool Engine::jitCompile(CompiledModel &CM, LLVMCode &Code,
                        const std::string &Key, CompileTimer &T) {
  // Trampolines for the step functions the description resolves (@forward,
  // @train_step, @predict): at most 4 with the checked step.
  if (tieringWanted(Opts))
    CM.Tiers = TieredFunctions::create(4);
  if (CM.Tiers) {
    TieredFunctions *Tiers = CM.Tiers.get();
    JIT *Jit = CM.Jit.get();
    auto OnOptimised = [Tiers, Jit](bool Ok) {
      if (!Ok)
        return Tiers->abandon();
      Tiers->publish([Jit](const std::string &Name) -> void * {
        auto Sym = Jit->lookupOptimised(Name);
        if (!Sym) {
          llvm::consumeError(Sym.takeError());
          return nullptr;
        }
        return *Sym;
      });
    };
    if (holdsOptimised(Opts.HoldOptimised, usableCPUs())) {
      Jit->holdOptimised();
      Tiers->onFirstReturn([Jit] { Jit->releaseOptimised(); });
    }
    std::function<void(const std::string &)> OnQuick;
    if (Opts.DeferQuick && !Opts.Passes.TimePasses) {
      std::ostream *ErrOS = &Err;
      Tiers->deferQuick([ErrOS, Prog = Prog](const std::string &Msg) {
        *ErrOS << Prog << ": error: jit: " << Msg << "\n";
      });
      auto Start = CM.CompileStart;
      OnQuick = [Tiers, Jit, Start](const std::string &Error) {
        if (!Error.empty())
          return Tiers->failQuick(Error);
        adj_rt_note_compile_seconds(
            std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                          Start)
                .count());
        Tiers->publishQuick([Jit](const std::string &Name, void (**Release)(),
                                  std::string &Err) -> adj_rt_step_fn {
          auto Sym = Jit->lookupQuick(Name);
          if (!Sym) {
            Err = llvm::toString(Sym.takeError());
            return nullptr;
          }
          if (auto R = Jit->lookupQuick(Name + kScratchReleaseSuffix))
            *Release = reinterpret_cast<void (*)()>(*R);
          else
            llvm::consumeError(R.takeError());
          return adj_rt_step_fn(*Sym);
        });
      };
    }
    bool Deferred = bool(OnQuick);
    if (auto E = CM.Jit->addModuleTiered(std::move(Code.M), std::move(Code.Ctx),
                                         Key, OnOptimised, std::move(OnQuick)))
      return fail(std::move(E));
    adj_rt_note_tiered();
    if (Deferred) {
      // The background thread writes the JIT's figures until the quick code
      // is linked: none are read here.
      CM.CacheState = CM.Jit->stats().cacheName();
      T.jitEnded(JITStats(), Opts.OptLevel);
      return true;
    }
  } else if (auto E = CM.Jit->addModule(std::move(Code.M), std::move(Code.Ctx),
                                        Key)) {
    return fail(std::move(E));
  }
  CM.CacheState = CM.Jit->stats().cacheName();
  T.jitEnded(CM.Jit->stats(), Opts.OptLevel);
  return true;
}

bool Engine::describeForRuntime(const ModelSpec &Spec, CompiledModel &CM,
                                CompileTimer &T) {
  std::string LookupErr;
  auto Resolve = [&](const std::string &Name) -> void * {
    if (CM.Tiers && !CM.Tiers->QuickReady.load()) {
      // Deferred: the trampoline resolves its quick code later.
      adj_rt_step_fn Fn =
          CM.Tiers->add(Name, nullptr, nullptr, Name == "train_step");
      if (!Fn)
        LookupErr = "too many tiered functions";
      return reinterpret_cast<void *>(Fn);
    }
    if (CM.Tiers) {
      // A trampoline starting on the quick code.
      auto Sym = CM.Jit->lookupQuick(Name);
      if (!Sym) {
        LookupErr = llvm::toString(Sym.takeError());
        return nullptr;
      }
      void *Release = nullptr;
      if (auto R = CM.Jit->lookupQuick(Name + kScratchReleaseSuffix))
        Release = *R;
      else
        llvm::consumeError(R.takeError());
      adj_rt_step_fn Fn = CM.Tiers->add(Name, adj_rt_step_fn(*Sym),
                                        reinterpret_cast<void (*)()>(Release),
                                        Name == "train_step");
      if (!Fn)
        LookupErr = "too many tiered functions";
      return reinterpret_cast<void *>(Fn);
    }
    auto Sym = CM.Jit->lookup(Name);
    if (!Sym) {
      LookupErr = llvm::toString(Sym.takeError());
      return nullptr;
    }
    return *Sym;
  };
  CM.Description = std::make_unique<ModelDescription>(
      *CM.IR, Spec, optimizerName(Spec), Resolve, Opts.Lower);
  CM.CheckOpts = Opts;
  CM.Description->setCheckProvider(&Engine::compileCheckStep, &CM);
  if (!LookupErr.empty()) {
    Err << Prog << ": error: " << LookupErr << "\n";
    return false;
  }
  T.lookupEnded();
  return true;
}

void Engine::reportTimes(const ModelSpec &Spec, CompiledModel &CM,
                         const CompileTimer &T) {
  CM.StageSeconds = T.stages();
  CM.CompileSeconds = T.totalSeconds();
  if (Opts.Passes.TimePasses)
    Err << T.report(CM.Jit->stats(), CM.IR->function("train_step"), Opts.Lower,
                    CM.ArenaBytes, Spec.Train.Batch);
}

const adj_rt_model &CompiledModel::runtimeModel() const {
  return Description->model();
}

} // namespace adj
