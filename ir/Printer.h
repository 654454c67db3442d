//===- Printer.h - The IR's text form ---------------------------*- C++ -*-===//
///
/// Prints modules and functions in the text form that ir/Parser reads back:
///
///   func @forward(%x: f32[N,784] {input}, %w1: f32[784,256] {param}) ->
///   (f32[]) {
///     %0 = matmul %x, %w1 : f32[N,256]  loc("mnist_mlp.adj":14:12)
///     return loss = %0
///   }
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_PRINTER_H
#define ADJ_IR_PRINTER_H

#include "ir/IR.h"

#include <string>

namespace adj {

std::string printFunction(const Function &F, const std::string &Batch = "N");
std::string printModule(const Module &M);
/// Counts of ops by mnemonic, for statistics.
std::string opCountSummary(const Function &F);

} // namespace adj

#endif
