//===- Canonicalize.h - Algebraic identities --------------------*- C++ -*-===//
#ifndef ADJ_PASSES_CANONICALIZE_H
#define ADJ_PASSES_CANONICALIZE_H

#include "passes/Pass.h"

namespace adj {
/// Rewrites ops by a table of algebraic identities to a fixed point.
std::unique_ptr<Pass> createCanonicalizePass();
} // namespace adj

#endif
