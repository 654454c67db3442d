//===- Gemm.h - The 2-D product for matmul and convolutions -----*- C++ -*-===//
///
/// Internal to codegen. The 2-D product of GemmTiles.cpp (class Gemm there:
/// register tiles, packed B panels, K blocks, epilogues), called directly or
/// through the kernel library (GemmLibrary.cpp), as the building block of
/// matmul (MatMul.cpp) and of the convolutions (Conv.cpp), which run one
/// product per image and group on their weights and im2col buffers. Operands
/// are row-major with their natural leading dimensions: A[M, K] (or [K, M] when
/// TA), B[K, N] (or [N, K] when TB), C[M, N].
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
  /// Vectors per register-tile row; 0: from the sizes (TileShape).
  unsigned NV = 0;
  /// A run-time epilogue instead of Epilogue (the library kernels'):
  /// `void EpiFn(ptr EpiEnv, ptr C, i64 r0, i64 r1, i64 c0, i64 c1)`,
  /// called, when EpiFn is not null, on each block of C once its sums are
  /// final, to apply the epilogue to C[r0..r1, c0..c1].
  llvm::Value *EpiFn = nullptr, *EpiEnv = nullptr;
};

/// Emits the product \p G (or the block of it G names) into \p K, serially:
/// a call of the kernel library's GEMM for the ISA (libraryIsa) when there
/// is one, else the product's own code.
void gemm(Kernel &K, const GemmArgs &G);

/// Emits the product \p G with its own register tiles (GemmTiles.cpp),
/// never a library call: what gemm() falls back on, and what the library's
/// variants are generated from.
void emitTiles(Kernel &K, const GemmArgs &G);

/// The register tile: MR rows by NV vectors of VL elements, and MC, the
/// rows per M block of the packed path (a multiple of MR).
struct TileShape {
  unsigned VL, MR, NV;
  int64_t MC;
  unsigned NR() const { return NV * VL; }
};
/// The tile \p G's product runs with on the JIT's target.
TileShape tileShape(const GemmArgs &G);

/// Whether the feature list \p Features (`+avx2,-avx512f,...`) enables
/// \p F.
bool hasFeature(llvm::StringRef Features, llvm::StringRef F);
/// Whether \p Features enable AVX-512F, directly or through a feature that
/// implies it (ADJ_CPU=x86-64-v4 lists only those).
bool hasAVX512F(llvm::StringRef Features);

/// The kernel library's variants (codegen/KernelLib.def): which one a
/// target runs, none when it lacks AVX2 and FMA or ADJ_NO_KERNLIB=1 asks
/// for per-shape kernels, and always none in a build without the library.
enum class KernelIsa { None, AVX2, AVX512 };
/// The variant for the JIT's and native trainers' target (detectHostTarget,
/// so ADJ_CPU=znver3 selects AVX2 on an AVX-512 host).
KernelIsa libraryIsa();
/// The variant a target with \p Features (`+avx2,+fma,...`) can run.
KernelIsa libraryIsaFor(llvm::StringRef Features);
/// The name of a library GEMM, adj_kl_gemm_<isa>_<elt>_<ta><tb>_nv<NV>_<Acc>.
std::string libraryGemmName(KernelIsa Isa, bool F64, bool TA, bool TB,
                            unsigned NV, bool Accumulate);
/// Defines the library GEMM of that name for the target's ISA in \p M (the
/// generator, codegen/kernlib): every size, and the block of C, read at run
/// time from a struct (see GemmLibrary.cpp), C computed as by gemm().
void emitLibraryGemm(llvm::Module &M, KernelIsa Isa, bool F64, bool TA, bool TB,
                     unsigned NV, bool Accumulate);

} // namespace adj::cg

#endif
