//===- FrontendIncludesRuntime.cpp - Forbidden: frontend -> runtime -------===//
///
/// Compiled with the frontend's include path (tests/CMakeLists.txt, test
/// layering-compile-frontend): must fail, because the frontend sees only its
/// own headers and the IR's. Not built by default.
///
//===----------------------------------------------------------------------===//
#include "runtime/adjoint_rt.h"
