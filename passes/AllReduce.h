//===- AllReduce.h - Gradient all-reduce for data parallelism ---*- C++ -*-===//
#ifndef ADJ_PASSES_ALLREDUCE_H
#define ADJ_PASSES_ALLREDUCE_H

#include "passes/Pass.h"

namespace adj {

/// Packs @train_step's loss and grad.<p> results into one buffer that an
/// `all_reduce` op averages over the ranks of a data-parallel run (adjc
/// --mpi; see AllReduce.cpp). Runs between autodiff and optimizer.
std::unique_ptr<Pass> createAllReducePass();

} // namespace adj

#endif
