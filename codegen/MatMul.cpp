//===- MatMul.cpp - the matmul op: 2-D, batched and parallel products -----===//
///
/// `matmul` (C[...,M,N] = op(A) @ op(B), op a transpose or not, attributes
/// `transpose_a`, `transpose_b`, an optional fused epilogue) on the 2-D
/// product of Gemm.h (gemm: the kernel library's GEMM or the register
/// tiles of GemmTiles.cpp).
///
/// A large 2-D product is a parallel loop over blocks of whole tiles
/// (parallelGemm); a block computes its elements exactly as the whole
/// product would, so the split never changes a result. A small one (static
/// sizes multiplying to at most kInlineStatic, one task's work at run time)
/// is the register tiles inline instead of a library call
/// (smallOrParallelGemm). Two 2-D orientations run on copies in the
/// kernel's workspace (matMulWorkspace): A @ B^T with few rows and a large
/// B as C^T = B @ A^T (swappedGemm: packing the large B^T cost more than
/// the product), and A^T @ B with a power-of-two row stride of A on A^T
/// (transposedAGemm), both the same sums bit for bit.
///
/// Batched products a[..., M, K] @ b[..., K, N] loop over the result's
/// leading dims (NumPy-broadcast from the operands', stride 0 where an
/// operand is broadcast) and run the 2-D code on each matrix, the matrices
/// split among parallel tasks when there is enough work. A batch against
/// one matrix (a linear layer on [N, T, F]) is one 2-D product instead,
/// with the batch in A's rows (batchIsRows). With
/// `reduce_leading` the leading dims join the reduction instead: a 2-D
/// product with K = (their product) * K over the same memory.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Gemm.h"
#include "ir/Body.h"

namespace adj::cg {

using namespace llvm;
using llvm::Value;

/// Strides of \p T's matrices over the result's batch dims \p Batch, in
/// elements (0 along the dims \p T is broadcast on).
static Shape matrixStrides(const TensorType &T,
                           const std::vector<int64_t> &Batch) {
  unsigned R = T.rank();
  TensorType Lead(T.Elt, {T.Dims.begin(), T.Dims.end() - 2});
  Extent Mat = Extent::dim(T.Dims[R - 2]) * Extent::dim(T.Dims[R - 1]);
  Shape St = broadcastStrides(Lead, Batch);
  for (Extent &E : St)
    E = E * Mat;
  return St;
}

/// Multiply-adds per task of a parallel product, at least.
constexpr int64_t kGemmGrain = 1 << 18;

/// A 2-D product split into blocks of whole tiles, one per task, along N
/// (each task reads all of A and its own columns of B) or along M (each
/// task reads all of B: on the packed path, or with B transposed, each task
/// packs all of B again). Along N when M <= N or M has a single tile; when
/// M > N, along N still if that gives at least kMinAlongN tasks and its
/// extra reads of A (tasks x M rows) cost less than the extra packing of B
/// along M (tasks x N columns, each copied: twice the weight). A weight
/// gradient of 256 x 2048 x 128 (the language models' output layer) split
/// along M packed B sixteen times and ran at 85 GFLOP/s against 158 for 128
/// rows split along N. The tasks' count follows from the sizes alone, and
/// every element of C is computed by one task exactly as without the split,
/// so results do not depend on the number of threads.
constexpr int64_t kMinAlongN = 4;

static void parallelGemm(Kernel &K, function_ref<GemmArgs(Kernel &)> Args) {
  auto Split = [](Kernel &K, const GemmArgs &G) {
    IRBuilder<> &B = K.B;
    TileShape TS = tileShape(G);
    auto Tiles = [&](Value *Size, unsigned Tile) {
      return B.CreateUDiv(K.add(Size, K.i64(Tile - 1)), K.i64(Tile));
    };
    Value *TM = Tiles(G.M, TS.MR), *TN = Tiles(G.N, TS.NR());
    Value *Work = B.CreateMul(B.CreateMul(G.M, G.N), G.K);
    Value *TasksM = K.taskCount(Work, kGemmGrain, TM);
    Value *TasksN = K.taskCount(Work, kGemmGrain, TN);
    Value *One = K.i64(1);
    Value *NCheaper = B.CreateAnd(
        B.CreateICmpUGE(TasksN, K.i64(kMinAlongN)),
        B.CreateICmpULE(B.CreateMul(TasksN, G.M),
                        B.CreateMul(B.CreateMul(TasksM, G.N), K.i64(2))));
    Value *AlongN =
        B.CreateAnd(B.CreateICmpUGT(TN, One),
                    B.CreateOr(B.CreateOr(B.CreateICmpULE(G.M, G.N), NCheaper),
                               B.CreateICmpULE(TM, One)));
    return std::make_pair(AlongN, B.CreateSelect(AlongN, TasksN, TasksM));
  };
  GemmArgs G = Args(K);
  Value *NTasks = Split(K, G).second;
  // The body reads M, K and N as run-time values (Sizes): products that
  // differ only in their sizes share one body after merging. Static sizes
  // still choose which code is emitted (the extents in G).
  auto Body = [&](Kernel &Task, Value *Index, Value *Count,
                  ArrayRef<Value *> Sizes) {
    GemmArgs G = Args(Task);
    G.M = Sizes[0];
    G.K = Sizes[1];
    G.N = Sizes[2];
    if (isa<ConstantInt>(Count)) // One task: the whole product.
      return gemm(Task, G);
    IRBuilder<> &B = Task.B;
    TileShape TS = tileShape(G);
    Value *AlongN = Split(Task, G).first;
    auto [Row0, Row1] = Task.taskRange(Index, Count, G.M, TS.MR);
    auto [Col0, Col1] = Task.taskRange(Index, Count, G.N, TS.NR());
    G.Row0 = B.CreateSelect(AlongN, Task.i64(0), Row0);
    G.Row1 = B.CreateSelect(AlongN, G.M, Row1);
    G.Col0 = B.CreateSelect(AlongN, Col0, Task.i64(0));
    G.Col1 = B.CreateSelect(AlongN, Col1, G.N);
    gemm(Task, G);
  };
  K.parallel(NTasks, Body, {G.M, G.K, G.N});
}

/// The most multiply-adds a product over its static sizes alone may take to
/// run inline (smallOrParallelGemm): a tile loop over a few static tiles, so
/// the code stays small. The fuse pass gives such products tanh and sigmoid
/// epilogues by the same bound.
constexpr int64_t kInlineStatic = kInlineMatMulStatic;

/// The product \p G's tiles inline. With 16 vector registers (AVX2) an
/// epilogue of vector math (tanh, sigmoid: a dozen constants and
/// temporaries per vector) on a tile's 12 accumulators spills, and measured
/// slower than a loop over C after the tiles, so there the tiles store the
/// plain product and that loop applies the epilogue, element by element as
/// the tiles would (the library's callback does the same).
static void inlineTiles(Kernel &K, const GemmArgs &G) {
  bool VectorMath = llvm::any_of(G.Epilogue, [](const BodyMember &M) {
    return M.Kind == OpKind::Tanh || M.Kind == OpKind::Sigmoid;
  });
  TileShape TS = tileShape(G);
  if (!VectorMath || TS.VL * G.T->getPrimitiveSizeInBits() >= 512)
    return emitTiles(K, G);
  assert(!G.Row0 && !G.Col0 && "a whole product, not a block");
  GemmArgs Plain = G;
  Plain.Epilogue = {};
  Plain.EpiIn.clear();
  emitTiles(K, Plain);
  K.loop(G.M, [&](Value *Row) {
    Value *CRow = K.B.CreateMul(Row, G.N);
    K.loop(G.N, [&](Value *Col) {
      Value *Idx = K.add(CRow, Col);
      Value *Y = emitBody(K, G.Epilogue, [&](unsigned I) -> Value * {
        if (I == 0)
          return K.load(G.T, G.C, Idx);
        const EpilogueInput &In = G.EpiIn[I - 1];
        Value *At = K.B.CreateMul(Row, In.RowStride);
        return K.load(G.T, In.Base, In.ColBcast ? At : K.add(At, Col));
      });
      K.store(Y, G.C, Idx);
    });
  });
}

/// A 2-D product that is small at run time (one task's work) emitted
/// inline, with its static sizes as constants: the register tiles of
/// emitTiles in this kernel, the epilogue applied in registers, instead of a
/// call of the kernel library's shape-generic GEMM through a struct of
/// arguments with the epilogue as a callback, which costs more than the
/// arithmetic of a product like a 2-16-16-2 MLP's. Only products whose
/// static sizes multiply to at most kInlineStatic take it; when a size is
/// the batch, a run-time test of the work chooses between it and
/// parallelGemm, so large batches still split among threads. Both compute
/// every element with the same tiles and the same order of sums (a static
/// size below the packed path's minimum rules it out in both), so the
/// choice never changes a result.
static void smallOrParallelGemm(Kernel &K,
                                function_ref<GemmArgs(Kernel &)> Args) {
  GemmArgs G = Args(K);
  int64_t Static = 1;
  bool AllStatic = true;
  for (Extent E : {G.ME, G.KE, G.NE}) {
    if (E.Pow == 0)
      Static *= E.Mul;
    AllStatic &= E.Pow == 0;
  }
  if (Static > kInlineStatic)
    return parallelGemm(K, Args);
  if (AllStatic)
    return inlineTiles(K, G);
  // Without the library, parallelGemm's task runs these same tiles: a
  // second, inline copy would only add code to compile.
  if (libraryIsa() == KernelIsa::None)
    return parallelGemm(K, Args);
  Value *Work = K.B.CreateMul(K.B.CreateMul(G.M, G.N), G.K);
  K.ifElse(
      K.B.CreateICmpULT(Work, K.i64(kGemmGrain)),
      [&] { inlineTiles(K, Args(K)); }, [&] { parallelGemm(K, Args); });
}

/// Columns of the destination per block of copyTransposed: one cache line
/// of f32 written per destination row, read from as many source rows.
constexpr int64_t kCopyBlock = 16;
/// Destination elements per task of copyTransposed, at least.
constexpr int64_t kCopyGrain = 1 << 16;

/// Copies the operand In[0], a [Cols, Rows] matrix, transposed to the
/// workspace Outs[1] as [Rows, Cols]: Outs[1][r * Cols + c] = In[0][c *
/// Rows + r]. Blocked by kCopyBlock destination columns: a block writes one
/// line per destination row and reads its kCopyBlock source rows in order,
/// so with a power-of-two stride neither side misses L1 on every element
/// (an element-wise loop over either order did). Tasks take whole blocks of
/// destination rows; a copy has no sums, so the split changes nothing.
static void copyTransposed(Kernel &K, Type *T, Extent RowsE, Extent ColsE) {
  Value *Rows = K.get(RowsE), *Cols = K.get(ColsE);
  Value *NTasks = K.taskCount(K.B.CreateMul(Rows, Cols), kCopyGrain,
                              K.B.CreateUDiv(K.add(Rows, K.i64(7)), K.i64(8)));
  auto Body = [&](Kernel &Task, Value *Index, Value *Count,
                  ArrayRef<Value *> Sizes) {
    IRBuilder<> &B = Task.B;
    Value *R = Sizes[0], *C = Sizes[1];
    std::pair<Value *, Value *> Range = Task.taskRange(Index, Count, R, 8);
    Value *R0 = Range.first, *R1 = Range.second;
    Value *Src = Task.In[0], *Dst = Task.Outs[1];
    Task.loop(Task.i64(0), C, Task.i64(kCopyBlock), [&](Value *C0) {
      Value *C1 = Task.min(Task.add(C0, Task.i64(kCopyBlock)), C);
      Task.loop(R0, R1, Task.i64(1), [&](Value *Row) {
        Value *DRow = B.CreateMul(Row, C);
        Task.loop(C0, C1, Task.i64(1), [&](Value *Col) {
          Task.store(Task.load(T, Src, Task.madd(Row, Col, R)), Dst,
                     Task.add(DRow, Col));
        });
      });
    });
  };
  K.parallel(NTasks, Body, {Rows, Cols});
}

/// Rows (the batch) of the products A @ B^T that run with roles swapped
/// (swapsRoles): below kSwapMinRows the swapped product's few columns fill
/// its vectors poorly; above kSwapMaxRows packing B^T is a small part of the
/// work (64 x 3136 x 1024: 67-70 -> 124-137 GFLOP/s with AVX-512, 61 -> 98
/// with AVX2; still 106 -> 130 and 85 -> 98 at 256 rows).
constexpr int64_t kSwapMinRows = 16, kSwapMaxRows = 256;
/// B's size from which A @ B^T with few rows runs with roles swapped: N at
/// least kSwapMinN, K * N at least kSwapMinB elements (as the packed path's
/// wide products, GemmTiles.cpp).
constexpr int64_t kSwapMinN = 128, kSwapMinB = int64_t(1) << 17;

/// The elements of A^T's part of the swapped product's workspace per row of
/// C: K rounded up to 16, so that C^T starts on a cache line.
static int64_t swapPadK(int64_t K) { return (K + 15) / 16 * 16; }

/// Whether the 2-D product \p O, C[M, N] = A[M, K] @ B[N, K]^T, runs with
/// roles swapped (swappedGemm) when its rows M are between kSwapMinRows and
/// kSwapMaxRows: a linear layer's forward pass with PyTorch's [out, in]
/// weight, or the input gradient dY @ W^T of x @ W, at a batch of a few
/// dozen rows and a weight of at least kSwapMinB elements. Then packing the
/// large transposed B dominates the GEMM (the few rows of A use each of its
/// panels a few times); swapped, B is the plain A of C^T = B @ A^T, read in
/// place once, and only the small A is transposed.
static bool swapsRoles(const Op &O) {
  const TensorType &AT = O.Operands[0]->type(), &BT = O.Operands[1]->type();
  const TensorType &CT = O.type();
  if (CT.rank() != 2 || AT.rank() != 2 || BT.rank() != 2 ||
      O.boolAttr("transpose_a") || !O.boolAttr("transpose_b") ||
      O.boolAttr("reduce_leading") ||
      (CT.Elt != DType::F32 && CT.Elt != DType::F64))
    return false;
  int64_t M = CT.Dims[0], K = AT.Dims[1], N = CT.Dims[1];
  if (K == kBatch || N == kBatch || N < kSwapMinN || K * N < kSwapMinB)
    return false;
  return M == kBatch || (M >= kSwapMinRows && M <= kSwapMaxRows);
}

/// C = A @ B^T as C^T = B @ A^T (swapsRoles): A^T to the workspace
/// (K.Outs[1]), then the plain product B[N, K] @ A^T[K, M] into C^T after
/// it, then C from C^T through the epilogue. Each element's sum is the same
/// chain of fused multiply-adds over k as in C's own tiles (a product's
/// operands commute), and the epilogue the same scalar body, so the result
/// is the same bit for bit; each step is split among tasks by sizes alone.
static void swappedGemm(Kernel &K, const GemmArgs &G, ArrayRef<Shape> EpiSt) {
  Extent One{1, 0};
  int64_t KPad = swapPadK(G.KE.Mul);
  copyTransposed(K, G.T, G.KE, G.ME);
  auto CT = [&](Kernel &Into) {
    return Into.B.CreateInBoundsGEP(G.T, Into.Outs[1],
                                    Into.get(Extent{KPad, 0} * G.ME));
  };
  parallelGemm(K, [&](Kernel &Into) {
    return GemmArgs{G.T,
                    G.NE,
                    G.KE,
                    G.ME,
                    Into.get(G.NE),
                    Into.get(G.KE),
                    Into.get(G.ME),
                    Into.In[1],
                    Into.Outs[1],
                    CT(Into),
                    false,
                    false};
  });
  std::vector<Shape> St = {{G.NE, One}, {One, G.ME}};
  for (const Shape &E : EpiSt)
    St.push_back(E);
  K.parallelForEach({G.ME, G.NE}, St, [&](Kernel &T, ArrayRef<Value *> Off) {
    Value *X = T.load(G.T, CT(T), Off[1]);
    Value *Y = G.Epilogue.empty()
                   ? X
                   : emitBody(T, G.Epilogue, [&](unsigned I) -> Value * {
                       return I == 0 ? X : T.load(G.T, T.In[I + 1], Off[I + 1]);
                     });
    T.store(Y, T.Out, Off[0]);
  });
}

/// The row stride of A, in bytes, a multiple of which sends a
/// reduce_leading A^T @ B (a recurrent model's weight gradient summed over
/// its steps) to transposedAGemm with AVX2: 256 x 2048 x 128 ran at 63
/// GFLOP/s on the transposed tiles, 76 on the copy (a 512-B stride, 128 x
/// 2048 x 128: 87 against 75, the copy costing more than it saves). With
/// AVX-512 the transposed tiles were faster (121 against 105).
constexpr int64_t kLeadingStride = 1024;

/// Whether the 2-D product \p O, C[M, N] = A[K, M]^T @ B[K, N] (a weight
/// gradient X^T @ dY), runs on A^T copied to the workspace (transposedAGemm):
/// with A's row stride M a multiple of 2 KiB, the tiles' reads of A's
/// columns, one row of A per k, fall into a few L1 sets (1024 x 64 x 3136
/// ran at 70 GFLOP/s transposed against 140-160 plain with AVX-512, 61
/// against 97 with AVX2; 1024^3 at 66 against 152, 34 against 106). A is
/// then M x K of the M x K x N product, N at least kSwapMinN, so the copy
/// costs little.
static bool transposesA(const Op &O) {
  const TensorType &AT = O.Operands[0]->type(), &BT = O.Operands[1]->type();
  const TensorType &CT = O.type();
  bool Leading = O.boolAttr("reduce_leading");
  if (CT.rank() != 2 || (AT.rank() != 2 && !Leading) ||
      BT.rank() != AT.rank() || !O.boolAttr("transpose_a") ||
      O.boolAttr("transpose_b") ||
      (CT.Elt != DType::F32 && CT.Elt != DType::F64))
    return false;
  if (Leading && hostVectorBits() >= 512)
    return false;
  int64_t M = CT.Dims[0], N = CT.Dims[1];
  return M != kBatch && N != kBatch && N >= kSwapMinN &&
         M * dtypeBytes(CT.Elt) % (Leading ? kLeadingStride : 2048) == 0;
}

/// C = A^T @ B (transposesA) as the plain product of A^T, copied to the
/// workspace (K.Outs[1]): the same tiles with A read by rows, so the same
/// sums bit for bit.
static void transposedAGemm(Kernel &K, function_ref<GemmArgs(Kernel &)> Args) {
  GemmArgs G = Args(K);
  copyTransposed(K, G.T, G.ME, G.KE);
  smallOrParallelGemm(K, [&](Kernel &Into) {
    GemmArgs H = Args(Into);
    H.A = Into.Outs[1];
    H.TA = false;
    return H;
  });
}

/// Whether a batched product is one 2-D product with the batch joining A's
/// rows: A not transposed and not broadcast, B one matrix (a linear layer
/// on [N, T, F]), and every epilogue input flat along the batch too (a full
/// operand, or one broadcast along all rows). Each element's sum is the
/// same, so only the blocking and the parallel split change.
static bool batchIsRows(const TensorType &AT, const TensorType &BT,
                        const TensorType &CT, bool TA,
                        const std::vector<Shape> &EpiSt) {
  unsigned RC = CT.rank();
  if (RC <= 2 || TA || BT.rank() != 2 || AT.rank() != RC)
    return false;
  for (unsigned D = 0; D + 2 < RC; ++D)
    if (AT.Dims[D] != CT.Dims[D])
      return false;
  for (const Shape &St : EpiSt) {
    Extent Want = St[RC - 2] * Extent::dim(CT.Dims[RC - 2]);
    for (unsigned D = RC - 2; D-- > 0;) {
      if (!(St[D] == Want))
        return false;
      Want = Want * Extent::dim(CT.Dims[D]);
    }
  }
  return true;
}

void emitMatMul(Kernel &K, const Op &O) {
  const TensorType &AT = O.Operands[0]->type();
  const TensorType &CT = O.type();
  unsigned RA = AT.rank(), RC = CT.rank();
  bool TA = O.boolAttr("transpose_a"), TB = O.boolAttr("transpose_b");
  Extent ME = Extent::dim(CT.Dims[RC - 2]), NE = Extent::dim(CT.Dims[RC - 1]);
  Extent KE = Extent::dim(AT.Dims[RA - (TA ? 2 : 1)]);
  // reduce_leading: a[P..., K, M] is the matrix a[P*K, M] (the leading dims
  // are the outer ones), and b[P..., K, N] likewise.
  if (O.boolAttr("reduce_leading"))
    KE = product(shapeOf(
             std::vector<int64_t>(AT.Dims.begin(), AT.Dims.end() - 2))) *
         KE;
  unsigned NumInputs = 0;
  std::vector<BodyMember> Epilogue;
  if (const std::string *Body = bodyOf(O, NumInputs)) {
    [[maybe_unused]] std::string Err = parseBody(*Body, NumInputs, Epilogue);
    assert(Err.empty() && "epilogue checked by Lower");
  }
  // The strides of the epilogue's inputs along C's dims.
  std::vector<Shape> EpiSt;
  for (size_t I = 2; I < O.Operands.size(); ++I)
    EpiSt.push_back(broadcastStrides(O.Operands[I]->type(), CT.Dims));
  // The arguments in terms of the N, In and Out of \p Into: this kernel, or
  // a parallel body inside parallelGemm.
  auto Args = [&](Kernel &Into) {
    GemmArgs G{eltType(Into.Ctx, CT.Elt),
               ME,
               KE,
               NE,
               Into.get(ME),
               Into.get(KE),
               Into.get(NE),
               Into.In[0],
               Into.In[1],
               Into.Out,
               TA,
               TB};
    G.Epilogue = Epilogue;
    for (size_t I = 0; I < EpiSt.size(); ++I)
      G.EpiIn.push_back({Into.In[I + 2], Into.get(EpiSt[I][RC - 2]),
                         EpiSt[I][RC - 1] == Extent{0, 0}});
    return G;
  };
  if (RC == 2 && swapsRoles(O)) {
    GemmArgs G = Args(K);
    if (ME.Pow == 0)
      return swappedGemm(K, G, EpiSt);
    Value *Rows = G.M;
    return K.ifElse(
        K.B.CreateAnd(K.B.CreateICmpUGE(Rows, K.i64(kSwapMinRows)),
                      K.B.CreateICmpULE(Rows, K.i64(kSwapMaxRows))),
        [&] { swappedGemm(K, G, EpiSt); },
        [&] { smallOrParallelGemm(K, Args); });
  }
  if (RC == 2 && transposesA(O))
    return transposedAGemm(K, Args);
  if (RC == 2)
    return smallOrParallelGemm(K, Args);
  if (batchIsRows(AT, O.Operands[1]->type(), CT, TA, EpiSt)) {
    ME = product(shapeOf(
             std::vector<int64_t>(CT.Dims.begin(), CT.Dims.end() - 2))) *
         ME;
    return smallOrParallelGemm(K, Args);
  }
  // Batched: one 2-D product per index of the (broadcast) batch dims, the
  // matrices split among parallel tasks (each product serial in one task,
  // so a result does not depend on the split).
  GemmArgs G = Args(K);
  const TensorType &BT = O.Operands[1]->type();
  std::vector<int64_t> Batch(CT.Dims.begin(), CT.Dims.end() - 2);
  std::vector<Shape> St = {matrixStrides(CT, Batch), matrixStrides(AT, Batch),
                           matrixStrides(BT, Batch)};
  for (const Shape &E : EpiSt)
    St.push_back(Shape(E.begin(), E.end() - 2));
  Value *Work = K.B.CreateMul(K.B.CreateMul(G.M, G.N), G.K);
  K.parallelForEach(
      shapeOf(Batch), St,
      [&](Kernel &Task, ArrayRef<Value *> Off) {
        GemmArgs One = Args(Task);
        IRBuilder<> &B = Task.B;
        One.C = B.CreateInBoundsGEP(One.T, Task.Out, Off[0]);
        One.A = B.CreateInBoundsGEP(One.T, Task.In[0], Off[1]);
        One.B = B.CreateInBoundsGEP(One.T, Task.In[1], Off[2]);
        for (size_t I = 0; I < One.EpiIn.size(); ++I)
          One.EpiIn[I].Base =
              B.CreateInBoundsGEP(One.T, Task.In[I + 2], Off[I + 3]);
        gemm(Task, One);
      },
      Work);
}

} // namespace adj::cg

namespace adj {

ByteSize matMulWorkspace(const Op &O) {
  if (O.Kind != OpKind::MatMul)
    return {};
  if (cg::transposesA(O)) { // A^T [M, K], K all of A's dims but the last.
    const std::vector<int64_t> &AD = O.Operands[0]->type().Dims;
    cg::Extent E = cg::Extent::dim(O.type().Dims[0]) *
                   cg::product(cg::shapeOf(
                       std::vector<int64_t>(AD.begin(), AD.end() - 1)));
    return {E.Mul * dtypeBytes(O.type().Elt), E.Pow};
  }
  if (!cg::swapsRoles(O))
    return {};
  // A^T [K, M] (K padded) and C^T [N, M].
  cg::Extent ME = cg::Extent::dim(O.type().Dims[0]);
  int64_t Elts = cg::swapPadK(O.Operands[0]->type().Dims[1]) + O.type().Dims[1];
  return {Elts * ME.Mul * dtypeBytes(O.type().Elt), ME.Pow};
}

} // namespace adj
