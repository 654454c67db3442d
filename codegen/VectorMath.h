//===- VectorMath.h - exp, log, tanh and sigmoid that vectorise -*- C++ -*-===//
///
/// Internal to codegen. Math functions emitted inline with an IRBuilder on
/// a float or double scalar or vector: exp, log, tanh and sigmoid as
/// branch-free polynomials that LLVM's vectoriser turns into vector code
/// (libm calls would stay scalar), a call of an overloaded LLVM intrinsic,
/// and libm calls for the rest (once per lane on vectors). Kernel's exp,
/// log, tanh, sigmoid, intrinsic and libm forward here, so kernels write
/// `K.exp(X)`.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_VECTORMATH_H
#define ADJ_CODEGEN_VECTORMATH_H

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"

namespace adj::cg::vmath {

/// The intrinsic \p ID overloaded on the type of Args[0].
llvm::Value *intrinsic(llvm::IRBuilderBase &B, llvm::Intrinsic::ID ID,
                       llvm::ArrayRef<llvm::Value *> Args);
/// e^x without libm: a branch-free polynomial that vectorises (see .cpp).
llvm::Value *exp(llvm::IRBuilderBase &B, llvm::Value *X);
/// log(x), tanh(x) and 1 / (1 + e^-x) without libm: branch-free, they
/// vectorise (<= 2 ulp; see .cpp).
llvm::Value *log(llvm::IRBuilderBase &B, llvm::Value *X);
llvm::Value *tanh(llvm::IRBuilderBase &B, llvm::Value *X);
llvm::Value *sigmoid(llvm::IRBuilderBase &B, llvm::Value *X);
/// Calls libm's \p Name (`tanh`) or its float variant (`tanhf`), declared
/// in the module B inserts into; on a vector, once per lane.
llvm::Value *libm(llvm::IRBuilderBase &B, const char *Name, llvm::Value *X);

} // namespace adj::cg::vmath

#endif
