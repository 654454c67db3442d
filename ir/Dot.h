//===- Dot.h - Graphviz output of the IR ------------------------*- C++ -*-===//
#ifndef ADJ_IR_DOT_H
#define ADJ_IR_DOT_H

#include "ir/IR.h"

#include <string>

namespace adj {
/// A Graphviz digraph of every function of \p M: one cluster per function,
/// ops as boxes labelled with op and type, forward ops white, adjoint ops
/// (loc grad) orange, parameters green, data inputs blue, optimizer state
/// and hyperparameters grey, results as double octagons (gradients and
/// updated parameters highlighted).
std::string printDot(const Module &M);
} // namespace adj

#endif
