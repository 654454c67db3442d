//===- CSE.h - Common-subexpression elimination -----------------*- C++ -*-===//
#ifndef ADJ_PASSES_CSE_H
#define ADJ_PASSES_CSE_H

#include "passes/Pass.h"

namespace adj {
/// Merges ops with the same kind, operands, attributes and type.
std::unique_ptr<Pass> createCSEPass();
} // namespace adj

#endif
