//===- PassManager.cpp - Running pass pipelines ---------------------------===//
///
/// The pipeline reads as a list: verify the input, then for each pass print
/// before (if asked), run, verify, print after (if asked), and time it. A
/// verifier failure names the pass that broke the IR.
///
//===----------------------------------------------------------------------===//
#include "passes/Pass.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <chrono>
#include <fmt/format.h>

namespace adj {

const std::vector<PassInfo> &passRegistry() {
  static const std::vector<PassInfo> Registry = {
#define PASS(Name, Factory, Doc) {Name, &Factory, Doc},
#include "passes/Passes.def"
  };
  return Registry;
}

const PassInfo *lookupPass(const std::string &Name) {
  for (const PassInfo &P : passRegistry())
    if (Name == P.Name)
      return &P;
  return nullptr;
}

bool PassManager::parsePipeline(const std::string &Pipeline, std::string &Err) {
  size_t Pos = 0;
  while (Pos <= Pipeline.size()) {
    size_t End = Pipeline.find(',', Pos);
    if (End == std::string::npos)
      End = Pipeline.size();
    std::string Name = Pipeline.substr(Pos, End - Pos);
    Pos = End + 1;
    if (Name.empty())
      continue;
    const PassInfo *P = lookupPass(Name);
    if (!P) {
      Err = fmt::format("unknown pass '{}'", Name);
      return false;
    }
    add(P->Create());
  }
  return true;
}

static bool verifyAfter(const Module &M, const std::string &When,
                        PassContext &Ctx) {
  std::vector<Violation> Errs = verify(M);
  for (const Violation &V : Errs)
    Ctx.error(V.Where, fmt::format("{} ({})", V.Message, When));
  return Errs.empty();
}

std::string formatTimingReport(const StageTimes &Times,
                               const std::vector<std::string> &Notes) {
  double Total = 0;
  for (auto &T : Times)
    Total += T.second;
  std::string Out =
      "===" + std::string(70, '-') + "===\n" +
      "                      Adjoint pass execution timing report\n" +
      "===" + std::string(70, '-') + "===\n" +
      fmt::format("  Total Execution Time: {:.4f} seconds\n\n", Total) +
      "   ---Wall Time---  --- Name ---\n";
  for (auto &T : Times)
    Out += fmt::format("   {:.4f} ({:5.1f}%)  {}\n", T.second,
                       Total > 0 ? 100 * T.second / Total : 0.0, T.first);
  Out += fmt::format("   {:.4f} (100.0%)  Total\n", Total);
  for (const std::string &N : Notes)
    Out += "  " + N + "\n";
  return Out;
}

bool PassManager::run(Module &M, PassContext &Ctx, std::ostream &Log) {
  using Clock = std::chrono::steady_clock;
  if (Opts.VerifyEach && !verifyAfter(M, "on input", Ctx))
    return false;
  Times.clear();
  for (auto &P : Passes) {
    if (Opts.PrintBefore.count(P->name()))
      Log << fmt::format("// -----// IR Dump Before {} //----- //\n{}\n",
                         P->name(), printModule(M));
    auto Start = Clock::now();
    bool Ok = P->run(M, Ctx);
    Times.push_back(
        {P->name(),
         std::chrono::duration<double>(Clock::now() - Start).count()});
    if (!Ok)
      return false;
    if (Opts.VerifyEach &&
        !verifyAfter(M, fmt::format("after pass '{}'", P->name()), Ctx))
      return false;
    if (Opts.PrintAfterAll || Opts.PrintAfter.count(P->name()))
      Log << fmt::format("// -----// IR Dump After {} //----- //\n{}\n",
                         P->name(), printModule(M));
  }
  if (Opts.TimePasses && !Opts.DeferTimingReport)
    Log << formatTimingReport(Times);
  return true;
}

} // namespace adj
