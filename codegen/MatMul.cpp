//===- MatMul.cpp - C[...,M,N] = A[...,M,K] @ B[...,K,N] ------------------===//
///
/// A register-blocked GEMM. The bulk of C is covered by MR x NR tiles
/// (6 rows by two 256-bit vectors: 6 x 16 in f32, 6 x 8 in f64) whose 12
/// vector accumulators stay in registers while k runs over the whole inner
/// dimension: per k, two vector loads of B's row, six broadcasts of A's
/// column and twelve fused multiply-adds, so the loop is bound by the FMA
/// units rather than by loads and stores. Column tiles are the outer loop so
/// that one K x NR panel of B is reused by every row tile while it is hot in
/// cache. Edges (the last M % MR rows and N % NR columns) use the plain
/// i, k, j loop with j innermost and contiguous, which the loop vectoriser
/// handles. M, K and N may each be the run-time batch size.
///
/// Batched products a[..., M, K] @ b[..., K, N] loop over the result's
/// leading dims (NumPy-broadcast from the operands', stride 0 where an
/// operand is broadcast) and run the 2-D code on each matrix.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

namespace {
constexpr unsigned kVectorBits = 256; ///< AVX2; fine on AVX-512 too.
constexpr unsigned kMR = 6;           ///< Rows of a register tile.
constexpr unsigned kNV = 2;           ///< Vectors per row of a register tile.

struct GemmArgs {
  Type *T;
  Value *M, *K, *N; ///< Sizes.
  Value *A, *B, *C; ///< Row-major A[M,K], B[K,N] and the result C[M,N].
};
} // namespace

/// C[i, j] = sum_k A[i, k] B[k, j] for i in [RowLo, RowHi), j in [ColLo,
/// ColHi), with j innermost.
static void plainGemm(Kernel &K, const GemmArgs &G, Value *RowLo, Value *RowHi,
                      Value *ColLo, Value *ColHi) {
  Value *A = G.A, *B = G.B, *C = G.C;
  Value *One = K.i64(1);
  K.loop(RowLo, RowHi, One, [&](Value *I) {
    Value *CRow = K.madd(K.i64(0), I, G.N), *ARow = K.madd(K.i64(0), I, G.K);
    K.loop(ColLo, ColHi, One,
           [&](Value *J) { K.store(K.fp(G.T, 0), C, K.add(CRow, J)); });
    K.loop(G.K, [&](Value *Kk) {
      Value *AV = K.load(G.T, A, K.add(ARow, Kk));
      Value *BRow = K.madd(K.i64(0), Kk, G.N);
      K.loop(ColLo, ColHi, One, [&](Value *J) {
        Value *CIdx = K.add(CRow, J);
        Value *BV = K.load(G.T, B, K.add(BRow, J));
        Value *Acc = K.load(G.T, C, CIdx);
        K.store(K.intrinsic(Intrinsic::fmuladd, {AV, BV, Acc}), C, CIdx);
      });
    });
  });
}

/// One 2-D product: register tiles for the bulk, plainGemm for the edges.
static void gemm(Kernel &K, const GemmArgs &G) {
  IRBuilder<> &B = K.B;
  unsigned VL = kVectorBits / G.T->getPrimitiveSizeInBits();
  unsigned NR = kNV * VL;
  auto *VT = FixedVectorType::get(G.T, VL);
  Align EltAlign(G.T->getPrimitiveSizeInBits() / 8);
  auto VecAt = [&](Value *Base, Value *Idx) {
    return B.CreateInBoundsGEP(G.T, Base, Idx);
  };

  Value *MFull = B.CreateSub(G.M, B.CreateURem(G.M, K.i64(kMR)), "m.tiles");
  Value *NFull = B.CreateSub(G.N, B.CreateURem(G.N, K.i64(NR)), "n.tiles");
  K.loop(K.i64(0), NFull, K.i64(NR), [&](Value *J0) {
    K.loop(K.i64(0), MFull, K.i64(kMR), [&](Value *I0) {
      std::vector<Value *> Acc;
      for (unsigned R = 0; R < kMR * kNV; ++R)
        Acc.push_back(K.var(Constant::getNullValue(VT)));
      std::vector<Value *> ARows;
      for (unsigned R = 0; R < kMR; ++R)
        ARows.push_back(K.madd(K.i64(0), K.add(I0, K.i64(R)), G.K));
      K.loop(G.K, [&](Value *Kk) {
        Value *BRow = K.madd(J0, Kk, G.N);
        Value *BV[kNV];
        for (unsigned V = 0; V < kNV; ++V)
          BV[V] = B.CreateAlignedLoad(
              VT, VecAt(G.B, K.add(BRow, K.i64(V * VL))), EltAlign);
        for (unsigned R = 0; R < kMR; ++R) {
          Value *AV = K.load(G.T, G.A, K.add(ARows[R], Kk));
          Value *Splat = B.CreateVectorSplat(VL, AV);
          for (unsigned V = 0; V < kNV; ++V) {
            Value *Cur = K.read(VT, Acc[R * kNV + V]);
            K.write(Acc[R * kNV + V],
                    K.intrinsic(Intrinsic::fmuladd, {Splat, BV[V], Cur}));
          }
        }
      });
      for (unsigned R = 0; R < kMR; ++R) {
        Value *CRow = K.madd(J0, K.add(I0, K.i64(R)), G.N);
        for (unsigned V = 0; V < kNV; ++V)
          B.CreateAlignedStore(K.read(VT, Acc[R * kNV + V]),
                               VecAt(G.C, K.add(CRow, K.i64(V * VL))),
                               EltAlign);
      }
    });
  });
  plainGemm(K, G, MFull, G.M, K.i64(0), G.N);
  plainGemm(K, G, K.i64(0), MFull, NFull, G.N);
}

/// Strides of \p T's matrices over the result's batch dims \p Batch, in
/// elements (0 along the dims \p T is broadcast on).
static Shape matrixStrides(const TensorType &T,
                           const std::vector<int64_t> &Batch) {
  unsigned R = T.rank();
  TensorType Lead(T.Elt, {T.Dims.begin(), T.Dims.end() - 2});
  Extent Mat = Extent::dim(T.Dims[R - 2]) * Extent::dim(T.Dims[R - 1]);
  Shape St = broadcastStrides(Lead, Batch);
  for (Extent &E : St)
    E = E * Mat;
  return St;
}

void emitMatMul(Kernel &K, const Op &O) {
  const TensorType &AT = O.Operands[0]->type(), &BT = O.Operands[1]->type();
  const TensorType &CT = O.type();
  unsigned RA = AT.rank(), RC = CT.rank();
  GemmArgs G{eltType(K.Ctx, CT.Elt),
             K.get(Extent::dim(AT.Dims[RA - 2])),
             K.get(Extent::dim(AT.Dims[RA - 1])),
             K.get(Extent::dim(BT.Dims[BT.rank() - 1])),
             K.In[0],
             K.In[1],
             K.Out};
  if (RC == 2)
    return gemm(K, G);
  // Batched: one 2-D product per index of the (broadcast) batch dims.
  std::vector<int64_t> Batch(CT.Dims.begin(), CT.Dims.end() - 2);
  Shape CSt = matrixStrides(CT, Batch);
  K.forEach(shapeOf(Batch),
            {CSt, matrixStrides(AT, Batch), matrixStrides(BT, Batch)},
            [&](ArrayRef<Value *> Off) {
              GemmArgs One = G;
              One.C = K.B.CreateInBoundsGEP(G.T, K.Out, Off[0]);
              One.A = K.B.CreateInBoundsGEP(G.T, K.In[0], Off[1]);
              One.B = K.B.CreateInBoundsGEP(G.T, K.In[1], Off[2]);
              gemm(K, One);
            });
}

} // namespace adj::cg
