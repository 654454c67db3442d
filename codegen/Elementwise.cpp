//===- Elementwise.cpp - Elementwise, fill and data-movement kernels ------===//
///
/// Kernels that compute each output element from the corresponding input
/// elements: constants, counts, transposes, reshapes, broadcasts, slices,
/// and loop units (StepPlan.h) of unary math and its adjoints, NumPy
/// broadcasting binary ops and `fused` bodies. All of them are one strided
/// loop nest (Kernel::forEach) over the output, with stride 0 on broadcast
/// dims, so same-shape operands run one flat, vectorisable loop. A loop
/// unit of several ops (a loop group) evaluates every member per element,
/// keeping values in registers, and stores the members the plan asks for;
/// a row group (cross_entropy_grad and the sum of its rows) runs RowOps.cpp's
/// kernel instead. A fused op's body (ir/Body.h) is evaluated by emitBody,
/// which also serves matmul epilogues, on vectors. pad and concat copy each
/// operand into its block of the output with the output's strides (pad
/// after zero-filling).
///
/// The math of each elementwise op is ir/ElementwiseMath.h's, shared with
/// the constant folder; IRMath below is its LLVM backend: Kernel::exp, log,
/// tanh and sigmoid (inline polynomials that vectorise), LLVM intrinsics
/// (sqrt, fabs, sin, cos, pow) and libm (erf, expm1, log1p). The sigmoid
/// 1 / (1 + e^-x) is exact at both tails (0 or 1, never NaN).
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "ir/ElementwiseMath.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// The LLVM backend of ir/ElementwiseMath.h: instructions on scalars or
/// vectors, vector math from Kernel (exp, log, tanh, sigmoid inline; erf,
/// expm1, log1p from libm).
struct IRMath {
  using V = Value *;
  Kernel &K;
  IRBuilder<> &B;
  explicit IRMath(Kernel &K) : K(K), B(K.B) {}
  V c(V X, double Value) { return K.fp(X->getType(), Value); }
  V neg(V X) { return B.CreateFNeg(X); }
  V add(V A, V C) { return B.CreateFAdd(A, C); }
  V sub(V A, V C) { return B.CreateFSub(A, C); }
  V mul(V A, V C) { return B.CreateFMul(A, C); }
  V div(V A, V C) { return B.CreateFDiv(A, C); }
  V pow(V A, V C) { return K.intrinsic(Intrinsic::pow, {A, C}); }
  V exp(V X) { return K.exp(X); }
  V log(V X) { return K.log(X); }
  V sqrt(V X) { return K.intrinsic(Intrinsic::sqrt, {X}); }
  V abs(V X) { return K.intrinsic(Intrinsic::fabs, {X}); }
  V sin(V X) { return K.intrinsic(Intrinsic::sin, {X}); }
  V cos(V X) { return K.intrinsic(Intrinsic::cos, {X}); }
  V tanh(V X) { return K.tanh(X); }
  V sigmoid(V X) { return K.sigmoid(X); }
  V erf(V X) { return K.libm("erf", X); }
  V expm1(V X) { return K.libm("expm1", X); }
  V log1p(V X) { return K.libm("log1p", X); }
  V gt(V A, V C) { return B.CreateFCmpOGT(A, C); }
  V ge(V A, V C) { return B.CreateFCmpOGE(A, C); }
  V lt(V A, V C) { return B.CreateFCmpOLT(A, C); }
  V le(V A, V C) { return B.CreateFCmpOLE(A, C); }
  V eq(V A, V C) { return B.CreateFCmpOEQ(A, C); }
  V ne(V A, V C) { return B.CreateFCmpUNE(A, C); }
  V select(V Cond, V A, V C) { return B.CreateSelect(Cond, A, C); }
  V mask(V Cond, V Like) { return B.CreateUIToFP(Cond, Like->getType()); }
};

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
  IRMath Math(K);
  for (const BodyMember &M : Members) {
    std::optional<llvm::Value *> R = math::elementwiseValueFrom(
        Math, M.Kind, M.Attributes, [&](unsigned I) { return Get(M.Args[I]); });
    assert(R && "a body member without math in ElementwiseMath.h");
    Vals.push_back(*R);
  }
  return Vals.back();
}

/// The members computing a loop op: its fused body, or the op itself.
void membersOf(const Op &O, std::vector<BodyMember> &Ms) {
  if (O.Kind == OpKind::Fused) {
    unsigned NumInputs = 0;
    const std::string *Body = bodyOf(O, NumInputs);
    [[maybe_unused]] std::string Err = parseBody(*Body, NumInputs, Ms);
    assert(Err.empty() && "fused body checked by Lower");
    return;
  }
  BodyMember M{O.Kind, O.Attributes, {{true, 0}}};
  if (!hasProp(O.Kind, props::Unary))
    M.Args.push_back({true, 1});
  Ms.push_back(std::move(M));
}

namespace {
/// A member of a loop group whose body ends in a reduction (ir/Body.h): the
/// loop accumulates into its output, whose strides are 0 on the reduced
/// axes.
struct LoopReduction {
  size_t Member; ///< Index into the unit's ops.
  OpKind Kind;   ///< reduce_sum, reduce_mean, reduce_max or reduce_min.
  Shape Strides; ///< The output's strides along the loop shape.
  Extent Flat;   ///< The output's elements.
  Extent Count;  ///< The elements reduced into each output.
};
} // namespace

static LoopReduction loopReduction(size_t M, const BodyMember &R,
                                   const Shape &S) {
  LoopReduction L{M, R.Kind, Shape(S.size()), Extent(), Extent()};
  std::vector<int64_t> Axes = reduceAxes(R.Attributes, S.size());
  for (size_t D = S.size(); D-- > 0;) {
    if (std::binary_search(Axes.begin(), Axes.end(), int64_t(D))) {
      L.Strides[D] = Extent{0, 0};
      L.Count = L.Count * S[D];
      continue;
    }
    L.Strides[D] = L.Flat;
    L.Flat = L.Flat * S[D];
  }
  return L;
}

/// out = combine(out, V) for reduction \p Kind (emitReduce's order).
static void accumulate(Kernel &Body, OpKind Kind, llvm::Value *V,
                       llvm::Value *Out, llvm::Value *Off) {
  llvm::Value *A = Body.load(V->getType(), Out, Off);
  llvm::Value *R =
      Kind == OpKind::ReduceMax   ? Body.intrinsic(Intrinsic::maxnum, {A, V})
      : Kind == OpKind::ReduceMin ? Body.intrinsic(Intrinsic::minnum, {A, V})
                                  : Body.B.CreateFAdd(A, V);
  Body.store(R, Out, Off);
}

/// The value a reducing body reduces: its last member's operand.
static llvm::Value *reducedValue(Kernel &K, ArrayRef<BodyMember> Members,
                                 function_ref<llvm::Value *(unsigned)> Input) {
  BodyRef A = Members.back().Args[0];
  if (A.Input)
    return Input(A.Index);
  return emitBody(K, Members.take_front(A.Index + 1), Input);
}

/// Fills reduction outputs with their identity before the loop (\p Init)
/// or scales reduce_mean's by 1 / count after it.
static void fillReductions(Kernel &K, Type *T,
                           ArrayRef<LoopReduction> Reductions,
                           ArrayRef<unsigned> OutOf, bool Init) {
  double Inf = std::numeric_limits<double>::infinity();
  for (const LoopReduction &L : Reductions) {
    llvm::Value *Out = K.Outs[OutOf[L.Member]];
    if (!Init && L.Kind != OpKind::ReduceMean)
      continue;
    llvm::Value *Scale =
        Init ? nullptr
             : K.B.CreateFDiv(K.fp(T, 1), K.B.CreateSIToFP(K.get(L.Count), T));
    double Id = L.Kind == OpKind::ReduceMax   ? -Inf
                : L.Kind == OpKind::ReduceMin ? Inf
                                              : 0.0;
    K.forEach({L.Flat}, {{Extent()}}, [&](ArrayRef<llvm::Value *> Off) {
      llvm::Value *V =
          Init ? K.fp(T, Id) : K.B.CreateFMul(K.load(T, Out, Off[0]), Scale);
      K.store(V, Out, Off[0]);
    });
  }
}

/// The members of loop group \p U on one element, or one vector of
/// elements: inputs loaded on first use by \p Load (given the input's
/// index), each non-reducing member's value into \p Computed and each
/// reducing member's reduced value into \p Reduced (indexed by member).
void evalMembers(Kernel &K, const Function &F, const StepUnit &U,
                 ArrayRef<std::vector<BodyMember>> Bodies,
                 function_ref<llvm::Value *(size_t)> Load,
                 std::map<const adj::Value *, llvm::Value *> &Computed,
                 std::vector<llvm::Value *> &Reduced) {
  std::vector<llvm::Value *> Ins(U.Inputs.size());
  auto Operand = [&](const adj::Value *V) -> llvm::Value * {
    if (auto It = Computed.find(V); It != Computed.end())
      return It->second;
    size_t J =
        std::find(U.Inputs.begin(), U.Inputs.end(), V) - U.Inputs.begin();
    if (!Ins[J])
      Ins[J] = Load(J);
    return Ins[J];
  };
  Reduced.assign(U.Ops.size(), nullptr);
  for (size_t M = 0; M < U.Ops.size(); ++M) {
    const Op &O = *F.Ops[U.Ops[M]];
    auto In = [&](unsigned I) { return Operand(O.Operands[I]); };
    if (isReducingBody(Bodies[M]))
      Reduced[M] = reducedValue(K, Bodies[M], In);
    else
      Computed[&O.Result] = emitBody(K, Bodies[M], In);
  }
}

/// Column reductions kept in registers: at most this many bytes of a row.
constexpr int64_t kColumnBytes = 256;

/// A loop group over [R, C] whose reductions all reduce axis 0, with C
/// static and at most kColumnBytes of elements a row (the bias gradients of
/// a small layer): one pass over the rows, each row one vector of C
/// elements, the reductions accumulated in vector registers across the
/// rows and stored once, where the general nest reads and writes each sum
/// back through memory per row (a store-to-load dependency per row when C
/// is small). Each output is still combined over the rows in order from the
/// identity, as in the general nest, so the results are the same bits; the
/// loop is serial (a split over so few columns would not pay), so they do
/// not depend on the thread count. Returns false (emitting nothing) for
/// other groups.
static bool emitColumnReductions(Kernel &K, const Function &F,
                                 const StepUnit &U, Type *T, const Shape &S,
                                 ArrayRef<std::vector<BodyMember>> Bodies,
                                 ArrayRef<LoopReduction> Reductions,
                                 ArrayRef<unsigned> OutOf) {
  if (Reductions.empty() || S.size() != 2 || S[1].Pow != 0 ||
      !T->isFloatingPointTy() ||
      S[1].Mul * int64_t(T->getPrimitiveSizeInBits() / 8) > kColumnBytes)
    return false;
  const Extent Zero{0, 0}, One{1, 0};
  for (const LoopReduction &L : Reductions)
    if (!(L.Strides == Shape{Zero, One}))
      return false;
  const std::vector<int64_t> Dims = loopDims(*F.Ops[U.Ops.back()]);
  std::vector<Shape> InSt;
  for (const adj::Value *V : U.Inputs) {
    InSt.push_back(broadcastStrides(V->type(), Dims));
    if (!(InSt.back()[1] == Zero) && !(InSt.back()[1] == One))
      return false;
  }
  IRBuilder<> &B = K.B;
  int64_t C = S[1].Mul;
  auto *VT = FixedVectorType::get(T, unsigned(C));
  Align A(T->getPrimitiveSizeInBits() / 8);
  double Inf = std::numeric_limits<double>::infinity();
  std::vector<llvm::Value *> Acc;
  for (const LoopReduction &L : Reductions)
    Acc.push_back(K.var(K.fp(VT, L.Kind == OpKind::ReduceMax   ? -Inf
                                 : L.Kind == OpKind::ReduceMin ? Inf
                                                               : 0.0)));
  K.loop(K.get(S[0]), [&](llvm::Value *Row) {
    std::map<const adj::Value *, llvm::Value *> Computed;
    std::vector<llvm::Value *> Reduced;
    auto Load = [&](size_t J) -> llvm::Value * {
      llvm::Value *At = B.CreateInBoundsGEP(
          T, K.In[J], K.madd(K.i64(0), Row, K.get(InSt[J][0])));
      return InSt[J][1] == One
                 ? B.CreateAlignedLoad(VT, At, A)
                 : B.CreateVectorSplat(unsigned(C), B.CreateLoad(T, At));
    };
    evalMembers(K, F, U, Bodies, Load, Computed, Reduced);
    llvm::Value *RowAt = K.madd(K.i64(0), Row, K.i64(C));
    for (size_t M = 0; M < U.Ops.size(); ++M)
      if (U.Stored[M] && !Reduced[M])
        B.CreateAlignedStore(Computed.at(&F.Ops[U.Ops[M]]->Result),
                             B.CreateInBoundsGEP(T, K.Outs[OutOf[M]], RowAt),
                             A);
    for (size_t R = 0; R < Reductions.size(); ++R) {
      llvm::Value *Old = K.read(VT, Acc[R]), *V = Reduced[Reductions[R].Member];
      OpKind Kind = Reductions[R].Kind;
      K.write(Acc[R], Kind == OpKind::ReduceMax
                          ? K.intrinsic(Intrinsic::maxnum, {Old, V})
                      : Kind == OpKind::ReduceMin
                          ? K.intrinsic(Intrinsic::minnum, {Old, V})
                          : B.CreateFAdd(Old, V));
    }
  });
  for (size_t R = 0; R < Reductions.size(); ++R)
    B.CreateAlignedStore(K.read(VT, Acc[R]),
                         K.Outs[OutOf[Reductions[R].Member]], A);
  fillReductions(K, T, Reductions, OutOf, /*Init=*/false);
  return true;
}

void emitLoopGroup(Kernel &K, const Function &F, const StepUnit &U) {
  // A row group (StepPlan.cpp): cross_entropy_grad, which may fail, and the
  // sum of its rows, computed in its kernel.
  if (const Op &First = *F.Ops[U.Ops.front()]; !isLoopOp(First)) {
    assert(U.Ops.size() == 2 && isRowSum(*F.Ops[U.Ops[1]]));
    return emitCrossEntropyGradSums(K, First, U.Stored[0] ? K.Outs[0] : nullptr,
                                    K.Outs[U.Stored[0]]);
  }
  const Op &Last = *F.Ops[U.Ops.back()];
  Type *T = eltType(K.Ctx, Last.type().Elt);
  const std::vector<int64_t> Dims = loopDims(Last);
  Shape S = shapeOf(Dims);
  std::vector<std::vector<BodyMember>> Bodies(U.Ops.size());
  std::vector<LoopReduction> Reductions;
  std::vector<unsigned> OutOf(U.Ops.size()); // Stored member -> output.
  size_t NumOuts = 0;
  for (size_t M = 0; M < U.Ops.size(); ++M) {
    membersOf(*F.Ops[U.Ops[M]], Bodies[M]);
    if (isReducingBody(Bodies[M]))
      Reductions.push_back(loopReduction(M, Bodies[M].back(), S));
    OutOf[M] = NumOuts;
    NumOuts += U.Stored[M];
  }
  // A reduction's output strides lead: parallelForEach splits the nest
  // along the first dim they index, so no two tasks add to one output
  // and each output is summed in loop order whatever the thread count.
  if (emitColumnReductions(K, F, U, T, S, Bodies, Reductions, OutOf))
    return;
  bool Serial = false;
  for (const LoopReduction &L : Reductions)
    Serial |= !(L.Strides == Reductions[0].Strides);
  size_t Lead = Reductions.empty() ? 0 : 1;
  std::vector<Shape> St;
  if (Lead)
    St.push_back(Reductions[0].Strides);
  for (size_t M = 0, R = 0; M < U.Ops.size(); ++M) {
    bool Reducing = R < Reductions.size() && Reductions[R].Member == M;
    if (U.Stored[M])
      St.push_back(Reducing ? Reductions[R].Strides : contiguousStrides(S));
    R += Reducing;
  }
  for (const adj::Value *V : U.Inputs)
    St.push_back(broadcastStrides(V->type(), Dims));
  fillReductions(K, T, Reductions, OutOf, /*Init=*/true);
  // Per element: every member in order, inputs loaded on first use, then
  // the stored members' values (all loads come before any store) and the
  // reductions' accumulations.
  auto Element = [&](Kernel &Body, ArrayRef<llvm::Value *> All) {
    ArrayRef<llvm::Value *> Off = All.drop_front(Lead);
    std::map<const adj::Value *, llvm::Value *> Computed;
    std::vector<llvm::Value *> Reduced;
    auto Load = [&](size_t J) {
      return Body.load(T, Body.In[J], Off[NumOuts + J]);
    };
    evalMembers(Body, F, U, Bodies, Load, Computed, Reduced);
    for (size_t M = 0; M < U.Ops.size(); ++M)
      if (U.Stored[M] && !Reduced[M])
        Body.store(Computed.at(&F.Ops[U.Ops[M]]->Result), Body.Outs[OutOf[M]],
                   Off[OutOf[M]]);
    for (const LoopReduction &L : Reductions)
      accumulate(Body, L.Kind, Reduced[L.Member], Body.Outs[OutOf[L.Member]],
                 Off[OutOf[L.Member]]);
  };
  if (Serial)
    K.forEach(S, St, [&](ArrayRef<llvm::Value *> Off) { Element(K, Off); });
  else
    K.parallelForEach(S, St, Element);
  fillReductions(K, T, Reductions, OutOf, /*Init=*/false);
}

} // namespace adj::cg
