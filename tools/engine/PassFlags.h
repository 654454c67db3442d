//===- PassFlags.h - The pass-pipeline flags of adjc and adj-opt -*- C++
//-*-===//
///
/// `-print-after-all`, `-print-after=PASS`, `-print-before=PASS`,
/// `-time-passes` and `-verify-each`, shared by the tools. LLVM's shared
/// library registers options with some of these names for its own pass
/// manager; they are renamed to `llvm-<name>` and hidden before ours are
/// registered, so the tools' flags mean Adjoint passes.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_PASSFLAGS_H
#define ADJ_TOOLS_PASSFLAGS_H

#include "passes/Pass.h"

#include <llvm/Support/CommandLine.h>

namespace adj {

/// Renames an option LLVM's shared library registered under \p Name to
/// `llvm-<Name>` and hides it, so a tool can register its own \p Name.
void moveLLVMOptionAside(const char *Name);

/// Registers the flags in \p Cat; call once, in main, before parsing.
void registerPassFlags(llvm::cl::OptionCategory &Cat);
/// The pass manager options the parsed flags ask for; false with \p Err set
/// when a flag names an unknown pass.
bool passFlagOptions(PassManagerOptions &Out, std::string &Err);

} // namespace adj

#endif
