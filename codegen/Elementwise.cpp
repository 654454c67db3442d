//===- Elementwise.cpp - Elementwise, fill and data-movement kernels ------===//
///
/// Kernels that compute each output element from the corresponding input
/// elements: constants, counts, unary math and its adjoints, NumPy
/// broadcasting binary ops, transposes, reshapes, broadcasts and slices.
/// All of them are one strided loop nest (Kernel::forEach) over the output,
/// with stride 0 on broadcast dims, so same-shape operands run one flat,
/// vectorisable loop. pad and concat copy each operand into its block of
/// the output with the output's strides (pad after zero-filling). A fused
/// op is the same loop nest evaluating its body (ir/Body.h) per element;
/// emitBody, which evaluates a body, also serves matmul epilogues, on
/// vectors.
///
/// Unary math uses Kernel::exp, log, tanh and sigmoid (inline polynomials
/// that vectorise), LLVM intrinsics (sqrt, fabs, sin, cos) and libm (erf,
/// expm1, log1p). Derivatives use the subgradients relu'(0) = abs'(0) = 0 and
/// leaky_relu'(0) = alpha. The sigmoid 1 / (1 + e^-x) is exact at both tails
/// (0 or 1, never NaN), and softplus is max(x, 0) + log1p(e^-|x|).
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

#include <cmath>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

static Value *sigmoid(Kernel &K, Value *X) { return K.sigmoid(X); }

/// select(x > 0, A, B).
static Value *ifPositive(Kernel &K, Value *X, Value *A, Value *B) {
  Value *Pos = K.B.CreateFCmpOGT(X, K.fp(X->getType(), 0));
  return K.B.CreateSelect(Pos, A, B);
}

static double alphaOf(const Op &O) {
  return O.floatAttr("alpha", O.Kind == OpKind::LeakyRelu ||
                                      O.Kind == OpKind::LeakyReluGrad
                                  ? 0.01
                                  : 1.0);
}

/// f(x) for the unary op \p Kind.
static Value *unaryValue(Kernel &K, OpKind Kind, double Alpha, Value *X) {
  IRBuilder<> &B = K.B;
  auto C = [&](double V) { return K.fp(X->getType(), V); };
  switch (Kind) {
  case OpKind::Neg:
    return B.CreateFNeg(X);
  case OpKind::Exp:
    return K.exp(X);
  case OpKind::Log:
    return K.log(X);
  case OpKind::Sqrt:
    return K.intrinsic(Intrinsic::sqrt, {X});
  case OpKind::Rsqrt:
    return B.CreateFDiv(C(1), K.intrinsic(Intrinsic::sqrt, {X}));
  case OpKind::Abs:
    return K.intrinsic(Intrinsic::fabs, {X});
  case OpKind::Sin:
    return K.intrinsic(Intrinsic::sin, {X});
  case OpKind::Cos:
    return K.intrinsic(Intrinsic::cos, {X});
  case OpKind::Tanh:
    return K.tanh(X);
  case OpKind::Sigmoid:
    return sigmoid(K, X);
  case OpKind::Relu: // x <= 0 ? 0 : x, so that NaN propagates.
    return B.CreateSelect(B.CreateFCmpOLE(X, C(0)), C(0), X);
  case OpKind::LeakyRelu:
    return ifPositive(K, X, X, B.CreateFMul(C(Alpha), X));
  case OpKind::Elu:
    return ifPositive(K, X, X, B.CreateFMul(C(Alpha), K.libm("expm1", X)));
  case OpKind::Gelu: {
    Value *Erf = K.libm("erf", B.CreateFMul(X, C(M_SQRT1_2)));
    return B.CreateFMul(B.CreateFMul(C(0.5), X), B.CreateFAdd(C(1), Erf));
  }
  case OpKind::Softplus: {
    Value *NegAbs = B.CreateFNeg(K.intrinsic(Intrinsic::fabs, {X}));
    Value *L = K.libm("log1p", K.exp(NegAbs));
    return B.CreateFAdd(ifPositive(K, X, X, C(0)), L);
  }
  case OpKind::Swish:
    return B.CreateFMul(X, sigmoid(K, X));
  default:
    llvm_unreachable("not a unary op");
  }
}

/// f'(x) for the unary op \p Kind.
static Value *unaryDeriv(Kernel &K, OpKind Kind, double Alpha, Value *X) {
  IRBuilder<> &B = K.B;
  auto C = [&](double V) { return K.fp(X->getType(), V); };
  switch (Kind) {
  case OpKind::Neg:
    return C(-1);
  case OpKind::Exp:
    return K.exp(X);
  case OpKind::Log:
    return B.CreateFDiv(C(1), X);
  case OpKind::Sqrt:
    return B.CreateFDiv(C(0.5), K.intrinsic(Intrinsic::sqrt, {X}));
  case OpKind::Rsqrt: // -1/2 x^-3/2
    return B.CreateFDiv(C(-0.5),
                        B.CreateFMul(X, K.intrinsic(Intrinsic::sqrt, {X})));
  case OpKind::Abs: {
    Value *Neg = B.CreateSelect(B.CreateFCmpOLT(X, C(0)), C(-1), C(0));
    return ifPositive(K, X, C(1), Neg);
  }
  case OpKind::Sin:
    return K.intrinsic(Intrinsic::cos, {X});
  case OpKind::Cos:
    return B.CreateFNeg(K.intrinsic(Intrinsic::sin, {X}));
  case OpKind::Tanh: {
    Value *T = K.tanh(X);
    return B.CreateFSub(C(1), B.CreateFMul(T, T));
  }
  case OpKind::Sigmoid: {
    Value *S = sigmoid(K, X);
    return B.CreateFMul(S, B.CreateFSub(C(1), S));
  }
  case OpKind::Relu:
    return ifPositive(K, X, C(1), C(0));
  case OpKind::LeakyRelu:
    return ifPositive(K, X, C(1), C(Alpha));
  case OpKind::Elu:
    return ifPositive(K, X, C(1), B.CreateFMul(C(Alpha), K.exp(X)));
  case OpKind::Gelu: { // Phi(x) + x phi(x)
    Value *Erf = K.libm("erf", B.CreateFMul(X, C(M_SQRT1_2)));
    Value *Phi = B.CreateFMul(C(0.5), B.CreateFAdd(C(1), Erf));
    Value *E = K.exp(B.CreateFMul(C(-0.5), B.CreateFMul(X, X)));
    Value *Pdf = B.CreateFMul(E, C(0.5 * M_2_SQRTPI * M_SQRT1_2));
    return B.CreateFAdd(Phi, B.CreateFMul(X, Pdf));
  }
  case OpKind::Softplus:
    return sigmoid(K, X);
  case OpKind::Swish: { // s + x s (1 - s)
    Value *S = sigmoid(K, X);
    Value *XS = B.CreateFMul(X, S);
    return B.CreateFAdd(S, B.CreateFMul(XS, B.CreateFSub(C(1), S)));
  }
  default:
    llvm_unreachable("not a unary op");
  }
}

/// One flat loop over \p O's result and its same-shaped operands, split
/// into parallel tasks when large.
static void forEachElement(Kernel &K, const Op &O,
                           function_ref<void(ArrayRef<Value *>)> Body) {
  Shape S = {product(shapeOf(O.type()))};
  std::vector<Shape> St(O.Operands.size() + 1, Shape{Extent()});
  K.forEach(S, St, Body, /*Parallel=*/true);
}

void emitConstant(Kernel &K, const Op &O) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  double V = O.floatAttr("value");
  Value *C = T->isIntegerTy() ? ConstantInt::get(T, int64_t(V)) : K.fp(T, V);
  forEachElement(K, O,
                 [&](ArrayRef<Value *> Off) { K.store(C, K.Out, Off[0]); });
}

void emitCount(Kernel &K, const Op &O) {
  const TensorType &X = O.Operands[0]->type();
  Extent C;
  for (int64_t A : reduceAxes(O.Attributes, X.rank()))
    C = C * Extent::dim(X.Dims[A]);
  Type *T = eltType(K.Ctx, O.type().Elt);
  K.store(K.B.CreateSIToFP(K.get(C), T), K.Out, K.i64(0));
}

void emitUnary(Kernel &K, const Op &O) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  double Alpha = alphaOf(O);
  forEachElement(K, O, [&](ArrayRef<Value *> Off) {
    Value *X = K.load(T, K.In[0], Off[1]);
    K.store(unaryValue(K, O.Kind, Alpha, X), K.Out, Off[0]);
  });
}

void emitUnaryGrad(Kernel &K, const Op &O, OpKind Forward) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  double Alpha = alphaOf(O);
  forEachElement(K, O, [&](ArrayRef<Value *> Off) {
    Value *DY = K.load(T, K.In[0], Off[1]);
    Value *X = K.load(T, K.In[1], Off[2]);
    Value *D = unaryDeriv(K, Forward, Alpha, X);
    K.store(K.B.CreateFMul(DY, D), K.Out, Off[0]);
  });
}

static Value *binaryValue(Kernel &K, OpKind Kind, Value *A, Value *B) {
  IRBuilder<> &IRB = K.B;
  auto Mask = [&](Value *Cond) { return IRB.CreateUIToFP(Cond, A->getType()); };
  switch (Kind) {
  case OpKind::Add:
    return IRB.CreateFAdd(A, B);
  case OpKind::Sub:
    return IRB.CreateFSub(A, B);
  case OpKind::Mul:
    return IRB.CreateFMul(A, B);
  case OpKind::Div:
    return IRB.CreateFDiv(A, B);
  case OpKind::Pow:
    return K.intrinsic(Intrinsic::pow, {A, B});
  case OpKind::Maximum: // Ties and NaN in a give a.
    return IRB.CreateSelect(IRB.CreateFCmpOGT(B, A), B, A);
  case OpKind::Minimum:
    return IRB.CreateSelect(IRB.CreateFCmpOLT(B, A), B, A);
  case OpKind::GreaterMask:
    return Mask(IRB.CreateFCmpOGT(A, B));
  case OpKind::GreaterEqualMask:
    return Mask(IRB.CreateFCmpOGE(A, B));
  case OpKind::EqualMask:
    return Mask(IRB.CreateFCmpOEQ(A, B));
  case OpKind::NotEqualMask:
    return Mask(IRB.CreateFCmpUNE(A, B));
  default:
    llvm_unreachable("not a binary op");
  }
}

void emitBinary(Kernel &K, const Op &O) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  const std::vector<int64_t> &Dims = O.type().Dims;
  Shape S = shapeOf(Dims);
  std::vector<Shape> St = {contiguousStrides(S),
                           broadcastStrides(O.Operands[0]->type(), Dims),
                           broadcastStrides(O.Operands[1]->type(), Dims)};
  auto Element = [&](ArrayRef<Value *> Off) {
    Value *A = K.load(T, K.In[0], Off[1]);
    Value *B = K.load(T, K.In[1], Off[2]);
    K.store(binaryValue(K, O.Kind, A, B), K.Out, Off[0]);
  };
  K.forEach(S, St, Element, /*Parallel=*/true);
}

/// out[i] = in[Base + offset(i)] over the result's shape with input strides
/// \p St.
static void gather(Kernel &K, const Op &O, Shape St, Extent Base = {0, 0}) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  Shape S = shapeOf(O.type());
  Value *B0 = K.get(Base);
  K.forEach(S, {contiguousStrides(S), std::move(St)},
            [&](ArrayRef<Value *> Off) {
              Value *V = K.load(T, K.In[0], K.add(B0, Off[1]));
              K.store(V, K.Out, Off[0]);
            });
}

/// out[Base + offset(i)] = in<I>[i] over operand I's shape, where offset
/// uses the output's strides: copies an operand into a block of the output.
static void scatter(Kernel &K, const Op &O, unsigned I, Extent Base) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  Shape S = shapeOf(O.Operands[I]->type());
  Shape OutSt = contiguousStrides(shapeOf(O.type()));
  Value *B0 = K.get(Base);
  K.forEach(S, {OutSt, contiguousStrides(S)}, [&](ArrayRef<Value *> Off) {
    K.store(K.load(T, K.In[I], Off[1]), K.Out, K.add(B0, Off[0]));
  });
}

/// The stride of \p Axis in a contiguous tensor of type \p T.
static Extent axisStride(const TensorType &T, int64_t Axis) {
  return contiguousStrides(shapeOf(T))[Axis];
}

void emitSlice(Kernel &K, const Op &O) {
  const TensorType &X = O.Operands[0]->type();
  int64_t Axis = O.intAttr("axis");
  Extent Start{O.intAttr("start"), 0};
  gather(K, O, contiguousStrides(shapeOf(X)), axisStride(X, Axis) * Start);
}

void emitPad(Kernel &K, const Op &O) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  Shape S = {product(shapeOf(O.type()))};
  K.forEach(S, {{Extent()}}, [&](ArrayRef<Value *> Off) {
    K.store(Constant::getNullValue(T), K.Out, Off[0]);
  });
  int64_t Axis = O.intAttr("axis");
  scatter(K, O, 0, axisStride(O.type(), Axis) * Extent{O.intAttr("before"), 0});
}

void emitConcat(Kernel &K, const Op &O) {
  int64_t Axis = O.intAttr("axis"), Off = 0;
  Extent Stride = axisStride(O.type(), Axis);
  for (unsigned I = 0; I < O.Operands.size(); ++I) {
    scatter(K, O, I, Stride * Extent{Off, 0});
    Off += O.Operands[I]->type().Dims[Axis];
  }
}

void emitTranspose(Kernel &K, const Op &O) {
  Shape InSt = contiguousStrides(shapeOf(O.Operands[0]->type()));
  Shape St;
  for (int64_t P : *O.listAttr("perm"))
    St.push_back(InSt[P]);
  gather(K, O, std::move(St));
}

void emitBroadcastTo(Kernel &K, const Op &O) {
  gather(K, O, broadcastStrides(O.Operands[0]->type(), O.type().Dims));
}

void emitReshape(Kernel &K, const Op &O) {
  unsigned Bytes = dtypeBytes(O.type().Elt);
  Value *Size = K.get(product(shapeOf(O.type())) * Extent{Bytes, 0});
  K.B.CreateMemCpy(K.Out, Align(Bytes), K.In[0], Align(Bytes), Size);
}

} // namespace adj::cg

namespace adj::cg {

llvm::Value *emitBody(Kernel &K, ArrayRef<BodyMember> Members,
                      function_ref<llvm::Value *(unsigned)> Input) {
  std::vector<llvm::Value *> Ins, Vals;
  auto Get = [&](BodyRef A) {
    if (!A.Input)
      return Vals[A.Index];
    if (Ins.size() <= A.Index)
      Ins.resize(A.Index + 1);
    if (!Ins[A.Index])
      Ins[A.Index] = Input(A.Index);
    return Ins[A.Index];
  };
  for (const BodyMember &M : Members) {
    llvm::Value *R;
    if (hasProp(M.Kind, props::Unary))
      R = unaryValue(K, M.Kind, M.Alpha, Get(M.Args[0]));
    else if (auto Fwd = unaryForwardOf(M.Kind))
      R = K.B.CreateFMul(Get(M.Args[0]),
                         unaryDeriv(K, *Fwd, M.Alpha, Get(M.Args[1])));
    else
      R = binaryValue(K, M.Kind, Get(M.Args[0]), Get(M.Args[1]));
    Vals.push_back(R);
  }
  return Vals.back();
}

void emitFused(Kernel &K, const Op &O) {
  unsigned NumInputs = 0;
  const std::string *Body = bodyOf(O, NumInputs);
  std::vector<BodyMember> Members;
  [[maybe_unused]] std::string Err = parseBody(*Body, NumInputs, Members);
  assert(Err.empty() && "fused body checked by Lower");
  Type *T = eltType(K.Ctx, O.type().Elt);
  const std::vector<int64_t> &Dims = O.type().Dims;
  Shape S = shapeOf(Dims);
  std::vector<Shape> St = {contiguousStrides(S)};
  for (const adj::Value *V : O.Operands)
    St.push_back(broadcastStrides(V->type(), Dims));
  auto Element = [&](ArrayRef<llvm::Value *> Off) {
    llvm::Value *R = emitBody(
        K, Members, [&](unsigned I) { return K.load(T, K.In[I], Off[I + 1]); });
    K.store(R, K.Out, Off[0]);
  };
  K.forEach(S, St, Element, /*Parallel=*/true);
}

} // namespace adj::cg
