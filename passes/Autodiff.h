//===- Autodiff.h - Reverse-mode differentiation pass -----------*- C++ -*-===//
///
/// The autodiff pass, and its reverse sweep, which the gradient of a scan
/// also uses on the scan's body (passes/ScanGrad.cpp).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_PASSES_AUTODIFF_H
#define ADJ_PASSES_AUTODIFF_H

#include "passes/Pass.h"

#include <unordered_map>
#include <unordered_set>

namespace adj {

/// Builds @train_step from @forward (see Autodiff.cpp).
std::unique_ptr<Pass> createAutodiffPass();

/// Appends to \p F the adjoint graph of its ops for the values that
/// depend on \p Wrt: \p Adjoint holds the seeds (the adjoints of some
/// values, e.g. d loss = 1) and receives the adjoint of every value a
/// gradient reaches, Wrt's included. False after reporting an error.
bool reverseSweep(Module &M, Function &F,
                  const std::unordered_set<const Value *> &Wrt,
                  std::unordered_map<const Value *, Value *> &Adjoint,
                  PassContext &Ctx);

/// Name of the result holding the gradient of parameter \p Param.
inline std::string gradResultName(const std::string &Param) {
  return "grad." + Param;
}

} // namespace adj

#endif
