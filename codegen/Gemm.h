//===- Gemm.h - The register-tiled GEMM for other kernels -------*- C++ -*-===//
///
/// Internal to codegen. The 2-D product of MatMul.cpp (class Gemm there:
/// register tiles, packed B panels, K blocks, epilogues) as a building block
/// for other kernels: the convolutions (Conv.cpp) run one product per image
/// and group on their weights and im2col buffers. Operands are row-major
/// with their natural leading dimensions: A[M, K] (or [K, M] when TA),
/// B[K, N] (or [N, K] when TB), C[M, N].
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_GEMM_H
#define ADJ_CODEGEN_GEMM_H

#include "codegen/Kernel.h"

namespace adj::cg {

/// An input of the epilogue after the product, read for C's element (i, j)
/// at Base[i * RowStride + j] or, when ColBcast, Base[i * RowStride].
struct EpilogueInput {
  llvm::Value *Base;
  llvm::Value *RowStride; ///< Constant 0 when broadcast along the rows.
  bool ColBcast;
};

struct GemmArgs {
  llvm::Type *T;
  Extent ME, KE, NE;      ///< Sizes, to specialise the code when static.
  llvm::Value *M, *K, *N; ///< Sizes.
  llvm::Value *A, *B, *C; ///< Operands and the row-major result C[M,N].
  bool TA, TB;            ///< A stored [K,M]; B stored [N,K].
  /// The block of C to compute: rows [Row0, Row1), columns [Col0, Col1);
  /// Row0 a multiple of MR and Col0 of NR, so tiles are those of the whole.
  llvm::Value *Row0 = nullptr, *Row1 = nullptr, *Col0 = nullptr,
              *Col1 = nullptr;
  llvm::ArrayRef<BodyMember> Epilogue = {}; ///< Empty: none.
  std::vector<EpilogueInput> EpiIn = {};    ///< Its inputs i1, i2, ...
  /// C += op(A) op(B) instead of C = op(A) op(B) (no epilogue then).
  bool Accumulate = false;
};

/// Emits the product \p G (or the block of it G names) into \p K, serially.
void gemm(Kernel &K, const GemmArgs &G);

} // namespace adj::cg

#endif
