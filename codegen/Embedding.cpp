//===- Embedding.cpp - embedding, embedding_grad, one_hot -----------------===//
///
/// Kernels that read i32 token ids. The ids of shape [...] are R rows (R
/// counts their elements, n included); the table is [V, D] row-major.
///
///   embedding       every id is checked against [0, V) first (a bad one
///                   returns 1 from the kernel, and so from the step, before
///                   anything is read); then y[r, :] = table[id_r, :], rows
///                   split over tasks
///   embedding_grad  dtable[v, :] = sum of dy[r, :] over the rows r whose
///                   id is v, added in the order of r. Tasks own ranges of
///                   table rows: each zeroes its rows, then scans every id
///                   and adds the rows of dy whose id falls in its range, so
///                   every output row is summed in the same order whatever
///                   the number of threads. Ids outside [0, V) fall in no
///                   range (the forward op has rejected them already)
///   one_hot         y[r, c] = (c == id_r), every id checked against
///                   [0, classes)
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// The id of row \p Row as i64 (negative ids stay negative).
static Value *idAt(Kernel &K, Value *Row) {
  return K.B.CreateSExt(K.load(K.B.getInt32Ty(), K.In.back(), Row), K.i64Ty(),
                        "id");
}

/// Returns 1 from the kernel unless every one of the \p R ids is in [0,
/// \p Bound).
static void checkIds(Kernel &K, Extent R, int64_t Bound) {
  K.loop(K.get(R), [&](Value *Row) {
    K.failIf(K.B.CreateICmpUGE(idAt(K, Row), K.i64(Bound))); // -1 wraps
  });
}

void emitEmbedding(Kernel &K, const Op &O) {
  const TensorType &Table = O.Operands[0]->type();
  int64_t V = Table.Dims[0], D = Table.Dims[1];
  Extent R = product(shapeOf(O.Operands[1]->type()));
  Type *T = eltType(K.Ctx, O.type().Elt);
  checkIds(K, R, V);
  Value *NTasks =
      K.taskCount(K.get(R * Extent{D, 0}), kParallelGrain, K.get(R));
  K.parallel(NTasks, [&](Kernel &Tk, Value *Task, Value *Count,
                         ArrayRef<Value *>) {
    auto Range = Tk.taskRange(Task, Count, Tk.get(R), 1);
    Tk.loop(Range.first, Range.second, Tk.i64(1), [&](Value *Row) {
      Value *Src = Tk.B.CreateMul(idAt(Tk, Row), Tk.i64(D), "src");
      Value *Dst = Tk.B.CreateMul(Row, Tk.i64(D), "dst");
      Tk.loop(Tk.i64(D), [&](Value *J) {
        Tk.store(Tk.load(T, Tk.In[0], Tk.add(Src, J)), Tk.Out, Tk.add(Dst, J));
      });
    });
  });
}

/// Task body of embedding_grad: zeroes the table rows [Lo, Hi) of dtable
/// [V, D], then adds into them the rows of dy (R rows of D) whose ids fall
/// in [Lo, Hi), in the order of the ids.
static void addOwnRows(Kernel &Tk, Type *T, Extent R, int64_t D, Value *Lo,
                       Value *Hi) {
  IRBuilder<> &B = Tk.B;
  Value *Zero = Tk.fp(T, 0);
  Tk.loop(B.CreateMul(Lo, Tk.i64(D)), B.CreateMul(Hi, Tk.i64(D)), Tk.i64(1),
          [&](Value *I) { Tk.store(Zero, Tk.Out, I); });
  Tk.loop(Tk.get(R), [&](Value *Row) {
    Value *Id = idAt(Tk, Row);
    Value *Mine = B.CreateAnd(B.CreateICmpUGE(Id, Lo), B.CreateICmpULT(Id, Hi));
    Tk.ifElse(
        Mine,
        [&] {
          Value *Dst = B.CreateMul(Id, Tk.i64(D), "dst");
          Value *Src = B.CreateMul(Row, Tk.i64(D), "src");
          Tk.loop(Tk.i64(D), [&](Value *J) {
            Value *Acc = Tk.load(T, Tk.Out, Tk.add(Dst, J));
            Value *G = Tk.load(T, Tk.In[0], Tk.add(Src, J));
            Tk.store(B.CreateFAdd(Acc, G), Tk.Out, Tk.add(Dst, J));
          });
        },
        [] {});
  });
}

void emitEmbeddingGrad(Kernel &K, const Op &O) {
  int64_t V = O.type().Dims[0], D = O.type().Dims[1];
  Extent R = product(shapeOf(O.Operands[1]->type()));
  Type *T = eltType(K.Ctx, O.type().Elt);
  Value *NTasks =
      K.taskCount(K.get(R * Extent{D, 0}), kParallelGrain, K.i64(V));
  K.parallel(NTasks,
             [&](Kernel &Tk, Value *Task, Value *Count, ArrayRef<Value *>) {
               auto Range = Tk.taskRange(Task, Count, Tk.i64(V), 1);
               addOwnRows(Tk, T, R, D, Range.first, Range.second);
             });
}

void emitOneHot(Kernel &K, const Op &O) {
  int64_t C = O.type().Dims.back();
  Extent R = product(shapeOf(O.Operands[0]->type()));
  Type *T = eltType(K.Ctx, O.type().Elt);
  checkIds(K, R, C);
  K.loop(K.get(R), [&](Value *Row) {
    Value *Id = idAt(K, Row);
    Value *Base = K.B.CreateMul(Row, K.i64(C), "base");
    K.loop(K.i64(C), [&](Value *J) {
      Value *Hot =
          K.B.CreateSelect(K.B.CreateICmpEQ(J, Id), K.fp(T, 1), K.fp(T, 0));
      K.store(Hot, K.Out, K.add(Base, J));
    });
  });
}

} // namespace adj::cg
