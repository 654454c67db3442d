//===- Dropout.cpp - dropout with vectorised Philox-4x32-10 ---------------===//
///
/// y = dropout(x, seed, step) {p, id}: element i (row-major) of x is kept
/// iff (w >> 8) >= ceil(p 2^24), i.e. (w >> 8) * 2^-24 >= p, where w is
/// word i % 4 of the Philox-4x32-10 block
///
///   key     = (seed, id)
///   counter = (i / 4 mod 2^32, i / 4 >> 32, step, 0)
///
/// with step the float operand rounded toward zero (llvm.fptosi.sat to i64,
/// NaN to 0) modulo 2^32. y = x * m with m = 1 / (1 - p) (rounded to x's
/// type) where kept and 0 where dropped, PyTorch's `input * noise`. The
/// scalar reference, with the same layout, is ir/Philox.h.
///
/// The kernel works on chunks of U = 4 VL elements (VL = i32 lanes of the
/// widest vector register): the VL blocks i / 4 of a chunk go through the
/// ten rounds side by side in <VL x i32> vectors, each 32x32->64-bit
/// product as two multiplies of the even and odd lanes seen as i64 pairs
/// (x86's pmuludq on full registers, the halves shuffled back), then
/// the four word vectors are interleaved into element order, compared with
/// the threshold and turned into the multiplier of <U x T> elements. A last
/// partial chunk uses masked loads and stores. Tasks get whole chunks of
/// the flat tensor; every element's bits depend only on (seed, id, step, i),
/// so the result does not depend on the thread count or the vector width.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "ir/Philox.h"

#include <array>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// Elements per parallel task, at least (~10 cycles of Philox per 4).
constexpr int64_t kDropoutGrain = 16384;

namespace {
using Words = std::array<Value *, 4>;

/// One dropout kernel: its types, key and per-chunk code (file comment).
struct DropoutEmitter {
  Kernel &K;
  IRBuilder<> &B;
  Type *T;                  ///< The element type.
  unsigned VL, U;           ///< Blocks and elements per chunk.
  FixedVectorType *BlockTy; ///< <VL x i32>
  FixedVectorType *EltTy;   ///< <U x T>
  Value *Seed, *Id, *Step;  ///< Key and counter words, splat to VL lanes.
  uint32_t Threshold;
  double Scale;

  DropoutEmitter(Kernel &K, const Op &O, unsigned VL);
  void chunk(Value *I, Value *Mask) const;
};
} // namespace

DropoutEmitter::DropoutEmitter(Kernel &K, const Op &O, unsigned VL)
    : K(K), B(K.B), T(eltType(K.Ctx, O.type().Elt)), VL(VL), U(4 * VL),
      BlockTy(FixedVectorType::get(B.getInt32Ty(), VL)),
      EltTy(FixedVectorType::get(T, U)) {
  double P = O.floatAttr("p");
  Threshold = philox::dropoutThreshold(P);
  Scale = T->isFloatTy() ? double(philox::dropoutScale<float>(P))
                         : philox::dropoutScale<double>(P);
  Value *S = K.load(B.getInt32Ty(), K.In[1], K.i64(0));
  Value *St = K.load(T, K.In[2], K.i64(0));
  Value *St64 = B.CreateIntrinsic(Intrinsic::fptosi_sat, {B.getInt64Ty(), T},
                                  {St}, nullptr, "step");
  Seed = B.CreateVectorSplat(VL, S, "seed");
  Id = B.CreateVectorSplat(VL, B.getInt32(uint32_t(O.intAttr("id"))), "id");
  Step = B.CreateVectorSplat(VL, B.CreateTrunc(St64, B.getInt32Ty()));
}

/// The high and low words of \p M * \p X for X an i32 or a vector of an
/// even number of i32 lanes. Vectors are seen as i64 pairs whose even and
/// odd halves are multiplied separately (x86's pmuludq on full registers),
/// rather than widened to twice as many registers.
static std::pair<Value *, Value *> mulHiLo(IRBuilder<> &B, uint32_t M,
                                           Value *X) {
  Type *Word = X->getType();
  auto *VT = dyn_cast<FixedVectorType>(Word);
  if (!VT || VT->getNumElements() % 2) {
    Type *Wide = Word->getWithNewBitWidth(64);
    Value *P = B.CreateMul(B.CreateZExt(X, Wide), ConstantInt::get(Wide, M));
    return {B.CreateTrunc(B.CreateLShr(P, ConstantInt::get(Wide, 32)), Word),
            B.CreateTrunc(P, Word)};
  }
  unsigned L = VT->getNumElements();
  auto *Pairs = FixedVectorType::get(B.getInt64Ty(), L / 2);
  Value *XP = B.CreateBitCast(X, Pairs);
  Value *C32 = ConstantInt::get(Pairs, 32), *CM = ConstantInt::get(Pairs, M);
  Value *Even =
      B.CreateMul(B.CreateAnd(XP, ConstantInt::get(Pairs, 0xffffffffu)), CM);
  Value *Odd = B.CreateMul(B.CreateLShr(XP, C32), CM);
  // As i32 lanes, Even = [lo0, hi0, lo2, hi2, ...], Odd = [lo1, hi1, ...].
  Value *E32 = B.CreateBitCast(Even, Word), *O32 = B.CreateBitCast(Odd, Word);
  SmallVector<int, 32> HiIdx, LoIdx;
  for (unsigned I = 0; I < L; ++I) {
    unsigned Pair = I / 2 * 2, From = I % 2 ? L : 0;
    LoIdx.push_back(From + Pair);
    HiIdx.push_back(From + Pair + 1);
  }
  return {B.CreateShuffleVector(E32, O32, HiIdx),
          B.CreateShuffleVector(E32, O32, LoIdx)};
}

std::array<Value *, 4> emitPhilox(IRBuilder<> &B, std::array<Value *, 4> C,
                                  Value *K0, Value *K1) {
  Type *Word = C[0]->getType();
  auto MulHiLo = [&](uint32_t M, Value *X) { return mulHiLo(B, M, X); };
  for (unsigned R = 0; R < philox::kRounds; ++R) {
    if (R) {
      K0 = B.CreateAdd(K0, ConstantInt::get(Word, philox::kW0));
      K1 = B.CreateAdd(K1, ConstantInt::get(Word, philox::kW1));
    }
    auto [Hi0, Lo0] = MulHiLo(philox::kM0, C[0]);
    auto [Hi1, Lo1] = MulHiLo(philox::kM1, C[2]);
    C = {B.CreateXor(B.CreateXor(Hi1, C[1]), K0), Lo1,
         B.CreateXor(B.CreateXor(Hi0, C[3]), K1), Lo0};
  }
  return C;
}

/// y[I, I + U) = x * m for the chunk at \p I (a multiple of 4); only the
/// lanes of \p Mask when given.
void DropoutEmitter::chunk(Value *I, Value *Mask) const {
  auto *Wide = FixedVectorType::get(B.getInt64Ty(), VL);
  SmallVector<Constant *, 16> Lanes;
  for (unsigned L = 0; L < VL; ++L)
    Lanes.push_back(B.getInt64(L));
  Value *Blk = B.CreateAdd(B.CreateVectorSplat(VL, B.CreateLShr(I, K.i64(2))),
                           ConstantVector::get(Lanes), "block", /*HasNUW=*/true,
                           /*HasNSW=*/true);
  Value *Hi =
      B.CreateTrunc(B.CreateLShr(Blk, ConstantInt::get(Wide, 32)), BlockTy);
  Words W = emitPhilox(
      B, {B.CreateTrunc(Blk, BlockTy), Hi, Step, ConstantInt::get(BlockTy, 0)},
      Seed, Id);
  // [w0 | w1 | w2 | w3] to element order: element e is block e / 4's word
  // e % 4.
  SmallVector<int, 64> Cat, Order;
  for (unsigned E = 0; E < 2 * VL; ++E)
    Cat.push_back(E);
  for (unsigned E = 0; E < U; ++E)
    Order.push_back((E % 4) * VL + E / 4);
  Value *All = B.CreateShuffleVector(B.CreateShuffleVector(W[0], W[1], Cat),
                                     B.CreateShuffleVector(W[2], W[3], Cat),
                                     Order, "bits");
  auto *BitsTy = FixedVectorType::get(B.getInt32Ty(), U);
  Value *Keep = B.CreateICmpUGE(B.CreateLShr(All, ConstantInt::get(BitsTy, 8)),
                                ConstantInt::get(BitsTy, Threshold), "keep");
  Value *M = B.CreateSelect(Keep, ConstantFP::get(EltTy, Scale),
                            ConstantFP::get(EltTy, 0.0));
  Align A(T->getPrimitiveSizeInBits() / 8);
  Value *XP = B.CreateInBoundsGEP(T, K.In[0], I);
  Value *YP = B.CreateInBoundsGEP(T, K.Out, I);
  if (!Mask)
    return (void)B.CreateAlignedStore(
        B.CreateFMul(B.CreateAlignedLoad(EltTy, XP, A), M), YP, A);
  Value *X = B.CreateMaskedLoad(EltTy, XP, A, Mask, ConstantFP::get(EltTy, 0));
  B.CreateMaskedStore(B.CreateFMul(X, M), YP, A, Mask);
}

void emitDropout(Kernel &K, const Op &O) {
  const unsigned VL = hostVectorBits() / 32, U = 4 * VL;
  Extent Size = product(shapeOf(O.type()));
  Value *Chunks = K.B.CreateUDiv(K.add(K.get(Size), K.i64(U - 1)), K.i64(U));
  K.parallel(
      K.taskCount(K.get(Size), kDropoutGrain, Chunks),
      [&](Kernel &Tk, Value *Task, Value *NTasks, ArrayRef<Value *>) {
        IRBuilder<> &B = Tk.B;
        DropoutEmitter D(Tk, O, VL);
        Value *Total = Tk.get(Size);
        auto [Lo, Hi] = Tk.taskRange(Task, NTasks, Total, U);
        Value *Whole = B.CreateMul(B.CreateUDiv(B.CreateSub(Hi, Lo), Tk.i64(U)),
                                   Tk.i64(U));
        Value *End = Tk.add(Lo, Whole);
        Tk.loop(Lo, End, Tk.i64(U), [&](Value *I) { D.chunk(I, nullptr); });
        // The last partial chunk: lanes before Hi only.
        SmallVector<Constant *, 64> Lanes;
        for (unsigned L = 0; L < U; ++L)
          Lanes.push_back(B.getInt64(L));
        Value *Rest = B.CreateSub(Hi, End);
        Tk.ifElse(
            B.CreateICmpSGT(Rest, Tk.i64(0)),
            [&] {
              D.chunk(End, B.CreateICmpULT(ConstantVector::get(Lanes),
                                           B.CreateVectorSplat(U, Rest)));
            },
            [] {});
      });
}

} // namespace adj::cg
