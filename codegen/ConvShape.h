//===- ConvShape.h - What the convolution kernels share ---------*- C++ -*-===//
///
/// Internal to codegen: the sizes of one convolution (ConvShape), the vector
/// rows of im2col, col2im and the direct row kernels (RowVectors) and the
/// helpers both Conv.cpp (the GEMM path, the direct loop nests and the
/// choice between them) and ConvRows.cpp (the direct kernels along the
/// output rows) use. Conv.cpp's file comment describes the algorithms.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_CONVSHAPE_H
#define ADJ_CODEGEN_CONVSHAPE_H

#include "codegen/ConvPath.h"
#include "codegen/Gemm.h"
#include "ir/Conv2d.h"

namespace adj::cg {

/// Multiply-adds per parallel task of the direct loops, at least ...
constexpr int64_t kConvGrain = 1 << 16;
/// ... and of the GEMM path, whose tasks are blocks of images.
constexpr int64_t kGemmGrain = 1 << 18;
/// At most this many tasks on the GEMM path: the workspace holds a cols
/// buffer per task.
constexpr int64_t kConvTasks = 8;
/// Larger cols buffers (of one image) take the direct loops instead.
constexpr int64_t kMaxColsBytes = int64_t(64) << 20;
/// Elements after each cols buffer (a vector of the widest ISA).
constexpr int64_t kColsSlack = 16;

/// The sizes of one convolution (see the file comment).
struct ConvShape {
  Conv2dGeometry G;
  Extent N;
  int64_t C, H, W, O, Cg, Og, KH, KW, OH, OW;

  /// The convolution of \p X with \p Wt under \p Op's attributes.
  ConvShape(const Op &Op, const TensorType &X, const TensorType &Wt)
      : G(*Conv2dGeometry::of(Op.Attributes)), N(Extent::dim(X.Dims[0])),
        C(X.Dims[1]), H(X.Dims[2]), W(X.Dims[3]), O(Wt.Dims[0]), Cg(Wt.Dims[1]),
        Og(Wt.Dims[0] / G.Groups), KH(Wt.Dims[2]), KW(Wt.Dims[3]),
        OH(G.outSize(0, H, KH)), OW(G.outSize(1, W, KW)) {}
  /// The convolution of a conv2d op or of either adjoint.
  static ConvShape of(const Op &Op) {
    if (Op.Kind == OpKind::Conv2d)
      return {Op, Op.Operands[0]->type(), Op.Operands[1]->type()};
    if (Op.Kind == OpKind::Conv2dGradInput)
      return {Op, Op.type(), Op.Operands[1]->type()};
    return {Op, Op.Operands[1]->type(), Op.type()};
  }

  /// Multiply-adds of the whole convolution (for the task count).
  Extent work() const { return N * Extent{O * OH * OW * Cg * KH * KW, 0}; }
  int64_t pixels() const { return OH * OW; }
  int64_t image() const { return C * H * W; }
  int64_t rowsPerGroup() const { return Cg * KH * KW; } ///< Kcg.
  /// Whether cols is the image itself: 1x1, stride 1, no padding.
  bool identity() const {
    return KH == 1 && KW == 1 && G.Stride == std::array<int64_t, 2>{1, 1} &&
           G.Padding == std::array<int64_t, 4>{};
  }
  /// The elements of one image's cols buffer (0 when it is the image).
  int64_t colsElts() const { return identity() ? 0 : C * KH * KW * pixels(); }
  /// The elements between two tasks' cols buffers: a buffer and the
  /// vector im2colRows' last store may write past it.
  int64_t colsStride() const {
    return colsElts() ? colsElts() + kColsSlack : 0;
  }
  /// Whether the GEMM path runs, for elements of \p EltBytes.
  bool gemm(int64_t EltBytes) const {
    if (convPathForTesting() != ConvPath::Auto)
      return convPathForTesting() == ConvPath::Gemm;
    return colsElts() * EltBytes <= kMaxColsBytes;
  }
  /// The most tasks of the GEMM path.
  int64_t maxTasks() const {
    return N.Pow ? kConvTasks
                 : std::max<int64_t>(1, std::min(N.Mul, kConvTasks));
  }
};

/// The taps [Lo, Hi) that one output position reads inside the input along
/// an axis, and Start, the input position of tap 0 (negative in the
/// padding): tap k reads Start + k * dilation.
struct TapRange {
  llvm::Value *Lo, *Hi, *Start;
};

/// The taps of output position \p P along spatial axis \p Axis, for an
/// input of \p In elements and a kernel of \p Taps taps.
TapRange tapRange(Kernel &K, const Conv2dGeometry &G, unsigned Axis,
                  llvm::Value *P, int64_t In, int64_t Taps);
/// The epilogue of a conv2d (ir/Body.h), empty for none.
std::vector<BodyMember> epilogueOf(const Op &O);
/// The stride along the channels of conv2d \p O's epilogue input \p I.
int64_t epilogueStride(const Op &O, unsigned I);
/// The outputs o in [0, Out) that read inside an input of \p In elements,
/// 0 <= o * Stride + Off < In, as [Lo, Hi) (Lo <= Hi).
std::pair<llvm::Value *, llvm::Value *> validRange(Kernel &K, llvm::Value *Off,
                                                   int64_t Stride, int64_t In,
                                                   int64_t Out);

/// Vectors along a row for im2col and col2im when the width stride is 1:
/// VL lanes of the host's vector width, masked loads that read zeros (or
/// nothing) for lanes outside the input, so padding needs no branch.
struct RowVectors {
  Kernel &K;
  llvm::Type *T;
  unsigned VL;
  llvm::FixedVectorType *VT;
  llvm::Value *Lanes; ///< <0, 1, ..., VL - 1> in i32.
  llvm::Align A;

  RowVectors(Kernel &K, llvm::Type *T)
      : K(K), T(T), VL(std::max(1u, hostVectorBits() /
                                        unsigned(T->getPrimitiveSizeInBits()))),
        VT(llvm::FixedVectorType::get(T, VL)),
        A(llvm::Align(T->getPrimitiveSizeInBits() / 8)) {
    llvm::SmallVector<llvm::Constant *, 16> L;
    for (unsigned I = 0; I < VL; ++I)
      L.push_back(K.B.getInt32(I));
    Lanes = llvm::ConstantVector::get(L);
  }
  /// The lanes i = \p I0 + lane with 0 <= i + \p Off < \p Size and i <
  /// \p Limit (Off and the sizes small compile-time constants).
  llvm::Value *mask(llvm::Value *I0, int64_t Off, int64_t Size, int64_t Limit) {
    return mask(I0, K.i64(Off), Size, Limit);
  }
  /// The same for an offset \p Off known at run time only.
  llvm::Value *mask(llvm::Value *I0, llvm::Value *Off, int64_t Size,
                    int64_t Limit) {
    llvm::IRBuilder<> &B = K.B;
    llvm::Value *I = B.CreateAdd(
        B.CreateVectorSplat(VL, B.CreateTrunc(I0, B.getInt32Ty())), Lanes);
    llvm::Value *In = B.CreateICmpULT(
        B.CreateAdd(
            I, B.CreateVectorSplat(VL, B.CreateTrunc(Off, B.getInt32Ty()))),
        B.CreateVectorSplat(VL, B.getInt32(Size)));
    auto *C = llvm::dyn_cast<llvm::ConstantInt>(Off);
    if (C && C->isZero() && Size <= Limit)
      return In;
    return B.CreateAnd(
        In, B.CreateICmpULT(I, B.CreateVectorSplat(VL, B.getInt32(Limit))));
  }
  /// The address Base + Off (elements; may lie outside the buffer for
  /// lanes a mask turns off, so no inbounds).
  llvm::Value *ptr(llvm::Value *Base, llvm::Value *Off) {
    return K.B.CreateGEP(T, Base, Off);
  }
  llvm::Value *load(llvm::Value *Base, llvm::Value *Off, llvm::Value *Mask) {
    return K.B.CreateMaskedLoad(VT, ptr(Base, Off), A, Mask,
                                llvm::Constant::getNullValue(VT));
  }
  void store(llvm::Value *V, llvm::Value *Base, llvm::Value *Off,
             llvm::Value *Mask) {
    K.B.CreateMaskedStore(V, ptr(Base, Off), A, Mask);
  }
};

/// Whether im2col and col2im take the vector rows of RowVectors (width
/// stride 1, and small enough for i32 lanes).
bool vectorRows(const ConvShape &S);

// ConvRows.cpp: the direct kernels along the output rows.

/// Whether the weight gradient takes directGradWeightRows.
bool directRows(const ConvShape &S, int64_t EltBytes);
/// dw of \p S along the output rows, a block of output channels sharing
/// each input vector.
void directGradWeightRows(Kernel &K, const ConvShape &S, llvm::Type *T);
/// Whether conv2d \p O takes directConv2dRows.
bool directFwdRows(const Op &O, const ConvShape &S, int64_t EltBytes);
/// conv2d \p O along the output rows, its epilogue in registers.
void directConv2dRows(Kernel &K, const Op &O, const ConvShape &S,
                      llvm::Type *T);

} // namespace adj::cg

#endif
