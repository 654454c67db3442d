//===- MatMul.cpp - C[...,M,N] = op(A) @ op(B), op a transpose or not -----===//
///
/// A register-blocked, K-blocked GEMM in the BLIS style, for all four
/// transpose variants (attributes `transpose_a`, `transpose_b`), so the
/// backward pass's X^T @ dY and dY @ W^T read their operands in place.
///
/// The vector width VL comes from the host (512 bits with AVX-512F, else
/// 256). C is covered by MR x NR register tiles (MR = 8 rows with AVX-512's
/// 32 registers, 6 with AVX2's 16; NR = NV vectors, NV = 2, or 1 when N
/// fits in one vector), whose MR * NV vector accumulators stay in
/// registers while k runs over a block of KC: per k, NV vector loads of
/// B's row, MR broadcasts of A's column and MR * NV fused multiply-adds.
/// K is blocked by KC so that a KC x NR panel of B stays in L1; a panel of a
/// transposed B (B[j, k]) is first packed into a contiguous KC x NR stack
/// buffer, so the tile always reads contiguous vectors. Edges need no
/// scalar code: the last column tile masks its loads and stores, and the
/// last row tile clamps its row indices to M - 1 (the duplicated rows
/// compute and store the same values, and every tile reads all of its C
/// rows before it writes any). Tiny and skinny products (the last layer's
/// N = 10) are thus one or two masked tiles. M, K and N may each be the
/// run-time batch size.
///
/// Batched products a[..., M, K] @ b[..., K, N] loop over the result's
/// leading dims (NumPy-broadcast from the operands', stride 0 where an
/// operand is broadcast) and run the 2-D code on each matrix.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Kernel.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

namespace {
constexpr int64_t kKC = 256; ///< K block: a KC x NR panel of B fits in L1.
constexpr unsigned kNV = 2;  ///< Vectors per row of a register tile.

struct GemmArgs {
  Type *T;
  Extent NE;        ///< N, to size the tile statically when N is small.
  Value *M, *K, *N; ///< Sizes.
  Value *A, *B, *C; ///< Operands and the row-major result C[M,N].
  bool TA, TB;      ///< A stored [K,M]; B stored [N,K].
};
} // namespace

unsigned hostVectorBits() {
  static const unsigned Bits =
      detectHostTarget().Features.find("+avx512f") != std::string::npos ? 512
                                                                        : 256;
  return Bits;
}

/// One 2-D product.
static void gemm(Kernel &K, const GemmArgs &G) {
  IRBuilder<> &B = K.B;
  unsigned EltBits = G.T->getPrimitiveSizeInBits();
  unsigned VL = hostVectorBits() / EltBits;
  unsigned MR = hostVectorBits() >= 512 ? 8 : 6;
  unsigned NV = kNV;
  if (G.NE.Pow == 0 && G.NE.Mul <= int64_t(VL))
    NV = 1;
  unsigned NR = NV * VL;
  auto *VT = FixedVectorType::get(G.T, VL);
  Align EltAlign(EltBits / 8);
  Value *Zero = Constant::getNullValue(VT);
  Value *One = K.i64(1);
  Value *Lanes;
  {
    SmallVector<Constant *, 16> L;
    for (unsigned I = 0; I < VL; ++I)
      L.push_back(B.getInt64(I));
    Lanes = ConstantVector::get(L);
  }
  Value *MLast = B.CreateSub(G.M, One, "m.last");
  Value *NFull = B.CreateSub(G.N, B.CreateURem(G.N, K.i64(NR)), "n.tiles");
  // Strides of A(i, k) and B(k, j).
  Value *SAi = G.TA ? One : G.K, *SAk = G.TA ? G.M : One;
  Value *Pack = nullptr;
  if (G.TB) {
    BasicBlock &Entry = K.Fn->getEntryBlock();
    IRBuilder<> EB(&Entry, Entry.begin());
    auto *PT = ArrayType::get(G.T, kKC * NR);
    auto *AI = EB.CreateAlloca(PT, nullptr, "pack");
    AI->setAlignment(Align(64));
    Pack = AI;
  }

  // The tile at (I0, J0) over k in [K0, K0 + KC'): Masked for the last
  // columns.
  auto Tile = [&](Value *I0, Value *J0, Value *K0, Value *KLen, bool Masked) {
    std::vector<Value *> Masks(NV);
    if (Masked)
      for (unsigned V = 0; V < NV; ++V) {
        Value *Col = B.CreateAdd(B.CreateVectorSplat(VL, K.add(J0, K.i64(V * VL))),
                                 Lanes);
        Masks[V] = B.CreateICmpULT(Col, B.CreateVectorSplat(VL, G.N));
      }
    auto LoadV = [&](Value *Base, Value *Idx, unsigned V, bool UseMask) {
      Value *P = B.CreateInBoundsGEP(G.T, Base, Idx);
      if (UseMask && Masked)
        return (Value *)B.CreateMaskedLoad(VT, P, EltAlign, Masks[V], Zero);
      return (Value *)B.CreateAlignedLoad(VT, P, EltAlign);
    };
    std::vector<Value *> Rows(MR), CRows(MR), ARows(MR);
    for (unsigned R = 0; R < MR; ++R) {
      Rows[R] = R == 0 ? I0
                       : B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                                           {K.add(I0, K.i64(R)), MLast});
      CRows[R] = K.madd(J0, Rows[R], G.N);
      ARows[R] = K.madd(K.i64(0), Rows[R], SAi);
    }
    // Accumulators start at 0 in the first K block and at C after it.
    Value *First = B.CreateICmpEQ(K0, K.i64(0));
    std::vector<Value *> Acc;
    for (unsigned R = 0; R < MR; ++R)
      for (unsigned V = 0; V < NV; ++V) {
        Value *Old = LoadV(G.C, K.add(CRows[R], K.i64(V * VL)), V, true);
        Acc.push_back(K.var(B.CreateSelect(First, Zero, Old)));
      }
    K.loop(KLen, [&](Value *Kk) {
      Value *KAbs = K.add(K0, Kk);
      Value *BV[kNV];
      for (unsigned V = 0; V < NV; ++V)
        BV[V] = Pack ? LoadV(Pack, K.madd(K.i64(V * VL), Kk, K.i64(NR)), V,
                             false)
                     : LoadV(G.B, K.add(K.madd(J0, KAbs, G.N), K.i64(V * VL)),
                             V, true);
      for (unsigned R = 0; R < MR; ++R) {
        Value *AV = K.load(G.T, G.A, K.madd(ARows[R], KAbs, SAk));
        Value *Splat = B.CreateVectorSplat(VL, AV);
        for (unsigned V = 0; V < NV; ++V) {
          Value *Cur = K.read(VT, Acc[R * NV + V]);
          K.write(Acc[R * NV + V],
                  K.intrinsic(Intrinsic::fmuladd, {Splat, BV[V], Cur}));
        }
      }
    });
    for (unsigned R = 0; R < MR; ++R)
      for (unsigned V = 0; V < NV; ++V) {
        Value *P = B.CreateInBoundsGEP(G.T, G.C,
                                       K.add(CRows[R], K.i64(V * VL)));
        Value *X = K.read(VT, Acc[R * NV + V]);
        if (Masked)
          B.CreateMaskedStore(X, P, EltAlign, Masks[V]);
        else
          B.CreateAlignedStore(X, P, EltAlign);
      }
  };

  // Packs B(k0 .. k0+KLen, J0 .. J0+NR) of a transposed B, whose element
  // (k, j) is B[j * K + k], into Pack[k][NR]; columns past N repeat the
  // last one (their results are masked off).
  auto PackPanel = [&](Value *J0, Value *K0, Value *KLen) {
    Value *NLast = B.CreateSub(G.N, One);
    K.loop(K.i64(NR), [&](Value *J) {
      Value *Col = B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                                     {K.add(J0, J), NLast});
      Value *Src = K.madd(K0, Col, G.K);
      K.loop(KLen, [&](Value *Kk) {
        K.store(K.load(G.T, G.B, K.add(Src, Kk)), Pack,
                K.madd(J, Kk, K.i64(NR)));
      });
    });
  };

  // At least one K block, so that K = 0 still writes zeros.
  Value *KEnd = B.CreateIntrinsic(Intrinsic::umax, {K.i64Ty()}, {G.K, One});
  K.loop(K.i64(0), KEnd, K.i64(kKC), [&](Value *K0) {
    Value *KLen = B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                                    {K.i64(kKC), B.CreateSub(G.K, K0)});
    auto Columns = [&](Value *J0, bool Masked) {
      if (Pack)
        PackPanel(J0, K0, KLen);
      K.loop(K.i64(0), G.M, K.i64(MR),
             [&](Value *I0) { Tile(I0, J0, K0, KLen, Masked); });
    };
    K.loop(K.i64(0), NFull, K.i64(NR), [&](Value *J0) { Columns(J0, false); });
    // The last, partial column tile: a loop of at most one trip.
    K.loop(NFull, G.N, K.i64(NR), [&](Value *J0) { Columns(J0, true); });
  });
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
  const TensorType &AT = O.Operands[0]->type();
  const TensorType &CT = O.type();
  unsigned RA = AT.rank(), RC = CT.rank();
  bool TA = O.boolAttr("transpose_a"), TB = O.boolAttr("transpose_b");
  Extent NE = Extent::dim(CT.Dims[RC - 1]);
  GemmArgs G{eltType(K.Ctx, CT.Elt),
             NE,
             K.get(Extent::dim(CT.Dims[RC - 2])),
             K.get(Extent::dim(AT.Dims[RA - (TA ? 2 : 1)])),
             K.get(NE),
             K.In[0],
             K.In[1],
             K.Out,
             TA,
             TB};
  if (RC == 2)
    return gemm(K, G);
  // Batched: one 2-D product per index of the (broadcast) batch dims.
  const TensorType &BT = O.Operands[1]->type();
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
