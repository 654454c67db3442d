//===- PassesIncludesLLVM.cpp - A forbidden include: passes -> LLVM -------===//
///
/// Compiled with the passes' include path (tests/CMakeLists.txt, test
/// layering-compile-passes): must fail, because LLVM's headers are on the
/// include path of codegen and its users only. Not built by default.
///
//===----------------------------------------------------------------------===//
#include "llvm/Support/raw_ostream.h"
