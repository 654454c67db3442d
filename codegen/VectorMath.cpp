//===- VectorMath.cpp - exp, log, tanh and sigmoid that vectorise ---------===//
///
/// The inline math behind Kernel::exp, log, tanh and sigmoid: each a
/// branch-free polynomial or rational approximation on a scalar or a
/// vector, accurate to a few ulp over the whole range, with IEEE results at
/// the specials (inf, NaN, 0, subnormals). exp, log and tanh build their
/// range reductions with the fast-math flag `contract` only, never
/// `reassoc`, which would let LLVM fold them away. Each function comments
/// its method. Intrinsic and libm calls serve everything else (sqrt, fabs,
/// sin, cos; erf, expm1, log1p).
///
//===----------------------------------------------------------------------===//
#include "codegen/VectorMath.h"

#include "llvm/IR/Module.h"

#include <cmath>

namespace adj::cg::vmath {

using namespace llvm;
using llvm::Module;
using llvm::Value;

/// The constant \p V of the float type (or vector of it) \p T.
static Value *fp(Type *T, double V) { return ConstantFP::get(T, V); }

/// While alive, \p B builds with `contract` as its only fast-math flag (no
/// `reassoc`, so range reductions are not reassociated away).
struct ContractOnly : IRBuilderBase::FastMathFlagGuard {
  explicit ContractOnly(IRBuilderBase &B) : FastMathFlagGuard(B) {
    FastMathFlags FMF;
    FMF.setAllowContract();
    B.setFastMathFlags(FMF);
  }
};

/// ln 2 split Cody-Waite style: a high part with trailing zero bits (so k *
/// hi is exact for the k exp and log meet) and the rest.
static double ln2Hi(bool F32) {
  return F32 ? 0.693359375 : 6.93147180369123816490e-01;
}
static double ln2Lo(bool F32) {
  return F32 ? -2.12194440e-4 : 1.90821492927058770002e-10;
}

Value *intrinsic(IRBuilderBase &B, Intrinsic::ID ID, ArrayRef<Value *> Args) {
  return B.CreateIntrinsic(ID, {Args[0]->getType()}, Args);
}

/// e^x = 2^k e^r with k = rint(x / ln 2) and r = x - k ln 2 in
/// [-ln2/2, ln2/2] (Cody-Waite: ln 2 split in a high part with trailing zero
/// bits, so k * hi is exact, and a low part). e^r is its Taylor polynomial
/// of degree 7 (f32) or 13 (f64), whose truncation error is below one ulp.
/// 2^k is applied as two exact power-of-two factors 2^(k/2) 2^(k - k/2),
/// so overflow gives inf and underflow 0 (or a subnormal) by IEEE rules;
/// x is first clamped so k stays in range, and NaN is passed through.
/// Built without `reassoc` so the reduction is not reassociated away.
Value *exp(IRBuilderBase &B, Value *X) {
  ContractOnly Guard(B);
  Type *T = X->getType();
  bool F32 = T->getScalarType()->isFloatTy();
  auto C = [&](double V) { return fp(T, V); };
  Type *IT = F32 ? B.getInt32Ty() : B.getInt64Ty();
  unsigned MantBits = F32 ? 23 : 52, Bias = F32 ? 127 : 1023;
  double Lo = F32 ? -104.0 : -746.0, Hi = F32 ? 89.0 : 710.0;
  double Ln2Hi = ln2Hi(F32), Ln2Lo = ln2Lo(F32);
  unsigned Degree = F32 ? 7 : 13;

  Value *Cl = B.CreateSelect(B.CreateFCmpOLT(X, C(Lo)), C(Lo), X);
  Cl = B.CreateSelect(B.CreateFCmpOGT(Cl, C(Hi)), C(Hi), Cl);
  Value *Kf = intrinsic(B, Intrinsic::rint, {B.CreateFMul(Cl, C(M_LOG2E))});
  Value *R = intrinsic(B, Intrinsic::fmuladd, {B.CreateFNeg(Kf), C(Ln2Hi), Cl});
  R = intrinsic(B, Intrinsic::fmuladd, {B.CreateFNeg(Kf), C(Ln2Lo), R});
  double Coef = 1;
  for (unsigned I = 2; I <= Degree; ++I)
    Coef /= I;
  Value *P = C(Coef);
  for (unsigned I = Degree; I-- > 0;) {
    Coef *= I + 1;
    P = intrinsic(B, Intrinsic::fmuladd, {P, R, C(Coef)});
  }
  Value *K = B.CreateFPToSI(Kf, X->getType()->getWithNewType(IT));
  Value *K1 = B.CreateAShr(K, 1);
  auto Pow2 = [&](Value *E) {
    Value *Bits = B.CreateShl(
        B.CreateAdd(E, ConstantInt::get(E->getType(), Bias)), MantBits);
    return B.CreateBitCast(Bits, T);
  };
  Value *Y = B.CreateFMul(B.CreateFMul(P, Pow2(K1)), Pow2(B.CreateSub(K, K1)));
  return B.CreateSelect(B.CreateFCmpUNO(X, X), X, Y);
}

/// log x = e ln 2 + log m for x = m 2^e with m in [sqrt(1/2), sqrt(2))
/// (subnormals are first scaled by 2^24 or 2^54), and log m = 2 atanh(s)
/// = 2 (s + s^3/3 + s^5/5 + ...) with s = (m - 1) / (m + 1), |s| < 0.172,
/// the series cut where its tail is below half an ulp (s^11 in f32, s^23 in
/// f64). ln 2 is split as in exp so that e ln2_hi is exact. Negative x and
/// NaN give NaN, 0 gives -inf and +inf gives +inf.
Value *log(IRBuilderBase &B, Value *X) {
  ContractOnly Guard(B);
  Type *T = X->getType();
  bool F32 = T->getScalarType()->isFloatTy();
  auto C = [&](double V) { return fp(T, V); };
  Type *IT =
      X->getType()->getWithNewType(F32 ? B.getInt32Ty() : B.getInt64Ty());
  auto I = [&](int64_t V) { return ConstantInt::get(IT, V); };
  unsigned MantBits = F32 ? 23 : 52, Scale = F32 ? 24 : 54;
  int64_t Bias = F32 ? 127 : 1023;
  double Min = F32 ? 0x1p-126 : 0x1p-1022;
  double Ln2Hi = ln2Hi(F32), Ln2Lo = ln2Lo(F32);
  unsigned Terms = F32 ? 6 : 12;

  Value *Sub = B.CreateFCmpOLT(X, C(Min));
  Value *Xs =
      B.CreateSelect(Sub, B.CreateFMul(X, C(std::ldexp(1.0, Scale))), X);
  Value *Bits = B.CreateBitCast(Xs, IT);
  Value *E = B.CreateSub(B.CreateLShr(Bits, MantBits), I(Bias));
  E = B.CreateSub(E, B.CreateSelect(Sub, I(Scale), I(0)));
  int64_t MantMask = (int64_t(1) << MantBits) - 1;
  Value *M = B.CreateBitCast(
      B.CreateOr(B.CreateAnd(Bits, I(MantMask)), I(Bias << MantBits)), T);
  Value *Big = B.CreateFCmpOGT(M, C(M_SQRT2));
  M = B.CreateSelect(Big, B.CreateFMul(M, C(0.5)), M);
  E = B.CreateAdd(E, B.CreateZExt(Big, IT));
  Value *S = B.CreateFDiv(B.CreateFSub(M, C(1)), B.CreateFAdd(M, C(1)));
  Value *S2 = B.CreateFMul(S, S);
  // Q = 1/3 + s^2/5 + ...; log m = 2s + 2s s^2 Q, the leading term last.
  Value *Q = C(1.0 / (2 * Terms - 1));
  for (unsigned K = Terms - 1; K-- > 1;)
    Q = intrinsic(B, Intrinsic::fmuladd, {Q, S2, C(1.0 / (2 * K + 1))});
  Value *S2x = B.CreateFAdd(S, S);
  Value *Tail = B.CreateFMul(S2x, B.CreateFMul(S2, Q));
  Value *Ef = B.CreateSIToFP(E, T);
  Value *Lo = intrinsic(B, Intrinsic::fmuladd, {Ef, C(Ln2Lo), Tail});
  Value *Y =
      intrinsic(B, Intrinsic::fmuladd, {Ef, C(Ln2Hi), B.CreateFAdd(S2x, Lo)});
  double Inf = HUGE_VAL;
  Y = B.CreateSelect(B.CreateFCmpOEQ(X, C(Inf)), C(Inf), Y);
  Y = B.CreateSelect(B.CreateFCmpOEQ(X, C(0)), C(-Inf), Y);
  // x < 0 or NaN.
  return B.CreateSelect(B.CreateFCmpULT(X, C(0)), C(std::nan("")), Y);
}

/// tanh x = sign(x) (1 - 2 / (e^(2|x|) + 1)) for |x| >= 0.625, and an odd
/// polynomial (f32, Cephes tanhf) or rational function (f64, Cephes tanh)
/// below, where the first form would cancel. Saturates to +-1; NaN passes.
Value *tanh(IRBuilderBase &B, Value *X) {
  ContractOnly Guard(B);
  Type *T = X->getType();
  bool F32 = T->getScalarType()->isFloatTy();
  auto C = [&](double V) { return fp(T, V); };
  Value *A = intrinsic(B, Intrinsic::fabs, {X});
  Value *Z = B.CreateFMul(X, X);
  Value *Small;
  if (F32) {
    Value *P = C(-5.70498872745e-3);
    for (double Co : {2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
                      -3.33332819422e-1})
      P = intrinsic(B, Intrinsic::fmuladd, {P, Z, C(Co)});
    Small = intrinsic(B, Intrinsic::fmuladd, {B.CreateFMul(P, Z), X, X});
  } else {
    Value *P = C(-9.64399179425052238628e-1);
    P = intrinsic(B, Intrinsic::fmuladd, {P, Z, C(-9.92877231001918586564e1)});
    P = intrinsic(B, Intrinsic::fmuladd, {P, Z, C(-1.61468768441708447952e3)});
    Value *Q = B.CreateFAdd(Z, C(1.12811678491632931402e2));
    Q = intrinsic(B, Intrinsic::fmuladd, {Q, Z, C(2.23548839060100448583e3)});
    Q = intrinsic(B, Intrinsic::fmuladd, {Q, Z, C(4.84406305325125486048e3)});
    Value *R = B.CreateFDiv(B.CreateFMul(Z, P), Q);
    Small = intrinsic(B, Intrinsic::fmuladd, {X, R, X});
  }
  // e^(2|x|) overflows to inf for large |x|, giving exactly 1.
  Value *E = exp(B, B.CreateFAdd(A, A));
  Value *Large = B.CreateFSub(C(1), B.CreateFDiv(C(2), B.CreateFAdd(E, C(1))));
  Large = intrinsic(B, Intrinsic::copysign, {Large, X});
  Value *Y = B.CreateSelect(B.CreateFCmpOLT(A, C(0.625)), Small, Large);
  return B.CreateSelect(B.CreateFCmpUNO(X, X), X, Y);
}

/// With e = e^-|x|: 1 / (1 + e) for x >= 0 and e / (1 + e) below, so that
/// no exponential overflows and the left tail keeps its (subnormal)
/// precision; never NaN for non-NaN x.
Value *sigmoid(IRBuilderBase &B, Value *X) {
  Value *One = fp(X->getType(), 1);
  Value *E = exp(B, B.CreateFNeg(intrinsic(B, Intrinsic::fabs, {X})));
  Value *Num = B.CreateSelect(B.CreateFCmpOLT(X, fp(X->getType(), 0)), E, One);
  return B.CreateFDiv(Num, B.CreateFAdd(One, E));
}

Value *libm(IRBuilderBase &B, const char *Name, Value *X) {
  if (auto *VT = dyn_cast<FixedVectorType>(X->getType())) { // Lane by lane.
    Value *R = PoisonValue::get(VT);
    for (unsigned I = 0; I < VT->getNumElements(); ++I)
      R = B.CreateInsertElement(R, libm(B, Name, B.CreateExtractElement(X, I)),
                                I);
    return R;
  }
  std::string Sym = Name;
  if (X->getType()->isFloatTy())
    Sym += "f";
  Module &M = *B.GetInsertBlock()->getModule();
  FunctionCallee F = M.getOrInsertFunction(
      Sym, FunctionType::get(X->getType(), {X->getType()}, false));
  if (auto *Decl = dyn_cast<Function>(F.getCallee())) {
    // Pure for our purposes: errno is never read.
    Decl->setDoesNotAccessMemory();
    Decl->setDoesNotThrow();
    Decl->addFnAttr(Attribute::WillReturn);
  }
  return B.CreateCall(F, {X});
}

} // namespace adj::cg::vmath
