//===- ProductLoop.cpp - A weight gradient fused into its update loop -----===//
///
/// The kernel of a loop unit with a fused product (StepUnit::Product): a
/// large 2-D matmul G = op(A) @ op(B) that only this loop reads, typically
/// a dense layer's weight gradient dY^T @ X and the optimizer's update of
/// the weight (Adam: m', v' and p' in one loop). Run apart, the product
/// writes G to memory (12.8 MB for the TF CNN's 1024 x 3136 weight) and
/// the loop reads it back; here the rows of G are computed kBlockRows at a
/// time into a block of the kernel's workspace that stays in cache, and the
/// loop runs over those rows of its result right after, so G never leaves
/// the cache (bench/tf_adam_traffic.c measures what that saves).
///
/// Each block is the product's block of rows [r0, r1) (GemmArgs::Row0,
/// Row1; r0 a multiple of every ISA's register-tile rows), computed with
/// the same tiles and the same sums over k as the whole product, into a
/// C pointer offset so that row r0 lands at the block's start; the loop
/// then evaluates its members per element exactly as emitLoopGroup does.
/// So the results are the bits of the product and the loop run apart.
/// Blocks are split among at most kSlots tasks, each with its own block of
/// the workspace; the count follows from the sizes alone, so results do
/// not depend on the number of threads. A transposed A (the gradient's
/// dY^T, rows of dY a power-of-two stride apart) is first copied to the
/// workspace as A^T, as MatMul.cpp's transposedAGemm does.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Gemm.h"
#include "ir/Body.h"

#include <map>

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// Rows of the product per block: a multiple of the register tile's rows
/// with AVX-512 (8) and AVX2 (6).
constexpr int64_t kBlockRows = 24;
/// Blocks of the workspace, the most tasks the kernel splits into.
constexpr int64_t kSlots = 4;
/// Products of fewer elements run apart: their result stays in cache.
constexpr int64_t kMinElements = int64_t(1) << 20;

/// Whether emitProductLoop takes the product \p O: a 2-D f32 or f64 matmul
/// without an epilogue, with static M and N, M * N at least kMinElements.
static bool takesProduct(const Op &O) {
  if (O.Kind != OpKind::MatMul || O.Operands.size() != 2 ||
      O.boolAttr("reduce_leading"))
    return false;
  const TensorType &AT = O.Operands[0]->type(), &BT = O.Operands[1]->type();
  const TensorType &CT = O.type();
  if (CT.rank() != 2 || AT.rank() != 2 || BT.rank() != 2 ||
      (CT.Elt != DType::F32 && CT.Elt != DType::F64))
    return false;
  int64_t M = CT.Dims[0], N = CT.Dims[1];
  return M != kBatch && N != kBatch && M * N >= kMinElements;
}

void emitProductLoop(Kernel &K, const Function &F, const StepUnit &U) {
  const Op &P = *F.Ops[U.Product];
  const Op &Last = *F.Ops[U.Ops.back()];
  Type *T = eltType(K.Ctx, Last.type().Elt);
  bool TA = P.boolAttr("transpose_a"), TB = P.boolAttr("transpose_b");
  const TensorType &AT = P.Operands[0]->type();
  int64_t M = P.type().Dims[0], N = P.type().Dims[1];
  Extent ME = Extent::dim(M), NE = Extent::dim(N);
  Extent KE = Extent::dim(AT.Dims[TA ? 0 : 1]);
  std::vector<std::vector<BodyMember>> Bodies(U.Ops.size());
  for (size_t Mem = 0; Mem < U.Ops.size(); ++Mem)
    membersOf(*F.Ops[U.Ops[Mem]], Bodies[Mem]);
  size_t NumOuts = U.Outputs.size();
  size_t NumIn = U.Inputs.size(); // The product's A and B last.
  // Which inputs are read at the element's index (the rest are scalars).
  std::vector<bool> Full;
  for (const adj::Value *V : U.Inputs)
    Full.push_back(V->type().Dims == Last.type().Dims);
  // The product is the members' input NumIn, loaded on its first use as
  // emitLoopGroup loads it (the order of loads decides which products the
  // backend fuses into multiply-adds, so it must be the same).
  StepUnit Members = U;
  Members.Inputs.push_back(&P.Result);

  // A^T into the workspace's second block: [M, K], read by rows.
  auto SlotsEnd = [&](Kernel &Into) { return Into.Outs[NumOuts + 1]; };
  if (TA) {
    Extent One{1, 0};
    K.parallelForEach({ME, KE}, {{KE, One}, {One, ME}},
                      [&](Kernel &Tk, ArrayRef<Value *> Off) {
                        Tk.store(Tk.load(T, Tk.In[NumIn - 2], Off[1]),
                                 SlotsEnd(Tk), Off[0]);
                      });
  }
  int64_t Blocks = (M + kBlockRows - 1) / kBlockRows;
  Value *NTasks = K.i64(std::min(Blocks, kSlots));
  auto Body = [&](Kernel &Tk, Value *Task, Value *Count, ArrayRef<Value *>) {
    IRBuilder<> &B = Tk.B;
    Value *Slot = B.CreateInBoundsGEP(
        T, Tk.Outs[NumOuts], B.CreateMul(Task, Tk.i64(kBlockRows * N)));
    auto [Row0, Row1] = Tk.taskRange(Task, Count, Tk.i64(M), kBlockRows);
    Tk.loop(Row0, Row1, Tk.i64(kBlockRows), [&](Value *R0) {
      Value *R1 = Tk.min(Tk.add(R0, Tk.i64(kBlockRows)), Tk.i64(M));
      // C[r, c] at Slot[(r - r0) * N + c]: the block's rows from its start.
      GemmArgs G{T,
                 ME,
                 KE,
                 NE,
                 Tk.i64(M),
                 Tk.get(KE),
                 Tk.i64(N),
                 TA ? SlotsEnd(Tk) : Tk.In[NumIn - 2],
                 Tk.In[NumIn - 1],
                 B.CreateGEP(T, Slot, B.CreateNeg(B.CreateMul(R0, Tk.i64(N)))),
                 false,
                 TB};
      G.Row0 = R0;
      G.Row1 = R1;
      G.Col0 = Tk.i64(0);
      G.Col1 = Tk.i64(N);
      gemm(Tk, G);
      // The loop over the block's elements, as emitLoopGroup's.
      Value *Begin = B.CreateMul(R0, Tk.i64(N));
      Tk.loop(Begin, B.CreateMul(R1, Tk.i64(N)), Tk.i64(1), [&](Value *I) {
        std::map<const adj::Value *, Value *> Computed;
        std::vector<Value *> Reduced;
        evalMembers(
            Tk, F, Members, Bodies,
            [&](size_t J) {
              if (J == NumIn)
                return Tk.load(T, Slot, B.CreateSub(I, Begin));
              return Tk.load(T, Tk.In[J], Full[J] ? I : Tk.i64(0));
            },
            Computed, Reduced);
        for (size_t Mem = 0, Out = 0; Mem < U.Ops.size(); ++Mem)
          if (U.Stored[Mem])
            Tk.store(Computed.at(&F.Ops[U.Ops[Mem]]->Result), Tk.Outs[Out++],
                     I);
      });
    });
  };
  K.parallel(NTasks, Body);
}

} // namespace adj::cg

namespace adj {

std::vector<ByteSize> productLoopWorkspace(const Op &Product) {
  if (!cg::takesProduct(Product))
    return {};
  // The slots of the blocks of rows, then A^T when A is transposed.
  const Op &P = Product;
  int64_t Elt = dtypeBytes(P.type().Elt);
  std::vector<ByteSize> W = {
      {cg::kSlots * cg::kBlockRows * P.type().Dims[1] * Elt, 0}};
  if (P.boolAttr("transpose_a"))
    W.push_back(bytesOf(P.Operands[0]->type()));
  return W;
}

} // namespace adj
