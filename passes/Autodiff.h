//===- Autodiff.h - Reverse-mode differentiation pass -----------*- C++ -*-===//
#ifndef ADJ_PASSES_AUTODIFF_H
#define ADJ_PASSES_AUTODIFF_H

#include "passes/Pass.h"

namespace adj {

/// Builds @train_step from @forward (see Autodiff.cpp).
std::unique_ptr<Pass> createAutodiffPass();

/// Name of the result holding the gradient of parameter \p Param.
inline std::string gradResultName(const std::string &Param) {
  return "grad." + Param;
}

} // namespace adj

#endif
