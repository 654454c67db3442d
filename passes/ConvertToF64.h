//===- ConvertToF64.h - Every f32 value to f64 ------------------*- C++ -*-===//
///
/// The `convert-to-f64` pass: the module in double precision, for gradient
/// checks and `adjc --dtype=f64` (see ConvertToF64.cpp).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_PASSES_CONVERTTOF64_H
#define ADJ_PASSES_CONVERTTOF64_H

#include "passes/Pass.h"

namespace adj {
/// Converts every f32 argument and op result of every function to f64.
std::unique_ptr<Pass> createConvertToF64Pass();
/// The same, called directly (the engine converts before its pipeline).
void convertToF64(Module &M);
} // namespace adj

#endif
