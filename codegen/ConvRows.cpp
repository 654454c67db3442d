//===- ConvRows.cpp - Direct convolution kernels along the output rows ----===//
///
/// The kernels for convolutions with few channels, where the GEMM path's
/// register tiles would be mostly empty (LeNet's and the TF tutorial CNN's
/// first layers): conv2d and its weight gradient in vectors along the
/// output rows, a block of output channels sharing each input vector, with
/// the costs Conv.cpp compares against the GEMM path's to choose
/// (directFwdRows, directRows). Every output element is summed by one task
/// in a fixed order, so results do not depend on the number of threads.
///
//===----------------------------------------------------------------------===//
#include "codegen/ConvShape.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

//===-- Direct weight gradient along the rows
//------------------------------===//

/// Vector registers of the host (32 with AVX-512, 16 with AVX2).
static unsigned vectorRegisters() { return hostVectorBits() >= 512 ? 32 : 16; }

/// Output channels per block of the direct weight gradient: as many as
/// keep a block's OB * KW accumulators, its KW input vectors and a dy
/// vector within three quarters of the registers (the rest hold addresses
/// and masks: with all of them, OB = 5 for KW = 5 spilled and ran the TF
/// CNN's first layer 1.7x slower than OB = 3), balanced over the blocks;
/// 1 with groups (the channels of a block then read the same input
/// channels). When that leaves fewer than 8 accumulators (AVX2, KW = 5:
/// one channel), the FMAs wait on each accumulator's chain of one per
/// vector of the row: then all registers but four (a dy vector per
/// channel, the masked edge vectors; the other input vectors fold into the
/// FMAs), which ran LeNet's first layer ~1.25x faster with AVX2.
static int64_t rowsBlock(const ConvShape &S) {
  int64_t Regs = vectorRegisters();
  int64_t Max = (Regs * 3 / 4 - S.KW - 2) / S.KW;
  if (Max * S.KW < 8)
    Max = std::max(Max, (Regs - 4) / S.KW);
  if (S.G.Groups != 1 || Max <= 1)
    return 1;
  int64_t Blocks = (S.O + Max - 1) / Max;
  return (S.O + Blocks - 1) / Blocks;
}

/// Vector multiply-adds of the direct weight gradient per image: one per
/// (o, c, kh, kw, oh, vector of the output row).
static int64_t directRowsCost(const ConvShape &S, unsigned VL) {
  return S.O * S.Cg * S.KH * S.KW * S.OH * ((S.OW + VL - 1) / VL);
}

/// Those of the GEMM path per image (the transposed or plain product with
/// its register tiles rounded up, the packing of its transposed operand
/// and im2col), for choosing between the two.
static int64_t gemmCost(const ConvShape &S, unsigned VL) {
  int64_t Kcg = S.rowsPerGroup(), P = S.pixels(), MR = VL >= 16 ? 8 : 6;
  auto Up = [](int64_t A, int64_t B) { return (A + B - 1) / B * B; };
  int64_t M = S.Og < Kcg ? Kcg : S.Og, N = S.Og < Kcg ? S.Og : Kcg;
  int64_t NR = N <= VL ? VL : 2 * VL;
  int64_t Fma = Up(M, MR) * P * (Up(N, NR) / VL);
  return S.G.Groups * (Fma + Up(N, NR) * P) + S.colsElts() * 2 / VL;
}

/// Whether the weight gradient takes the direct rows kernel: width stride
/// 1 and cheaper than the GEMM path (few channels, e.g. a first layer's
/// single input channel), counting each of the kernel's loads as half a
/// multiply-add: KW + OB loads per OB * KW multiply-adds, the blocks
/// rounded up to whole ones.
bool directRows(const ConvShape &S, int64_t EltBytes) {
  unsigned VL = std::max<unsigned>(1, hostVectorBits() / 8 / EltBytes);
  if (!vectorRows(S) || convPathForTesting() != ConvPath::Auto)
    return vectorRows(S) && convPathForTesting() == ConvPath::Direct;
  int64_t OB = rowsBlock(S), Blocks = (S.O + OB - 1) / OB;
  int64_t Fma = directRowsCost(S, VL) / S.O * Blocks * OB;
  return 2 * Fma + Fma * (S.KW + OB) / (OB * S.KW) < 2 * gemmCost(S, VL);
}

namespace {
/// The direct weight gradient's accumulation for one block of output
/// channels and one (input channel, kernel row): emitted by the members
/// below into one task's kernel.
struct RowsBlock {
  Kernel &K;
  const ConvShape &S;
  RowVectors &RV;
  std::vector<Value *> Ocs; ///< The block's channels (duplicates clamped).
  Value *XPlane, *IhOff;    ///< Input plane of image 0; row offset of kh.
  std::vector<Value *> Acc; ///< OB x KW vector accumulators.

  /// Acc[b][kw] += dy[o_b] * x(kw) over the vectors of output row \p Oh
  /// of image \p Img, the row loop unrolled when it is short.
  void row(Value *Img, Value *Oh) {
    IRBuilder<> &B = K.B;
    Value *Ih = B.CreateAdd(B.CreateMul(Oh, K.i64(S.G.Stride[0])), IhOff);
    Value *XRow = K.madd(K.madd(XPlane, Img, K.i64(S.image())), Ih, K.i64(S.W));
    std::vector<Value *> DYRow;
    for (Value *Oc : Ocs)
      DYRow.push_back(
          K.madd(B.CreateMul(K.madd(Oc, Img, K.i64(S.O)), K.i64(S.pixels())),
                 Oh, K.i64(S.OW)));
    auto Vector = [&](Value *Ow) {
      std::vector<Value *> X;
      for (int64_t Kw = 0; Kw < S.KW; ++Kw) {
        int64_t IwOff = Kw * S.G.Dilation[1] - S.G.Padding[2];
        X.push_back(RV.load(K.In[1], B.CreateAdd(K.add(XRow, Ow), K.i64(IwOff)),
                            RV.mask(Ow, IwOff, S.W, S.OW)));
      }
      Value *DYMask = RV.mask(Ow, int64_t(0), S.OW, S.OW);
      for (size_t Ob = 0; Ob < Ocs.size(); ++Ob) {
        Value *DY = RV.load(K.In[0], K.add(DYRow[Ob], Ow), DYMask);
        for (int64_t Kw = 0; Kw < S.KW; ++Kw) {
          Value *&A = Acc[Ob * S.KW + Kw];
          K.write(A, K.intrinsic(Intrinsic::fmuladd,
                                 {DY, X[Kw], K.read(RV.VT, A)}));
        }
      }
    };
    int64_t Vectors = (S.OW + RV.VL - 1) / RV.VL;
    if (Vectors <= 4) { // Constant masks.
      for (int64_t V = 0; V < Vectors; ++V)
        Vector(K.i64(V * RV.VL));
      return;
    }
    K.loop(K.i64(0), K.i64(S.OW), K.i64(RV.VL), Vector);
  }
};
} // namespace

/// dw[o, c, kh, kw] = sum over images n and output rows oh (the tap row
/// inside) of dy[n, o, oh, :] . x[n, g c, ih, IwOff(kw) + :], in vectors
/// along the output row: per (o, c, kh), KW vector accumulators summed in
/// a fixed order and reduced at the end. A block of OB output channels
/// shares the input vectors (rowsBlock); the last block's channels past O
/// repeat channel O - 1, which computes and stores the same values twice.
/// Tasks over the blocks.
void directGradWeightRows(Kernel &K, const ConvShape &S, Type *T) {
  int64_t OB = rowsBlock(S), Blocks = (S.O + OB - 1) / OB;
  Value *NTasks = K.taskCount(K.get(S.work()), kConvGrain, K.i64(Blocks));
  K.parallel(NTasks, [&](Kernel &Tk, Value *Task, Value *Count,
                         ArrayRef<Value *>) {
    IRBuilder<> &B = Tk.B;
    RowVectors RV(Tk, T);
    Value *Zero = Constant::getNullValue(RV.VT);
    auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.i64(Blocks), 1);
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Blk) {
      RowsBlock R{Tk, S, RV, {}, nullptr, nullptr, {}};
      for (int64_t Ob = 0; Ob < OB; ++Ob)
        R.Ocs.push_back(
            Tk.min(Tk.madd(Tk.i64(Ob), Blk, Tk.i64(OB)), Tk.i64(S.O - 1)));
      Value *XCh0 =
          B.CreateMul(B.CreateUDiv(R.Ocs[0], Tk.i64(S.Og)), Tk.i64(S.Cg));
      // Per kernel row, the OB * KW accumulators live in registers for
      // one image's rows and in Sums between images.
      int64_t Accs = OB * S.KW;
      Value *Sums = [&] {
        BasicBlock &Entry = Tk.Fn->getEntryBlock();
        IRBuilder<> EB(&Entry, Entry.begin());
        return EB.CreateAlloca(RV.VT, Tk.i64(S.KH * Accs));
      }();
      auto Sum = [&](Value *Kh, int64_t I) {
        return B.CreateInBoundsGEP(RV.VT, Sums,
                                   Tk.madd(Tk.i64(I), Kh, Tk.i64(Accs)));
      };
      Tk.loop(Tk.i64(S.Cg), [&](Value *Ch) {
        R.XPlane = B.CreateMul(Tk.add(XCh0, Ch), Tk.i64(S.H * S.W));
        Tk.loop(Tk.i64(S.KH * Accs), [&](Value *I) {
          B.CreateStore(Zero, B.CreateInBoundsGEP(RV.VT, Sums, I));
        });
        Tk.loop(Tk.get(S.N), [&](Value *Img) {
          Tk.loop(Tk.i64(S.KH), [&](Value *Kh) {
            R.IhOff = B.CreateSub(B.CreateMul(Kh, Tk.i64(S.G.Dilation[0])),
                                  Tk.i64(S.G.Padding[0]));
            // Not a structured binding: the lambda below captures it.
            std::pair<Value *, Value *> OhR =
                validRange(Tk, R.IhOff, S.G.Stride[0], S.H, S.OH);
            R.Acc.clear();
            for (int64_t I = 0; I < Accs; ++I)
              R.Acc.push_back(Tk.var(B.CreateLoad(RV.VT, Sum(Kh, I))));
            Tk.loop(OhR.first, OhR.second, Tk.i64(1),
                    [&](Value *Oh) { R.row(Img, Oh); });
            for (int64_t I = 0; I < Accs; ++I)
              B.CreateStore(Tk.read(RV.VT, R.Acc[size_t(I)]), Sum(Kh, I));
          });
        });
        // dw[o, c, kh, :] at ((o Cg + c) KH + kh) KW.
        Tk.loop(Tk.i64(S.KH), [&](Value *Kh) {
          for (int64_t Ob = 0; Ob < OB; ++Ob) {
            Value *WRow = B.CreateMul(
                Tk.madd(Kh, Tk.madd(Ch, R.Ocs[Ob], Tk.i64(S.Cg)), Tk.i64(S.KH)),
                Tk.i64(S.KW));
            for (int64_t Kw = 0; Kw < S.KW; ++Kw)
              Tk.store(B.CreateFAddReduce(
                           Tk.fp(T, 0),
                           B.CreateLoad(RV.VT, Sum(Kh, Ob * S.KW + Kw))),
                       Tk.Out, Tk.add(WRow, Tk.i64(Kw)));
          }
        });
      });
    });
  });
}

//===-- Direct conv2d along the rows --------------------------------------===//

namespace {
/// The direct conv2d along the output rows: NV vectors of VL output
/// columns cover a row, and a block of OB output channels keeps OB * NV
/// vector accumulators, which each input vector (one per tap and vector,
/// loaded once) and each broadcast weight feed.
struct FwdRows {
  unsigned VL;
  int64_t NV, OB, Blocks;

  FwdRows(const ConvShape &S, unsigned VL) : VL(VL) {
    NV = (S.OW + VL - 1) / VL;
    // Within three quarters of the registers (see rowsBlock): the
    // accumulators, the row's input vectors and a broadcast weight.
    int64_t Regs = vectorRegisters();
    int64_t Max = (Regs * 3 / 4 - 1 - NV) / NV;
    // Fewer than 8 accumulators leave the two FMA ports waiting on each
    // one's chain (AVX2's four vectors of a 28-column row took one channel
    // per block): then all registers but a broadcast weight and the row's
    // input vectors (LeNet's first layer ran ~1.25x faster with AVX2 with
    // two channels per block; three, 12 accumulators, spilled and ran it
    // ~1.2x slower than two).
    if (Max * NV < 8)
      Max = std::max(Max, (Regs - 1 - NV) / NV);
    OB = 0;
    if (Max < 1)
      return;
    Blocks = (S.O + Max - 1) / Max;
    OB = (S.O + Blocks - 1) / Blocks;
  }
  /// Whether the kernel applies: width stride 1, one group, a row of at
  /// most four vectors (unrolled, with constant masks).
  bool applies(const ConvShape &S) const {
    return vectorRows(S) && S.G.Groups == 1 && NV <= 4 && OB >= 1;
  }
  /// Multiply-adds per image, plus half of the loads (NV + OB per OB * NV
  /// multiply-adds).
  int64_t cost(const ConvShape &S) const {
    int64_t Fma = Blocks * OB * S.rowsPerGroup() * S.OH * NV;
    return Fma + Fma * (NV + OB) / (2 * OB * NV);
  }
};
} // namespace

/// The GEMM path's cost per image on the same scale: its multiply-adds
/// with the register tiles rounded up, half of their loads (MR broadcasts
/// and NV vectors per MR * NV), im2col, and an epilogue applied after the
/// product, element by element.
static int64_t gemmFwdCost(const ConvShape &S, unsigned VL, bool Epilogue) {
  int64_t MR = VL >= 16 ? 8 : 6, P = S.pixels();
  int64_t NV = P <= VL ? 1 : 2;
  auto Up = [](int64_t A, int64_t B) { return (A + B - 1) / B * B; };
  int64_t Fma = Up(S.Og, MR) * S.rowsPerGroup() * Up(P, NV * VL) / VL;
  return S.G.Groups * (Fma + Fma * (MR + NV) / (2 * MR * NV)) +
         S.colsElts() * 2 / VL + (Epilogue ? S.O * P : 0);
}

/// Whether conv2d takes the direct rows kernel: forced by the tests' path,
/// else when it costs less than the GEMM path (few input channels, e.g.
/// LeNet's 1 -> 6 first layer, whose product has 6 rows of a tile of 8
/// and 25 multiply-adds per output).
bool directFwdRows(const Op &O, const ConvShape &S, int64_t EltBytes) {
  unsigned VL = std::max<unsigned>(1, hostVectorBits() / 8 / EltBytes);
  FwdRows R(S, VL);
  if (!R.applies(S) || convPathForTesting() != ConvPath::Auto)
    return R.applies(S) && convPathForTesting() == ConvPath::Direct;
  return R.cost(S) < gemmFwdCost(S, VL, !epilogueOf(O).empty());
}

/// conv2d along the output rows: per image, block of OB output channels
/// (the last block's channels past O repeat channel O - 1) and output row,
/// acc[b][v] = the sum over input channels c, the kernel rows kh inside
/// the input and the kernel columns kw of w[o_b, c, kh, kw] * x vector v
/// shifted by kw (zeros in the padding), in the order of im2col's rows,
/// then the epilogue and a masked store per vector. Tasks over (image,
/// block) pairs.
void directConv2dRows(Kernel &K, const Op &O, const ConvShape &S, Type *T) {
  std::vector<BodyMember> Epi = epilogueOf(O);
  unsigned VL =
      std::max(1u, hostVectorBits() / unsigned(T->getPrimitiveSizeInBits()));
  FwdRows R(S, VL);
  Extent Pairs = S.N * Extent{R.Blocks, 0};
  Value *NTasks = K.taskCount(K.get(S.work()), kConvGrain, K.get(Pairs));
  K.parallel(NTasks, [&](Kernel &Tk, Value *Task, Value *Count,
                         ArrayRef<Value *>) {
    IRBuilder<> &B = Tk.B;
    RowVectors RV(Tk, T);
    Value *Zero = Constant::getNullValue(RV.VT);
    auto [Lo, Hi] = Tk.taskRange(Task, Count, Tk.get(Pairs), 1);
    Tk.loop(Lo, Hi, Tk.i64(1), [&](Value *Pair) {
      Value *Img = B.CreateUDiv(Pair, Tk.i64(R.Blocks), "img");
      Value *Blk = B.CreateURem(Pair, Tk.i64(R.Blocks), "blk");
      std::vector<Value *> Ocs;
      for (int64_t Ob = 0; Ob < R.OB; ++Ob)
        Ocs.push_back(
            Tk.min(Tk.madd(Tk.i64(Ob), Blk, Tk.i64(R.OB)), Tk.i64(S.O - 1)));
      Tk.loop(Tk.i64(S.OH), [&](Value *Oh) {
        std::vector<Value *> Acc;
        for (int64_t I = 0; I < R.OB * R.NV; ++I)
          Acc.push_back(Tk.var(Zero));
        TapRange TR = tapRange(Tk, S.G, 0, Oh, S.H, S.KH);
        Tk.loop(Tk.i64(S.C), [&](Value *Ch) {
          Value *XPlane = Tk.madd(Ch, Img, Tk.i64(S.C));
          Tk.loop(TR.Lo, TR.Hi, Tk.i64(1), [&](Value *Kh) {
            Value *Ih = B.CreateNSWAdd(
                TR.Start, B.CreateNSWMul(Kh, Tk.i64(S.G.Dilation[0])));
            Value *XRow =
                B.CreateMul(Tk.madd(Ih, XPlane, Tk.i64(S.H)), Tk.i64(S.W));
            for (int64_t Kw = 0; Kw < S.KW; ++Kw) {
              int64_t IwOff = Kw * S.G.Dilation[1] - S.G.Padding[2];
              std::vector<Value *> X;
              for (int64_t V = 0; V < R.NV; ++V)
                X.push_back(RV.load(Tk.In[0],
                                    B.CreateAdd(XRow, Tk.i64(V * VL + IwOff)),
                                    RV.mask(Tk.i64(V * VL), IwOff, S.W, S.OW)));
              for (int64_t Ob = 0; Ob < R.OB; ++Ob) {
                Value *WOff =
                    Tk.madd(Tk.i64(Kw),
                            Tk.madd(Kh, Tk.madd(Ch, Ocs[Ob], Tk.i64(S.C)),
                                    Tk.i64(S.KH)),
                            Tk.i64(S.KW));
                Value *Wv = B.CreateVectorSplat(VL, Tk.load(T, Tk.In[1], WOff));
                for (int64_t V = 0; V < R.NV; ++V) {
                  Value *&A = Acc[Ob * R.NV + V];
                  Tk.write(A, Tk.intrinsic(Intrinsic::fmuladd,
                                           {Wv, X[V], Tk.read(RV.VT, A)}));
                }
              }
            }
          });
        });
        for (int64_t Ob = 0; Ob < R.OB; ++Ob) {
          Value *YRow =
              Tk.madd(Oh, Tk.madd(Ocs[Ob], Img, Tk.i64(S.O)), Tk.i64(S.OH));
          for (int64_t V = 0; V < R.NV; ++V) {
            Value *Y = Tk.read(RV.VT, Acc[Ob * R.NV + V]);
            if (!Epi.empty())
              Y = emitBody(Tk, Epi, [&](unsigned I) {
                if (!I)
                  return Y;
                Value *Off = B.CreateMul(Ocs[Ob], Tk.i64(epilogueStride(O, I)));
                return B.CreateVectorSplat(VL, Tk.load(T, Tk.In[I + 1], Off));
              });
            RV.store(Y, Tk.Out, Tk.madd(Tk.i64(V * VL), YRow, Tk.i64(S.OW)),
                     RV.mask(Tk.i64(V * VL), int64_t(0), S.OW, S.OW));
          }
        }
      });
    });
  });
}

} // namespace adj::cg
