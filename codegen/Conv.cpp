//===- Conv.cpp - conv2d and its adjoints as direct loop nests ------------===//
///
/// conv2d and its two adjoint ops as direct loop nests: a first, correct
/// lowering for every stride, padding, dilation and group count (a fast
/// im2col + GEMM path is left for later). With x [N, C, H, W], w [O, Cg,
/// KH, KW] (Cg = C / groups input channels per group, Og = O / groups
/// output channels), y [N, O, OH, OW] and the geometry of ir/Conv2d.h,
/// output pixel (oh, ow) of channel o reads the taps (kh, kw) at
///
///   ih = oh * sh - top + kh * dh,   iw = ow * sw - left + kw * dw
///
/// of the Cg input channels of o's group. Taps in the padding read zeros:
/// instead of testing each one, the loops over kh and kw run over the taps
/// inside the input only (a range computed per output pixel), so no load is
/// out of bounds and the inner loops have no branch.
///
///   conv2d              y[n,o,p] = sum_{c,k} x[n,c,p+k] w[o,c,k]
///                       (tasks over the N * O output planes)
///   conv2d_grad_input   dx[n,c,p+k] += dy[n,o,p] w[o,c,k]
///                       (dx zeroed, then scattered from each dy element;
///                       tasks over the images n)
///   conv2d_grad_weight  dw[o,c,k] += dy[n,o,p] x[n,c,p+k]
///                       (dw zeroed; tasks over the output channels o, each
///                       summing over n, oh, ow in order)
///
/// Every output element is accumulated by one task in a fixed order, so
/// results do not depend on the number of threads.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "ir/Conv2d.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// Multiply-adds per parallel task, at least.
constexpr int64_t kConvGrain = 1 << 16;

namespace {
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

  /// Multiply-adds of the whole convolution (for the task count).
  Extent work() const { return N * Extent{O * OH * OW * Cg * KH * KW, 0}; }
};

/// The taps [Lo, Hi) that one output position reads inside the input along
/// an axis, and Start, the input position of tap 0 (negative in the
/// padding): tap k reads Start + k * dilation.
struct TapRange {
  Value *Lo, *Hi, *Start;
};
} // namespace

/// The taps of output position \p P along spatial axis \p Axis, for an
/// input of \p In elements and a kernel of \p Taps taps.
static TapRange tapRange(Kernel &K, const Conv2dGeometry &G, unsigned Axis,
                         Value *P, int64_t In, int64_t Taps) {
  IRBuilder<> &B = K.B;
  Value *D = K.i64(G.Dilation[Axis]), *Zero = K.i64(0);
  Value *Start = B.CreateSub(B.CreateMul(P, K.i64(G.Stride[Axis])),
                             K.i64(G.Padding[2 * Axis]), "start");
  // Inside when 0 <= Start + k * D, i.e. k >= ceil(-Start / D) ...
  Value *Before = B.CreateSub(Zero, Start);
  Value *Skip =
      B.CreateUDiv(B.CreateAdd(Before, K.i64(G.Dilation[Axis] - 1)), D);
  Value *Lo = B.CreateSelect(B.CreateICmpSGT(Before, Zero), Skip, Zero, "lo");
  // ... and Start + k * D <= In - 1, i.e. k <= (In - 1 - Start) / D.
  Value *Room = B.CreateSub(K.i64(In - 1), Start);
  Value *Fit = K.min(K.i64(Taps), B.CreateAdd(B.CreateSDiv(Room, D), K.i64(1)));
  Value *Hi = B.CreateSelect(B.CreateICmpSLT(Room, Zero), Zero, Fit, "hi");
  return {Lo, Hi, Start};
}

/// Calls \p Fn(x offset, w offset) for every tap of output pixel (\p Oh,
/// \p Ow) of image \p Img in output channel \p Oc that lies inside the
/// input: the Cg input channels of Oc's group, the taps in range.
static void forEachTap(Kernel &K, const ConvShape &S, Value *Img, Value *Oc,
                       Value *Oh, Value *Ow,
                       function_ref<void(Value *, Value *)> Fn) {
  IRBuilder<> &B = K.B;
  TapRange R = tapRange(K, S.G, 0, Oh, S.H, S.KH);
  TapRange Q = tapRange(K, S.G, 1, Ow, S.W, S.KW);
  Value *Group = B.CreateUDiv(Oc, K.i64(S.Og));
  Value *XCh0 = K.madd(B.CreateMul(Img, K.i64(S.C)), Group, K.i64(S.Cg));
  Value *WCh0 = B.CreateMul(Oc, K.i64(S.Cg));
  K.loop(K.i64(S.Cg), [&](Value *Ch) {
    Value *XPlane = B.CreateMul(K.add(XCh0, Ch), K.i64(S.H));
    Value *WPlane = B.CreateMul(K.add(WCh0, Ch), K.i64(S.KH));
    K.loop(R.Lo, R.Hi, K.i64(1), [&](Value *Kh) {
      // Start may be negative: no nuw on these adds.
      Value *Ih = B.CreateNSWAdd(
          R.Start, B.CreateNSWMul(Kh, K.i64(S.G.Dilation[0])), "ih");
      Value *XRow = B.CreateMul(K.add(XPlane, Ih), K.i64(S.W));
      Value *WRow = B.CreateMul(K.add(WPlane, Kh), K.i64(S.KW));
      K.loop(Q.Lo, Q.Hi, K.i64(1), [&](Value *Kw) {
        Value *Iw = B.CreateNSWAdd(
            Q.Start, B.CreateNSWMul(Kw, K.i64(S.G.Dilation[1])), "iw");
        Fn(K.add(XRow, Iw), K.add(WRow, Kw));
      });
    });
  });
}

/// Calls \p Fn(oh, ow, y offset) for every pixel of output plane \p Plane
/// (= image * O + channel).
static void forEachPixel(Kernel &K, const ConvShape &S, Value *Plane,
                         function_ref<void(Value *, Value *, Value *)> Fn) {
  Value *Base = K.B.CreateMul(Plane, K.i64(S.OH * S.OW));
  K.loop(K.i64(S.OH), [&](Value *Oh) {
    Value *Row = K.madd(Base, Oh, K.i64(S.OW));
    K.loop(K.i64(S.OW), [&](Value *Ow) { Fn(Oh, Ow, K.add(Row, Ow)); });
  });
}

/// Fills the output with zeros (the adjoints accumulate into it).
static void zeroOutput(Kernel &K, Type *T, const TensorType &R) {
  K.forEach({product(shapeOf(R))}, {{Extent()}},
            [&](ArrayRef<Value *> Off) { K.store(K.fp(T, 0), K.Out, Off[0]); });
}

void emitConv2d(Kernel &K, const Op &O) {
  ConvShape S(O, O.Operands[0]->type(), O.Operands[1]->type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  Extent Planes = S.N * Extent{S.O, 0};
  Value *NTasks = K.taskCount(K.get(S.work()), kConvGrain, K.get(Planes));
  K.parallel(
      NTasks, [&](Kernel &Tk, Value *Task, Value *Count, ArrayRef<Value *>) {
        IRBuilder<> &B = Tk.B;
        auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.get(Planes), 1);
        Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Plane) {
          Value *Img = B.CreateUDiv(Plane, Tk.i64(S.O), "img");
          Value *Oc = B.CreateURem(Plane, Tk.i64(S.O), "oc");
          forEachPixel(Tk, S, Plane, [&](Value *Oh, Value *Ow, Value *YOff) {
            Value *Acc = Tk.var(Tk.fp(T, 0));
            forEachTap(Tk, S, Img, Oc, Oh, Ow, [&](Value *XOff, Value *WOff) {
              Value *P = B.CreateFMul(Tk.load(T, Tk.In[0], XOff),
                                      Tk.load(T, Tk.In[1], WOff));
              Tk.write(Acc, B.CreateFAdd(Tk.read(T, Acc), P));
            });
            Tk.store(Tk.read(T, Acc), Tk.Out, YOff);
          });
        });
      });
}

void emitConv2dGradInput(Kernel &K, const Op &O) {
  ConvShape S(O, O.type(), O.Operands[1]->type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  zeroOutput(K, T, O.type());
  Value *NTasks = K.taskCount(K.get(S.work()), kConvGrain, K.get(S.N));
  K.parallel(NTasks, [&](Kernel &Tk, Value *Task, Value *Count,
                         ArrayRef<Value *>) {
    IRBuilder<> &B = Tk.B;
    auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.get(S.N), 1);
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Img) {
      Tk.loop(Tk.i64(S.O), [&](Value *Oc) {
        Value *Plane = Tk.madd(Oc, Img, Tk.i64(S.O));
        forEachPixel(Tk, S, Plane, [&](Value *Oh, Value *Ow, Value *YOff) {
          Value *DY = Tk.load(T, Tk.In[0], YOff);
          forEachTap(Tk, S, Img, Oc, Oh, Ow, [&](Value *XOff, Value *WOff) {
            Value *P = B.CreateFMul(DY, Tk.load(T, Tk.In[1], WOff));
            Tk.store(B.CreateFAdd(Tk.load(T, Tk.Out, XOff), P), Tk.Out, XOff);
          });
        });
      });
    });
  });
}

void emitConv2dGradWeight(Kernel &K, const Op &O) {
  ConvShape S(O, O.Operands[1]->type(), O.type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  zeroOutput(K, T, O.type());
  Value *NTasks = K.taskCount(K.get(S.work()), kConvGrain, K.i64(S.O));
  K.parallel(NTasks, [&](Kernel &Tk, Value *Task, Value *Count,
                         ArrayRef<Value *>) {
    IRBuilder<> &B = Tk.B;
    auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.i64(S.O), 1);
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Oc) {
      Tk.loop(Tk.get(S.N), [&](Value *Img) {
        Value *Plane = Tk.madd(Oc, Img, Tk.i64(S.O));
        forEachPixel(Tk, S, Plane, [&](Value *Oh, Value *Ow, Value *YOff) {
          Value *DY = Tk.load(T, Tk.In[0], YOff);
          forEachTap(Tk, S, Img, Oc, Oh, Ow, [&](Value *XOff, Value *WOff) {
            Value *P = B.CreateFMul(DY, Tk.load(T, Tk.In[1], XOff));
            Tk.store(B.CreateFAdd(Tk.load(T, Tk.Out, WOff), P), Tk.Out, WOff);
          });
        });
      });
    });
  });
}

} // namespace adj::cg
