//===- Elementwise.cpp - Elementwise, fill and data-movement kernels ------===//
///
/// Kernels that compute each output element from the corresponding input
/// elements: constants, counts, transposes, reshapes, broadcasts, slices,
/// and loop units (StepPlan.h) of unary math and its adjoints, NumPy
/// broadcasting binary ops and `fused` bodies. All of them are one strided
/// loop nest (Kernel::forEach) over the output, with stride 0 on broadcast
/// dims, so same-shape operands run one flat, vectorisable loop. A loop
/// unit of several ops (a loop group) evaluates every member per element,
/// keeping values in registers, and stores the members the plan asks for.
/// A fused op's body (ir/Body.h) is evaluated by emitBody, which also
/// serves matmul epilogues, on vectors. pad and concat copy each operand
/// into its block of the output with the output's strides (pad after
/// zero-filling).
///
/// Unary math uses Kernel::exp, log, tanh and sigmoid (inline polynomials
/// that vectorise), LLVM intrinsics (sqrt, fabs, sin, cos) and libm (erf,
/// expm1, log1p). Derivatives use the subgradients relu'(0) = abs'(0) = 0 and
/// leaky_relu'(0) = alpha. The sigmoid 1 / (1 + e^-x) is exact at both tails
/// (0 or 1, never NaN), and softplus is max(x, 0) + log1p(e^-|x|).
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

#include <algorithm>
#include <cmath>
#include <map>

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

void emitConstant(Kernel &K, const Op &O) {
  Type *T = eltType(K.Ctx, O.type().Elt);
  double V = O.floatAttr("value");
  Value *C = T->isIntegerTy() ? ConstantInt::get(T, int64_t(V)) : K.fp(T, V);
  K.parallelForEach({product(shapeOf(O.type()))}, {{Extent()}},
                    [&](Kernel &Body, ArrayRef<Value *> Off) {
                      Body.store(C, Body.Out, Off[0]);
                    });
}

void emitCount(Kernel &K, const Op &O) {
  const TensorType &X = O.Operands[0]->type();
  Extent C;
  for (int64_t A : reduceAxes(O.Attributes, X.rank()))
    C = C * Extent::dim(X.Dims[A]);
  Type *T = eltType(K.Ctx, O.type().Elt);
  K.store(K.B.CreateSIToFP(K.get(C), T), K.Out, K.i64(0));
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

/// The members computing a loop op: its fused body, or the op itself.
static void membersOf(const Op &O, std::vector<BodyMember> &Ms) {
  if (O.Kind == OpKind::Fused) {
    unsigned NumInputs = 0;
    const std::string *Body = bodyOf(O, NumInputs);
    [[maybe_unused]] std::string Err = parseBody(*Body, NumInputs, Ms);
    assert(Err.empty() && "fused body checked by Lower");
    return;
  }
  BodyMember M{O.Kind, alphaOf(O), {{true, 0}}};
  if (!hasProp(O.Kind, props::Unary))
    M.Args.push_back({true, 1});
  Ms.push_back(std::move(M));
}

void emitLoopGroup(Kernel &K, const Function &F, const StepUnit &U) {
  const Op &Last = *F.Ops[U.Ops.back()];
  Type *T = eltType(K.Ctx, Last.type().Elt);
  const std::vector<int64_t> &Dims = Last.type().Dims;
  Shape S = shapeOf(Dims);
  std::vector<std::vector<BodyMember>> Bodies(U.Ops.size());
  for (size_t M = 0; M < U.Ops.size(); ++M)
    membersOf(*F.Ops[U.Ops[M]], Bodies[M]);
  size_t NumOuts = std::count(U.Stored.begin(), U.Stored.end(), true);
  std::vector<Shape> St(NumOuts, contiguousStrides(S));
  for (const adj::Value *V : U.Inputs)
    St.push_back(broadcastStrides(V->type(), Dims));
  // Per element: every member in order, inputs loaded on first use, then
  // the stored members' values (all loads come before any store).
  auto Element = [&](Kernel &Body, ArrayRef<llvm::Value *> Off) {
    std::vector<llvm::Value *> Ins(U.Inputs.size());
    std::map<const adj::Value *, llvm::Value *> Computed;
    auto Operand = [&](const adj::Value *V) -> llvm::Value * {
      if (auto It = Computed.find(V); It != Computed.end())
        return It->second;
      size_t J =
          std::find(U.Inputs.begin(), U.Inputs.end(), V) - U.Inputs.begin();
      if (!Ins[J])
        Ins[J] = Body.load(T, Body.In[J], Off[NumOuts + J]);
      return Ins[J];
    };
    for (size_t M = 0; M < U.Ops.size(); ++M) {
      const Op &O = *F.Ops[U.Ops[M]];
      Computed[&O.Result] = emitBody(
          Body, Bodies[M], [&](unsigned I) { return Operand(O.Operands[I]); });
    }
    for (size_t M = 0, Out = 0; M < U.Ops.size(); ++M)
      if (U.Stored[M]) {
        Body.store(Computed.at(&F.Ops[U.Ops[M]]->Result), Body.Outs[Out],
                   Off[Out]);
        ++Out;
      }
  };
  K.parallelForEach(S, St, Element);
}

} // namespace adj::cg
