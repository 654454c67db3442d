//===- Optimizer.h - Optimizer-update insertion -----------------*- C++ -*-===//
#ifndef ADJ_PASSES_OPTIMIZER_H
#define ADJ_PASSES_OPTIMIZER_H

#include "passes/Pass.h"

namespace adj {

/// Rewrites @train_step's grad.<p> results into parameter updates with the
/// optimizer of the PassContext (see Optimizer.cpp).
std::unique_ptr<Pass> createOptimizerPass();

/// State slots of an optimizer, e.g. {"m", "v"} for Adam; state arguments
/// are named `opt.<slot>.<param>`.
std::vector<std::string> optimizerSlots(const OptimizerConfig &C);

} // namespace adj

#endif
