//===- RuntimeIncludesIR.cpp - A forbidden include: runtime -> ir ---------===//
///
/// Compiled with the runtime's include path (tests/CMakeLists.txt, test
/// layering-compile-runtime): must fail, because the runtime sees only its own
/// headers. Not part of any build target that is built by default.
///
//===----------------------------------------------------------------------===//
#include "ir/IR.h"
