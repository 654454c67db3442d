//===- Engine.h - Compile a model and train it: the one engine --*- C++ -*-===//
///
/// The library behind `adjc` (and the REPL): it runs the frontend, the pass
/// pipeline (autodiff, optimizer, cleanups) with the verifier between
/// passes, lowers to LLVM, JIT-compiles, and describes the compiled model to
/// the runtime (adj_rt_model) so that the runtime's training loop drives it.
/// Each stage can be printed for inspection.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_ENGINE_H
#define ADJ_TOOLS_ENGINE_H

#include "codegen/StepPlan.h"
#include "frontend/Frontend.h"
#include "passes/ConvertToF64.h"
#include "passes/Pass.h"
#include "runtime/adjoint_rt.h"
#include "tools/engine/Describe.h"

#include <chrono>
#include <llvm/Support/Error.h>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace adj {

class CompileTimer;
class JIT;
class TieredFunctions;
struct LLVMCode;

/// How far to lower: an ordered enum, so depth is a comparison.
enum class Stage { AST, IR, Grad, Opt, LLVM, Asm, Dot };

struct EngineOptions {
  int OptLevel = 2;
  DType Elt = DType::F32; ///< f64 for gradient checks
  std::string Optimizer;  ///< overrides the model's optimizer when set
  PassManagerOptions Passes;
  bool Fuse = true; ///< false: the pipeline without `fuse` (-disable-fuse)
  /// Loop groups and in-place updates (-disable-loop-groups,
  /// -disable-inplace).
  LowerOptions Lower;
  bool ObjectCache = true; ///< compile() uses defaultObjectCacheDir()
  /// Data-parallel training (adjc --mpi): the pipeline all-reduces the
  /// gradients (the allreduce pass) and a native trainer links MPI.
  bool Mpi = false;
  /// Tiered compilation in compile() (JIT::addModuleTiered): training
  /// starts on quickly compiled code and switches to the optimised code
  /// when its background compile ends. Off at -O0, and when ADJ_TIER is 0.
  bool Tiered = true;
  /// With Tiered, compile() returns before the quick code is compiled (the
  /// background thread compiles it, then the optimised code): the caller
  /// loads the data meanwhile and the first step's call waits for it
  /// (TieredFunctions::deferQuick). Not with -time-passes (whose table
  /// needs the compile's figures); --report's compile_seconds is then the
  /// time to the quick code (adj_rt_note_compile_seconds). adjc --run sets
  /// it.
  bool DeferQuick = false;
  /// With Tiered, the optimised tier's compile waits for the first call on
  /// the quick code to return (JIT::holdOptimised): 1 yes, 0 no, -1 when
  /// the process may run on few CPUs (holdsOptimised()).
  int HoldOptimised = -1;
};

/// Whether the optimised tier's compile waits for the first quick step to
/// return, for EngineOptions::HoldOptimised \p Hold on \p CPUs usable CPUs
/// (usableCPUs()). By default it waits on one or two CPUs: there the data
/// load (main thread) and the first step (the runtime's threads, one per
/// CPU) have no CPU to spare, and a background compile of the whole module
/// started as soon as the quick code is linked would share theirs and
/// delay the first step; the first step runs on the quick code either way.
bool holdsOptimised(int Hold, unsigned CPUs);

/// Turns a model's optimizer spec (with an optional override) into the
/// optimizer pass's configuration.
OptimizerConfig optimizerConfig(const OptimizerSpec &S,
                                const std::string &Override);

/// The passes producing @train_step up to \p Last (Grad or Opt); with
/// \p Mpi the gradients are all-reduced before the optimizer.
std::string pipelineFor(Stage Last, bool Fuse = true, bool Mpi = false);

/// A pass manager with the passes of \p Pipeline (comma-separated names);
/// an error names the pipeline and the unknown pass.
llvm::Expected<PassManager> passPipeline(const std::string &Pipeline,
                                         PassManagerOptions Opts = {});

/// Prints user-facing errors of a pass run; \p Prog prefixes errors that
/// have no location.
void reportPassErrors(const PassContext &Ctx, DiagEngine &Diags,
                      const std::string &Prog, std::ostream &OS);

/// A model compiled and loaded into the JIT, with its runtime description.
class CompiledModel {
public:
  ~CompiledModel();
  std::unique_ptr<ModelSpec> Spec;
  std::unique_ptr<Module> IR; ///< @forward and @train_step after all passes
  double CompileSeconds = 0;
  /// When compile() started: a deferred quick tier's compile seconds count
  /// from it.
  std::chrono::steady_clock::time_point CompileStart;
  /// compile()'s stages and their seconds: passes, lower, jit.
  std::vector<std::pair<std::string, double>> StageSeconds;
  /// Bytes of @train_step's scratch arena at the model's batch size (-1:
  /// unknown).
  int64_t ArenaBytes = -1;
  /// Whether the JIT loaded @train_step's object from the on-disk cache:
  /// "hit", "miss", "corrupt" (an entry rejected and rewritten) or "off".
  std::string CacheState = "off";
  /// The description handed to adj_rt_train (points into this object).
  const adj_rt_model &runtimeModel() const;
  /// Whether the step functions were compiled in tiers (then they switch
  /// to the optimised code when it is ready).
  bool tiered() const { return Tiers != nullptr; }
  /// Waits for the optimised tier (nothing when not tiered); then \p Quick
  /// are the quick calls of each step function, \p Seconds the background
  /// compile's wall time, and the result false when it failed.
  bool waitForOptimised(
      std::vector<std::pair<std::string, int64_t>> *QuickCalls = nullptr,
      double *Seconds = nullptr);

private:
  friend class Engine;
  std::unique_ptr<JIT> Jit;
  /// The trampolines of a tiered compile (destroyed before Jit, after its
  /// background compile ended).
  std::unique_ptr<TieredFunctions> Tiers;
  std::unique_ptr<ModelDescription> Description;
  /// The checked step, compiled into Jit on the runtime's first request
  /// (adj_rt_model::check_step): the options to build it with, its IR and
  /// the result (null after a failure).
  EngineOptions CheckOpts;
  std::unique_ptr<Module> CheckIR;
  bool CheckTried = false;
  const adj_rt_check_step *CheckStep = nullptr;
};

/// The checked step of \p Spec (adj_rt_check_step) in a module of its own:
/// @train_step built by autodiff and cleanups, without the optimizer and
/// without fusion, renamed @check_step, and the scan bodies it calls renamed
/// `check.NAME` so that the module can join one holding the model's other
/// functions. Lower it with LowerOptions::CheckFunction = kCheckStepName.
/// Null when a pass fails (the model compiled before, so that is a bug).
std::unique_ptr<Module> buildCheckModule(const ModelSpec &Spec,
                                         const EngineOptions &Opts);

class Engine {
public:
  Engine(EngineOptions Opts, DiagEngine &Diags, std::ostream &Err,
         std::string Prog)
      : Opts(std::move(Opts)), Diags(Diags), Err(Err), Prog(std::move(Prog)) {}

  /// Runs the passes of \p Last's pipeline on a module holding @forward.
  /// Returns false after printing errors (also when the pipeline cannot be
  /// built).
  bool runPipeline(Module &M, const TrainSpec &Train, Stage Last,
                   std::ostream &Log);
  /// Prints \p S (>= Grad) for a compiled spec into \p Out.
  bool emit(ModelSpec &Spec, Stage S, std::string &Out);
  /// Compiles everything and loads it into a JIT.
  std::unique_ptr<CompiledModel> compile(std::unique_ptr<ModelSpec> Spec);
  /// Builds @forward and @train_step (all passes); with \p AllOptimizers
  /// also @train_step_<name> for every other optimizer, so that a native
  /// trainer's --optimizer can choose. Null after printing errors.
  std::unique_ptr<Module> buildIR(const ModelSpec &Spec, bool AllOptimizers);
  /// Optimises the model's @predict (evaluation mode, the `output`) and
  /// adds it to \p M; false after printing errors.
  bool addPredict(const ModelSpec &Spec, Module &M);
  /// The optimizer @train_step uses.
  std::string optimizerName(const ModelSpec &Spec) const;
  /// Compiles a native trainer executable at \p OutPath (see AOT.cpp).
  bool buildTrainer(const ModelSpec &Spec, const std::string &OutPath);
  /// adj_rt_model::check_step of a JIT-compiled model: compiles the checked
  /// step into \p Ctx (a CompiledModel) on first use (Check.cpp).
  static const adj_rt_check_step *compileCheckStep(void *Ctx);

private:
  EngineOptions Opts;
  DiagEngine &Diags;
  std::ostream &Err;
  std::string Prog;
  StageTimes PassTimes; ///< of the last runPipeline

  /// compile()'s stages, in order; each returns false after printing errors
  /// and reports its time into the timer.
  bool runPasses(const ModelSpec &Spec, CompiledModel &CM, CompileTimer &T);
  bool createJIT(CompiledModel &CM, CompileTimer &T);
  /// With an object cache: sets \p Key (from the optimised IR) and links
  /// its entry's objects when there is one (CM.CacheState "hit").
  bool loadCachedObjects(CompiledModel &CM, std::string &Key, CompileTimer &T);
  bool lowerToLLVMIR(CompiledModel &CM, LLVMCode &Code, CompileTimer &T);
  bool jitCompile(CompiledModel &CM, LLVMCode &Code, const std::string &Key,
                  CompileTimer &T);
  bool describeForRuntime(const ModelSpec &Spec, CompiledModel &CM,
                          CompileTimer &T);
  /// Stores the stage times in \p CM; prints the -time-passes table.
  void reportTimes(const ModelSpec &Spec, CompiledModel &CM,
                   const CompileTimer &T);

  /// The text the object cache key hashes for \p M: the module and the
  /// options that decide its lowering to LLVM IR.
  std::string cacheContent(const Module &M) const;
  /// Prints \p E as `Prog: error: message`; returns false.
  bool fail(llvm::Error E);
  bool lowerModule(const Module &M, llvm::LLVMContext &Ctx,
                   std::unique_ptr<llvm::Module> &Out);
  /// Lowers \p M and runs LLVM's pipeline for the host; returns the target
  /// machine used, or null after printing an error.
  std::unique_ptr<llvm::TargetMachine>
  lowerAndOptimize(const Module &M, llvm::LLVMContext &Ctx,
                   std::unique_ptr<llvm::Module> &LM);
};

} // namespace adj

#endif
