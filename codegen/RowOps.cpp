//===- RowOps.cpp - softmax, cross-entropy, argmax, accuracy --------------===//
///
/// Kernels that work row by row along one axis. A tensor is viewed as
/// [outer, axis, inner]; each (outer, inner) pair is a row of `axis`
/// elements `inner` apart (contiguous for the usual last axis, where inner
/// is the constant 1 and the loops over it disappear).
///
///   softmax           y = e^(x - max) / sum e^(x - max)   (stable)
///   log_softmax       y = x - max - log(sum e^(x - max))
///   softmax_grad      dx = y * (dy - sum(dy * y))
///   log_softmax_grad  dx = dy - e^y * sum(dy)
///
/// The losses and metrics see logits [..., C] as R rows of C (R counts the
/// leading dims, n included) with one i32 label per row. Every label is
/// checked against [0, C) before it is used; a bad one returns 1 from the
/// kernel (and so from the step function) without reading out of bounds.
///
///   cross_entropy       mean_r lse(row) - (1-ls) row[label] - ls mean(row)
///   cross_entropy_grad  dy * (softmax(row) - (1-ls) onehot - ls / C) / R
///   argmax              first index of the largest element
///   accuracy            fraction of rows whose argmax is the label
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

#include <limits>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

namespace {
/// A tensor seen as [Outer, Len, Inner] around one axis.
struct RowView {
  Extent Outer, Len, Inner;

  RowView(const TensorType &T, int64_t Axis) {
    Shape S = shapeOf(T);
    for (int64_t D = 0; D < int64_t(S.size()); ++D) {
      Extent &E = D < Axis ? Outer : D == Axis ? Len : Inner;
      E = E * S[D];
    }
  }
};
} // namespace

/// Calls \p Body(Base, Stride, RowIndex) for every row of \p V, where row
/// (o, i) starts at o * Len * Inner + i and has index o * Inner + i.
static void forEachRow(Kernel &K, const RowView &V,
                       function_ref<void(Value *, Value *, Value *)> Body) {
  Value *Inner = K.get(V.Inner), *Plane = K.get(V.Len * V.Inner);
  K.loop(K.get(V.Outer), [&](Value *O) {
    Value *Start = K.madd(K.i64(0), O, Plane);
    Value *RowStart = K.madd(K.i64(0), O, Inner);
    K.loop(Inner, [&](Value *I) {
      Body(K.madd(Start, I, K.i64(1)), Inner, K.madd(RowStart, I, K.i64(1)));
    });
  });
}

/// max over a row: Base + j * Stride for j in [0, Len).
static Value *maxOf(Kernel &K, Type *T, Value *X, Value *Len, Value *Base,
                    Value *Stride) {
  Value *Init = K.fp(T, -std::numeric_limits<double>::infinity());
  // A contiguous row of a multiple of 8 elements: 8 lanes at once. The
  // scalar chain of maxnum (a compare and blend per element for its NaN
  // rule) is not vectorised by LLVM and was most of a 256-class row's
  // cost; the max is exact in any order, so the result is the same.
  constexpr unsigned W = 8;
  auto *CLen = dyn_cast<ConstantInt>(Len);
  auto *CStride = dyn_cast<ConstantInt>(Stride);
  if (CLen && CStride && CStride->isOne() && CLen->getSExtValue() >= W &&
      CLen->getSExtValue() % W == 0) {
    IRBuilder<> &B = K.B;
    auto *VT = FixedVectorType::get(T, W);
    Value *Acc =
        K.fold(K.i64(CLen->getSExtValue() / W), B.CreateVectorSplat(W, Init),
               [&](Value *M, Value *J) {
                 Value *P = B.CreateInBoundsGEP(
                     T, X, B.CreateAdd(Base, B.CreateMul(J, K.i64(W))));
                 Value *V = B.CreateAlignedLoad(
                     VT, P, Align(T->getPrimitiveSizeInBits() / 8));
                 return K.intrinsic(Intrinsic::maxnum, {M, V});
               });
    return B.CreateUnaryIntrinsic(Intrinsic::vector_reduce_fmax, Acc);
  }
  return K.fold(Len, Init, [&](Value *M, Value *J) {
    return K.intrinsic(Intrinsic::maxnum,
                       {M, K.load(T, X, K.madd(Base, J, Stride))});
  });
}

void emitSoftmaxFamily(Kernel &K, const Op &O) {
  const TensorType &XT = O.Operands[0]->type();
  RowView V(XT, *normAxis(O.intAttr("axis"), XT.rank()));
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  Value *Len = K.get(V.Len);
  Value *Zero = K.fp(T, 0);
  forEachRow(K, V, [&](Value *Base, Value *Stride, Value *) {
    auto At = [&](Value *J) { return K.madd(Base, J, Stride); };
    auto Ld = [&](unsigned I, Value *J) { return K.load(T, K.In[I], At(J)); };
    switch (O.Kind) {
    case OpKind::Softmax: {
      Value *M = maxOf(K, T, K.In[0], Len, Base, Stride);
      Value *S = K.fold(Len, Zero, [&](Value *Acc, Value *J) {
        Value *E = K.exp(B.CreateFSub(Ld(0, J), M));
        K.store(E, K.Out, At(J));
        return B.CreateFAdd(Acc, E);
      });
      Value *Inv = B.CreateFDiv(K.fp(T, 1), S);
      K.loop(Len, [&](Value *J) {
        K.store(B.CreateFMul(K.load(T, K.Out, At(J)), Inv), K.Out, At(J));
      });
      return;
    }
    case OpKind::LogSoftmax: {
      Value *M = maxOf(K, T, K.In[0], Len, Base, Stride);
      Value *S = K.fold(Len, Zero, [&](Value *Acc, Value *J) {
        Value *E = K.exp(B.CreateFSub(Ld(0, J), M));
        return B.CreateFAdd(Acc, E);
      });
      Value *Lse = B.CreateFAdd(M, K.log(S));
      K.loop(Len, [&](Value *J) {
        K.store(B.CreateFSub(Ld(0, J), Lse), K.Out, At(J));
      });
      return;
    }
    case OpKind::SoftmaxGrad: {
      Value *D = K.fold(Len, Zero, [&](Value *Acc, Value *J) {
        return B.CreateFAdd(Acc, B.CreateFMul(Ld(0, J), Ld(1, J)));
      });
      K.loop(Len, [&](Value *J) {
        Value *R = B.CreateFMul(Ld(1, J), B.CreateFSub(Ld(0, J), D));
        K.store(R, K.Out, At(J));
      });
      return;
    }
    case OpKind::LogSoftmaxGrad: {
      Value *S = K.fold(Len, Zero, [&](Value *Acc, Value *J) {
        return B.CreateFAdd(Acc, Ld(0, J));
      });
      K.loop(Len, [&](Value *J) {
        Value *E = K.exp(Ld(1, J));
        K.store(B.CreateFSub(Ld(0, J), B.CreateFMul(E, S)), K.Out, At(J));
      });
      return;
    }
    default:
      llvm_unreachable("not a softmax op");
    }
  });
}

/// The rows of [..., C] logits: R rows of C elements.
static std::pair<Extent, Extent> rowsOf(const TensorType &L) {
  Shape S = shapeOf(L);
  Extent C = S.back();
  S.pop_back();
  return {product(S), C};
}

/// The row's label as i64, returning 1 from the kernel if outside [0, C).
static Value *checkedLabel(Kernel &K, Value *Labels, Value *Row, Value *C) {
  Value *L =
      K.B.CreateSExt(K.load(K.B.getInt32Ty(), Labels, Row), K.i64Ty(), "label");
  K.failIf(K.B.CreateICmpUGE(L, C)); // Negative labels wrap to huge.
  return L;
}

/// log(sum_j e^(row_j - max)) + max over a contiguous row.
static Value *logSumExp(Kernel &K, Type *T, Value *X, Value *Len, Value *Base) {
  Value *M = maxOf(K, T, X, Len, Base, K.i64(1));
  Value *S = K.fold(Len, K.fp(T, 0), [&](Value *Acc, Value *J) {
    Value *V = K.load(T, X, K.madd(Base, J, K.i64(1)));
    return K.B.CreateFAdd(Acc, K.exp(K.B.CreateFSub(V, M)));
  });
  return K.B.CreateFAdd(M, K.log(S));
}

namespace {
/// Rows as lanes: a block of L rows of C logits (C a small constant), held
/// as C vectors of L lanes, column j's vector holding x[r][j] of each row r.
/// A row's max, sum of exponentials, loss and gradient are then vector
/// instructions over L rows at once, where a row of 2 or 10 logits gave a
/// scalar loop per row its exp and log.
struct LaneBlock {
  unsigned L;
  std::vector<Value *> X; ///< Per column: <L x T>.
  std::vector<Value *> E; ///< Per column: e^(x - max).
  Value *Label;           ///< <L x i32>, checked against [0, C).
  Value *M, *S;           ///< Each row's max and sum of e^(x - max).
};
} // namespace

/// Lanes of a block: 512 bits of rows (16 f32 or 8 f64) whatever the ISA,
/// so that the loss's lane sums, and so its value, are the same on AVX2.
static unsigned laneRows(Type *T) { return T->isFloatTy() ? 16 : 8; }

/// \p V splat to \p L lanes (an <L x i32> for integers).
static Value *splat(IRBuilder<> &B, unsigned L, Value *V) {
  return B.CreateVectorSplat(L, V);
}

/// Loads rows [Row0, Row0 + L) of the [R, C] logits \p X and their labels
/// (returning 1 from the kernel if one is outside [0, C)), and computes each
/// row's max and sum of exponentials in the order of the row loop (maxnum
/// from -inf, then x0, x1, ...; the sum from 0).
static LaneBlock loadLanes(Kernel &K, Type *T, Value *X, Value *Labels,
                           Value *Row0, unsigned L, int64_t C) {
  IRBuilder<> &B = K.B;
  LaneBlock Blk{L, {}, {}, nullptr, nullptr, nullptr};
  Type *I32 = B.getInt32Ty();
  Blk.Label = B.CreateAlignedLoad(FixedVectorType::get(I32, L),
                                  B.CreateInBoundsGEP(I32, Labels, Row0),
                                  Align(4), "labels");
  // Negative labels wrap to huge.
  K.failIf(B.CreateOrReduce(
      B.CreateICmpUGE(Blk.Label, splat(B, L, B.getInt32(uint32_t(C))))));
  Align A(T->getPrimitiveSizeInBits() / 8);
  Value *All = B.CreateAlignedLoad(
      FixedVectorType::get(T, L * C),
      B.CreateInBoundsGEP(T, X, B.CreateMul(Row0, K.i64(C))), A);
  auto *VT = FixedVectorType::get(T, L);
  Blk.M = K.fp(VT, -std::numeric_limits<double>::infinity());
  for (int64_t J = 0; J < C; ++J) {
    SmallVector<int, 16> Mask;
    for (unsigned I = 0; I < L; ++I)
      Mask.push_back(int(I * C + J));
    Blk.X.push_back(B.CreateShuffleVector(All, Mask));
    Blk.M = K.intrinsic(Intrinsic::maxnum, {Blk.M, Blk.X.back()});
  }
  Blk.S = K.fp(VT, 0);
  for (int64_t J = 0; J < C; ++J) {
    Blk.E.push_back(K.exp(B.CreateFSub(Blk.X[J], Blk.M)));
    Blk.S = B.CreateFAdd(Blk.S, Blk.E.back());
  }
  return Blk;
}

/// The sum of the lanes of \p V, halving: (v0 + v8) + (v4 + v12) ... for 16.
static Value *laneSum(IRBuilder<> &B, Value *V) {
  for (unsigned N = cast<FixedVectorType>(V->getType())->getNumElements();
       N > 1; N /= 2) {
    SmallVector<int, 16> Lo, Hi;
    for (unsigned I = 0; I < N / 2; ++I) {
      Lo.push_back(int(I));
      Hi.push_back(int(I + N / 2));
    }
    V = B.CreateFAdd(B.CreateShuffleVector(V, Lo),
                     B.CreateShuffleVector(V, Hi));
  }
  return B.CreateExtractElement(V, uint64_t(0));
}

/// Runs \p Block over the R rows: blocks of laneRows(T) rows, then the
/// remaining rows one at a time (blocks of one lane). \p Block gets the
/// block's first row and its lane count.
static void forEachLaneBlock(Kernel &K, Type *T, Value *R,
                             function_ref<void(Value *, unsigned)> Block) {
  IRBuilder<> &B = K.B;
  unsigned W = laneRows(T);
  Value *Blocks = B.CreateUDiv(R, K.i64(W));
  K.loop(Blocks, [&](Value *I) { Block(B.CreateMul(I, K.i64(W)), W); });
  Value *Done = B.CreateMul(Blocks, K.i64(W));
  K.loop(Done, R, K.i64(1), [&](Value *Row) { Block(Row, 1); });
}

/// A small constant class count: the rows-as-lanes kernels (LaneBlock).
/// Wider rows load too many vectors to transpose them in registers.
static constexpr int64_t kMaxLaneClasses = 8;
static bool laneClasses(Extent C) {
  return C.Pow == 0 && C.Mul >= 1 && C.Mul <= kMaxLaneClasses;
}

/// cross_entropy with rows as lanes: each lane sums its rows' losses, the
/// lanes are summed at the end (laneSum), then the remaining rows'.
static void emitCrossEntropyLanes(Kernel &K, const Op &O, Value *R, int64_t C) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  double Ls = O.floatAttr("label_smoothing", 0);
  unsigned W = laneRows(T);
  Value *Acc[2] = {K.var(K.fp(FixedVectorType::get(T, W), 0)),
                   K.var(K.fp(FixedVectorType::get(T, 1), 0))};
  forEachLaneBlock(K, T, R, [&](Value *Row0, unsigned L) {
    LaneBlock Blk = loadLanes(K, T, K.In[0], K.In[1], Row0, L, C);
    Value *Loss = B.CreateFAdd(Blk.M, K.log(Blk.S));
    Value *Picked = Blk.X[0];
    for (int64_t J = 1; J < C; ++J)
      Picked = B.CreateSelect(
          B.CreateICmpEQ(Blk.Label, splat(B, L, B.getInt32(uint32_t(J)))),
          Blk.X[J], Picked);
    auto *VT = FixedVectorType::get(T, L);
    Loss = B.CreateFSub(Loss, B.CreateFMul(K.fp(VT, 1 - Ls), Picked));
    if (Ls != 0) {
      Value *Sum = K.fp(VT, 0);
      for (int64_t J = 0; J < C; ++J)
        Sum = B.CreateFAdd(Sum, Blk.X[J]);
      Value *Mean = B.CreateFDiv(Sum, K.fp(VT, double(C)));
      Loss = B.CreateFSub(Loss, B.CreateFMul(K.fp(VT, Ls), Mean));
    }
    Value *Var = Acc[L == 1];
    K.write(Var, B.CreateFAdd(K.read(VT, Var), Loss));
  });
  Value *Total =
      B.CreateFAdd(laneSum(B, K.read(FixedVectorType::get(T, W), Acc[0])),
                   laneSum(B, K.read(FixedVectorType::get(T, 1), Acc[1])));
  K.store(B.CreateFDiv(Total, B.CreateSIToFP(R, T)), K.Out, K.i64(0));
}

void emitCrossEntropy(Kernel &K, const Op &O) {
  auto [RE, CE] = rowsOf(O.Operands[0]->type());
  if (laneClasses(CE))
    return emitCrossEntropyLanes(K, O, K.get(RE), CE.Mul);
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  double Ls = O.floatAttr("label_smoothing", 0);
  Value *C = K.get(CE), *R = K.get(RE);
  Value *Total = K.fold(R, K.fp(T, 0), [&](Value *Acc, Value *Row) {
    Value *Label = checkedLabel(K, K.In[1], Row, C);
    Value *Base = K.madd(K.i64(0), Row, C);
    Value *Loss = logSumExp(K, T, K.In[0], C, Base);
    Value *Picked = K.load(T, K.In[0], B.CreateAdd(Base, Label));
    Loss = B.CreateFSub(Loss, B.CreateFMul(K.fp(T, 1 - Ls), Picked));
    if (Ls != 0) {
      Value *Sum = K.fold(C, K.fp(T, 0), [&](Value *S, Value *J) {
        return B.CreateFAdd(S, K.load(T, K.In[0], K.madd(Base, J, K.i64(1))));
      });
      Value *Mean = B.CreateFDiv(Sum, B.CreateSIToFP(C, T));
      Loss = B.CreateFSub(Loss, B.CreateFMul(K.fp(T, Ls), Mean));
    }
    return B.CreateFAdd(Acc, Loss);
  });
  K.store(B.CreateFDiv(Total, B.CreateSIToFP(R, T)), K.Out, K.i64(0));
}

/// cross_entropy_grad with rows as lanes, each block's gradient columns
/// interleaved back into rows and stored with one vector store. With
/// \p Sums, the column sums of the gradient (the bias gradient, a fused
/// reduce_sum over the rows) are accumulated per lane and stored there,
/// [C] elements: lane sums first, then the remaining rows.
static void emitCrossEntropyGradLanes(Kernel &K, const Op &O, Value *R,
                                      int64_t C, Value *Out, Value *Sums) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  double Ls = O.floatAttr("label_smoothing", 0);
  unsigned W = laneRows(T);
  Value *DY = K.load(T, K.In[0], K.i64(0));
  Value *Scale = B.CreateFDiv(DY, B.CreateSIToFP(R, T), "scale");
  Value *Smooth = B.CreateFDiv(K.fp(T, Ls), K.fp(T, double(C)), "smooth");
  std::vector<Value *> Acc[2];
  for (unsigned L : {W, 1u})
    for (int64_t J = 0; Sums && J < C; ++J)
      Acc[L == 1].push_back(K.var(K.fp(FixedVectorType::get(T, L), 0)));
  Align A(T->getPrimitiveSizeInBits() / 8);
  forEachLaneBlock(K, T, R, [&](Value *Row0, unsigned L) {
    LaneBlock Blk = loadLanes(K, T, K.In[1], K.In[2], Row0, L, C);
    auto *VT = FixedVectorType::get(T, L);
    Value *Rows = PoisonValue::get(FixedVectorType::get(T, L * C));
    for (int64_t J = 0; J < C; ++J) {
      Value *P = B.CreateFDiv(Blk.E[J], Blk.S);
      Value *IsLabel =
          B.CreateICmpEQ(Blk.Label, splat(B, L, B.getInt32(uint32_t(J))));
      Value *Hot = B.CreateSelect(IsLabel, K.fp(VT, 1 - Ls), K.fp(VT, 0));
      Value *G = B.CreateFSub(B.CreateFSub(P, splat(B, L, Smooth)), Hot);
      G = B.CreateFMul(G, splat(B, L, Scale));
      if (Sums) {
        Value *Var = Acc[L == 1][J];
        K.write(Var, B.CreateFAdd(K.read(VT, Var), G));
      }
      // Column J goes to elements I * C + J of the block.
      SmallVector<int, 64> Wide, Mask;
      for (unsigned I = 0; I < L * C; ++I) {
        Wide.push_back(I < L ? int(I) : -1);
        Mask.push_back(I % C == uint64_t(J) ? int(L * C + I / C) : int(I));
      }
      Rows = B.CreateShuffleVector(Rows, B.CreateShuffleVector(G, Wide), Mask);
    }
    if (Out)
      B.CreateAlignedStore(
          Rows, B.CreateInBoundsGEP(T, Out, B.CreateMul(Row0, K.i64(C))), A);
  });
  for (int64_t J = 0; Sums && J < C; ++J) {
    Value *Lanes = laneSum(B, K.read(FixedVectorType::get(T, W), Acc[0][J]));
    Value *Rest = laneSum(B, K.read(FixedVectorType::get(T, 1), Acc[1][J]));
    K.store(B.CreateFAdd(Lanes, Rest), Sums, K.i64(J));
  }
}

void emitCrossEntropyGradSums(Kernel &K, const Op &O, Value *Out, Value *Sums) {
  auto [RE, CE] = rowsOf(O.Operands[1]->type());
  if (laneClasses(CE))
    return emitCrossEntropyGradLanes(K, O, K.get(RE), CE.Mul, Out, Sums);
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  double Ls = O.floatAttr("label_smoothing", 0);
  Value *C = K.get(CE), *R = K.get(RE);
  Value *DY = K.load(T, K.In[0], K.i64(0));
  Value *Scale = B.CreateFDiv(DY, B.CreateSIToFP(R, T), "scale");
  Value *Smooth = B.CreateFDiv(K.fp(T, Ls), B.CreateSIToFP(C, T), "smooth");
  if (Sums)
    K.loop(C, [&](Value *J) { K.store(K.fp(T, 0), Sums, J); });
  K.loop(R, [&](Value *Row) {
    Value *Label = checkedLabel(K, K.In[2], Row, C);
    Value *Base = K.madd(K.i64(0), Row, C);
    auto At = [&](Value *J) { return K.madd(Base, J, K.i64(1)); };
    Value *M = maxOf(K, T, K.In[1], C, Base, K.i64(1));
    Value *S = K.fold(C, K.fp(T, 0), [&](Value *Acc, Value *J) {
      Value *X = K.load(T, K.In[1], At(J));
      Value *E = K.exp(B.CreateFSub(X, M));
      K.store(E, Out, At(J));
      return B.CreateFAdd(Acc, E);
    });
    Value *Inv = B.CreateFDiv(K.fp(T, 1), S);
    K.loop(C, [&](Value *J) {
      Value *P = B.CreateFMul(K.load(T, Out, At(J)), Inv);
      Value *Hot =
          B.CreateSelect(B.CreateICmpEQ(J, Label), K.fp(T, 1 - Ls), K.fp(T, 0));
      Value *G =
          B.CreateFMul(B.CreateFSub(B.CreateFSub(P, Smooth), Hot), Scale);
      K.store(G, Out, At(J));
      if (Sums)
        K.store(B.CreateFAdd(K.load(T, Sums, J), G), Sums, J);
    });
  });
}

void emitCrossEntropyGrad(Kernel &K, const Op &O) {
  emitCrossEntropyGradSums(K, O, K.Out, nullptr);
}

/// The first index of the largest element of a row, as i64.
static Value *argMaxOf(Kernel &K, Type *T, Value *X, Value *Len, Value *Base,
                       Value *Stride) {
  IRBuilder<> &B = K.B;
  Value *Best = K.var(K.load(T, X, Base));
  Value *Idx = K.var(K.i64(0));
  K.loop(K.i64(1), Len, K.i64(1), [&](Value *J) {
    Value *V = K.load(T, X, K.madd(Base, J, Stride));
    Value *Gt = B.CreateFCmpOGT(V, K.read(T, Best));
    K.write(Best, B.CreateSelect(Gt, V, K.read(T, Best)));
    K.write(Idx, B.CreateSelect(Gt, J, K.read(K.i64Ty(), Idx)));
  });
  return K.read(K.i64Ty(), Idx);
}

void emitArgMax(Kernel &K, const Op &O) {
  const TensorType &XT = O.Operands[0]->type();
  RowView V(XT, *normAxis(O.intAttr("axis"), XT.rank()));
  Type *T = eltType(K.Ctx, XT.Elt);
  Value *Len = K.get(V.Len);
  forEachRow(K, V, [&](Value *Base, Value *Stride, Value *Row) {
    Value *I = argMaxOf(K, T, K.In[0], Len, Base, Stride);
    K.store(K.B.CreateTrunc(I, K.B.getInt32Ty()), K.Out, Row);
  });
}

void emitAccuracy(Kernel &K, const Op &O) {
  const TensorType &L = O.Operands[0]->type();
  auto [RE, CE] = rowsOf(L);
  Type *T = eltType(K.Ctx, L.Elt), *RT = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  Value *C = K.get(CE), *R = K.get(RE);
  Value *Hits = K.fold(R, K.i64(0), [&](Value *Acc, Value *Row) {
    Value *Label = checkedLabel(K, K.In[1], Row, C);
    Value *Base = K.madd(K.i64(0), Row, C);
    Value *I = argMaxOf(K, T, K.In[0], C, Base, K.i64(1));
    return B.CreateAdd(Acc, B.CreateZExt(B.CreateICmpEQ(I, Label), K.i64Ty()));
  });
  Value *Frac = B.CreateFDiv(B.CreateSIToFP(Hits, RT), B.CreateSIToFP(R, RT));
  K.store(Frac, K.Out, K.i64(0));
}

} // namespace adj::cg
