//===- Verifier.h - IR invariants -------------------------------*- C++ -*-===//
///
/// Checks a module against the IR's invariants, one rule each (see
/// Verifier.cpp for the list). Each violation names the op (`%3 = add`) or
/// the function and carries a location: the place in the .air text when the
/// module was parsed with a SourceMap, else the op's own source location.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_VERIFIER_H
#define ADJ_IR_VERIFIER_H

#include "ir/IR.h"
#include "ir/Parser.h"

#include <string>
#include <vector>

namespace adj {

struct Violation {
  Loc Where; ///< Unknown when neither the text nor the op has a location.
  std::string Message;
};

/// Every violation of the IR's invariants in \p M, in text order.
std::vector<Violation> verify(const Module &M, const SourceMap *Map = nullptr);

/// The same, each as one line: `file:line:col: error: message`, or
/// `error: message` without a location.
std::vector<std::string> verifyModule(const Module &M);

} // namespace adj

#endif
