//===- Kernel.h - Building one op's kernel function -------------*- C++ -*-===//
///
/// Internal to codegen. Every unit of the step plan (StepPlan.h: an op, or
/// a loop group of elementwise ops) is lowered into its own LLVM function
///
///   internal [void|i32] @<step>.<index>.<mnemonic>(ptr noalias %out,
///                                  ptr noalias %in0, ..., i64 %n)
///
/// (a loop group: `@<step>.<i>-<j>-...group(ptr %out0, ..., ptr %in0, ...)`,
/// one output per stored member) and Kernel holds the pieces its emitter
/// needs: an IRBuilder with the fast-math flags `reassoc contract`, the
/// arguments, counted loops with i64 induction variables, accumulator
/// variables (allocas that mem2reg promotes), strided loop nests with
/// dimension coalescing, parallel loops, and math (exp, log, tanh, sigmoid,
/// intrinsics and libm; implemented in VectorMath.cpp). Shapes are lists of
/// Extents: a static size times a power of the run-time batch size n.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_KERNEL_H
#define ADJ_CODEGEN_KERNEL_H

#include "codegen/StepPlan.h"
#include "codegen/VectorMath.h"
#include "ir/Body.h"
#include "ir/IR.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"

#include <array>
#include <map>
#include <string>
#include <vector>

namespace adj::cg {

/// A dimension size or stride `Mul * n^Pow`.
struct Extent {
  int64_t Mul = 1;
  unsigned Pow = 0;

  static Extent dim(int64_t D) {
    return D == kBatch ? Extent{1, 1} : Extent{D, 0};
  }
  Extent operator*(Extent O) const {
    return Mul * O.Mul == 0 ? Extent{0, 0} : Extent{Mul * O.Mul, Pow + O.Pow};
  }
  bool operator==(Extent O) const { return Mul == O.Mul && Pow == O.Pow; }
  bool isOne() const { return Mul == 1 && Pow == 0; }
};
using Shape = std::vector<Extent>;

Shape shapeOf(const TensorType &T);
Shape shapeOf(const std::vector<int64_t> &Dims);
Extent product(const Shape &S);
/// Row-major strides of a contiguous tensor of shape \p S.
Shape contiguousStrides(const Shape &S);
/// Strides for reading \p In as if broadcast to \p OutDims (NumPy rules,
/// right-aligned; 0 on broadcast dims).
Shape broadcastStrides(const TensorType &In,
                       const std::vector<int64_t> &OutDims);

/// The host's widest vector register in bits: 512 with AVX-512F, else 256.
unsigned hostVectorBits();

/// The LLVM type of a dtype's elements.
llvm::Type *eltType(llvm::LLVMContext &Ctx, DType T);
/// Emits `E` as an i64 value (n is the batch size).
llvm::Value *emitExtent(llvm::IRBuilder<> &B, llvm::Value *N, Extent E);

/// At most this many tasks per parallel loop, and elementwise nests below
/// kParallelGrain elements stay serial.
constexpr int64_t kMaxTasks = 16;
constexpr int64_t kParallelGrain = 32768;

class Kernel {
public:
  /// Creates `Name` in \p M with \p NumOutputs output pointers, then
  /// \p NumOperands input pointers; \p MayFail kernels return i32 (0 ok, 1
  /// invalid data), others void. Every pointer is noalias except the
  /// (output, input) pairs of \p InPlace, which may be one buffer; the
  /// kernel's loops are then marked parallel (llvm.loop.parallel_accesses
  /// over every load and store), so they vectorise without run-time alias
  /// checks. That is right for loops that read such an input only at the
  /// index they write, loading an element's inputs before storing it.
  Kernel(llvm::Module &M, const std::string &Name, unsigned NumOperands,
         bool MayFail, unsigned NumOutputs = 1,
         llvm::ArrayRef<std::pair<unsigned, unsigned>> InPlace = {});

  llvm::Module &M;
  llvm::LLVMContext &Ctx;
  llvm::Function *Fn;
  llvm::IRBuilder<> B;
  llvm::Value *N;                  ///< The batch size.
  std::vector<llvm::Value *> Outs; ///< The result buffers.
  llvm::Value *Out;                ///< Outs[0].
  std::vector<llvm::Value *> In;

  llvm::Type *i64Ty() { return B.getInt64Ty(); }
  llvm::Value *i64(int64_t V) { return B.getInt64(V); }
  llvm::Value *get(Extent E) { return emitExtent(B, N, E); }
  llvm::Value *fp(llvm::Type *T, double V);

  /// Base[Idx] with the element type \p T.
  llvm::Value *load(llvm::Type *T, llvm::Value *Base, llvm::Value *Idx);
  void store(llvm::Value *V, llvm::Value *Base, llvm::Value *Idx);
  /// A mutable local (an entry-block alloca) initialised to \p Init here.
  llvm::Value *var(llvm::Value *Init);
  llvm::Value *read(llvm::Type *T, llvm::Value *Var) {
    return B.CreateLoad(T, Var);
  }
  void write(llvm::Value *Var, llvm::Value *V) { B.CreateStore(V, Var); }

  using BodyFn = llvm::function_ref<void(llvm::Value *)>;
  /// for (i = Begin; i < End; i += Step) Body(i).
  void loop(llvm::Value *Begin, llvm::Value *End, llvm::Value *Step,
            BodyFn Body);
  void loop(llvm::Value *End, BodyFn Body) { loop(i64(0), End, i64(1), Body); }
  /// if (Cond) Then(); else Else(); then continues after both. A constant
  /// \p Cond emits one of them.
  void ifElse(llvm::Value *Cond, llvm::function_ref<void()> Then,
              llvm::function_ref<void()> Else);
  /// Acc = F(Acc, i) for i in [0, End), starting from \p Init; returns Acc.
  llvm::Value *
  fold(llvm::Value *End, llvm::Value *Init,
       llvm::function_ref<llvm::Value *(llvm::Value *, llvm::Value *)> F);
  /// A + C (nuw nsw), folding a constant 0.
  llvm::Value *add(llvm::Value *A, llvm::Value *C);
  /// Base + I * Stride, folding the trivial cases.
  llvm::Value *madd(llvm::Value *Base, llvm::Value *I, llvm::Value *Stride);

  /// A loop nest over \p S (outermost first) with one stride list per
  /// operand; calls \p Body with each operand's element offset. Static 1
  /// dims are dropped and adjacent dims merged where every operand allows,
  /// so same-shape operands get one flat loop; the innermost loop is the
  /// last dim, contiguous for contiguous operands.
  void forEach(Shape S, std::vector<Shape> Strides,
               llvm::function_ref<void(llvm::ArrayRef<llvm::Value *>)> Body);
  /// A loop nest body emitted into the kernel \p Body (this one, or the
  /// body of a parallel loop), given each operand's element offset.
  using NestFn =
      llvm::function_ref<void(Kernel &Body, llvm::ArrayRef<llvm::Value *>)>;
  /// forEach, except that a nest of at least kParallelGrain elements is
  /// split along its outermost dim in which operand 0 (the output) has a
  /// non-zero stride, so tasks write disjoint outputs and each output sees
  /// the same loop order as without the split (see parallel()). \p Body
  /// must emit into the kernel it is given. With \p EltWork (i64, computed
  /// in this kernel), each element is that much work, the split is in whole
  /// elements and a task gets at least kParallelGrain units of work (the
  /// matrices of a batched matmul).
  void parallelForEach(Shape S, std::vector<Shape> Strides, NestFn Body,
                       llvm::Value *EltWork = nullptr);

  /// A task's body emitted into the kernel \p Body, for task \p Task of
  /// \p NTasks, with the sizes handed to parallel() as \p Body's values.
  using TaskFn = llvm::function_ref<void(Kernel &Body, llvm::Value *Task,
                                         llvm::Value *NTasks,
                                         llvm::ArrayRef<llvm::Value *> Sizes)>;
  /// Runs Body(task, NTasks) for task in [0, NTasks) through the runtime's
  /// adj_rt_parallel_for. Body is emitted into a child kernel of its own,
  /// the outlined function `<kernel>.body(out, in..., n, task, ntasks,
  /// sizes...)` (noalias pointers, called by `<kernel>.task(ctx, task)`
  /// with this kernel's arguments from a struct): Body may use that
  /// kernel's Out, In, N and builder, and constants, not values computed
  /// in this kernel before the call. A constant NTasks of 1 emits Body
  /// inline, given this kernel. NTasks must depend on the problem size
  /// only, so that results do not depend on the thread count. \p Sizes
  /// (i64) travel in the struct too: a body that reads its sizes from
  /// there rather than from constants is the same code for every shape,
  /// and identical bodies are merged before LLVM compiles them.
  void parallel(llvm::Value *NTasks, TaskFn Body,
                llvm::ArrayRef<llvm::Value *> Sizes = {});
  /// The task count for \p Work units of work in \p Grain-sized pieces,
  /// between 1 and min(kMaxTasks, MaxTasks); folds to a constant for
  /// constant operands.
  llvm::Value *taskCount(llvm::Value *Work, int64_t Grain,
                         llvm::Value *MaxTasks);
  /// [Begin, End) of task \p Task of \p NTasks over Units units of Unit:
  /// [t U / T * Unit, min((t + 1) U / T * Unit, Size)).
  std::pair<llvm::Value *, llvm::Value *> taskRange(llvm::Value *Task,
                                                    llvm::Value *NTasks,
                                                    llvm::Value *Size,
                                                    int64_t Unit);
  /// min(A, B) and max(A, B) of i64 values as selects (constant-folded).
  llvm::Value *min(llvm::Value *A, llvm::Value *C);
  llvm::Value *max(llvm::Value *A, llvm::Value *C);

  /// Returns 1 from the kernel when \p Cond holds (MayFail kernels only).
  void failIf(llvm::Value *Cond);
  /// Terminates the kernel (returns void or i32 0).
  void finish();

  /// Math on a scalar or vector (VectorMath.h): an overloaded intrinsic
  /// (sqrt, fabs, fmuladd, ...); e^x, log x, tanh x and 1 / (1 + e^-x) as
  /// branch-free polynomials that vectorise (no libm); and libm's \p Name
  /// (`erf`) or its float variant (`erff`), once per lane on a vector.
  llvm::Value *intrinsic(llvm::Intrinsic::ID ID,
                         llvm::ArrayRef<llvm::Value *> Args) {
    return vmath::intrinsic(B, ID, Args);
  }
  llvm::Value *exp(llvm::Value *X) { return vmath::exp(B, X); }
  llvm::Value *log(llvm::Value *X) { return vmath::log(B, X); }
  llvm::Value *tanh(llvm::Value *X) { return vmath::tanh(B, X); }
  llvm::Value *sigmoid(llvm::Value *X) { return vmath::sigmoid(B, X); }
  llvm::Value *libm(const char *Name, llvm::Value *X) {
    return vmath::libm(B, Name, X);
  }

private:
  /// The body of a parallel loop of \p Parent (see parallel()): a function
  /// `<parent>.body` with the parent's pointers, n, the task, the task
  /// count and \p NumSizes sizes.
  Kernel(const Kernel &Parent, unsigned NumSizes);
  /// Points Outs, Out, In and N at Fn's first parameters and starts the
  /// entry block.
  void bindParams(unsigned NumOutputs, unsigned NumOperands);
  /// `<kernel>.task(ptr ctx, i64 task)`, what the runtime calls: loads
  /// \p Body's arguments from the \p CtxTy at ctx and calls it.
  llvm::Function *emitTaskFunction(llvm::Function *Body,
                                   llvm::StructType *CtxTy);

  bool MayFail;
  llvm::BasicBlock *FailBB = nullptr;
  /// Per pointer parameter: not noalias (one of an in-place pair).
  std::vector<bool> MayAlias;
  /// The access group of every load and store, with in-place pairs.
  llvm::MDNode *AccessGroup = nullptr;
};

// Op emitters (Kernels.def): each fills a Kernel whose operands are the
// op's, in order. conv2d and its adjoints run im2col + GEMM (Conv.cpp);
// kernels with a workspace (StepUnit::Workspace) find it in Outs.back().
#define KERNEL(Kind, Emitter) void Emitter(Kernel &K, const Op &O);
#include "codegen/Kernels.def"
/// Philox-4x32-10 (ir/Philox.h) of the counter words \p C under the key
/// (\p K0, \p K1): all i32, or all vectors of i32 (lanes side by side).
std::array<llvm::Value *, 4> emitPhilox(llvm::IRBuilder<> &B,
                                        std::array<llvm::Value *, 4> C,
                                        llvm::Value *K0, llvm::Value *K1);
/// A scan unit (adjacent sibling scans, ir/Scan.h) of \p F: the loop over
/// the steps calling \p Body's step function (Scan.cpp). Its kernel may
/// fail; its outputs are the siblings' results, its inputs their operands.
void emitScan(Kernel &K, const Function &F, const StepUnit &U,
              const Function &Body);
/// Whether Kernels.def names an emitter for \p K.
bool hasKernel(OpKind K);
/// A loop unit (StepPlan.h): one loop nest over the ops' shape computing
/// every member per element and storing the stored ones, in order, to
/// Outs; the kernel's inputs are U.Inputs.
void emitLoopGroup(Kernel &K, const Function &F, const StepUnit &U);
/// A loop unit with a fused product (StepUnit::Product, ProductLoop.cpp).
void emitProductLoop(Kernel &K, const Function &F, const StepUnit &U);
/// The members computing loop op \p O: its fused body, or the op itself.
void membersOf(const Op &O, std::vector<BodyMember> &Ms);
/// The members of loop group \p U on one element, or one vector of
/// elements: inputs loaded on first use by \p Load (given the input's
/// index), each non-reducing member's value into \p Computed (which may
/// hold values already) and each reducing member's reduced value into
/// \p Reduced (indexed by member) (Elementwise.cpp).
void evalMembers(Kernel &K, const Function &F, const StepUnit &U,
                 llvm::ArrayRef<std::vector<BodyMember>> Bodies,
                 llvm::function_ref<llvm::Value *(size_t)> Load,
                 std::map<const adj::Value *, llvm::Value *> &Computed,
                 std::vector<llvm::Value *> &Reduced);
/// cross_entropy_grad of \p O into \p Out (if not null) and, with \p Sums,
/// the sums of its rows, [C] (RowOps.cpp; a row group of emitLoopGroup).
void emitCrossEntropyGradSums(Kernel &K, const Op &O, llvm::Value *Out,
                              llvm::Value *Sums);
/// The value of the last of \p Members (a parsed body, ir/Body.h) for one
/// element, or one vector of elements: \p Input(I) emits input I, once, on
/// its first use.
llvm::Value *emitBody(Kernel &K, llvm::ArrayRef<BodyMember> Members,
                      llvm::function_ref<llvm::Value *(unsigned)> Input);

} // namespace adj::cg

#endif
