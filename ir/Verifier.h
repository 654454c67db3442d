//===- Verifier.h - IR invariants -------------------------------*- C++ -*-===//
///
/// Checks a function or module against the IR's invariants, one rule each:
/// every operand is defined before use in the same function; result types
/// match the op table's shape rules; attributes are valid; constants have a
/// value; argument and result names are unique; hyperparameters are scalars;
/// results name values of the function. Returns the list of violations,
/// each prefixed with the op's location when it has one.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_VERIFIER_H
#define ADJ_IR_VERIFIER_H

#include "ir/IR.h"

#include <string>
#include <vector>

namespace adj {

std::vector<std::string> verifyFunction(const Function &F,
                                        const std::string &Batch = "N");
std::vector<std::string> verifyModule(const Module &M);

} // namespace adj

#endif
