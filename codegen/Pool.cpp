//===- Pool.cpp - max_pool2d, avg_pool2d and their adjoints ---------------===//
///
/// The pools and their adjoint ops over the N * C planes of x [N, C, H, W]
/// (tasks over planes; each plane's outputs written by one task in a fixed
/// order, so results do not depend on the number of threads). With the
/// geometry of ir/Pool2d.h, output (oh, ow) reads window taps (kh, kw) at
///
///   ih = oh * sh - ph + kh,   iw = ow * sw - pw + kw.
///
/// Taps in the padding are never read: per output row, kh runs over the
/// window rows inside the input, and per tap column kw, the innermost loop
/// runs over the output columns ow whose tap lies inside the input (both
/// ranges computed once, as Conv.cpp does), so the inner loop has no
/// branch, stores contiguously along ow and loads with stride sw: it
/// vectorises. Taps are visited in row-major window order.
///
///   max_pool2d       y row = -inf, then y = max(y, x) over the taps
///   avg_pool2d       y row = 0, then y += x, then y *= 1 / (kh * kw)
///                    (padding counts in the divisor, as PyTorch's default)
///   max_pool2d_grad  dx plane = 0; per block of output columns of a row,
///                    the best value and its index start at the window's
///                    first element inside the input and move to a tap
///                    only when it is strictly greater, which leaves each
///                    window's first maximum; then dx[index] += dy
///                    (with the relu attribute, dy * relu'(maximum): x is
///                    a relu's output, whose adjoint this then is too)
///   avg_pool2d_grad  dx plane = 0, then dx += dy / (kh * kw) per tap
///
/// Overlapping windows (stride < kernel) accumulate into dx in that order.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "ir/Pool2d.h"

#include <limits>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// Window taps per parallel task, at least.
constexpr int64_t kPoolGrain = 1 << 16;
/// Output columns whose best value and index max_pool2d_grad keeps at once.
constexpr int64_t kPoolBlock = 256;

namespace {
/// The sizes of one pool over x [N, C, H, W] (see the file comment).
struct PoolShape {
  Pool2dGeometry G;
  Extent N;
  int64_t C, H, W, OH, OW;

  PoolShape(const Op &O, const TensorType &X)
      : G(*Pool2dGeometry::of(O.Attributes)), N(Extent::dim(X.Dims[0])),
        C(X.Dims[1]), H(X.Dims[2]), W(X.Dims[3]), OH(G.outSize(0, H)),
        OW(G.outSize(1, W)) {}

  Extent planes() const { return N * Extent{C, 0}; }
  /// Window taps of the whole pool (for the task count).
  Extent work() const {
    return planes() * Extent{OH * OW * G.Kernel[0] * G.Kernel[1], 0};
  }
};

/// Per input plane of a sweep: the offsets of a plane's first element.
struct Planes {
  Value *Plane, *X, *Y; ///< plane index, x offset, y (or dy) offset
};
} // namespace

/// Calls \p Body(plane) for every plane, planes split over tasks.
static void forEachPlane(Kernel &K, const PoolShape &S,
                         function_ref<void(Kernel &, const Planes &)> Body) {
  Value *NTasks = K.taskCount(K.get(S.work()), kPoolGrain, K.get(S.planes()));
  K.parallel(
      NTasks, [&](Kernel &Tk, Value *Task, Value *Count, ArrayRef<Value *>) {
        auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.get(S.planes()), 1);
        Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Plane) {
          Body(Tk, {Plane, Tk.B.CreateMul(Plane, Tk.i64(S.H * S.W), "xplane"),
                    Tk.B.CreateMul(Plane, Tk.i64(S.OH * S.OW), "yplane")});
        });
      });
}

/// The input row of window row 0 of output row \p Oh (negative in the
/// padding).
static Value *rowStart(Kernel &K, const PoolShape &S, Value *Oh) {
  return K.B.CreateNSWSub(K.B.CreateMul(Oh, K.i64(S.G.Stride[0])),
                          K.i64(S.G.Padding[0]), "start");
}

/// For every tap (kh, kw) of the windows of output row \p Oh, in row-major
/// order, calls \p Fn(ow, x offset) for the output columns ow in [\p B0,
/// \p B1) whose tap lies inside the input; ow is the innermost loop.
static void sweepRow(Kernel &K, const PoolShape &S, const Planes &P, Value *Oh,
                     Value *B0, Value *B1,
                     function_ref<void(Value *, Value *)> Fn) {
  IRBuilder<> &B = K.B;
  const Pool2dGeometry &G = S.G;
  // Rows: 0 <= start + kh < H.
  Value *Start = rowStart(K, S, Oh);
  Value *RowLo = K.max(B.CreateNSWNeg(Start), K.i64(0));
  Value *RowHi = K.min(B.CreateNSWSub(K.i64(S.H), Start), K.i64(G.Kernel[0]));
  Value *Sw = K.i64(G.Stride[1]);
  K.loop(RowLo, RowHi, K.i64(1), [&](Value *Kh) {
    Value *Ih = B.CreateNSWAdd(Start, Kh, "ih");
    Value *XRow = K.madd(P.X, Ih, K.i64(S.W));
    K.loop(K.i64(G.Kernel[1]), [&](Value *Kw) {
      // Columns: 0 <= ow * sw - pw + kw <= W - 1, within [B0, B1).
      Value *Need = B.CreateNSWSub(K.i64(G.Padding[1]), Kw);
      Value *Lo = B.CreateSelect(
          B.CreateICmpSGT(Need, K.i64(0)),
          B.CreateUDiv(B.CreateAdd(Need, K.i64(G.Stride[1] - 1)), Sw),
          K.i64(0));
      Value *Room = B.CreateNSWSub(K.i64(S.W - 1 + G.Padding[1]), Kw);
      Value *Hi = B.CreateSelect(B.CreateICmpSLT(Room, K.i64(0)), K.i64(0),
                                 B.CreateAdd(B.CreateSDiv(Room, Sw), K.i64(1)));
      // x offset of column ow: XRow + kw - pw + ow * sw (no nuw: the
      // first two terms may be negative).
      Value *Base =
          B.CreateNSWSub(B.CreateNSWAdd(XRow, Kw), K.i64(G.Padding[1]), "xcol");
      K.loop(K.max(Lo, B0), K.min(Hi, B1), K.i64(1), [&](Value *Ow) {
        Fn(Ow, B.CreateNSWAdd(Base, B.CreateNSWMul(Ow, Sw)));
      });
    });
  });
}

/// Stores \p V to Out[\p Base + i] for i in [0, \p Count).
static void fill(Kernel &K, Value *V, Value *Base, int64_t Count) {
  K.loop(K.i64(Count), [&](Value *I) { K.store(V, K.Out, K.add(Base, I)); });
}

//===-- Windows that tile the input
//----------------------------------------===//

/// Whether the windows tile the input without overlap or padding (kernel =
/// stride, no padding; e.g. LeNet's 2x2 pools): then every input element
/// lies in at most one window, and the pools run on whole vectors of
/// output columns (WindowRows).
static bool tiling(const PoolShape &S) {
  const Pool2dGeometry &G = S.G;
  return G.Kernel == G.Stride && G.Padding == std::array<int64_t, 2>{0, 0} &&
         S.OW * G.Kernel[1] < (int64_t(1) << 30);
}

namespace {
/// Vectors of VL output columns of one output row of a tiling pool: the
/// KW * VL input elements under them in each window row are loaded at once
/// and split into the KW taps (lane j of tap kw: element j * KW + kw), and
/// the adjoint's taps are interleaved back the same way.
struct WindowRows {
  Kernel &K;
  Type *T;
  int64_t KW;
  unsigned VL;
  FixedVectorType *VT, *WideT;
  Align A;

  WindowRows(Kernel &K, Type *T, int64_t KW)
      : K(K), T(T), KW(KW),
        VL(std::max(1u,
                    hostVectorBits() / unsigned(T->getPrimitiveSizeInBits()))),
        VT(FixedVectorType::get(T, VL)),
        WideT(FixedVectorType::get(T, unsigned(KW) * VL)),
        A(Align(T->getPrimitiveSizeInBits() / 8)) {}

  /// The first \p Room of \p Lanes lanes.
  Value *mask(unsigned Lanes, Value *Room) {
    IRBuilder<> &B = K.B;
    SmallVector<Constant *, 64> L;
    for (unsigned I = 0; I < Lanes; ++I)
      L.push_back(B.getInt32(I));
    return B.CreateICmpULT(
        ConstantVector::get(L),
        B.CreateVectorSplat(Lanes, B.CreateTrunc(Room, B.getInt32Ty())));
  }
  /// The KW taps of the window row at \p Off (input offset of output
  /// column Ow0's window) for the \p Cols valid output columns.
  std::vector<Value *> taps(Value *Base, Value *Off, Value *Cols) {
    IRBuilder<> &B = K.B;
    Value *Wide = B.CreateMaskedLoad(
        WideT, B.CreateInBoundsGEP(T, Base, Off), A,
        mask(unsigned(KW) * VL, B.CreateMul(Cols, K.i64(KW))),
        Constant::getNullValue(WideT));
    std::vector<Value *> R;
    for (int64_t Kw = 0; Kw < KW; ++Kw) {
      SmallVector<int, 16> Idx;
      for (unsigned J = 0; J < VL; ++J)
        Idx.push_back(int(J * KW + Kw));
      R.push_back(B.CreateShuffleVector(Wide, Idx));
    }
    return R;
  }
  /// Stores the KW taps \p Taps interleaved at \p Off (the inverse of
  /// taps) for the \p Cols valid output columns.
  /// The vectors \p Taps of VL lanes each, concatenated (operands of a
  /// shuffle have one width: each tap is widened to the lanes so far
  /// first).
  Value *concat(ArrayRef<Value *> Taps) {
    IRBuilder<> &B = K.B;
    Value *Cat = Taps[0];
    for (size_t T = 1; T < Taps.size(); ++T) {
      unsigned N = unsigned(T) * VL;
      SmallVector<int, 64> Pad, Join;
      for (unsigned I = 0; I < N; ++I)
        Pad.push_back(I < VL ? int(I) : -1);
      for (unsigned I = 0; I < N + VL; ++I)
        Join.push_back(int(I));
      Value *Tap = N == VL ? Taps[T] : B.CreateShuffleVector(Taps[T], Pad);
      Cat = B.CreateShuffleVector(Cat, Tap, Join);
    }
    return Cat;
  }
  void storeTaps(ArrayRef<Value *> Taps, Value *Base, Value *Off, Value *Cols) {
    IRBuilder<> &B = K.B;
    // Concatenate the taps, then interleave.
    Value *Cat = concat(Taps);
    SmallVector<int, 64> Idx;
    for (unsigned J = 0; J < VL; ++J)
      for (int64_t Kw = 0; Kw < KW; ++Kw)
        Idx.push_back(int(Kw * VL + J));
    B.CreateMaskedStore(B.CreateShuffleVector(Cat, Idx),
                        B.CreateInBoundsGEP(T, Base, Off), A,
                        mask(unsigned(KW) * VL, B.CreateMul(Cols, K.i64(KW))));
  }
};
} // namespace

/// Calls \p Fn(plane, oh, ow0, valid columns, window rows) for every
/// vector of output columns of every output row of a tiling pool.
static void
forEachWindowVector(Kernel &K, const PoolShape &S, Type *T,
                    function_ref<void(Kernel &, const Planes &, Value *,
                                      Value *, Value *, WindowRows &)>
                        Fn) {
  forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
    WindowRows WR(Tk, T, S.G.Kernel[1]);
    Tk.loop(Tk.i64(S.OH), [&](Value *Oh) {
      Tk.loop(Tk.i64(0), Tk.i64(S.OW), Tk.i64(WR.VL), [&](Value *Ow0) {
        Value *Cols = Tk.min(Tk.i64(WR.VL), Tk.B.CreateSub(Tk.i64(S.OW), Ow0));
        Fn(Tk, P, Oh, Ow0, Cols, WR);
      });
    });
  });
}

/// The input offset of window row \p Kh of output (\p Oh, \p Ow0).
static Value *windowRow(Kernel &K, const PoolShape &S, const Planes &P,
                        Value *Oh, Value *Ow0, int64_t Kh) {
  Value *Ih = K.madd(K.i64(Kh), Oh, K.i64(S.G.Kernel[0]));
  return K.add(K.madd(P.X, Ih, K.i64(S.W)),
               K.B.CreateMul(Ow0, K.i64(S.G.Kernel[1])));
}

/// Output rows per vector of a tiling pool whose windows cover its input
/// (H = OH * KH, W = OW * KW) and whose output rows fill at most half a
/// vector (the TF CNN's 14 x 14 -> 7 x 7 on AVX-512), 0 otherwise. A
/// vector then holds R whole output rows, whose R * KH input rows are
/// contiguous: one wide load holds all their taps, one wide store all of
/// their adjoint.
static int64_t rowsPerVector(const PoolShape &S, unsigned VL) {
  bool Covered = S.OH * S.G.Kernel[0] == S.H && S.OW * S.G.Kernel[1] == S.W;
  // The wide load spans R * KH * W elements: at most 4 vectors, so that a
  // large window (a global pool) does not make a huge vector.
  int64_t R =
      std::min(int64_t(VL) / S.OW, 4 * int64_t(VL) / (S.G.Kernel[0] * S.W));
  return Covered && R >= 2 ? R : 0;
}

namespace {
/// Vectors of R whole output rows of a covering tiling pool
/// (rowsPerVector): lane j = r * OW + c is output column c of row r (lanes
/// past R * OW are not stored), and tap (kh, kw) of lane j is the input
/// element r * KH * W + kh * W + c * KW + kw of the group's input rows.
struct RowGroups {
  WindowRows &WR;
  const PoolShape &S;
  int64_t R, KH, KW, Span; ///< Span: the input elements of R output rows.
  FixedVectorType *WideT;

  RowGroups(WindowRows &WR, const PoolShape &S, int64_t R)
      : WR(WR), S(S), R(R), KH(S.G.Kernel[0]), KW(S.G.Kernel[1]),
        Span(R * KH * S.W), WideT(FixedVectorType::get(WR.T, unsigned(Span))) {}

  /// The input element of tap \p Tap (kh * KW + kw) of lane \p J.
  int64_t element(int64_t Tap, unsigned J) const {
    int64_t Row = J / S.OW, Col = J % S.OW;
    return Row * KH * S.W + Tap / KW * S.W + Col * KW + Tap % KW;
  }
  /// The KH * KW taps, in row-major window order, of the \p Rows valid
  /// output rows from input offset \p Off.
  std::vector<Value *> taps(Value *Base, Value *Off, Value *Rows) {
    IRBuilder<> &B = WR.K.B;
    Value *Wide = B.CreateMaskedLoad(
        WideT, B.CreateInBoundsGEP(WR.T, Base, Off), WR.A,
        WR.mask(unsigned(Span), B.CreateMul(Rows, WR.K.i64(KH * S.W))),
        Constant::getNullValue(WideT));
    std::vector<Value *> Taps;
    for (int64_t Tap = 0; Tap < KH * KW; ++Tap) {
      SmallVector<int, 16> Idx;
      for (unsigned J = 0; J < WR.VL; ++J)
        Idx.push_back(J < R * S.OW ? int(element(Tap, J)) : 0);
      Taps.push_back(B.CreateShuffleVector(Wide, Idx));
    }
    return Taps;
  }
  /// Stores the taps \p Taps (as taps returns them) at input offset \p Off
  /// for the \p Rows valid output rows: every input element once.
  void storeTaps(ArrayRef<Value *> Taps, Value *Base, Value *Off, Value *Rows) {
    IRBuilder<> &B = WR.K.B;
    SmallVector<int, 64> From(static_cast<size_t>(Span), 0);
    for (int64_t Tap = 0; Tap < KH * KW; ++Tap)
      for (unsigned J = 0; J < R * S.OW; ++J)
        From[size_t(element(Tap, J))] = int(Tap * WR.VL + J);
    B.CreateMaskedStore(
        B.CreateShuffleVector(WR.concat(Taps), From),
        B.CreateInBoundsGEP(WR.T, Base, Off), WR.A,
        WR.mask(unsigned(Span), B.CreateMul(Rows, WR.K.i64(KH * S.W))));
  }
};
} // namespace

/// When rowsPerVector applies to \p S, calls \p Fn(task kernel, the row
/// groups, x offset, y offset, valid output rows) for every group of R
/// output rows of every plane and returns true; else returns false.
static bool forEachRowGroup(
    Kernel &K, const PoolShape &S, Type *T,
    function_ref<void(Kernel &, RowGroups &, Value *, Value *, Value *)> Fn) {
  int64_t R = rowsPerVector(S, WindowRows(K, T, S.G.Kernel[1]).VL);
  if (!R)
    return false;
  forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
    WindowRows WR(Tk, T, S.G.Kernel[1]);
    RowGroups RG(WR, S, R);
    Tk.loop(Tk.i64(0), Tk.i64(S.OH), Tk.i64(R), [&](Value *Oh) {
      Value *Rows = Tk.min(Tk.i64(R), Tk.B.CreateSub(Tk.i64(S.OH), Oh));
      Fn(Tk, RG, Tk.madd(P.X, Oh, Tk.i64(S.G.Kernel[0] * S.W)),
         Tk.madd(P.Y, Oh, Tk.i64(S.OW)), Rows);
    });
  });
  return true;
}

/// The pool of one vector of outputs from its window taps \p Taps, in
/// row-major window order.
static Value *poolTaps(Kernel &K, const PoolShape &S, Type *T, unsigned VL,
                       ArrayRef<Value *> Taps, bool Max) {
  IRBuilder<> &B = K.B;
  double Init = Max ? -std::numeric_limits<double>::infinity() : 0.0;
  Value *Acc = B.CreateVectorSplat(VL, K.fp(T, Init));
  for (Value *X : Taps)
    Acc = Max ? B.CreateSelect(B.CreateFCmpOGT(X, Acc), X, Acc)
              : B.CreateFAdd(Acc, X);
  if (Max)
    return Acc;
  double N = double(S.G.Kernel[0] * S.G.Kernel[1]);
  return B.CreateFMul(Acc, B.CreateVectorSplat(VL, K.fp(T, 1 / N)));
}

/// dy * relu'(the window's maximum \p Best), as relu_grad computes it at
/// that element (max_pool2d_grad's relu attribute).
static Value *reluMask(Kernel &K, Type *T, Value *DY, Value *Best) {
  IRBuilder<> &B = K.B;
  Value *Zero = Constant::getNullValue(Best->getType());
  Value *One =
      Best->getType()->isVectorTy()
          ? B.CreateVectorSplat(
                cast<FixedVectorType>(Best->getType())->getNumElements(),
                K.fp(T, 1))
          : K.fp(T, 1);
  return B.CreateFMul(DY,
                      B.CreateSelect(B.CreateFCmpOGT(Best, Zero), One, Zero));
}

/// The adjoint of one vector of outputs \p DY at the window taps \p Taps
/// (row-major window order, max only): per tap, dy where it is the first
/// maximum (the first tap, then each strictly greater), else zero (max;
/// with \p Relu, dy masked by reluMask), or dy / taps at every tap (avg).
static std::vector<Value *> poolGradTaps(Kernel &K, const PoolShape &S, Type *T,
                                         unsigned VL, Value *DY,
                                         ArrayRef<Value *> Taps, bool Max,
                                         bool Relu) {
  IRBuilder<> &B = K.B;
  int64_t N = S.G.Kernel[0] * S.G.Kernel[1];
  if (!Max)
    return std::vector<Value *>(
        size_t(N),
        B.CreateFMul(DY, B.CreateVectorSplat(VL, K.fp(T, 1 / double(N)))));
  auto Splat = [&](int64_t I) {
    return B.CreateVectorSplat(VL, B.getInt32(uint32_t(I)));
  };
  // The first maximum's tap number, per lane.
  Value *Best = Taps[0], *Sel = Splat(0);
  for (int64_t I = 1; I < N; ++I) {
    Value *Gt = B.CreateFCmpOGT(Taps[size_t(I)], Best);
    Best = B.CreateSelect(Gt, Taps[size_t(I)], Best);
    Sel = B.CreateSelect(Gt, Splat(I), Sel);
  }
  if (Relu)
    DY = reluMask(K, T, DY, Best);
  std::vector<Value *> Out;
  Value *Zero = Constant::getNullValue(DY->getType());
  for (int64_t I = 0; I < N; ++I)
    Out.push_back(B.CreateSelect(B.CreateICmpEQ(Sel, Splat(I)), DY, Zero));
  return Out;
}

/// max_pool2d and avg_pool2d of a tiling pool: the taps in row-major
/// window order, as emitPool.
static void tilingPool(Kernel &K, const PoolShape &S, Type *T, bool Max) {
  if (forEachRowGroup(
          K, S, T,
          [&](Kernel &Tk, RowGroups &RG, Value *X, Value *Y, Value *Rows) {
            WindowRows &WR = RG.WR;
            Value *Acc =
                poolTaps(Tk, S, T, WR.VL, RG.taps(Tk.In[0], X, Rows), Max);
            Tk.B.CreateMaskedStore(
                Acc, Tk.B.CreateInBoundsGEP(T, Tk.Out, Y), WR.A,
                WR.mask(WR.VL, Tk.B.CreateMul(Rows, Tk.i64(S.OW))));
          }))
    return;
  forEachWindowVector(
      K, S, T,
      [&](Kernel &Tk, const Planes &P, Value *Oh, Value *Ow0, Value *Cols,
          WindowRows &WR) {
        std::vector<Value *> Taps;
        for (int64_t Kh = 0; Kh < S.G.Kernel[0]; ++Kh)
          for (Value *X :
               WR.taps(Tk.In[0], windowRow(Tk, S, P, Oh, Ow0, Kh), Cols))
            Taps.push_back(X);
        Value *Acc = poolTaps(Tk, S, T, WR.VL, Taps, Max);
        Value *Y = Tk.add(Tk.madd(P.Y, Oh, Tk.i64(S.OW)), Ow0);
        Tk.B.CreateMaskedStore(Acc, Tk.B.CreateInBoundsGEP(T, Tk.Out, Y), WR.A,
                               WR.mask(WR.VL, Cols));
      });
}

/// The adjoints of a tiling pool: per window, dy to its first maximum
/// (max; the first element, then each strictly greater) or dy / taps to
/// every tap (avg), zeros elsewhere, written once. Rows and columns past
/// the last window are zeroed first.
static void tilingPoolGrad(Kernel &K, const PoolShape &S, Type *T, bool Max,
                           bool Relu) {
  if (forEachRowGroup(
          K, S, T,
          [&](Kernel &Tk, RowGroups &RG, Value *X, Value *Y, Value *Rows) {
            WindowRows &WR = RG.WR;
            IRBuilder<> &B = Tk.B;
            Value *DY = B.CreateMaskedLoad(
                WR.VT, B.CreateInBoundsGEP(T, Tk.In[0], Y), WR.A,
                WR.mask(WR.VL, B.CreateMul(Rows, Tk.i64(S.OW))),
                Constant::getNullValue(WR.VT));
            std::vector<Value *> Taps;
            if (Max)
              Taps = RG.taps(Tk.In[1], X, Rows);
            RG.storeTaps(poolGradTaps(Tk, S, T, WR.VL, DY, Taps, Max, Relu),
                         Tk.Out, X, Rows);
          }))
    return;
  bool Covered = S.OH * S.G.Kernel[0] == S.H && S.OW * S.G.Kernel[1] == S.W;
  if (!Covered)
    forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
      fill(Tk, Tk.fp(T, 0), P.X, S.H * S.W);
    });
  forEachWindowVector(
      K, S, T,
      [&](Kernel &Tk, const Planes &P, Value *Oh, Value *Ow0, Value *Cols,
          WindowRows &WR) {
        IRBuilder<> &B = Tk.B;
        Value *DYOff = Tk.add(Tk.madd(P.Y, Oh, Tk.i64(S.OW)), Ow0);
        Value *DY = B.CreateMaskedLoad(
            WR.VT, B.CreateInBoundsGEP(T, Tk.In[0], DYOff), WR.A,
            WR.mask(WR.VL, Cols), Constant::getNullValue(WR.VT));
        std::vector<Value *> Taps;
        if (Max)
          for (int64_t Kh = 0; Kh < S.G.Kernel[0]; ++Kh)
            for (Value *X :
                 WR.taps(Tk.In[1], windowRow(Tk, S, P, Oh, Ow0, Kh), Cols))
              Taps.push_back(X);
        std::vector<Value *> Out =
            poolGradTaps(Tk, S, T, WR.VL, DY, Taps, Max, Relu);
        for (int64_t Kh = 0; Kh < S.G.Kernel[0]; ++Kh)
          WR.storeTaps(ArrayRef<Value *>(Out).slice(size_t(Kh * S.G.Kernel[1]),
                                                    size_t(S.G.Kernel[1])),
                       Tk.Out, windowRow(Tk, S, P, Oh, Ow0, Kh), Cols);
      });
}

/// max_pool2d and avg_pool2d.
static void emitPool(Kernel &K, const Op &O, bool Max) {
  PoolShape S(O, O.Operands[0]->type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  if (tiling(S))
    return tilingPool(K, S, T, Max);
  double Taps = double(S.G.Kernel[0] * S.G.Kernel[1]);
  forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
    IRBuilder<> &B = Tk.B;
    Tk.loop(Tk.i64(S.OH), [&](Value *Oh) {
      Value *YRow = Tk.madd(P.Y, Oh, Tk.i64(S.OW));
      double Init = Max ? -std::numeric_limits<double>::infinity() : 0.0;
      fill(Tk, Tk.fp(T, Init), YRow, S.OW);
      sweepRow(Tk, S, P, Oh, Tk.i64(0), Tk.i64(S.OW),
               [&](Value *Ow, Value *XOff) {
                 Value *YOff = Tk.add(YRow, Ow);
                 Value *Y = Tk.load(T, Tk.Out, YOff);
                 Value *X = Tk.load(T, Tk.In[0], XOff);
                 Value *R = Max ? B.CreateSelect(B.CreateFCmpOGT(X, Y), X, Y)
                                : B.CreateFAdd(Y, X);
                 Tk.store(R, Tk.Out, YOff);
               });
      if (Max)
        return;
      Tk.loop(Tk.i64(S.OW), [&](Value *Ow) {
        Value *YOff = Tk.add(YRow, Ow);
        Value *Y = Tk.load(T, Tk.Out, YOff);
        Tk.store(B.CreateFMul(Y, Tk.fp(T, 1 / Taps)), Tk.Out, YOff);
      });
    });
  });
}

void emitMaxPool2d(Kernel &K, const Op &O) { emitPool(K, O, /*Max=*/true); }
void emitAvgPool2d(Kernel &K, const Op &O) { emitPool(K, O, /*Max=*/false); }

/// An entry-block array of kPoolBlock elements of \p T in \p K's function.
static Value *blockArray(Kernel &K, Type *T) {
  BasicBlock &Entry = K.Fn->getEntryBlock();
  IRBuilder<> EB(&Entry, Entry.begin());
  return EB.CreateAlloca(T, K.i64(kPoolBlock));
}

void emitMaxPool2dGrad(Kernel &K, const Op &O) {
  PoolShape S(O, O.type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  bool Relu = O.boolAttr("relu");
  if (tiling(S))
    return tilingPoolGrad(K, S, T, /*Max=*/true, Relu);
  // Indices within a plane, in 32 bits when they fit (wider vectors).
  Type *IdxT = S.H * S.W <= std::numeric_limits<int32_t>::max()
                   ? K.B.getInt32Ty()
                   : K.B.getInt64Ty();
  forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
    IRBuilder<> &B = Tk.B;
    Value *Best = blockArray(Tk, T), *Idx = blockArray(Tk, IdxT);
    fill(Tk, Tk.fp(T, 0), P.X, S.H * S.W);
    Tk.loop(Tk.i64(S.OH), [&](Value *Oh) {
      Value *YRow = Tk.madd(P.Y, Oh, Tk.i64(S.OW));
      Value *Row0 =
          B.CreateMul(Tk.max(rowStart(Tk, S, Oh), Tk.i64(0)), Tk.i64(S.W));
      Value *OW = Tk.i64(S.OW);
      Tk.loop(Tk.i64(0), OW, Tk.i64(kPoolBlock), [&](Value *B0) {
        Value *B1 = Tk.min(B.CreateAdd(B0, Tk.i64(kPoolBlock)), OW);
        // Start at the window's first element inside the input.
        Tk.loop(B0, B1, Tk.i64(1), [&](Value *Ow) {
          Value *Col =
              Tk.max(B.CreateNSWSub(B.CreateMul(Ow, Tk.i64(S.G.Stride[1])),
                                    Tk.i64(S.G.Padding[1])),
                     Tk.i64(0));
          Value *I = B.CreateAdd(Row0, Col), *J = B.CreateSub(Ow, B0);
          Tk.store(Tk.load(T, Tk.In[1], B.CreateAdd(P.X, I)), Best, J);
          Tk.store(B.CreateTrunc(I, IdxT), Idx, J);
        });
        sweepRow(Tk, S, P, Oh, B0, B1, [&](Value *Ow, Value *XOff) {
          Value *J = B.CreateSub(Ow, B0);
          Value *X = Tk.load(T, Tk.In[1], XOff), *Bj = Tk.load(T, Best, J);
          Value *Gt = B.CreateFCmpOGT(X, Bj);
          Value *I = B.CreateTrunc(B.CreateSub(XOff, P.X), IdxT);
          Tk.store(B.CreateSelect(Gt, X, Bj), Best, J);
          Tk.store(B.CreateSelect(Gt, I, Tk.load(IdxT, Idx, J)), Idx, J);
        });
        // In order of ow: windows sharing a maximum accumulate.
        Tk.loop(B0, B1, Tk.i64(1), [&](Value *Ow) {
          Value *I =
              B.CreateZExt(Tk.load(IdxT, Idx, B.CreateSub(Ow, B0)), Tk.i64Ty());
          Value *DX = B.CreateAdd(P.X, I);
          Value *DY = Tk.load(T, Tk.In[0], Tk.add(YRow, Ow));
          if (Relu)
            DY = reluMask(Tk, T, DY, Tk.load(T, Best, B.CreateSub(Ow, B0)));
          Tk.store(B.CreateFAdd(Tk.load(T, Tk.Out, DX), DY), Tk.Out, DX);
        });
      });
    });
  });
}

void emitAvgPool2dGrad(Kernel &K, const Op &O) {
  PoolShape S(O, O.type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  if (tiling(S))
    return tilingPoolGrad(K, S, T, /*Max=*/false, /*Relu=*/false);
  double Taps = double(S.G.Kernel[0] * S.G.Kernel[1]);
  forEachPlane(K, S, [&](Kernel &Tk, const Planes &P) {
    IRBuilder<> &B = Tk.B;
    fill(Tk, Tk.fp(T, 0), P.X, S.H * S.W);
    Tk.loop(Tk.i64(S.OH), [&](Value *Oh) {
      Value *YRow = Tk.madd(P.Y, Oh, Tk.i64(S.OW));
      sweepRow(
          Tk, S, P, Oh, Tk.i64(0), Tk.i64(S.OW), [&](Value *Ow, Value *XOff) {
            Value *DY = Tk.load(T, Tk.In[0], Tk.add(YRow, Ow));
            Value *G = B.CreateFMul(DY, Tk.fp(T, 1 / Taps));
            Tk.store(B.CreateFAdd(Tk.load(T, Tk.Out, XOff), G), Tk.Out, XOff);
          });
    });
  });
}

} // namespace adj::cg
