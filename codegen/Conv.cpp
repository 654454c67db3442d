//===- Conv.cpp - conv2d and its adjoints on the GEMM micro-kernels -------===//
///
/// conv2d and its two adjoint ops. With x [N, C, H, W], w [O, Cg, KH, KW]
/// (Cg = C / groups input channels per group, Og = O / groups output
/// channels), y [N, O, OH, OW] and the geometry of ir/Conv2d.h, output pixel
/// p = (oh, ow) of channel o reads the taps (kh, kw) at
///
///   ih = oh * sh - top + kh * dh,   iw = ow * sw - left + kw * dw
///
/// of the Cg input channels of o's group. Per image, the im2col matrix
/// cols[Kc, P] (Kc = C * KH * KW rows k = (c, kh, kw), P = OH * OW columns;
/// zeros for taps in the padding) turns each group's convolution into a
/// product on the register-tiled GEMM of GemmTiles.cpp (Gemm.h):
///
///   conv2d              y_g[Og, P]  = w_g[Og, Kcg] cols_g[Kcg, P]
///                       (the fuse pass's epilogue applied in the tile)
///   conv2d_grad_input   cols_g[Kcg, P] = w_g^T dy_g[Og, P] (transpose_a),
///                       then dx = col2im(cols): each column adds its taps
///   conv2d_grad_weight  dw_g[Og, Kcg] += dy_g[Og, P] cols_g^T (transpose_b,
///                       accumulating over the images); when Og < Kcg
///                       instead dw_g^T[Kcg, Og] += cols_g dy_g^T, which
///                       packs only dy for the micro-kernel, into per-task
///                       partials transposed into dw at the end
///
/// With width stride 1 (vectorRows), im2col and col2im move vectors along
/// the output rows: im2col one masked load per row segment (zeros for the
/// padding), col2im a gather of all taps of a dx vector, stored once.
///
/// A 1x1 convolution with stride 1 and no padding needs no im2col: cols is
/// the image (dx for the input gradient). Tasks run over blocks of images,
/// each with its own cols buffer in the kernel's workspace (workspaceOf, a
/// slice of the step's planned scratch arena); the weight gradient's task t
/// > 0 (every task in the transposed form) sums its images into a partial
/// dw of its own there, and the partials are added in task order after the
/// loop. The task count depends on the problem size only, and every output
/// element is computed by one task in a fixed order, so results do not
/// depend on the number of threads.
///
/// The weight gradient of shapes with few channels (LeNet's 1 -> 6 layer),
/// where the GEMM's register tiles are mostly empty, takes a direct kernel
/// along the output rows (directGradWeightRows in ConvRows.cpp, as is the
/// forward directConv2dRows: a block of output channels sharing each input
/// vector), chosen by an estimate of both paths' vector
/// operations. A product whose last column tile of two vectors would hold
/// at most one vector of columns (N = 196 = 6 * 32 + 4) runs that last
/// part with one-vector tiles (columnBlocks). When one image's cols buffer
/// would exceed kMaxColsBytes, the ops fall back to direct loop nests (tasks
/// over output planes, images and output channels) in which the loops over kh
/// and kw run over the taps inside the input only (a range computed per output
/// pixel), so no load is out of bounds and the inner loops have no branch.
/// Tests force either path (ConvPath.h).
///
//===----------------------------------------------------------------------===//
#include "codegen/ConvShape.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

ConvPath &convPathForTesting() {
  static ConvPath P = ConvPath::Auto;
  return P;
}

/// The taps of output position \p P along spatial axis \p Axis, for an
/// input of \p In elements and a kernel of \p Taps taps.
TapRange tapRange(Kernel &K, const Conv2dGeometry &G, unsigned Axis, Value *P,
                  int64_t In, int64_t Taps) {
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

/// The epilogue of a conv2d (ir/Body.h), empty for none.
std::vector<BodyMember> epilogueOf(const Op &O) {
  unsigned NumInputs = 0;
  std::vector<BodyMember> Members;
  if (const std::string *Body = bodyOf(O, NumInputs)) {
    [[maybe_unused]] std::string Err = parseBody(*Body, NumInputs, Members);
    assert(Err.empty() && "epilogue checked by Lower");
  }
  return Members;
}

/// The stride along the channels of conv2d \p O's epilogue input \p I
/// (operand I + 1), which the fuse pass keeps constant along the images
/// and pixels.
int64_t epilogueStride(const Op &O, unsigned I) {
  Shape St = broadcastStrides(O.Operands[I + 1]->type(), O.type().Dims);
  assert(St[0].Mul == 0 && St[2].Mul == 0 && St[3].Mul == 0 &&
         "conv2d epilogue inputs vary along the channels only");
  return St[1].Mul;
}

static void directConv2d(Kernel &K, const Op &O, const ConvShape &S, Type *T) {
  std::vector<BodyMember> Epi = epilogueOf(O);
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
            Value *Y = Tk.read(T, Acc);
            if (!Epi.empty())
              Y = emitBody(Tk, Epi, [&](unsigned I) {
                return I ? Tk.load(T, Tk.In[I + 1],
                                   Tk.madd(Tk.i64(0), Oc,
                                           Tk.i64(epilogueStride(O, I))))
                         : Y;
              });
            Tk.store(Y, Tk.Out, YOff);
          });
        });
      });
}

static void directGradInput(Kernel &K, const Op &O, const ConvShape &S,
                            Type *T) {
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

static void directGradWeight(Kernel &K, const Op &O, const ConvShape &S,
                             Type *T) {
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

//===-- The GEMM path -----------------------------------------------------===//

/// Base + I * Stride elements of \p T.
static Value *at(Kernel &K, Type *T, Value *Base, Value *I, int64_t Stride) {
  return K.B.CreateInBoundsGEP(T, Base, K.madd(K.i64(0), I, K.i64(Stride)));
}

/// The outputs o in [0, Out) that read inside an input of \p In elements,
/// 0 <= o * Stride + Off < In, as [Lo, Hi) (Lo <= Hi).
std::pair<Value *, Value *> validRange(Kernel &K, Value *Off, int64_t Stride,
                                       int64_t In, int64_t Out) {
  IRBuilder<> &B = K.B;
  Value *Zero = K.i64(0), *S = K.i64(Stride);
  // o >= ceil(-Off / Stride) when Off < 0 ...
  Value *Neg = B.CreateSub(Zero, Off);
  Value *Skip = B.CreateUDiv(B.CreateAdd(Neg, K.i64(Stride - 1)), S);
  Value *Lo =
      K.min(B.CreateSelect(B.CreateICmpSGT(Neg, Zero), Skip, Zero), K.i64(Out));
  // ... and o <= (In - 1 - Off) / Stride.
  Value *Room = B.CreateSub(K.i64(In - 1), Off);
  Value *Fit = K.min(K.i64(Out), B.CreateAdd(B.CreateUDiv(Room, S), K.i64(1)));
  Value *Hi = B.CreateSelect(B.CreateICmpSLT(Room, Zero), Zero, Fit);
  return {Lo, K.max(Hi, Lo)};
}

namespace {
/// One row k = (c, kh, kw) of the im2col matrix: its offset in cols, the
/// offset of input channel c, and the output rows [OhLo, OhHi) and columns
/// [OwLo, OwHi) whose tap lies inside the input, at ih = oh * sh + IhOff,
/// iw = ow * sw + IwOff.
struct ColRow {
  Value *Col, *XPlane, *OhLo, *OhHi, *OwLo, *OwHi, *IhOff, *IwOff;
};
} // namespace

/// Calls \p Fn for every row of one image's im2col matrix: in order, or
/// with kw outside kh when \p KwOuter (col2im: rows next in that order
/// add to different input rows, so no load waits on an overlapping store).
static void forEachColRow(Kernel &K, const ConvShape &S,
                          function_ref<void(const ColRow &)> Fn,
                          bool KwOuter = false) {
  IRBuilder<> &B = K.B;
  auto Row = [&](Value *C, Value *Kh, Value *Kw) {
    Value *IhOff = B.CreateSub(B.CreateMul(Kh, K.i64(S.G.Dilation[0])),
                               K.i64(S.G.Padding[0]));
    auto [OhLo, OhHi] = validRange(K, IhOff, S.G.Stride[0], S.H, S.OH);
    Value *IwOff = B.CreateSub(B.CreateMul(Kw, K.i64(S.G.Dilation[1])),
                               K.i64(S.G.Padding[2]));
    auto [OwLo, OwHi] = validRange(K, IwOff, S.G.Stride[1], S.W, S.OW);
    Value *R = K.madd(K.madd(Kw, Kh, K.i64(S.KW)), C, K.i64(S.KH * S.KW));
    Fn({B.CreateMul(R, K.i64(S.pixels())), B.CreateMul(C, K.i64(S.H * S.W)),
        OhLo, OhHi, OwLo, OwHi, IhOff, IwOff});
  };
  K.loop(K.i64(S.C), [&](Value *C) {
    K.loop(K.i64(KwOuter ? S.KW : S.KH), [&](Value *A) {
      K.loop(K.i64(KwOuter ? S.KH : S.KW),
             [&](Value *I) { KwOuter ? Row(C, I, A) : Row(C, A, I); });
    });
  });
}

/// Calls \p Fn(cols offset, x offset) for the taps of row \p R inside the
/// input, output row by output row.
static void forEachInside(Kernel &K, const ConvShape &S, const ColRow &R,
                          function_ref<void(Value *, Value *)> Fn) {
  IRBuilder<> &B = K.B;
  K.loop(R.OhLo, R.OhHi, K.i64(1), [&](Value *Oh) {
    Value *Ih = B.CreateNSWAdd(B.CreateMul(Oh, K.i64(S.G.Stride[0])), R.IhOff);
    // May be negative before ow's part is added: nsw only.
    Value *XRow = B.CreateNSWAdd(
        B.CreateNSWAdd(R.XPlane, B.CreateNSWMul(Ih, K.i64(S.W))), R.IwOff);
    Value *ColRow = K.madd(R.Col, Oh, K.i64(S.OW));
    K.loop(R.OwLo, R.OwHi, K.i64(1), [&](Value *Ow) {
      Fn(K.add(ColRow, Ow),
         B.CreateNSWAdd(XRow, B.CreateNSWMul(Ow, K.i64(S.G.Stride[1]))));
    });
  });
}

/// Zeros Buf[Begin, End).
static void zero(Kernel &K, Type *T, Value *Buf, Value *Begin, Value *End) {
  K.loop(Begin, End, K.i64(1), [&](Value *I) { K.store(K.fp(T, 0), Buf, I); });
}

/// Whether im2col and col2im take the vector rows of RowVectors (width
/// stride 1, and small enough for i32 lanes).
bool vectorRows(const ConvShape &S) {
  return S.G.Stride[1] == 1 && S.W + S.KW * S.G.Dilation[1] < (1 << 30);
}

/// im2col with width stride 1: per row k = (c, kh, kw) and output row oh,
/// the OW columns are one masked load of the input row at iw = ow + IwOff
/// (zeros outside it) stored whole, as whole vectors in increasing order:
/// a vector's lanes past the row are overwritten by the next store, and
/// the last one's lie in the slack after the buffer (colsStride); output
/// rows whose tap row lies in the padding are zeros.
static void im2colRows(Kernel &K, const ConvShape &S, Type *T, Value *X,
                       Value *Cols) {
  IRBuilder<> &B = K.B;
  RowVectors RV(K, T);
  Value *Zero = Constant::getNullValue(RV.VT);
  K.loop(K.i64(S.C), [&](Value *C) {
    Value *XPlane = B.CreateMul(C, K.i64(S.H * S.W));
    // Loops, not unrolled taps: im2col runs twice per layer, and its code
    // size counts in the compile time.
    K.loop(K.i64(S.KH), [&](Value *Kh) {
      K.loop(K.i64(S.KW), [&](Value *Kw) {
        Value *IhOff = B.CreateSub(B.CreateMul(Kh, K.i64(S.G.Dilation[0])),
                                   K.i64(S.G.Padding[0]));
        Value *IwOff = B.CreateSub(B.CreateMul(Kw, K.i64(S.G.Dilation[1])),
                                   K.i64(S.G.Padding[2]));
        Value *Row = B.CreateMul(
            K.madd(K.madd(Kw, Kh, K.i64(S.KW)), C, K.i64(S.KH * S.KW)),
            K.i64(S.pixels()));
        K.loop(K.i64(S.OH), [&](Value *Oh) {
          Value *Ih = B.CreateAdd(B.CreateMul(Oh, K.i64(S.G.Stride[0])), IhOff);
          Value *Inside = B.CreateICmpULT(Ih, K.i64(S.H));
          Value *XRow =
              K.madd(XPlane, B.CreateSelect(Inside, Ih, K.i64(0)), K.i64(S.W));
          Value *ColRow = K.madd(Row, Oh, K.i64(S.OW));
          K.loop(K.i64(0), K.i64(S.OW), K.i64(RV.VL), [&](Value *Ow) {
            Value *Load = B.CreateAnd(RV.mask(Ow, IwOff, S.W, S.OW),
                                      B.CreateVectorSplat(RV.VL, Inside));
            Value *V =
                RV.load(X, B.CreateAdd(B.CreateAdd(XRow, IwOff), Ow), Load);
            // Unmasked: the lanes past the row land where the next
            // store writes, or in the buffer's slack (masked stores
            // made LeNet's im2col ~1.3x slower).
            B.CreateAlignedStore(B.CreateSelect(Load, V, Zero),
                                 RV.ptr(Cols, K.add(ColRow, Ow)), RV.A);
          });
        });
      });
    });
  });
}

/// col2im with width stride 1 as a gather: dx[c, ih, iw] = the sum over
/// (kh, kw) in order of cols[(c, kh, kw), oh, iw - IwOff(kw)] for the taps
/// whose output row oh (ih = oh * sh + IhOff(kh)) and column are inside,
/// summed in a vector and stored once: dx needs no zeroing, and no load
/// waits on a store.
static void col2imRows(Kernel &K, const ConvShape &S, Type *T, Value *Cols,
                       Value *DX) {
  IRBuilder<> &B = K.B;
  RowVectors RV(K, T);
  K.loop(K.i64(S.C), [&](Value *C) {
    Value *XPlane = B.CreateMul(C, K.i64(S.H * S.W));
    Value *Rows = B.CreateMul(C, K.i64(S.KH * S.KW * S.pixels()));
    K.loop(K.i64(S.H), [&](Value *Ih) {
      Value *XRow = K.madd(XPlane, Ih, K.i64(S.W));
      K.loop(K.i64(0), K.i64(S.W), K.i64(RV.VL), [&](Value *Iw) {
        Value *Acc = Constant::getNullValue(RV.VT);
        for (int64_t Kh = 0; Kh < S.KH; ++Kh) {
          // oh = (ih - IhOff) / sh when that divides and lies inside.
          Value *D =
              B.CreateSub(Ih, K.i64(Kh * S.G.Dilation[0] - S.G.Padding[0]));
          Value *Oh = B.CreateUDiv(D, K.i64(S.G.Stride[0]));
          Value *Inside = B.CreateAnd(
              B.CreateICmpEQ(B.CreateURem(D, K.i64(S.G.Stride[0])), K.i64(0)),
              B.CreateICmpULT(Oh, K.i64(S.OH)));
          Oh = B.CreateSelect(Inside, Oh, K.i64(0));
          Value *All = B.CreateVectorSplat(RV.VL, Inside);
          for (int64_t Kw = 0; Kw < S.KW; ++Kw) {
            int64_t IwOff = Kw * S.G.Dilation[1] - S.G.Padding[2];
            Value *M = B.CreateAnd(RV.mask(Iw, -IwOff, S.OW, S.W), All);
            Value *Row = K.add(Rows, K.i64((Kh * S.KW + Kw) * S.pixels()));
            Value *Src = B.CreateSub(K.add(K.madd(Row, Oh, K.i64(S.OW)), Iw),
                                     K.i64(IwOff));
            Acc = B.CreateFAdd(Acc, RV.load(Cols, Src, M));
          }
        }
        RV.store(Acc, DX, K.add(XRow, Iw), RV.mask(Iw, int64_t(0), S.W, S.W));
      });
    });
  });
}

/// Writes image \p X's im2col matrix to \p Cols: the taps inside the input,
/// zeros for those in the padding.
static void im2col(Kernel &K, const ConvShape &S, Type *T, Value *X,
                   Value *Cols) {
  if (vectorRows(S))
    return im2colRows(K, S, T, X, Cols);
  forEachColRow(K, S, [&](const ColRow &R) {
    Value *OW = K.i64(S.OW);
    // Rows above and below the input, then the columns beside it.
    zero(K, T, Cols, R.Col, K.madd(R.Col, R.OhLo, OW));
    zero(K, T, Cols, K.madd(R.Col, R.OhHi, OW),
         K.add(R.Col, K.i64(S.pixels())));
    K.loop(R.OhLo, R.OhHi, K.i64(1), [&](Value *Oh) {
      Value *Row = K.madd(R.Col, Oh, OW);
      zero(K, T, Cols, Row, K.add(Row, R.OwLo));
      zero(K, T, Cols, K.add(Row, R.OwHi), K.add(Row, OW));
    });
    forEachInside(K, S, R, [&](Value *ColOff, Value *XOff) {
      K.store(K.load(T, X, XOff), Cols, ColOff);
    });
  });
}

/// Adds \p Cols' columns to image \p DX at their taps (the adjoint of
/// im2col), row by row in order.
static void col2im(Kernel &K, const ConvShape &S, Type *T, Value *Cols,
                   Value *DX) {
  if (vectorRows(S))
    return col2imRows(K, S, T, Cols, DX);
  IRBuilder<> &B = K.B;
  forEachColRow(
      K, S,
      [&](const ColRow &R) {
        forEachInside(K, S, R, [&](Value *ColOff, Value *XOff) {
          Value *Sum =
              B.CreateFAdd(K.load(T, DX, XOff), K.load(T, Cols, ColOff));
          K.store(Sum, DX, XOff);
        });
      },
      /*KwOuter=*/true);
}

/// The product of one image and group, of static sizes M x K x N.
static GemmArgs product(Kernel &K, Type *T, int64_t M, int64_t Kd, int64_t N,
                        Value *A, Value *B, Value *C, bool TA, bool TB) {
  return GemmArgs{T,
                  Extent{M, 0},
                  Extent{Kd, 0},
                  Extent{N, 0},
                  K.i64(M),
                  K.i64(Kd),
                  K.i64(N),
                  A,
                  B,
                  C,
                  TA,
                  TB};
}

/// Emits product \p A, whose N is static, in column blocks: when the
/// last register tile of two vectors per row would hold at most one
/// vector of columns, the columns before it with two-vector tiles and
/// the rest with one-vector tiles, which do half the multiply-adds (N =
/// 196 = 6 * 32 + 4 on AVX-512: the last tile computed 32 columns for 4).
/// Every element's sum is the same in either tile.
static void columnBlocks(Kernel &K, GemmArgs A) {
  int64_t N = A.NE.Mul;
  int64_t VL = hostVectorBits() / A.T->getPrimitiveSizeInBits();
  int64_t Rest = N % (2 * VL);
  if (A.NE.Pow || A.NV || A.Col0 || N <= 2 * VL || Rest == 0 || Rest > VL)
    return gemm(K, A);
  GemmArgs Tail = A;
  A.NV = 2;
  A.Col1 = K.i64(N - Rest);
  gemm(K, A);
  Tail.NV = 1;
  Tail.Col0 = K.i64(N - Rest);
  gemm(K, Tail);
}

/// Calls \p Fn(g) for every group g.
static void forEachGroup(Kernel &K, const ConvShape &S,
                         function_ref<void(Value *)> Fn) {
  if (S.G.Groups == 1)
    return Fn(K.i64(0));
  K.loop(K.i64(S.G.Groups), Fn);
}

/// The GEMM path's parallel loop over blocks of images: \p Fn(task kernel,
/// task, task count, first image, end image).
static void overImages(
    Kernel &K, const ConvShape &S,
    function_ref<void(Kernel &, Value *, Value *, Value *, Value *)> Fn) {
  Value *Max = K.min(K.get(S.N), K.i64(S.maxTasks()));
  Value *NTasks = K.taskCount(K.get(S.work()), kGemmGrain, Max);
  K.parallel(NTasks,
             [&](Kernel &Tk, Value *Task, Value *Count, ArrayRef<Value *>) {
               auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.get(S.N), 1);
               Fn(Tk, Task, Count, Lo, Hi);
             });
}

static void gemmConv2d(Kernel &K, const Op &O, const ConvShape &S, Type *T) {
  std::vector<BodyMember> Epi = epilogueOf(O);
  int64_t Kcg = S.rowsPerGroup(), P = S.pixels();
  overImages(K, S, [&](Kernel &Tk, Value *Task, Value *, Value *Lo, Value *Hi) {
    Value *Cols =
        S.identity() ? nullptr : at(Tk, T, Tk.Outs[1], Task, S.colsStride());
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Img) {
      Value *X = at(Tk, T, Tk.In[0], Img, S.image());
      Value *Y = at(Tk, T, Tk.Out, Img, S.O * P);
      if (Cols)
        im2col(Tk, S, T, X, Cols);
      forEachGroup(Tk, S, [&](Value *G) {
        GemmArgs A =
            product(Tk, T, S.Og, Kcg, P, at(Tk, T, Tk.In[1], G, S.Og * Kcg),
                    at(Tk, T, Cols ? Cols : X, G, Kcg * P),
                    at(Tk, T, Y, G, S.Og * P), false, false);
        A.Epilogue = Epi;
        for (unsigned I = 1; I <= Epi.size() && I + 1 < O.Operands.size();
             ++I) {
          int64_t St = epilogueStride(O, I);
          A.EpiIn.push_back(
              {at(Tk, T, Tk.In[I + 1], G, S.Og * St), Tk.i64(St), true});
        }
        columnBlocks(Tk, A);
      });
    });
  });
}

static void gemmGradInput(Kernel &K, const ConvShape &S, Type *T) {
  int64_t Kcg = S.rowsPerGroup(), P = S.pixels();
  overImages(K, S, [&](Kernel &Tk, Value *Task, Value *, Value *Lo, Value *Hi) {
    Value *Cols =
        S.identity() ? nullptr : at(Tk, T, Tk.Outs[1], Task, S.colsStride());
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Img) {
      Value *DX = at(Tk, T, Tk.Out, Img, S.image());
      Value *DY = at(Tk, T, Tk.In[0], Img, S.O * P);
      forEachGroup(Tk, S, [&](Value *G) {
        columnBlocks(
            Tk, product(Tk, T, Kcg, S.Og, P, at(Tk, T, Tk.In[1], G, S.Og * Kcg),
                        at(Tk, T, DY, G, S.Og * P),
                        at(Tk, T, Cols ? Cols : DX, G, Kcg * P), true, false));
      });
      if (!Cols)
        return;
      if (!vectorRows(S)) // col2imRows writes every element.
        zero(Tk, T, DX, Tk.i64(0), Tk.i64(S.image()));
      col2im(Tk, S, T, Cols, DX);
    });
  });
}

/// dw[g, o, k] = the sum over tasks t < \p NTasks, in order, of partial
/// t's dw^T[g, k, o] (each partial DW elements from \p Parts).
static void sumTransposedParts(Kernel &K, const ConvShape &S, Type *T,
                               Value *Parts, Value *NTasks) {
  IRBuilder<> &B = K.B;
  int64_t Kcg = S.rowsPerGroup(), DW = S.O * Kcg;
  K.loop(K.i64(S.G.Groups), [&](Value *G) {
    Value *Base = B.CreateMul(G, K.i64(S.Og * Kcg));
    K.loop(K.i64(S.Og), [&](Value *Oc) {
      K.loop(K.i64(Kcg), [&](Value *Kk) {
        Value *Src = K.madd(Oc, Kk, K.i64(S.Og));
        Value *Sum = K.var(K.load(T, Parts, K.add(Base, Src)));
        K.loop(K.i64(1), NTasks, K.i64(1), [&](Value *Task) {
          Value *Off = K.add(K.madd(Base, Task, K.i64(DW)), Src);
          K.write(Sum, B.CreateFAdd(K.read(T, Sum), K.load(T, Parts, Off)));
        });
        K.store(K.read(T, Sum), K.Out, K.add(Base, K.madd(Kk, Oc, K.i64(Kcg))));
      });
    });
  });
}

/// Whether the weight gradient runs as dw^T[Kcg, Og] = cols dy^T, which
/// packs dy (Og x P per image) for the micro-kernel instead of cols^T (Kcg x
/// P): when a group has fewer output channels than im2col rows.
static bool gradWeightTransposed(const ConvShape &S) {
  return S.Og < S.rowsPerGroup();
}

/// The elements of one task's partial weight gradient in the workspace,
/// after the cols buffers: all tasks' in the transposed form, those of
/// tasks t > 0 otherwise (task 0 sums into dw).
static int64_t gradWeightParts(const ConvShape &S) {
  int64_t Parts = gradWeightTransposed(S) ? S.maxTasks() : S.maxTasks() - 1;
  return Parts * S.O * S.rowsPerGroup();
}

static void gemmGradWeight(Kernel &K, const ConvShape &S, Type *T) {
  int64_t Kcg = S.rowsPerGroup(), P = S.pixels(), DW = S.O * Kcg;
  int64_t ColsAll = S.maxTasks() * S.colsStride();
  bool Tr = gradWeightTransposed(S);
  overImages(K, S, [&](Kernel &Tk, Value *Task, Value *, Value *Lo, Value *Hi) {
    IRBuilder<> &B = Tk.B;
    Value *Ws = Tk.Outs.size() > 1 ? Tk.Outs[1] : nullptr;
    Value *Cols = S.identity() ? nullptr : at(Tk, T, Ws, Task, S.colsStride());
    // Transposed: task t sums into partial t. Otherwise task 0 sums into
    // dw, task t > 0 into partial t - 1.
    Value *Acc = Tk.Out;
    if (Tr) {
      Acc = at(Tk, T, at(Tk, T, Ws, Tk.i64(1), ColsAll), Task, DW);
    } else if (Ws) {
      Value *Part = at(Tk, T, at(Tk, T, Ws, Tk.i64(1), ColsAll),
                       B.CreateSub(Tk.max(Task, Tk.i64(1)), Tk.i64(1)), DW);
      Acc = B.CreateSelect(B.CreateICmpEQ(Task, Tk.i64(0)), Tk.Out, Part);
    }
    zero(Tk, T, Acc, Tk.i64(0), Tk.i64(DW));
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Img) {
      Value *X = at(Tk, T, Tk.In[1], Img, S.image());
      Value *DY = at(Tk, T, Tk.In[0], Img, S.O * P);
      if (Cols)
        im2col(Tk, S, T, X, Cols);
      forEachGroup(Tk, S, [&](Value *G) {
        Value *CG = at(Tk, T, Cols ? Cols : X, G, Kcg * P);
        Value *DYG = at(Tk, T, DY, G, S.Og * P);
        Value *AccG = at(Tk, T, Acc, G, S.Og * Kcg);
        GemmArgs A =
            Tr ? product(Tk, T, Kcg, P, S.Og, CG, DYG, AccG, false, true)
               : product(Tk, T, S.Og, P, Kcg, DYG, CG, AccG, false, true);
        A.Accumulate = true;
        columnBlocks(Tk, A);
      });
    });
  });
  if (S.maxTasks() == 1 && !Tr)
    return;
  // The partials, added in task order.
  Value *Max = K.min(K.get(S.N), K.i64(S.maxTasks()));
  Value *NTasks = K.taskCount(K.get(S.work()), kGemmGrain, Max);
  Value *Parts = at(K, T, K.Outs[1], K.i64(1), ColsAll);
  if (Tr)
    return sumTransposedParts(K, S, T, Parts, NTasks);
  K.loop(K.i64(1), NTasks, K.i64(1), [&](Value *Task) {
    Value *Part = at(K, T, Parts, K.B.CreateSub(Task, K.i64(1)), DW);
    K.loop(K.i64(DW), [&](Value *I) {
      K.store(K.B.CreateFAdd(K.load(T, K.Out, I), K.load(T, Part, I)), K.Out,
              I);
    });
  });
}

void emitConv2d(Kernel &K, const Op &O) {
  ConvShape S = ConvShape::of(O);
  Type *T = eltType(K.Ctx, O.type().Elt);
  if (directFwdRows(O, S, dtypeBytes(O.type().Elt)))
    return directConv2dRows(K, O, S, T);
  if (S.gemm(dtypeBytes(O.type().Elt)))
    return gemmConv2d(K, O, S, T);
  directConv2d(K, O, S, T);
}

void emitConv2dGradInput(Kernel &K, const Op &O) {
  ConvShape S = ConvShape::of(O);
  Type *T = eltType(K.Ctx, O.type().Elt);
  if (S.gemm(dtypeBytes(O.type().Elt)))
    return gemmGradInput(K, S, T);
  directGradInput(K, O, S, T);
}

void emitConv2dGradWeight(Kernel &K, const Op &O) {
  ConvShape S = ConvShape::of(O);
  Type *T = eltType(K.Ctx, O.type().Elt);
  if (directRows(S, dtypeBytes(O.type().Elt)))
    return directGradWeightRows(K, S, T);
  if (S.gemm(dtypeBytes(O.type().Elt)))
    return gemmGradWeight(K, S, T);
  directGradWeight(K, O, S, T);
}

} // namespace adj::cg

namespace adj {

ByteSize workspaceOf(const Op &O) {
  if (O.Kind != OpKind::Conv2d && O.Kind != OpKind::Conv2dGradInput &&
      O.Kind != OpKind::Conv2dGradWeight)
    return {};
  cg::ConvShape S = cg::ConvShape::of(O);
  int64_t Bytes = dtypeBytes(O.type().Elt);
  if (!S.gemm(Bytes) ||
      (O.Kind == OpKind::Conv2dGradWeight && cg::directRows(S, Bytes)) ||
      (O.Kind == OpKind::Conv2d && cg::directFwdRows(O, S, Bytes)))
    return {};
  int64_t Elts = S.maxTasks() * S.colsStride();
  if (O.Kind == OpKind::Conv2dGradWeight)
    Elts += cg::gradWeightParts(S);
  return Elts ? ByteSize{Elts * Bytes, 0} : ByteSize{};
}

} // namespace adj
