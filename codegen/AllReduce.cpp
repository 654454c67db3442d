//===- AllReduce.cpp - The all_reduce kernel ------------------------------===//
///
/// `all_reduce %x` (made by the allreduce pass for adjc --mpi) copies its
/// operand, the packed loss and gradients of a train step, into its result
/// buffer and hands that buffer to the runtime:
///
///   memcpy(out, in0, bytes); adj_rt_allreduce(out, count, dtype)
///
/// which replaces it in place by the weighted sum over the ranks (the
/// global batch's mean); in a single process it returns at once. The call
/// blocks until every rank has contributed, so the kernel is not `nosync`.
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

using namespace llvm;

namespace adj::cg {

void emitAllReduce(Kernel &K, const Op &O) {
  const TensorType &T = O.type();
  unsigned Bytes = dtypeBytes(T.Elt);
  Extent Count = product(shapeOf(T));
  K.B.CreateMemCpy(K.Out, Align(Bytes), K.In[0], Align(Bytes),
                   K.get(Count * Extent{Bytes, 0}));
  FunctionCallee Reduce =
      K.M.getOrInsertFunction("adj_rt_allreduce", K.B.getVoidTy(),
                              K.B.getPtrTy(), K.i64Ty(), K.B.getInt32Ty());
  if (auto *Decl = dyn_cast<llvm::Function>(Reduce.getCallee()))
    Decl->setDoesNotThrow();
  // The values match adj_rt_dtype (runtime/adjoint_rt_abi.h).
  K.B.CreateCall(
      Reduce, {K.Out, K.get(Count), K.B.getInt32(T.Elt == DType::F64 ? 1 : 0)});
  K.Fn->removeFnAttr(Attribute::NoSync);
}

} // namespace adj::cg
