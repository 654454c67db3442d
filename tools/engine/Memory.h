//===- Memory.h - Parameter sizes against the machine's memory --*- C++ -*-===//
///
/// Before a mode that allocates a model's parameters (adjc --run and
/// --gradcheck, adj-repl) the sizes of the parameters are checked against
/// the machine's physical memory, so that a huge declared shape is a
/// located error (`file:line:col: error: parameter 'w' f32[100000, 100000]
/// needs 40,000,000,000 bytes ...`) instead of an abort inside LLVM or an
/// "internal error" from the runtime.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_MEMORY_H
#define ADJ_TOOLS_MEMORY_H

#include "frontend/Diagnostics.h"
#include "frontend/Frontend.h"

#include <cstdint>
#include <string>

namespace adj {

/// The machine's physical memory in bytes (the environment variable
/// ADJ_MEMORY_BYTES overrides it, for tests); 0 when unknown.
uint64_t physicalMemoryBytes();

/// \p V with its digits in groups of three: 40,000,000,000.
std::string groupDigits(uint64_t V);

/// Checks that each parameter of \p Spec, and all of them together, fit in
/// physical memory: an error at the parameter's declaration with the bytes
/// it needs otherwise (a size that overflows 64 bits included). \p F64: the
/// values are held as f64 (the gradient check). False after an error.
bool checkParamMemory(const ModelSpec &Spec, DiagEngine &Diags, bool F64);

} // namespace adj

#endif // ADJ_TOOLS_MEMORY_H
