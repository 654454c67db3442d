//===- PassFlags.cpp - The pass-pipeline flags of adjc and adj-opt --------===//
///
/// The flags are created on the heap in registerPassFlags (not as statics)
/// so that LLVM's own options of the same names can be renamed first.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/PassFlags.h"

#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

using namespace llvm;

namespace adj {

namespace {
struct Flags {
  cl::opt<bool> PrintAfterAll;
  cl::list<std::string> PrintAfter, PrintBefore;
  cl::opt<bool> TimePasses, VerifyEach;
  explicit Flags(cl::OptionCategory &Cat)
      : PrintAfterAll("print-after-all",
                      cl::desc("print the IR after every pass"), cl::cat(Cat)),
        PrintAfter("print-after", cl::desc("print the IR after PASS"),
                   cl::value_desc("PASS"), cl::CommaSeparated, cl::cat(Cat)),
        PrintBefore("print-before", cl::desc("print the IR before PASS"),
                    cl::value_desc("PASS"), cl::CommaSeparated, cl::cat(Cat)),
        TimePasses("time-passes", cl::desc("print per-pass wall times"),
                   cl::cat(Cat)),
        VerifyEach("verify-each",
                   cl::desc("run the verifier after every pass (default on)"),
                   cl::init(true), cl::cat(Cat)) {}
};
std::unique_ptr<Flags> TheFlags;
} // namespace

void moveLLVMOptionAside(const char *Name) {
  StringMap<cl::Option *> &Opts = cl::getRegisteredOptions();
  auto It = Opts.find(Name);
  if (It == Opts.end())
    return;
  static std::vector<std::unique_ptr<std::string>> NewNames;
  NewNames.push_back(
      std::make_unique<std::string>(std::string("llvm-") + Name));
  cl::Option *O = It->second;
  O->setHiddenFlag(cl::ReallyHidden);
  O->setArgStr(*NewNames.back());
}

void registerPassFlags(cl::OptionCategory &Cat) {
  for (const char *Name : {"print-after-all", "print-after", "print-before",
                           "time-passes", "verify-each"})
    moveLLVMOptionAside(Name);
  TheFlags = std::make_unique<Flags>(Cat);
}

bool passFlagOptions(PassManagerOptions &Out, std::string &Err) {
  Flags &F = *TheFlags;
  for (auto *L : {&F.PrintAfter, &F.PrintBefore})
    for (const std::string &P : *L)
      if (!lookupPass(P)) {
        Err = fmt::format("unknown pass '{}'", P);
        return false;
      }
  Out.VerifyEach = F.VerifyEach;
  Out.PrintAfterAll = F.PrintAfterAll;
  Out.PrintAfter.insert(F.PrintAfter.begin(), F.PrintAfter.end());
  Out.PrintBefore.insert(F.PrintBefore.begin(), F.PrintBefore.end());
  Out.TimePasses = F.TimePasses;
  return true;
}

} // namespace adj
