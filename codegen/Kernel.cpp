//===- Kernel.cpp - Loops, loop nests and calls inside a kernel -----------===//
///
/// The building blocks of every kernel. Loops are emitted rotated (a guard,
/// then a bottom-tested body with an i64 phi), the shape LLVM's loop passes
/// and vectoriser expect. A strided loop nest first simplifies its shape:
/// dims of static size 1 are dropped, and dim d is merged into d-1 when for
/// every operand stride[d-1] == stride[d] * size[d] (both broadcast, or both
/// contiguous), which turns same-shape elementwise ops and most broadcasts
/// into one or two flat loops. Offsets are accumulated per level, so only an
/// add per operand remains in the innermost loop.
///
/// A parallel loop is outlined: the kernel stores its arguments in a struct
/// and calls adj_rt_parallel_for(ntasks, @<kernel>.task, &ctx); the task
/// function loads them and calls `@<kernel>.body`, which has the kernel's
/// noalias parameters plus the task index (and is inlined into the task).
/// The body is a child Kernel of its own, with the parent's pointers and
/// access group, and the caller's callback emits into it.
///
/// Kernels whose outputs may share a buffer with an input (in-place
/// updates) drop noalias on both and tag every load and store with one
/// access group that their loops list in llvm.loop.parallel_accesses: the
/// vectoriser then needs no run-time overlap check (which would fail, and
/// fall back to scalar code, exactly when the buffers are one).
///
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"

#include "llvm/IR/Module.h"

#include <algorithm>

namespace adj::cg {

using namespace llvm;
using llvm::Function;
using llvm::Module;
using llvm::Value;

Shape shapeOf(const std::vector<int64_t> &Dims) {
  Shape S;
  for (int64_t D : Dims)
    S.push_back(Extent::dim(D));
  return S;
}

Shape shapeOf(const TensorType &T) { return shapeOf(T.Dims); }

Extent product(const Shape &S) {
  Extent P;
  for (Extent E : S)
    P = P * E;
  return P;
}

Shape contiguousStrides(const Shape &S) {
  Shape St(S.size());
  Extent Acc;
  for (size_t I = S.size(); I-- > 0;) {
    St[I] = Acc;
    Acc = Acc * S[I];
  }
  return St;
}

Shape broadcastStrides(const TensorType &In,
                       const std::vector<int64_t> &OutDims) {
  Shape Own = contiguousStrides(shapeOf(In));
  Shape St(OutDims.size(), Extent{0, 0});
  size_t Off = OutDims.size() - In.rank();
  for (size_t I = 0; I < In.rank(); ++I)
    if (!(In.Dims[I] == 1 && OutDims[Off + I] != 1))
      St[Off + I] = Own[I];
  return St;
}

Type *eltType(LLVMContext &Ctx, DType T) {
  switch (T) {
  case DType::F32:
    return Type::getFloatTy(Ctx);
  case DType::F64:
    return Type::getDoubleTy(Ctx);
  case DType::I32:
    return Type::getInt32Ty(Ctx);
  }
  return nullptr;
}

Value *emitExtent(IRBuilder<> &B, Value *N, Extent E) {
  Value *V = B.getInt64(E.Mul);
  for (unsigned I = 0; I < E.Pow; ++I)
    V = E.Mul == 1 && I == 0 ? N : B.CreateMul(N, V, "", true, true);
  return V;
}

/// A kernel's attributes: it returns, synchronises with nothing, and its
/// pointer parameters (the \p NumOuts outputs, then the read-only operands)
/// are noalias unless marked in \p MayAlias.
static void setKernelAttrs(Function *F, unsigned NumOuts,
                           const std::vector<bool> &MayAlias) {
  F->addFnAttr(Attribute::NoUnwind);
  F->addFnAttr(Attribute::WillReturn);
  F->addFnAttr(Attribute::NoSync);
  for (unsigned I = 0; I < MayAlias.size(); ++I) {
    if (!MayAlias[I])
      F->addParamAttr(I, Attribute::NoAlias);
    F->addParamAttr(I, Attribute::NoCapture);
    F->addParamAttr(I, Attribute::NoUndef);
    if (I >= NumOuts)
      F->addParamAttr(I, Attribute::ReadOnly);
  }
}

/// Names the pointer parameters \p Ptrs of a kernel: out (or out0, out1,
/// ...), in0, in1, ...
static void namePointers(ArrayRef<Value *> Ptrs, unsigned NumOuts) {
  for (unsigned I = 0; I < Ptrs.size(); ++I)
    Ptrs[I]->setName(I >= NumOuts  ? "in" + std::to_string(I - NumOuts)
                     : NumOuts > 1 ? "out" + std::to_string(I)
                                   : std::string("out"));
}

Kernel::Kernel(Module &M, const std::string &Name, unsigned NumOperands,
               bool MayFail, unsigned NumOutputs,
               ArrayRef<std::pair<unsigned, unsigned>> InPlace)
    : M(M), Ctx(M.getContext()), B(Ctx), MayFail(MayFail),
      MayAlias(NumOutputs + NumOperands, false) {
  for (auto [O, I] : InPlace)
    MayAlias[O] = MayAlias[NumOutputs + I] = true;
  if (!InPlace.empty())
    AccessGroup = MDNode::getDistinct(Ctx, {});
  SmallVector<Type *, 4> Params(NumOutputs + NumOperands, B.getPtrTy());
  Params.push_back(B.getInt64Ty());
  Type *Ret = MayFail ? B.getInt32Ty() : B.getVoidTy();
  Fn = Function::Create(FunctionType::get(Ret, Params, false),
                        GlobalValue::InternalLinkage, Name, M);
  setKernelAttrs(Fn, NumOutputs, MayAlias);
  bindParams(NumOutputs, NumOperands);
}

Kernel::Kernel(const Kernel &Parent, unsigned NumSizes)
    : M(Parent.M), Ctx(Parent.Ctx), B(Ctx), MayFail(false),
      MayAlias(Parent.MayAlias), AccessGroup(Parent.AccessGroup) {
  unsigned NumOuts = Parent.Outs.size(), NumPtrs = MayAlias.size();
  SmallVector<Type *, 8> Params(NumPtrs, B.getPtrTy());
  Params.append({B.getInt64Ty(), B.getInt64Ty(), B.getInt64Ty()});
  Params.append(NumSizes, B.getInt64Ty()); // n, task, ntasks, sizes...
  Fn = Function::Create(FunctionType::get(B.getVoidTy(), Params, false),
                        GlobalValue::InternalLinkage,
                        Parent.Fn->getName() + ".body", M);
  setKernelAttrs(Fn, NumOuts, MayAlias);
  Fn->addFnAttr(Attribute::AlwaysInline);
  // Nothing compares its address: identical bodies merge into one
  // function rather than a thunk.
  Fn->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  bindParams(NumOuts, NumPtrs - NumOuts);
  Fn->getArg(NumPtrs + 1)->setName("task");
  Fn->getArg(NumPtrs + 2)->setName("ntasks");
}

void Kernel::bindParams(unsigned NumOutputs, unsigned NumOperands) {
  SmallVector<Value *, 8> Ptrs;
  for (unsigned I = 0; I < NumOutputs + NumOperands; ++I) {
    Ptrs.push_back(Fn->getArg(I));
    (I < NumOutputs ? Outs : In).push_back(Ptrs.back());
  }
  namePointers(Ptrs, NumOutputs);
  Out = Outs[0];
  N = Fn->getArg(NumOutputs + NumOperands);
  N->setName("n");
  B.SetInsertPoint(BasicBlock::Create(Ctx, "entry", Fn));
  FastMathFlags FMF;
  FMF.setAllowReassoc();
  FMF.setAllowContract();
  B.setFastMathFlags(FMF);
}

Value *Kernel::fp(Type *T, double V) { return ConstantFP::get(T, V); }

Value *Kernel::load(Type *T, Value *Base, Value *Idx) {
  LoadInst *L = B.CreateLoad(T, B.CreateInBoundsGEP(T, Base, Idx));
  if (AccessGroup)
    L->setMetadata(LLVMContext::MD_access_group, AccessGroup);
  return L;
}

void Kernel::store(Value *V, Value *Base, Value *Idx) {
  StoreInst *S = B.CreateStore(V, B.CreateInBoundsGEP(V->getType(), Base, Idx));
  if (AccessGroup)
    S->setMetadata(LLVMContext::MD_access_group, AccessGroup);
}

Value *Kernel::var(Value *Init) {
  BasicBlock &Entry = Fn->getEntryBlock();
  IRBuilder<> EB(&Entry, Entry.begin());
  Value *A = EB.CreateAlloca(Init->getType());
  B.CreateStore(Init, A);
  return A;
}

/// Loops of at most this many trips are left to LLVM's unroller.
constexpr int64_t kUnrollTrips = 4;

void Kernel::loop(Value *Begin, Value *End, Value *Step, BodyFn Body) {
  auto *CB = dyn_cast<ConstantInt>(Begin), *CE = dyn_cast<ConstantInt>(End);
  if (CB && CE && CE->getSExtValue() - CB->getSExtValue() == 1)
    return Body(Begin); // One trip: no loop.
  BasicBlock *Pre = B.GetInsertBlock();
  BasicBlock *Head = BasicBlock::Create(Ctx, "loop", Fn);
  BasicBlock *Exit = BasicBlock::Create(Ctx, "loop.end");
  Value *Enter = B.CreateICmpSLT(Begin, End);
  if (auto *C = dyn_cast<ConstantInt>(Enter); C && C->isOne())
    B.CreateBr(Head);
  else
    B.CreateCondBr(Enter, Head, Exit);
  B.SetInsertPoint(Head);
  PHINode *I = B.CreatePHI(i64Ty(), 2, "i");
  I->addIncoming(Begin, Pre);
  Body(I);
  Value *Next = B.CreateAdd(I, Step, "i.next", true, true);
  I->addIncoming(Next, B.GetInsertBlock());
  BranchInst *Latch = B.CreateCondBr(B.CreateICmpSLT(Next, End), Head, Exit);
  SmallVector<Metadata *, 3> Props = {nullptr};
  // Kernels unroll their register tiles themselves; LLVM's unroller only
  // multiplies the code it must then compile (~15% of the MNIST compile)
  // for no measured speed, except on loops of a few trips.
  auto *CS = dyn_cast<ConstantInt>(Step);
  bool FewTrips =
      CB && CE && CS && CS->getSExtValue() > 0 &&
      (CE->getSExtValue() - CB->getSExtValue()) / CS->getSExtValue() <=
          kUnrollTrips;
  if (!FewTrips)
    Props.push_back(
        MDNode::get(Ctx, MDString::get(Ctx, "llvm.loop.unroll.disable")));
  if (AccessGroup) { // No iteration depends on another (see the constructor).
    Metadata *Parallel[] = {MDString::get(Ctx, "llvm.loop.parallel_accesses"),
                            AccessGroup};
    Props.push_back(MDNode::get(Ctx, Parallel));
  }
  if (Props.size() > 1) {
    MDNode *Loop = MDNode::getDistinct(Ctx, Props);
    Loop->replaceOperandWith(0, Loop);
    Latch->setMetadata(LLVMContext::MD_loop, Loop);
  }
  Exit->insertInto(Fn);
  B.SetInsertPoint(Exit);
}

void Kernel::ifElse(Value *Cond, function_ref<void()> Then,
                    function_ref<void()> Else) {
  if (auto *C = dyn_cast<ConstantInt>(Cond))
    return C->isOne() ? Then() : Else();
  BasicBlock *ThenBB = BasicBlock::Create(Ctx, "then", Fn);
  BasicBlock *ElseBB = BasicBlock::Create(Ctx, "else", Fn);
  BasicBlock *Join = BasicBlock::Create(Ctx, "endif", Fn);
  B.CreateCondBr(Cond, ThenBB, ElseBB);
  B.SetInsertPoint(ThenBB);
  Then();
  B.CreateBr(Join);
  B.SetInsertPoint(ElseBB);
  Else();
  B.CreateBr(Join);
  B.SetInsertPoint(Join);
}

Value *Kernel::fold(Value *End, Value *Init,
                    function_ref<Value *(Value *, Value *)> F) {
  Value *Acc = var(Init);
  loop(End, [&](Value *I) { write(Acc, F(read(Init->getType(), Acc), I)); });
  return read(Init->getType(), Acc);
}

Value *Kernel::add(Value *A, Value *C) {
  if (auto *K = dyn_cast<ConstantInt>(C); K && K->isZero())
    return A;
  if (auto *K = dyn_cast<ConstantInt>(A); K && K->isZero())
    return C;
  return B.CreateAdd(A, C, "", true, true);
}

Value *Kernel::madd(Value *Base, Value *I, Value *Stride) {
  auto *C = dyn_cast<ConstantInt>(Stride);
  if (C && C->isZero())
    return Base;
  return add(Base,
             C && C->isOne() ? I : B.CreateMul(I, Stride, "", true, true));
}

namespace {
/// A strided loop nest, simplified: static 1 dims dropped and mergeable
/// neighbours merged (see the file comment).
class LoopNest {
public:
  LoopNest(const Shape &S, const std::vector<Shape> &Strides, bool Parallel);

  Shape Dims;
  std::vector<Shape> St; ///< Per operand, its strides along Dims.
  /// The dim a parallel nest is split along: the outermost one that
  /// indexes the output (Dims.size(): none, the nest stays serial).
  size_t Split;

  /// Emits the nest into \p K, calling \p Body with each operand's offset;
  /// with \p Lo, dim Split runs over [Lo, Hi) only (one task's range).
  void emit(Kernel &K, Kernel::NestFn Body, Value *Lo = nullptr,
            Value *Hi = nullptr);

private:
  /// Per operand, the first one with the same strides (they share an
  /// offset).
  std::vector<size_t> Same;
  // The state of emit(): the kernel, the body, the split range, and the
  // operands' offsets at the current level.
  Kernel *K = nullptr;
  Kernel::NestFn Body;
  Value *Lo = nullptr, *Hi = nullptr;
  std::vector<Value *> Offs;

  /// The loops of dims D, D + 1, ... with the body innermost.
  void level(size_t D);
};
} // namespace

LoopNest::LoopNest(const Shape &S, const std::vector<Shape> &Strides,
                   bool Parallel)
    : St(Strides.size()) {
  // Drop static 1 dims, then merge mergeable neighbours.
  for (size_t D = 0; D < S.size(); ++D) {
    if (S[D].isOne())
      continue;
    bool Merge = !Dims.empty();
    for (size_t K = 0; K < Strides.size() && Merge; ++K)
      Merge = St[K].back() == Strides[K][D] * S[D];
    if (Merge) {
      Dims.back() = Dims.back() * S[D];
      for (size_t K = 0; K < Strides.size(); ++K)
        St[K].back() = Strides[K][D];
      continue;
    }
    Dims.push_back(S[D]);
    for (size_t K = 0; K < Strides.size(); ++K)
      St[K].push_back(Strides[K][D]);
  }
  Same.resize(St.size());
  for (size_t K = 0; K < St.size(); ++K)
    Same[K] = std::find(St.begin(), St.end(), St[K]) - St.begin();
  Split = Dims.size();
  for (size_t D = 0; Parallel && D < Dims.size() && Split == Dims.size(); ++D)
    if (!(St[0][D] == Extent{0, 0}))
      Split = D;
}

void LoopNest::emit(Kernel &Into, Kernel::NestFn Fn, Value *From, Value *To) {
  K = &Into;
  Body = Fn;
  Lo = From;
  Hi = To;
  Offs.assign(St.size(), K->i64(0));
  level(0);
}

void LoopNest::level(size_t D) {
  if (D == Dims.size())
    return Body(*K, Offs);
  std::vector<Value *> StV;
  for (size_t Op = 0; Op < St.size(); ++Op)
    StV.push_back(K->get(St[Op][D]));
  std::vector<Value *> Outer = Offs;
  auto Inner = [&](Value *I) {
    for (size_t Op = 0; Op < St.size(); ++Op)
      Offs[Op] =
          Same[Op] < Op ? Offs[Same[Op]] : K->madd(Outer[Op], I, StV[Op]);
    level(D + 1);
  };
  if (D == Split && Lo)
    K->loop(Lo, Hi, K->i64(1), Inner);
  else
    K->loop(K->get(Dims[D]), Inner);
  Offs = Outer;
}

void Kernel::forEach(Shape S, std::vector<Shape> Strides,
                     function_ref<void(ArrayRef<Value *>)> Body) {
  LoopNest(S, Strides, /*Parallel=*/false)
      .emit(*this, [&](Kernel &, ArrayRef<Value *> Offs) { Body(Offs); });
}

void Kernel::parallelForEach(Shape S, std::vector<Shape> Strides, NestFn Body,
                             Value *EltWork) {
  LoopNest Nest(S, Strides, /*Parallel=*/true);
  if (Nest.Split == Nest.Dims.size())
    return Nest.emit(*this, Body);
  // Split the innermost dim in multiples of 64 elements, for whole vectors
  // (of single elements when each is a piece of work of its own).
  Extent SplitDim = Nest.Dims[Nest.Split];
  int64_t Unit = Nest.Split + 1 == Nest.Dims.size() && !EltWork ? 64 : 1;
  Value *Size = get(SplitDim);
  Value *Units = B.CreateUDiv(add(Size, i64(Unit - 1)), i64(Unit));
  Value *Work = get(product(Nest.Dims));
  if (EltWork)
    Work = B.CreateMul(Work, EltWork);
  parallel(taskCount(Work, kParallelGrain, Units),
           [&](Kernel &Task, Value *Index, Value *NTasks, ArrayRef<Value *>) {
             auto [Lo, Hi] =
                 Task.taskRange(Index, NTasks, Task.get(SplitDim), Unit);
             Nest.emit(Task, Body, Lo, Hi);
           });
}

Value *Kernel::min(Value *A, Value *C) {
  return B.CreateSelect(B.CreateICmpSLT(C, A), C, A);
}

Value *Kernel::max(Value *A, Value *C) {
  return B.CreateSelect(B.CreateICmpSGT(C, A), C, A);
}

Value *Kernel::taskCount(Value *Work, int64_t Grain, Value *MaxTasks) {
  Value *T = max(B.CreateUDiv(Work, i64(Grain)), i64(1));
  return max(min(T, min(MaxTasks, i64(kMaxTasks))), i64(1));
}

std::pair<Value *, Value *> Kernel::taskRange(Value *Task, Value *NTasks,
                                              Value *Size, int64_t Unit) {
  Value *Units = B.CreateUDiv(add(Size, i64(Unit - 1)), i64(Unit));
  auto Bound = [&](Value *T) {
    Value *U = B.CreateUDiv(B.CreateMul(T, Units), NTasks);
    return min(B.CreateMul(U, i64(Unit)), Size);
  };
  return {Bound(Task), Bound(add(Task, i64(1)))};
}

Function *Kernel::emitTaskFunction(Function *Body, StructType *CtxTy) {
  auto *TaskF = Function::Create(
      FunctionType::get(B.getVoidTy(), {B.getPtrTy(), i64Ty()}, false),
      GlobalValue::InternalLinkage, Fn->getName() + ".task", M);
  TaskF->addFnAttr(Attribute::NoUnwind);
  // Nothing compares its address: identical ones merge into one function
  // rather than a thunk.
  TaskF->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  IRBuilder<> TB(BasicBlock::Create(Ctx, "entry", TaskF));
  Value *CtxArg = TaskF->getArg(0);
  auto Field = [&](unsigned I) {
    return TB.CreateLoad(CtxTy->getElementType(I),
                         TB.CreateStructGEP(CtxTy, CtxArg, I));
  };
  // The context holds the body's arguments but the task: pointers, n,
  // ntasks, sizes.
  unsigned NumPtrs = Outs.size() + In.size();
  SmallVector<Value *, 8> Args;
  for (unsigned I = 0; I < NumPtrs; ++I)
    Args.push_back(Field(I));
  Args.append({Field(NumPtrs), TaskF->getArg(1), Field(NumPtrs + 1)});
  for (unsigned I = NumPtrs + 2; I < CtxTy->getNumElements(); ++I)
    Args.push_back(Field(I));
  TB.CreateCall(Body, Args);
  TB.CreateRetVoid();
  return TaskF;
}

void Kernel::parallel(Value *NTasks, TaskFn Body, ArrayRef<Value *> Sizes) {
  // A kernel that can fail may run a parallel loop after its checks (as
  // embedding does after checking every id): the tasks themselves cannot
  // fail, as each task kernel is made with MayFail false and failIf asserts
  // it. (An assertion here fired on every embedding in builds with
  // assertions, found by the ASan suite.)
  if (auto *C = dyn_cast<ConstantInt>(NTasks); C && C->isOne())
    return Body(*this, i64(0), NTasks, Sizes);
  Kernel Task(*this, Sizes.size());
  unsigned NumPtrs = Outs.size() + In.size();
  SmallVector<Type *, 8> Fields(NumPtrs, B.getPtrTy());
  Fields.append({i64Ty(), i64Ty()}); // n, ntasks
  Fields.append(Sizes.size(), i64Ty());
  auto *CtxTy = StructType::get(Ctx, Fields);
  Function *TaskF = emitTaskFunction(Task.Fn, CtxTy);

  // Here: fill the context and hand the tasks to the runtime.
  BasicBlock &Entry = Fn->getEntryBlock();
  Value *CtxPtr =
      IRBuilder<>(&Entry, Entry.begin()).CreateAlloca(CtxTy, nullptr, "ctx");
  SmallVector<Value *, 8> Vals(Outs.begin(), Outs.end());
  Vals.append(In.begin(), In.end());
  Vals.append({N, NTasks});
  Vals.append(Sizes.begin(), Sizes.end());
  for (unsigned I = 0; I < Vals.size(); ++I)
    B.CreateStore(Vals[I], B.CreateStructGEP(CtxTy, CtxPtr, I));
  FunctionCallee ParallelFor =
      M.getOrInsertFunction("adj_rt_parallel_for", B.getVoidTy(), i64Ty(),
                            B.getPtrTy(), B.getPtrTy());
  if (auto *Decl = dyn_cast<Function>(ParallelFor.getCallee()))
    Decl->setDoesNotThrow();
  B.CreateCall(ParallelFor, {NTasks, TaskF, CtxPtr});
  Fn->removeFnAttr(Attribute::NoSync);

  // The body, in the task's own kernel.
  Function *BodyF = Task.Fn;
  SmallVector<Value *, 4> TaskSizes;
  for (unsigned I = 0; I < Sizes.size(); ++I)
    TaskSizes.push_back(BodyF->getArg(NumPtrs + 3 + I));
  Body(Task, BodyF->getArg(NumPtrs + 1), BodyF->getArg(NumPtrs + 2), TaskSizes);
  Task.finish();
}

void Kernel::failIf(Value *Cond) {
  assert(MayFail && "failIf in a kernel that cannot fail");
  if (!FailBB) {
    FailBB = BasicBlock::Create(Ctx, "invalid", Fn);
    IRBuilder<> FB(FailBB);
    FB.CreateRet(FB.getInt32(1));
  }
  BasicBlock *Cont = BasicBlock::Create(Ctx, "valid", Fn);
  B.CreateCondBr(Cond, FailBB, Cont);
  B.SetInsertPoint(Cont);
}

void Kernel::finish() {
  if (MayFail)
    B.CreateRet(B.getInt32(0));
  else
    B.CreateRetVoid();
  if (FailBB) // Keep the failure block last, for readability.
    FailBB->moveAfter(&Fn->back());
}

} // namespace adj::cg
