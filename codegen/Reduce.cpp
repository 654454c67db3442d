//===- Reduce.cpp - reduce_sum, reduce_mean, reduce_max, reduce_min -------===//
///
/// A reduction walks its input once in memory order, as a loop nest over
/// the input's shape in which the output's strides are 0 on the reduced
/// axes: out[o(i)] = combine(out[o(i)], in[i]) after filling the output with
/// the identity (0, -inf or +inf). Reducing the leading axes (the bias
/// gradient's [n, C] -> [C]) thus runs a contiguous, vectorisable inner loop
/// over C; reducing the trailing axes makes the inner loop a scalar
/// reduction that LICM keeps in a register and the vectoriser splits into
/// partial sums (the `reassoc` flag allows it). Dimension coalescing merges
/// adjacent reduced (or kept) axes first. keepdims only changes the result
/// type, not the data; reduce_mean finally scales by 1 / count, where the
/// count includes n when the batch dim is reduced. A large reduction is
/// split into parallel tasks along an output dim, so each output is still
/// summed in the same order by one task.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

#include <algorithm>
#include <limits>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

void emitReduce(Kernel &K, const Op &O) {
  const TensorType &X = O.Operands[0]->type();
  Type *T = eltType(K.Ctx, O.type().Elt);
  std::vector<int64_t> Axes = reduceAxes(O.Attributes, X.rank());
  Shape InS = shapeOf(X);
  Shape OutSt(X.rank());
  Extent Acc, Count;
  for (size_t D = X.rank(); D-- > 0;) {
    if (std::binary_search(Axes.begin(), Axes.end(), int64_t(D))) {
      OutSt[D] = Extent{0, 0};
      Count = Count * InS[D];
      continue;
    }
    OutSt[D] = Acc;
    Acc = Acc * InS[D];
  }

  double Inf = std::numeric_limits<double>::infinity();
  double Init = O.Kind == OpKind::ReduceMax   ? -Inf
                : O.Kind == OpKind::ReduceMin ? Inf
                                              : 0.0;
  Shape Flat = {Acc};
  K.forEach(Flat, {{Extent()}}, [&](ArrayRef<Value *> Off) {
    K.store(K.fp(T, Init), K.Out, Off[0]);
  });
  auto Accumulate = [&](Kernel &Body, ArrayRef<Value *> Off) {
    Value *A = Body.load(T, Body.Out, Off[0]);
    Value *V = Body.load(T, Body.In[0], Off[1]);
    Value *R = O.Kind == OpKind::ReduceMax
                   ? Body.intrinsic(Intrinsic::maxnum, {A, V})
               : O.Kind == OpKind::ReduceMin
                   ? Body.intrinsic(Intrinsic::minnum, {A, V})
                   : Body.B.CreateFAdd(A, V);
    Body.store(R, Body.Out, Off[0]);
  };
  // Split across outputs only (see parallelForEach), never along a reduced
  // axis.
  K.parallelForEach(InS, {OutSt, contiguousStrides(InS)}, Accumulate);
  if (O.Kind != OpKind::ReduceMean)
    return;
  Value *Scale =
      K.B.CreateFDiv(K.fp(T, 1), K.B.CreateSIToFP(K.get(Count), T), "scale");
  K.forEach(Flat, {{Extent()}}, [&](ArrayRef<Value *> Off) {
    Value *V = K.load(T, K.Out, Off[0]);
    K.store(K.B.CreateFMul(V, Scale), K.Out, Off[0]);
  });
}

} // namespace adj::cg
