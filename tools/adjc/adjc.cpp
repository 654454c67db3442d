//===- adjc.cpp - The Adjoint compiler driver -----------------------------===//
///
/// `adjc MODEL.adj --emit=STAGE` prints any stage of the compilation
/// (ast, ir, grad, opt, llvm, asm); `adjc MODEL.adj --run [options]`
/// JIT-compiles the model and trains it with the runtime's training loop.
/// The stages form an ordered enum, so lowering depth is a comparison.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "runtime/adjoint_rt_io.h"
#include "tools/engine/Engine.h"
#include "tools/engine/GradCheck.h"
#include "tools/engine/Memory.h"
#include "tools/engine/PassFlags.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/TargetSelect.h>
#include <sstream>

using namespace llvm;

static cl::OptionCategory AdjcCat("adjc options");
static cl::OptionCategory TrainCat("trainer options (with --run)");
static cl::OptionCategory PassCat("pass pipeline options");

static cl::opt<std::string> InputFile(cl::Positional,
                                      cl::desc("MODEL.adj (- reads stdin)"),
                                      cl::Required, cl::cat(AdjcCat));
static cl::opt<adj::Stage> Emit(
    "emit", cl::desc("print a stage of the compilation"),
    cl::values(clEnumValN(adj::Stage::AST, "ast", "the parsed model"),
               clEnumValN(adj::Stage::IR, "ir", "forward IR"),
               clEnumValN(adj::Stage::Grad, "grad",
                          "IR with the adjoint graph and optimizer update"),
               clEnumValN(adj::Stage::Opt, "opt",
                          "IR after the optimisation pipeline"),
               clEnumValN(adj::Stage::LLVM, "llvm", "LLVM IR"),
               clEnumValN(adj::Stage::Asm, "asm", "host assembly"),
               clEnumValN(adj::Stage::Dot, "dot", "Graphviz graph of the IR")),
    cl::cat(AdjcCat));
static cl::opt<std::string> OutputFile("o", cl::desc("output file"),
                                       cl::value_desc("FILE"), cl::init("-"),
                                       cl::cat(AdjcCat));
static cl::opt<bool> Run("run", cl::desc("JIT-compile the model and train it"),
                         cl::cat(AdjcCat));
static cl::opt<bool>
    Mpi("mpi",
        cl::desc("data-parallel training: all-reduce the gradients of every "
                 "step over the ranks of an MPI job; with -o TRAINER, a "
                 "trainer to run under mpirun"),
        cl::cat(AdjcCat));
static cl::opt<bool> GradCheck(
    "gradcheck",
    cl::desc("compare analytic gradients with f64 central differences"),
    cl::cat(AdjcCat));
static cl::opt<std::string> DTypeOpt("dtype",
                                     cl::desc("float type: f32 (default), f64"),
                                     cl::init("f32"), cl::cat(AdjcCat));
static cl::opt<bool> DisableFuse(
    "disable-fuse",
    cl::desc("leave the fuse pass out of the pipeline (unfused kernels)"),
    cl::cat(PassCat));
static cl::opt<bool> DisableLoopGroups(
    "disable-loop-groups",
    cl::desc("give every elementwise op its own loop (no loop groups)"),
    cl::cat(PassCat));
static cl::opt<bool> DisableInPlace(
    "disable-inplace",
    cl::desc("write updated parameters and optimizer state to separate "
             "buffers (no in-place updates)"),
    cl::cat(PassCat));
static cl::opt<char> OptLevel("O", cl::desc("LLVM optimisation level 0-3"),
                              cl::Prefix, cl::init('2'), cl::cat(AdjcCat));

// The trainer options, from the runtime's one table: identical for native
// trainers and `adjc --run`. Values are checked by adj_rt_options_set. They
// are registered in main, after moving aside LLVM options of the same name
// (LLVM has its own -threads).
namespace {
struct TrainerFlag {
  const char *Flag;
  std::unique_ptr<cl::opt<bool>> Bool;
  std::unique_ptr<cl::list<std::string>> Values;
};
} // namespace

static std::vector<TrainerFlag> registerTrainerFlags() {
  std::vector<TrainerFlag> Flags;
  auto Add = [&](const char *Flag, bool IsBool, const char *Value,
                 const char *Help) {
    adj::moveLLVMOptionAside(Flag);
    TrainerFlag F{Flag, nullptr, nullptr};
    if (IsBool)
      F.Bool = std::make_unique<cl::opt<bool>>(StringRef(Flag), cl::desc(Help),
                                               cl::cat(TrainCat));
    else
      F.Values = std::make_unique<cl::list<std::string>>(
          StringRef(Flag), cl::desc(Help), cl::value_desc(Value),
          cl::cat(TrainCat));
    Flags.push_back(std::move(F));
  };
#define OPTION(Name, Flag, Kind, Field, Value, Help)                           \
  Add(Flag, std::string(#Kind) == "Flag" || std::string(#Kind) == "NoFlag",    \
      Value, Help);
#include "runtime/TrainerOptions.def"
  return Flags;
}

/// Stores the trainer options given on the command line into \p O.
static bool setTrainerOptions(const std::vector<TrainerFlag> &Flags,
                              adj_rt_options &O) {
  auto Set = [&](const char *Flag, const char *Value) {
    if (adj_rt_options_set(&O, Flag, Value) == 0)
      return true;
    std::cerr << "adjc: error: " << adj_rt_last_error() << "\n";
    return false;
  };
  for (const TrainerFlag &F : Flags) {
    if (F.Bool && *F.Bool && !Set(F.Flag, nullptr))
      return false;
    if (F.Values)
      for (const std::string &V : *F.Values)
        if (!Set(F.Flag, V.c_str()))
          return false;
  }
  return true;
}

static int fail(const std::string &Msg) {
  std::cerr << "adjc: error: " << Msg << "\n";
  return 1;
}

/// Writes \p Text to -o (stdout for "-"), atomically: a failed write keeps
/// the old file and prints "'FILE': cannot write output: reason".
static int writeOutput(const std::string &Text) {
  if (OutputFile == "-") {
    std::cout << Text;
    std::cout.flush();
    return std::cout ? 0 : fail("cannot write to stdout");
  }
  if (adj_rt_write_file(OutputFile.c_str(), "output", Text.data(), Text.size(),
                        0666))
    return fail(adj_rt_last_error());
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM X(argc, argv);
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  InitializeNativeTargetAsmParser();
  adj::registerPassFlags(PassCat);
  std::vector<TrainerFlag> TrainerFlags = registerTrainerFlags();
  cl::HideUnrelatedOptions({&AdjcCat, &TrainCat, &PassCat});
  cl::ParseCommandLineOptions(argc, argv,
                              "adjc - the Adjoint training compiler\n");

  if (OptLevel < '0' || OptLevel > '3')
    return fail("-O expects 0, 1, 2 or 3");
  if (DTypeOpt != "f32" && DTypeOpt != "f64")
    return fail("--dtype expects f32 or f64");
  adj_rt_options O;
  adj_rt_options_init(&O);
  if (!setTrainerOptions(TrainerFlags, O))
    return 1;
  std::string Optimizer = O.optimizer ? O.optimizer : "";
  if (!Optimizer.empty() && !adj::lookupOptimizer(Optimizer))
    return fail(fmt::format("unknown optimizer '{}' (expected {})", Optimizer,
                            adj::optimizerNames()));
  bool Trainer =
      OutputFile != "-" && !Emit.getNumOccurrences() && !Run && !GradCheck;
  adj::PassManagerOptions PassOpts;
  if (std::string Err; !adj::passFlagOptions(PassOpts, Err))
    return fail(Err);
  if (Emit.getNumOccurrences() + (Run ? 1 : 0) + (GradCheck ? 1 : 0) == 0 &&
      !Trainer)
    return fail("nothing to do: give --emit=STAGE, --run, --gradcheck or -o "
                "TRAINER (see --help)");
  if (Emit.getNumOccurrences() + (Run ? 1 : 0) + (GradCheck ? 1 : 0) > 1)
    return fail("--emit, --run and --gradcheck cannot be used together");

  adj::DiagEngine Diags(std::cerr);
  // `adjc -` reads the model from stdin, named <stdin> in diagnostics; its
  // data paths are relative to the working directory.
  std::stringstream Buf;
  if (InputFile == "-") {
    Buf << std::cin.rdbuf();
    InputFile = "<stdin>";
  } else {
    std::ifstream In(InputFile, std::ios::binary);
    if (!In)
      return fail(fmt::format("cannot open '{}': {}", std::string(InputFile),
                              std::strerror(errno)));
    Buf << In.rdbuf();
  }
  std::string Source = Buf.str();

  if (Emit.getNumOccurrences() && Emit == adj::Stage::AST) {
    std::string Out;
    if (!adj::dumpAST(InputFile, Source, Diags, Out))
      return 1;
    return writeOutput(Out);
  }

  std::unique_ptr<adj::ModelSpec> Spec =
      adj::compileModelSource(InputFile, Source, Diags);
  if (!Spec || Diags.hasErrors())
    return 1;
  // The modes that allocate the parameters refuse sizes beyond memory.
  if ((GradCheck || Run) && !adj::checkParamMemory(*Spec, Diags, GradCheck))
    return 1;

  if (GradCheck) {
    adj::GradCheckOptions GO;
    GO.Batch = O.batch ? O.batch : 3;
    GO.Seed = O.seed >= 0 ? uint64_t(O.seed) : 0;
    GO.Progress = O.quiet ? nullptr : &std::cerr;
    GO.MemoryLimit = adj::physicalMemoryBytes();
    for (const adj::LabelSpec &L : Spec->Labels)
      GO.Classes[L.Input] = L.Classes;
    adj::rangesFromInitialisers(*Spec, GO);
    adj::GradCheckResult R = adj::gradCheck(*Spec->M, GO);
    for (const std::string &W : R.Warnings)
      std::cerr << "adjc: warning: " << W << "\n";
    std::cout << adj::formatGradCheck(R);
    return R.Ok ? 0 : 1;
  }

  adj::EngineOptions EO;
  EO.OptLevel = OptLevel - '0';
  EO.Elt = DTypeOpt == "f64" ? adj::DType::F64 : adj::DType::F32;
  EO.Optimizer = Optimizer;
  EO.Passes = PassOpts;
  EO.Fuse = !DisableFuse;
  EO.Lower.GroupLoops = !DisableLoopGroups;
  EO.Lower.InPlace = !DisableInPlace;
  EO.Mpi = Mpi;
  // --run: the runtime loads the data while the quick tier compiles.
  EO.DeferQuick = Run;
  adj::Engine E(EO, Diags, std::cerr, "adjc");

  if (Trainer)
    return E.buildTrainer(*Spec, OutputFile) ? 0 : 1;

  if (!Run) {
    std::string Out;
    if (!E.emit(*Spec, Emit, Out))
      return 1;
    return writeOutput(Out);
  }

  // The batch the run trains at sizes the arena -time-passes and --report
  // show.
  if (O.batch > 0)
    Spec->Train.Batch = O.batch;
  std::unique_ptr<adj::CompiledModel> CM = E.compile(std::move(Spec));
  if (!CM)
    return 1;
  O.compile_seconds = CM->CompileSeconds;
  O.arena_bytes = CM->ArenaBytes;
  O.object_cache = CM->CacheState.c_str();
  int RC = adj_rt_train(&CM->runtimeModel(), &O);
  if (RC == 1)
    fail(adj_rt_last_error());
  // After the -time-passes table: when the first step ended.
  if (PassOpts.TimePasses && adj_rt_time_to_first_step() >= 0)
    std::cerr << fmt::format("time to first step: {:.4f} s from process start "
                             "(compile {:.4f} s, object cache {})\n",
                             adj_rt_time_to_first_step(), CM->CompileSeconds,
                             CM->CacheState);
  // Tiered: when the optimised code came, and the steps before it.
  if (PassOpts.TimePasses && CM->tiered()) {
    std::vector<std::pair<std::string, int64_t>> Quick;
    double Seconds = 0;
    bool Ok = CM->waitForOptimised(&Quick, &Seconds);
    std::string Calls;
    for (auto &[Name, N] : Quick)
      Calls += fmt::format("{}{} {}", Calls.empty() ? "" : ", ", Name, N);
    std::cerr << fmt::format("tiers: quick code first, optimised code {} "
                             "after a {:.4f} s background compile; calls on "
                             "the quick code: {}\n",
                             Ok ? "linked" : "FAILED", Seconds, Calls);
  }
  adj_rt_options_free(&O);
  return RC; // 0, 1, or 128 + the signal that stopped training
}
