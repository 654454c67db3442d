//===- ConstantFold.h - Folding ops of constants ----------------*- C++ -*-===//
#ifndef ADJ_PASSES_CONSTANTFOLD_H
#define ADJ_PASSES_CONSTANTFOLD_H

#include "passes/Pass.h"

namespace adj {
/// Replaces ops whose operands are all constants by constants.
std::unique_ptr<Pass> createConstantFoldPass();
} // namespace adj

#endif
