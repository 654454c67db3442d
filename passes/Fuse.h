//===- Fuse.h - Transposes, epilogues and elementwise fusion ----*- C++ -*-===//
#ifndef ADJ_PASSES_FUSE_H
#define ADJ_PASSES_FUSE_H

#include "passes/Pass.h"

namespace adj {
/// Folds transposes of the last two axes into matmul's transpose flags,
/// elementwise ops after a matmul into its `epilogue`, and groups chains of
/// elementwise ops of one shape into `fused` ops.
std::unique_ptr<Pass> createFusePass();
} // namespace adj

#endif
