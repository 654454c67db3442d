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

void emitCrossEntropy(Kernel &K, const Op &O) {
  auto [RE, CE] = rowsOf(O.Operands[0]->type());
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

void emitCrossEntropyGrad(Kernel &K, const Op &O) {
  auto [RE, CE] = rowsOf(O.Operands[1]->type());
  Type *T = eltType(K.Ctx, O.type().Elt);
  IRBuilder<> &B = K.B;
  double Ls = O.floatAttr("label_smoothing", 0);
  Value *C = K.get(CE), *R = K.get(RE);
  Value *DY = K.load(T, K.In[0], K.i64(0));
  Value *Scale = B.CreateFDiv(DY, B.CreateSIToFP(R, T), "scale");
  Value *Smooth = B.CreateFDiv(K.fp(T, Ls), B.CreateSIToFP(C, T), "smooth");
  K.loop(R, [&](Value *Row) {
    Value *Label = checkedLabel(K, K.In[2], Row, C);
    Value *Base = K.madd(K.i64(0), Row, C);
    auto At = [&](Value *J) { return K.madd(Base, J, K.i64(1)); };
    Value *M = maxOf(K, T, K.In[1], C, Base, K.i64(1));
    Value *S = K.fold(C, K.fp(T, 0), [&](Value *Acc, Value *J) {
      Value *X = K.load(T, K.In[1], At(J));
      Value *E = K.exp(B.CreateFSub(X, M));
      K.store(E, K.Out, At(J));
      return B.CreateFAdd(Acc, E);
    });
    Value *Inv = B.CreateFDiv(K.fp(T, 1), S);
    K.loop(C, [&](Value *J) {
      Value *P = B.CreateFMul(K.load(T, K.Out, At(J)), Inv);
      Value *Hot =
          B.CreateSelect(B.CreateICmpEQ(J, Label), K.fp(T, 1 - Ls), K.fp(T, 0));
      Value *G = B.CreateFSub(B.CreateFSub(P, Smooth), Hot);
      K.store(B.CreateFMul(G, Scale), K.Out, At(J));
    });
  });
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
