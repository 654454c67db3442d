//===- GemmTiles.cpp - the register-tiled 2-D product (class Gemm) --------===//
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
/// buffer, so the tile always reads contiguous vectors. Large products pack
/// all of B's panels (the packed path, below kBigMin; also products of few
/// rows with a large B, kWideMinRows), with K blocks four times as long
/// when A spans several M blocks (kBigKC) and a k loop unrolled four times
/// (kUnroll). Each element's sum is
/// the same chain of fused multiply-adds over k whatever the blocking: a
/// K block continues from the partial sums the previous one stored in C. A is
/// read in place: packing it, even into a huge page, measured 25% slower (a
/// copy phase waiting on A's cache and TLB misses that the tiles' FMAs
/// otherwise hide). Edges need no scalar code: the last column tile masks its
/// loads and stores, and the last row tile clamps its row indices to M - 1 (the
/// duplicated rows compute and store the same values, and every tile reads all
/// of its C rows before it writes any). Tiny and skinny products (the last
/// layer's N = 10) are thus one or two masked tiles. M, K and N may each be the
/// run-time batch size.
///
/// An `epilogue` (ir/Body.h) is applied to the accumulators of a tile in
/// the last K block, after the whole reduction and before the store: each
/// register vector is the body's input i0, and its other inputs are loaded
/// as vectors of the tile's columns (a full operand or a bias along the
/// rows), or as one broadcast scalar per row (an operand constant along
/// the rows of C), masked like the tile's own loads on the last columns.
/// Earlier K blocks store the plain partial sums, so the body runs once
/// per element whatever the blocking; it is emitted once per tile variant
/// (plain or packed B, masked or not), behind a branch on the last block.
/// An epilogue's inputs must not alias C, which holds partial sums before
/// the last block.
///
/// Sizes known at compile time trim the variants: a static size below 128
/// rules out the packed path, a static N leaves out the masked or the
/// unmasked column tile when it cannot occur, and a static K up to KC is a
/// single K block (no reloading of C, no branch before the epilogue).
///
/// The 2-D code is the class Gemm, one method per step above: tile (the
/// register tile, with its accumulators, K loop and store), packPanel,
/// kBlocks, columnTiles, and packedPath / plainPath, which nest them.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Gemm.h"

#include <cstdlib>
#include <map>
#include <tuple>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

namespace {
constexpr int64_t kKC = 256; ///< K block: a KC x NR panel of B fits in L1.
/// The packed path's K block when A has more rows than one M block: C,
/// whose partial sums are stored and reloaded once per K block, then makes
/// a quarter as many passes through the caches (512 over 256: 15-20% faster
/// at 1024^3 and 2048^3 on both ISAs; 1024 over 512: 6-10% with AVX-512,
/// 2-3% with AVX2; no faster when one M block reads each slab).
constexpr int64_t kBigKC = 1024;
constexpr unsigned kNV = 2; ///< Vectors per row of a register tile.
/// The packed path's k loop runs kUnroll steps per trip (then the rest one
/// by one): 6-10% faster at 1024^3 and 2048^3 with AVX-512 and AVX2
/// (bench/RESULTS.md), each accumulator's chain of fused multiply-adds
/// unchanged.
constexpr int64_t kUnroll = 4;
/// The packed path's slab of B, KC x NC: 2 MiB (NC = 2048 floats with kKC,
/// 512 with kBigKC), in L3 and on one huge page (adj_rt_gemm_scratch).
constexpr int64_t kSlabBytes = int64_t(2) << 20;
/// Products with M, N and K all at least this large take the packed path:
/// per K block, B's KC x NC slab (a plain B too) is copied once, panel after
/// panel, to a contiguous per-thread buffer (adj_rt_gemm_scratch) that all
/// M blocks then read, so a power-of-two N no longer maps its rows to the
/// same L1 sets, and M is blocked by MC rows (TileShape; fewer for A's
/// power-of-two row strides, rowsPerBlock) so that A's block stays in L2.
constexpr int64_t kBigMin = 128;
/// Products with fewer rows, but at least kWideMinRows of them, take the
/// packed path too when B is large (N >= kBigMin, K * N >= kWideMinB
/// elements): read in place, a B row stride of several KiB (the TF CNN's
/// 3136 x 1024 dense layer at batch 64) misses L1 on every panel, and the
/// slab copy pays for itself over even 32 rows (64 x 3136 x 1024: 58 -> 124
/// GFLOP/s, bench/RESULTS.md).
constexpr int64_t kWideMinRows = 32;
constexpr int64_t kWideMinB = int64_t(1) << 17;
} // namespace

bool hasFeature(StringRef Features, StringRef F) {
  SmallVector<StringRef, 64> All;
  Features.split(All, ',');
  return is_contained(All, ("+" + F).str());
}

bool hasAVX512F(StringRef Features) {
  for (StringRef F :
       {"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"})
    if (hasFeature(Features, F))
      return true;
  return false;
}

unsigned hostVectorBits() {
  static const unsigned Bits =
      hasAVX512F(detectHostTarget().Features) ? 512 : 256;
  return Bits;
}

TileShape tileShape(const GemmArgs &G) {
  unsigned VL = hostVectorBits() / G.T->getPrimitiveSizeInBits();
  bool Wide = hostVectorBits() >= 512;
  unsigned MR = Wide ? 8 : 6;
  bool Narrow = G.NE.Pow == 0 && G.NE.Mul <= int64_t(VL);
  // M blocks of 256 x KC (256 KiB of A) with AVX-512, 168 x KC (168 KiB,
  // BLIS's Haswell value, a third of znver3's 512 KiB L2) with AVX2; 1024
  // rows measured 15-20% slower at 1024^3 and 2048^3 on both
  // (bench/RESULTS.md).
  return {VL, MR, G.NV ? G.NV : Narrow ? 1 : kNV, Wide ? 256 : 168};
}

namespace {
/// Emits one 2-D product, or the block of it GemmArgs names, into a kernel:
/// register tiles (tile), B panels packed for them (packPanel), looped over
/// K blocks (kBlocks) and column tiles (columnTiles) on the packed or the
/// plain path (see the file comment). Built and run once per product.
class Gemm {
public:
  Gemm(Kernel &K, const GemmArgs &G);
  void emit();

private:
  Kernel &K;
  IRBuilder<> &B;
  const GemmArgs &G;
  unsigned VL, MR, NV, NR;          ///< The register tile (TileShape).
  int64_t MC;                       ///< Rows per M block (TileShape).
  Value *Row0, *Row1, *Col0, *Col1; ///< The block of C to compute.
  FixedVectorType *VT;              ///< One vector of VL elements.
  Align EltAlign;
  Value *Zero, *One;
  Value *Lanes;                 ///< <0, 1, ..., VL - 1>.
  Value *MLast;                 ///< Row1 - 1, where the last tile's rows clamp.
  Value *NFull;                 ///< Where the last, partial column tile starts.
  Value *SAi, *SAk;             ///< Strides of A(i, k).
  Value *Pack;                  ///< The stack buffer of a packed KC x NR panel.
  bool MayBig, MustBig;         ///< Whether the packed path may or must run.
  bool FullTiles, PartialTiles; ///< Which column tiles may occur.

  /// The state of one register tile while it is emitted.
  struct Tile {
    Value *I0, *J0, *K0, *KLen;
    bool Masked;   ///< The last columns: loads and stores masked.
    Value *BPanel; ///< The packed panel of B, or null to read B in place.
    bool Unrolled; ///< The k loop unrolled by kUnroll (the packed path).
    std::vector<Value *> Masks; ///< Per vector, its lanes inside C.
    std::vector<Value *> Rows, CRows, ARows; ///< Per row: i, C(i, J0), A(i, 0).
    std::vector<Value *> Acc;                ///< MR x NV accumulator variables.
    /// Epilogue inputs loaded so far, by (input, row, vector).
    std::map<std::tuple<unsigned, unsigned, unsigned>, Value *> Loaded;
  };

  /// Per vector of a column tile at J0, the lanes inside C (all null when
  /// not \p Masked).
  std::vector<Value *> columnMasks(Value *J0, bool Masked);
  /// A vector at Base[Idx], masked by \p Mask unless it is null.
  Value *loadVector(Value *Base, Value *Idx, Value *Mask);

  /// The tile of C at (I0, J0) over k in [K0, K0 + KLen): Masked for the
  /// last columns, reading B from \p BPanel when packed, its k loop
  /// unrolled when \p Unrolled.
  void tile(Value *I0, Value *J0, Value *K0, Value *KLen, bool Masked,
            Value *BPanel, bool Unrolled = false);
  /// The tile's rows (the last tile's clamped to MLast) and their offsets.
  void tileRows(Tile &T);
  /// Accumulators start at 0 in the first K block and at C after it.
  void startAccumulators(Tile &T);
  /// Acc += A(rows, k) * B(k, cols) for k in the tile's K block.
  void multiplyAccumulate(Tile &T);
  /// Input \p I of the epilogue for row \p R and vector \p V of the tile;
  /// inputs broadcast along the rows or columns are loaded once per tile.
  Value *epilogueInput(Tile &T, unsigned I, unsigned R, unsigned V);
  /// Stores the accumulators to C, through the epilogue if \p Epilogue.
  void storeTile(Tile &T, bool Epilogue);

  /// Packs B(K0 .. K0+KLen, J0 .. J0+NR) into Pack[k][NR]; columns past N
  /// repeat the last one (a transposed B) or are zeros (a plain one), and
  /// their results are masked off.
  void packPanel(Value *J0, Value *K0, Value *KLen, bool Masked,
                 Value *Dst = nullptr);
  /// Body(J0, Masked) for the column tiles in [JB, JE), a range of whole
  /// tiles starting at a tile of the product (Col0 + a multiple of NR).
  void columnTilesIn(Value *JB, Value *JE,
                     function_ref<void(Value *, bool)> Body);
  /// Packs B(K0 .. K0+KLen, JB .. JE) into \p Slab, panel after panel
  /// (each as packPanel would, KLen x NR).
  void packSlab(llvm::Value *Slab, llvm::Value *JB, llvm::Value *JE,
                llvm::Value *K0, llvm::Value *KLen);
  /// The rows per M block of the packed path: MC, or fewer when A's row
  /// stride would make a block of MC rows conflict with itself in L2.
  llvm::Value *rowsPerBlock();
  /// Body(K0, KLen) for each K block of \p KC (kKC when null); at least
  /// one, so that K = 0 still writes zeros.
  void kBlocks(function_ref<void(Value *, Value *)> Body, Value *KC = nullptr);
  /// Body(J0, Masked) for the full column tiles, then for the last, partial
  /// one (a loop of at most one trip).
  void columnTiles(function_ref<void(Value *, bool)> Body);
  /// The run-time epilogue (GemmArgs::EpiFn) on rows [I0, I1) of the
  /// column tile at J0, once the K block at K0 of KLen is the last.
  void panelEpilogue(Value *K0, Value *KLen, Value *I0, Value *I1, Value *J0);
  /// The packed path: B packed into slabs of KC x NC, rows blocked by MC.
  void packedPath();
  /// The plain path: B read in place unless transposed.
  void plainPath();
};
} // namespace

Gemm::Gemm(Kernel &K, const GemmArgs &G) : K(K), B(K.B), G(G) {
  TileShape TS = tileShape(G);
  VL = TS.VL;
  MR = TS.MR;
  NV = TS.NV;
  NR = TS.NR();
  MC = TS.MC;
  Row0 = G.Row0 ? G.Row0 : K.i64(0);
  Row1 = G.Row1 ? G.Row1 : G.M;
  Col0 = G.Col0 ? G.Col0 : K.i64(0);
  Col1 = G.Col1 ? G.Col1 : G.N;
  VT = FixedVectorType::get(G.T, VL);
  EltAlign = Align(G.T->getPrimitiveSizeInBits() / 8);
  Zero = Constant::getNullValue(VT);
  One = K.i64(1);
  SmallVector<Constant *, 16> L;
  for (unsigned I = 0; I < VL; ++I)
    L.push_back(B.getInt64(I));
  Lanes = ConstantVector::get(L);
  MLast = B.CreateSub(Row1, One, "m.last");
  NFull = B.CreateSub(Col1, B.CreateURem(B.CreateSub(Col1, Col0), K.i64(NR)),
                      "n.tiles");
  SAi = G.TA ? One : G.K;
  SAk = G.TA ? G.M : One;
  BasicBlock &Entry = K.Fn->getEntryBlock();
  IRBuilder<> EB(&Entry, Entry.begin());
  auto *AI = EB.CreateAlloca(ArrayType::get(G.T, kKC * NR), nullptr, "pack");
  AI->setAlignment(Align(64));
  Pack = AI;

  // Static sizes decide at compile time what would be decided at run
  // time: a size below kBigMin rules out the packed path (all at least
  // kBigMin: only it), a static N that is a multiple of NR leaves no
  // partial column tile (below NR: no full one), and a static K up to KC
  // is one K block (kBlocks).
  auto Static = [](Extent E) { return E.Pow == 0; };
  auto Below = [&](Extent E, int64_t Min) { return Static(E) && E.Mul < Min; };
  MayBig = MustBig = true;
  for (Extent E : {G.ME, G.KE, G.NE}) {
    MayBig &= !Below(E, kBigMin);
    MustBig &= Static(E) && E.Mul >= kBigMin;
  }
  MayBig |= !Below(G.ME, kWideMinRows) && !Below(G.NE, kBigMin) &&
            !(Static(G.KE) && Static(G.NE) && G.KE.Mul * G.NE.Mul < kWideMinB);
  FullTiles = !Static(G.NE) || G.NE.Mul >= NR;
  PartialTiles = !Static(G.NE) || G.NE.Mul % NR != 0;
}

std::vector<Value *> Gemm::columnMasks(Value *J0, bool Masked) {
  std::vector<Value *> Masks(NV);
  if (Masked)
    for (unsigned V = 0; V < NV; ++V) {
      Value *Col =
          B.CreateAdd(B.CreateVectorSplat(VL, K.add(J0, K.i64(V * VL))), Lanes);
      Masks[V] = B.CreateICmpULT(Col, B.CreateVectorSplat(VL, Col1));
    }
  return Masks;
}

Value *Gemm::loadVector(Value *Base, Value *Idx, Value *Mask) {
  Value *P = B.CreateInBoundsGEP(G.T, Base, Idx);
  if (Mask)
    return B.CreateMaskedLoad(VT, P, EltAlign, Mask, Zero);
  return B.CreateAlignedLoad(VT, P, EltAlign);
}

void Gemm::tile(Value *I0, Value *J0, Value *K0, Value *KLen, bool Masked,
                Value *BPanel, bool Unrolled) {
  Tile T;
  T.I0 = I0;
  T.J0 = J0;
  T.K0 = K0;
  T.KLen = KLen;
  T.Masked = Masked;
  T.BPanel = BPanel;
  T.Unrolled = Unrolled;
  T.Masks = columnMasks(J0, Masked);
  tileRows(T);
  startAccumulators(T);
  multiplyAccumulate(T);
  if (G.Epilogue.empty())
    return storeTile(T, false);
  // The epilogue in the last K block only.
  K.ifElse(
      B.CreateICmpUGE(K.add(K0, KLen), G.K), [&] { storeTile(T, true); },
      [&] { storeTile(T, false); });
}

void Gemm::tileRows(Tile &T) {
  T.Rows.resize(MR);
  T.CRows.resize(MR);
  T.ARows.resize(MR);
  for (unsigned R = 0; R < MR; ++R) {
    T.Rows[R] = R == 0 ? T.I0
                       : B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                                           {K.add(T.I0, K.i64(R)), MLast});
    T.CRows[R] = K.madd(T.J0, T.Rows[R], G.N);
    T.ARows[R] = K.madd(K.i64(0), T.Rows[R], SAi);
  }
}

void Gemm::startAccumulators(Tile &T) {
  // From C in every K block when accumulating, else from 0 in the first.
  Value *First = B.CreateICmpEQ(T.K0, K.i64(0));
  for (unsigned R = 0; R < MR; ++R)
    for (unsigned V = 0; V < NV; ++V) {
      if (!G.Accumulate && isa<Constant>(First)) { // The only K block.
        T.Acc.push_back(K.var(Zero));
        continue;
      }
      Value *Old =
          loadVector(G.C, K.add(T.CRows[R], K.i64(V * VL)), T.Masks[V]);
      T.Acc.push_back(
          K.var(G.Accumulate ? Old : B.CreateSelect(First, Zero, Old)));
    }
}

void Gemm::multiplyAccumulate(Tile &T) {
  // A pointer per row at the block's first k, so the loop's addresses are
  // those pointers plus k (MR registers), not row offsets plus K0 + k.
  Value *ABase[16];
  for (unsigned R = 0; R < MR; ++R)
    ABase[R] = B.CreateInBoundsGEP(G.T, G.A, K.madd(T.ARows[R], T.K0, SAk));
  // One step of k, Kk from the block's first.
  auto Step = [&](Value *Kk) {
    Value *KAbs = K.add(T.K0, Kk);
    Value *BV[kNV];
    for (unsigned V = 0; V < NV; ++V)
      BV[V] =
          T.BPanel
              ? loadVector(T.BPanel, K.madd(K.i64(V * VL), Kk, K.i64(NR)),
                           nullptr)
              : loadVector(G.B, K.add(K.madd(T.J0, KAbs, G.N), K.i64(V * VL)),
                           T.Masks[V]);
    for (unsigned R = 0; R < MR; ++R) {
      Value *AV = K.load(G.T, ABase[R], K.madd(K.i64(0), Kk, SAk));
      Value *Splat = B.CreateVectorSplat(VL, AV);
      for (unsigned V = 0; V < NV; ++V) {
        Value *Cur = K.read(VT, T.Acc[R * NV + V]);
        K.write(T.Acc[R * NV + V],
                K.intrinsic(Intrinsic::fmuladd, {Splat, BV[V], Cur}));
      }
    }
  };
  if (!T.Unrolled)
    return K.loop(T.KLen, Step);
  // kUnroll steps per trip, in order, then the last KLen % kUnroll.
  Value *KMain = B.CreateSub(T.KLen, B.CreateURem(T.KLen, K.i64(kUnroll)));
  K.loop(K.i64(0), KMain, K.i64(kUnroll), [&](Value *Kk) {
    for (int64_t U = 0; U < kUnroll; ++U)
      Step(K.add(Kk, K.i64(U)));
  });
  K.loop(KMain, T.KLen, One, Step);
}

Value *Gemm::epilogueInput(Tile &T, unsigned I, unsigned R, unsigned V) {
  const EpilogueInput &In = G.EpiIn[I];
  auto *RS = dyn_cast<ConstantInt>(In.RowStride);
  bool RowBcast = RS && RS->isZero();
  Value *&L = T.Loaded[{I, RowBcast ? 0 : R, In.ColBcast ? 0 : V}];
  if (L)
    return L;
  Value *Row = K.madd(K.i64(0), T.Rows[R], In.RowStride);
  if (In.ColBcast)
    return L = B.CreateVectorSplat(VL, K.load(G.T, In.Base, Row));
  return L = loadVector(In.Base, K.add(K.add(Row, T.J0), K.i64(V * VL)),
                        T.Masks[V]);
}

void Gemm::storeTile(Tile &T, bool Epilogue) {
  for (unsigned R = 0; R < MR; ++R)
    for (unsigned V = 0; V < NV; ++V) {
      Value *P =
          B.CreateInBoundsGEP(G.T, G.C, K.add(T.CRows[R], K.i64(V * VL)));
      Value *X = K.read(VT, T.Acc[R * NV + V]);
      if (Epilogue)
        X = emitBody(K, G.Epilogue, [&](unsigned I) {
          return I ? epilogueInput(T, I - 1, R, V) : X;
        });
      if (T.Masked)
        B.CreateMaskedStore(X, P, EltAlign, T.Masks[V]);
      else
        B.CreateAlignedStore(X, P, EltAlign);
    }
}

void Gemm::packPanel(Value *J0, Value *K0, Value *KLen, bool Masked,
                     Value *Dst) {
  Value *Pack = Dst ? Dst : this->Pack;
  if (G.TB) { // Element (k, j) is B[j * K + k].
    Value *NLast = B.CreateSub(Col1, One);
    K.loop(K.i64(NR), [&](Value *J) {
      Value *Col = B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                                     {K.add(J0, J), NLast});
      Value *Src = K.madd(K0, Col, G.K);
      K.loop(KLen, [&](Value *Kk) {
        K.store(K.load(G.T, G.B, K.add(Src, Kk)), Pack,
                K.madd(J, Kk, K.i64(NR)));
      });
    });
    return;
  }
  std::vector<Value *> Masks = columnMasks(J0, Masked);
  K.loop(KLen, [&](Value *Kk) {
    Value *Src = K.madd(J0, K.add(K0, Kk), G.N);
    for (unsigned V = 0; V < NV; ++V) {
      Value *X = loadVector(G.B, K.add(Src, K.i64(V * VL)), Masks[V]);
      B.CreateAlignedStore(
          X,
          B.CreateInBoundsGEP(G.T, Pack, K.madd(K.i64(V * VL), Kk, K.i64(NR))),
          EltAlign);
    }
  });
}

void Gemm::kBlocks(function_ref<void(Value *, Value *)> Body, Value *KC) {
  if (G.KE.Pow == 0 && G.KE.Mul <= kKC) // At most kKC: one block of any KC.
    return Body(K.i64(0), G.K);
  if (!KC)
    KC = K.i64(kKC);
  Value *KEnd = B.CreateIntrinsic(Intrinsic::umax, {K.i64Ty()}, {G.K, One});
  K.loop(K.i64(0), KEnd, KC, [&](Value *K0) {
    Body(K0, B.CreateIntrinsic(Intrinsic::umin, {K.i64Ty()},
                               {KC, B.CreateSub(G.K, K0)}));
  });
}

void Gemm::columnTiles(function_ref<void(Value *, bool)> Body) {
  if (FullTiles)
    K.loop(Col0, NFull, K.i64(NR), [&](Value *J0) { Body(J0, false); });
  if (PartialTiles)
    K.loop(NFull, Col1, K.i64(NR), [&](Value *J0) { Body(J0, true); });
}

void Gemm::panelEpilogue(Value *K0, Value *KLen, Value *I0, Value *I1,
                         Value *J0) {
  if (!G.EpiFn)
    return;
  Type *Ptr = B.getPtrTy();
  Value *Run = B.CreateAnd(B.CreateICmpUGE(K.add(K0, KLen), G.K),
                           B.CreateIsNotNull(G.EpiFn));
  K.ifElse(
      Run,
      [&] {
        auto *FT = FunctionType::get(
            B.getVoidTy(),
            {Ptr, Ptr, K.i64Ty(), K.i64Ty(), K.i64Ty(), K.i64Ty()}, false);
        B.CreateCall(
            FT, G.EpiFn,
            {G.EpiEnv, G.C, I0, I1, J0, K.min(K.add(J0, K.i64(NR)), Col1)});
      },
      [] {});
}

void Gemm::columnTilesIn(Value *JB, Value *JE,
                         function_ref<void(Value *, bool)> Body) {
  if (FullTiles)
    K.loop(JB, K.min(JE, NFull), K.i64(NR),
           [&](Value *J0) { Body(J0, false); });
  if (PartialTiles)
    K.loop(K.max(JB, NFull), JE, K.i64(NR), [&](Value *J0) { Body(J0, true); });
}

Value *Gemm::rowsPerBlock() {
  if (G.TA)
    return K.i64(MC);
  // A's rows, Stride bytes apart, fall on 64 KiB / gcd(Stride, 64 KiB)
  // distinct offsets modulo a 64 KiB L2 way (Zen 5's 1 MiB, 16 ways; other
  // L2s have as many or more sets), so a block of more rows than half the
  // ways times those offsets evicts itself: at most 64 rows of 2048 floats
  // (measured 10% faster than 256 at 2048^3), 128 of 1024.
  Value *Stride = B.CreateMul(G.K, K.i64(G.T->getPrimitiveSizeInBits() / 8));
  Value *Low = B.CreateAnd(Stride, B.CreateNeg(Stride)); // Its lowest set bit.
  Value *Offsets =
      B.CreateUDiv(K.i64(64 << 10), K.max(K.min(Low, K.i64(64 << 10)), One));
  Value *Rows = B.CreateMul(
      B.CreateUDiv(B.CreateMul(Offsets, K.i64(8)), K.i64(MR)), K.i64(MR));
  return K.max(K.min(Rows, K.i64(MC)), K.i64(MR));
}

void Gemm::packSlab(Value *Slab, Value *JB, Value *JE, Value *K0, Value *KLen) {
  auto Panel = [&](Value *J0) {
    return B.CreateInBoundsGEP(G.T, Slab,
                               B.CreateMul(B.CreateSub(J0, JB), KLen));
  };
  if (G.TB) // Panel by panel: each reads columns of B[j, k] along k.
    return columnTilesIn(JB, JE, [&](Value *J0, bool Masked) {
      packPanel(J0, K0, KLen, Masked, Panel(J0));
    });
  // Row by row, so that B's rows are read in order: per panel, row-wise
  // visits of one line per row touch a page per row (and defeat the
  // hardware prefetcher) on wide products.
  K.loop(KLen, [&](Value *Kk) {
    Value *Src = K.madd(K.i64(0), K.add(K0, Kk), G.N);
    columnTilesIn(JB, JE, [&](Value *J0, bool Masked) {
      std::vector<Value *> Masks = columnMasks(J0, Masked);
      Value *Dst =
          B.CreateInBoundsGEP(G.T, Panel(J0), B.CreateMul(Kk, K.i64(NR)));
      for (unsigned V = 0; V < NV; ++V)
        B.CreateAlignedStore(
            loadVector(G.B, K.add(K.add(Src, J0), K.i64(V * VL)), Masks[V]),
            B.CreateConstInBoundsGEP1_64(G.T, Dst, V * VL), EltAlign);
    });
  });
}

void Gemm::packedPath() {
  unsigned Elt = G.T->getPrimitiveSizeInBits() / 8;
  // Slabs of KC x NC: kKC, or kBigKC when the product has more than one M
  // block (G.M, the whole product's, so every task of a split product
  // blocks alike); NC as wide as kSlabBytes allows.
  Value *BigKC = B.CreateICmpSGT(G.M, K.i64(MC));
  auto Cols = [&](int64_t KC) { return kSlabBytes / (KC * Elt) / NR * NR; };
  Value *KC = B.CreateSelect(BigKC, K.i64(kBigKC), K.i64(kKC));
  Value *NC = B.CreateSelect(BigKC, K.i64(Cols(kBigKC)), K.i64(Cols(kKC)));
  FunctionCallee Scratch =
      K.M.getOrInsertFunction("adj_rt_gemm_scratch", B.getPtrTy(), K.i64Ty());
  Value *Slab = B.CreateCall(
      Scratch, {K.i64(std::max(kKC * Cols(kKC), kBigKC * Cols(kBigKC)) * Elt)});
  Value *MB = rowsPerBlock();
  K.loop(Col0, Col1, NC, [&](Value *JB) {
    Value *JE = K.min(K.add(JB, NC), Col1);
    kBlocks(
        [&](Value *K0, Value *KLen) {
          packSlab(Slab, JB, JE, K0, KLen);
          K.loop(Row0, Row1, MB, [&](Value *IB) {
            Value *IEnd = K.min(K.add(IB, MB), Row1);
            columnTilesIn(JB, JE, [&](Value *J0, bool Masked) {
              Value *P = B.CreateInBoundsGEP(
                  G.T, Slab, B.CreateMul(B.CreateSub(J0, JB), KLen));
              K.loop(IB, IEnd, K.i64(MR), [&](Value *I0) {
                tile(I0, J0, K0, KLen, Masked, P, /*Unrolled=*/true);
              });
              panelEpilogue(K0, KLen, IB, IEnd, J0);
            });
          });
        },
        KC);
  });
}

void Gemm::plainPath() {
  kBlocks([&](Value *K0, Value *KLen) {
    columnTiles([&](Value *J0, bool Masked) {
      if (G.TB)
        packPanel(J0, K0, KLen, Masked);
      K.loop(Row0, Row1, K.i64(MR), [&](Value *I0) {
        tile(I0, J0, K0, KLen, Masked, G.TB ? Pack : nullptr);
      });
      panelEpilogue(K0, KLen, Row0, Row1, J0);
    });
  });
}

void Gemm::emit() {
  if (MustBig)
    return packedPath();
  if (!MayBig)
    return plainPath();
  auto AtLeast = [&](Value *V, int64_t Min) {
    return B.CreateICmpUGE(V, K.i64(Min));
  };
  Value *AllBig =
      B.CreateAnd(B.CreateAnd(AtLeast(G.M, kBigMin), AtLeast(G.N, kBigMin)),
                  AtLeast(G.K, kBigMin));
  Value *WideB = B.CreateAnd(
      B.CreateAnd(AtLeast(G.M, kWideMinRows), AtLeast(G.N, kBigMin)),
      AtLeast(B.CreateMul(G.K, G.N), kWideMinB));
  Value *Big = B.CreateZExt(B.CreateOr(AllBig, WideB), K.i64Ty());
  K.loop(K.i64(0), Big, One, [&](Value *) { packedPath(); });
  K.loop(Big, One, One, [&](Value *) { plainPath(); });
}

void emitTiles(Kernel &K, const GemmArgs &G) { Gemm(K, G).emit(); }

} // namespace adj::cg
