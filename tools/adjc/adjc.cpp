//===- adjc.cpp - The Adjoint compiler driver -----------------------------===//
///
/// `adjc MODEL.adj --emit=STAGE` prints any stage of the compilation
/// (ast, ir, grad, opt, llvm, asm); `adjc MODEL.adj --run [options]`
/// JIT-compiles the model and trains it with the runtime's training loop.
/// The stages form an ordered enum, so lowering depth is a comparison.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "tools/engine/Engine.h"
#include "tools/engine/GradCheck.h"
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

static cl::opt<std::string> InputFile(cl::Positional, cl::desc("MODEL.adj"),
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
static cl::opt<bool> GradCheck(
    "gradcheck",
    cl::desc("compare analytic gradients with f64 central differences"),
    cl::cat(AdjcCat));
static cl::opt<std::string> DTypeOpt("dtype",
                                     cl::desc("float type: f32 (default), f64"),
                                     cl::init("f32"), cl::cat(AdjcCat));
static cl::opt<char> OptLevel("O", cl::desc("LLVM optimisation level 0-3"),
                              cl::Prefix, cl::init('2'), cl::cat(AdjcCat));

static cl::opt<int64_t> Epochs("epochs", cl::desc("number of epochs"),
                               cl::init(0), cl::cat(TrainCat));
static cl::opt<int64_t> Steps("steps",
                              cl::desc("stop after N optimizer steps"),
                              cl::init(0), cl::cat(TrainCat));
static cl::opt<int64_t> Batch("batch", cl::desc("batch size"), cl::init(0),
                              cl::cat(TrainCat));
static cl::opt<double> Lr("lr", cl::desc("learning rate"), cl::init(0),
                          cl::cat(TrainCat));
static cl::opt<std::string> Optimizer("optimizer",
                                      cl::desc("sgd, adam or adamw"),
                                      cl::cat(TrainCat));
static cl::opt<int64_t> Seed("seed", cl::desc("random seed"), cl::init(-1),
                             cl::cat(TrainCat));
static cl::opt<bool> NoShuffle("no-shuffle",
                               cl::desc("keep the training data's order"),
                               cl::cat(TrainCat));
static cl::opt<std::string> Report("report",
                                   cl::desc("write a JSON report to FILE"),
                                   cl::value_desc("FILE.json"),
                                   cl::cat(TrainCat));
static cl::opt<bool> Quiet("quiet", cl::desc("no progress output"),
                           cl::cat(TrainCat));
static cl::opt<bool> EvalOnly("eval-only",
                              cl::desc("evaluate without training"),
                              cl::cat(TrainCat));

static int fail(const std::string &Msg) {
  std::cerr << "adjc: error: " << Msg << "\n";
  return 1;
}

static bool writeOutput(const std::string &Text) {
  if (OutputFile == "-") {
    std::cout << Text;
    return true;
  }
  std::ofstream OS(OutputFile, std::ios::binary);
  OS << Text;
  return bool(OS);
}

int main(int argc, char **argv) {
  InitLLVM X(argc, argv);
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  InitializeNativeTargetAsmParser();
  adj::registerPassFlags(PassCat);
  cl::HideUnrelatedOptions({&AdjcCat, &TrainCat, &PassCat});
  cl::ParseCommandLineOptions(argc, argv,
                              "adjc - the Adjoint training compiler\n");

  if (OptLevel < '0' || OptLevel > '3')
    return fail("-O expects 0, 1, 2 or 3");
  if (DTypeOpt != "f32" && DTypeOpt != "f64")
    return fail("--dtype expects f32 or f64");
  if (!Optimizer.empty() && Optimizer != "sgd" && Optimizer != "adam" &&
      Optimizer != "adamw")
    return fail(fmt::format("unknown optimizer '{}' (expected sgd, adam or "
                            "adamw)",
                            std::string(Optimizer)));
  adj::PassManagerOptions PassOpts;
  if (std::string Err; !adj::passFlagOptions(PassOpts, Err))
    return fail(Err);
  if (Emit.getNumOccurrences() + (Run ? 1 : 0) + (GradCheck ? 1 : 0) == 0)
    return fail("nothing to do: give --emit=STAGE, --run or --gradcheck (see "
                "--help)");
  if (Emit.getNumOccurrences() + (Run ? 1 : 0) + (GradCheck ? 1 : 0) > 1)
    return fail("--emit, --run and --gradcheck cannot be used together");
  if (Epochs < 0 || Steps < 0 || Batch < 0 || Lr < 0)
    return fail("--epochs, --steps, --batch and --lr must not be negative");

  adj::DiagEngine Diags(std::cerr);
  std::ifstream In(InputFile, std::ios::binary);
  if (!In)
    return fail(fmt::format("cannot open '{}': {}", std::string(InputFile),
                            std::strerror(errno)));
  std::stringstream Buf;
  Buf << In.rdbuf();
  std::string Source = Buf.str();

  if (Emit.getNumOccurrences() && Emit == adj::Stage::AST) {
    std::string Out;
    if (!adj::dumpAST(InputFile, Source, Diags, Out))
      return 1;
    return writeOutput(Out) ? 0 : fail("cannot write '" + OutputFile + "'");
  }

  std::unique_ptr<adj::ModelSpec> Spec =
      adj::compileModelSource(InputFile, Source, Diags);
  if (!Spec || Diags.hasErrors())
    return 1;

  if (GradCheck) {
    adj::GradCheckOptions GO;
    GO.Batch = Batch ? int64_t(Batch) : 3;
    GO.Seed = Seed >= 0 ? uint64_t(Seed) : 0;
    for (const adj::LabelSpec &L : Spec->Labels)
      GO.Classes[L.Input] = L.Classes;
    adj::GradCheckResult R = adj::gradCheck(*Spec->M, GO);
    std::cout << adj::formatGradCheck(R);
    return R.Ok ? 0 : 1;
  }

  adj::EngineOptions EO;
  EO.OptLevel = OptLevel - '0';
  EO.Elt = DTypeOpt == "f64" ? adj::DType::F64 : adj::DType::F32;
  EO.Optimizer = Optimizer;
  EO.Passes = PassOpts;
  adj::Engine E(EO, Diags, std::cerr, "adjc");

  if (!Run) {
    std::string Out;
    if (!E.emit(*Spec, Emit, Out))
      return 1;
    return writeOutput(Out) ? 0 : fail("cannot write '" + OutputFile + "'");
  }

  std::unique_ptr<adj::CompiledModel> CM = E.compile(std::move(Spec));
  if (!CM)
    return 1;
  adj_rt_options O;
  adj_rt_options_init(&O);
  O.epochs = Epochs;
  O.steps = Steps;
  O.batch = Batch;
  O.lr = Lr;
  O.seed = Seed;
  O.shuffle = NoShuffle ? 0 : 1;
  O.quiet = Quiet;
  O.eval_only = EvalOnly;
  O.report_path = Report.empty() ? nullptr : Report.c_str();
  O.compile_seconds = CM->CompileSeconds;
  if (adj_rt_train(&CM->runtimeModel(), &O) != 0)
    return fail(adj_rt_last_error());
  return 0;
}
