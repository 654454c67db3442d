//===- adj-opt.cpp - IR in, passes, IR out --------------------------------===//
///
/// The `opt` of Adjoint: reads textual IR (a file or '-' for stdin),
/// verifies it, runs the `-passes=` pipeline from the shared registry with
/// the verifier between passes, and prints the result. Bad IR gets a
/// `file.air:line:col: error: …` diagnostic and exit status 1.
///
//===----------------------------------------------------------------------===//
#include "frontend/Diagnostics.h"
#include "ir/Dot.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "tools/engine/PassFlags.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/InitLLVM.h>
#include <sstream>

using namespace llvm;

static cl::OptionCategory Cat("adj-opt options");
static cl::opt<std::string> InputFile(cl::Positional, cl::desc("FILE.air"),
                                      cl::init("-"), cl::cat(Cat));
static cl::opt<std::string> OutputFile("o", cl::desc("output file"),
                                       cl::value_desc("FILE"), cl::init("-"),
                                       cl::cat(Cat));
static cl::opt<std::string>
    Passes("passes", cl::desc("comma-separated pass pipeline"), cl::cat(Cat));
static const std::string OptimizerDesc =
    "optimizer for the 'optimizer' pass: " + adj::optimizerNames(", ");
static cl::opt<std::string> OptimizerName("optimizer", cl::desc(OptimizerDesc),
                                          cl::init(adj::kDefaultOptimizer),
                                          cl::cat(Cat));
static cl::opt<double> Momentum("momentum", cl::desc("sgd momentum"),
                                cl::init(0), cl::cat(Cat));
static cl::opt<bool>
    Nesterov("nesterov", cl::desc("sgd with Nesterov momentum"), cl::cat(Cat));
static cl::opt<bool> EmitDot("emit-dot", cl::desc("print Graphviz dot"),
                             cl::cat(Cat));
static cl::opt<bool> ListPasses("list-passes",
                                cl::desc("list the registered passes"),
                                cl::cat(Cat));

static int fail(const std::string &Msg) {
  std::cerr << "adj-opt: error: " << Msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM X(argc, argv);
  adj::registerPassFlags(Cat);
  cl::HideUnrelatedOptions(Cat);
  cl::ParseCommandLineOptions(argc, argv,
                              "adj-opt - run Adjoint passes on textual IR\n");
  if (ListPasses) {
    for (const adj::PassInfo &P : adj::passRegistry())
      std::cout << fmt::format("  {:<14} {}\n", P.Name, P.Doc);
    return 0;
  }
  adj::PassManagerOptions PO;
  if (std::string Err; !adj::passFlagOptions(PO, Err))
    return fail(Err);

  std::string Text;
  std::string Name = InputFile;
  if (InputFile == "-") {
    std::stringstream SS;
    SS << std::cin.rdbuf();
    Text = SS.str();
    Name = "<stdin>";
  } else {
    std::ifstream In(InputFile, std::ios::binary);
    if (!In)
      return fail(
          fmt::format("cannot open '{}': {}", Name, std::strerror(errno)));
    std::stringstream SS;
    SS << In.rdbuf();
    Text = SS.str();
  }

  adj::DiagEngine Diags(std::cerr);
  Diags.addSource(Name, Text);
  adj::ParseError PE;
  adj::SourceMap Map;
  std::unique_ptr<adj::Module> M = adj::parseModule(Name, Text, PE, &Map);
  if (!M) {
    Diags.error(PE.Where, PE.Message);
    return 1;
  }
  adj::PassManager PM(PO);
  std::string Err;
  if (!PM.parsePipeline(Passes, Err))
    return fail(Err);
  // IR read from text is always verified, with errors pointing into it.
  auto Report = [&](const adj::Loc &L, const std::string &Msg) {
    if (L.known())
      Diags.error(L, Msg);
    else
      fail(Msg);
  };
  std::vector<adj::Violation> VErrs = adj::verify(*M, &Map);
  for (const adj::Violation &V : VErrs)
    Report(V.Where, V.Message);
  if (!VErrs.empty())
    return 1;

  adj::PassContext Ctx;
  Ctx.Optimizer = adj::OptimizerConfig(OptimizerName);
  Ctx.Optimizer.Momentum = Momentum;
  Ctx.Optimizer.Nesterov = Nesterov;
  std::ostringstream Log;
  bool Ok = PM.run(*M, Ctx, Log);
  std::cerr << Log.str();
  for (auto &[L, Msg] : Ctx.Warnings)
    std::cerr << "adj-opt: warning: " << Msg << "\n";
  for (auto &[L, Msg] : Ctx.Errors)
    Report(L, Msg);
  if (!Ok)
    return 1;

  std::string Out = EmitDot ? adj::printDot(*M) : adj::printModule(*M);
  if (OutputFile == "-") {
    std::cout << Out;
    return 0;
  }
  std::ofstream OS(OutputFile, std::ios::binary);
  OS << Out;
  return OS ? 0
            : fail(fmt::format("cannot write '{}'", std::string(OutputFile)));
}
