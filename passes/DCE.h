//===- DCE.h - Dead-code elimination ----------------------------*- C++ -*-===//
#ifndef ADJ_PASSES_DCE_H
#define ADJ_PASSES_DCE_H

#include "passes/Pass.h"

namespace adj {
/// Removes ops whose results reach no function result.
std::unique_ptr<Pass> createDCEPass();
/// The same on one function; returns the number of ops removed.
unsigned eliminateDeadOps(Function &F);
} // namespace adj

#endif
