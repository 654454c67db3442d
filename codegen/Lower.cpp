//===- Lower.cpp - adj::Function -> LLVM step function --------------------===//
///
/// Lowers each function of a module to the step-function ABI of Codegen.h,
/// following its plan (StepPlan.h: one kernel call per op, or per loop
/// group of elementwise ops, and a buffer for every value they store). The
/// step function, built by StepLowering::run in these phases,
///
///   1. loads the argument and result buffer pointers from its arrays
///      (loadPointers);
///   2. gives every value a unit stores its planned buffer (placeBuffers):
///      the caller's result buffer, the operand's buffer for a reshape
///      (reshapes copy nothing), or a 64-byte aligned block of one scratch
///      arena at an offset computed from n at run time; the arena is kept
///      between calls in internal globals and grown with malloc only when
///      a larger batch needs more (no allocation per step). Where each
///      value goes (the slice of its power of n, its offset there) is
///      decided by the plan (ArenaPlan), before any IR; a kernel's
///      workspace (im2col buffers) is a block too, passed to the kernel
///      after its outputs;
///   3. calls each unit's kernel in order, checking the status of the
///      kernels that validate labels (callUnit);
///   4. copies results that are arguments, or repeat an earlier result
///      (copyResults);
///   5. returns 0 (1 for invalid data, 2 when malloc fails), and records the
///      arena's slices as the metadata arenaBytes reads (recordArena).
///
/// A step function with an arena also gets `void @<name>.scratch.release()`
/// (kScratchReleaseSuffix), which frees the arena: the JIT calls it before
/// unmapping the code whose globals hold the only pointer to the buffer.
///
/// The function LowerOptions::CheckFunction names is lowered in checked
/// mode: after each kernel call the step passes every float value the unit
/// stored to the runtime's adj_rt_check_values (checkValues) and returns 3
/// at the first non-finite one.
///
/// A result the plan marks in place may be given the buffer of the argument
/// it updates: its kernel then reads and writes that buffer (see
/// Kernel.h), after every other reader of the argument has run.
///
/// Kernels are emitted by the per-op emitters of Kernel.h; this file only
/// chooses one and checks that the op's types are ones it supports.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Kernel.h"
#include "ir/Scan.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Metadata.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <functional>
#include <map>
#include <set>

namespace adj {

using namespace llvm;
using cg::Extent;
using cg::Kernel;

static Error lowerError(const std::string &Msg) {
  return createStringError(inconvertibleErrorCode(), Msg);
}

static bool mayFail(OpKind K) { return hasProp(K, props::MayFail); }

/// Checks the body of a fused op or a matmul's epilogue.
static Error checkBody(const Function &F, const Op &O) {
  unsigned NumInputs = 0;
  std::vector<BodyMember> Members;
  const std::string *Body = bodyOf(O, NumInputs);
  std::string E =
      Body ? parseBody(*Body, NumInputs, Members) : "needs a string body";
  if (E.empty())
    E = checkReducingBody(O, Members);
  if (E.empty())
    return Error::success();
  return lowerError(
      fmt::format("codegen: @{}: '{}': {}", F.Name, O.info().Mnemonic, E));
}

/// Checks the dtypes the emitters rely on: float math, i32 labels.
static Error checkTypes(const Function &F, const Op &O) {
  auto Bad = [&] {
    std::vector<std::string> Ops;
    for (const Value *V : O.Operands)
      Ops.push_back(V->type().str());
    return lowerError(fmt::format(
        "codegen: @{}: cannot lower '{}' with operands ({}) and result {}",
        F.Name, O.info().Mnemonic, fmt::join(Ops, ", "), O.type().str()));
  };
  int Arity = O.info().Arity;
  if (Arity >= 0 ? O.Operands.size() != size_t(Arity) : O.Operands.empty())
    return Bad();
  switch (O.Kind) {
  case OpKind::Constant:
  case OpKind::Transpose:
  case OpKind::Reshape:
  case OpKind::BroadcastTo:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Concat:
    for (const Value *V : O.Operands)
      if (V->type().Elt != O.type().Elt)
        return Bad();
    return Error::success();
  case OpKind::Count:
    return isFloat(O.type().Elt) ? Error::success() : Bad();
  case OpKind::Fused: {
    // A reducing body's inputs broadcast to its loop shape (ir/Body.h).
    std::vector<int64_t> Loop = loopDims(O);
    for (const Value *V : O.Operands)
      if (V->type().Elt != O.type().Elt ||
          !broadcastShapes(V->type().Dims, Loop) ||
          V->type().rank() > Loop.size())
        return Bad();
    if (!isFloat(O.type().Elt))
      return Bad();
    return checkBody(F, O);
  }
  case OpKind::MatMul:
  case OpKind::Conv2d: {
    bool Epilogue = O.hasAttr("epilogue");
    if (O.Operands.size() < 2 || (!Epilogue && O.Operands.size() != 2))
      return Bad();
    std::vector<TensorType> Types;
    for (const Value *V : O.Operands)
      Types.push_back(V->type());
    if (inferType(O.Kind, Types, O.Attributes).Type != O.type() ||
        !isFloat(O.type().Elt))
      return Bad();
    return Epilogue ? checkBody(F, O) : Error::success();
  }
  case OpKind::Dropout: {
    const TensorType &X = O.Operands[0]->type(), &Seed = O.Operands[1]->type(),
                     &Step = O.Operands[2]->type();
    return isFloat(X.Elt) && X == O.type() && Seed.Elt == DType::I32 &&
                   Seed.isScalar() && Step.Elt == X.Elt && Step.isScalar()
               ? Error::success()
               : Bad();
  }
  case OpKind::Scan:
    return Error::success(); // The verifier checks it against its body.
  case OpKind::ArgMax:
    return isFloat(O.Operands[0]->type().Elt) && O.type().Elt == DType::I32
               ? Error::success()
               : Bad();
  case OpKind::Accuracy:
  case OpKind::CrossEntropy:
  case OpKind::CrossEntropyGrad: {
    const Value *Labels = O.Operands.back();
    const TensorType &L = O.Operands[O.Operands.size() - 2]->type();
    if (Labels->type().Elt != DType::I32 || !isFloat(L.Elt) || !L.rank() ||
        !isFloat(O.type().Elt))
      return Bad();
    if (O.Kind != OpKind::Accuracy && L.Elt != O.type().Elt)
      return Bad();
    return Error::success();
  }
  default:
    // Labels ops (embedding, one_hot): i32 ids last, floats of the result's
    // dtype before them.
    for (const Value *V : O.Operands)
      if (V->type().Elt != O.type().Elt &&
          !(O.info().DTypes == DTypeRule::Labels && V == O.Operands.back() &&
            V->type().Elt == DType::I32))
        return Bad();
    return isFloat(O.type().Elt) ? Error::success() : Bad();
  }
}

/// Emits the body of \p O's kernel (an op outside loop units).
static void emitKernel(Kernel &K, const Op &O) {
  switch (O.Kind) {
#define KERNEL(Kind, Emitter)                                                  \
  case OpKind::Kind:                                                           \
    return cg::Emitter(K, O);
#include "codegen/Kernels.def"
  default:
    llvm_unreachable("op without an emitter");
  }
}

bool cg::hasKernel(OpKind K) {
  switch (K) {
#define KERNEL(Kind, Emitter)                                                  \
  case OpKind::Kind:                                                           \
    return true;
#include "codegen/Kernels.def"
  default:
    return false;
  }
}

namespace {
/// Builds one step function, in the phases of the file comment.
class StepLowering {
public:
  StepLowering(const Module &M, const Function &F, llvm::Module &LM,
               const LowerOptions &Opts)
      : M(M), F(F), LM(LM), B(LM.getContext()), Opts(Opts) {}
  Error run();

private:
  const Module &M;
  const Function &F;
  llvm::Module &LM;
  IRBuilder<> B;
  const LowerOptions &Opts;
  StepPlan Plan; ///< Planned once the ops have been checked.
  llvm::Function *Step = nullptr;
  llvm::Value *N = nullptr;
  /// The caller's result buffers, in result order.
  std::vector<llvm::Value *> ResultPtrs;
  /// The buffer of every argument and stored value.
  std::map<const adj::Value *, llvm::Value *> Buf;
  /// The scratch arena's base and its slices' offsets (placeBuffers).
  llvm::Value *Base = nullptr;
  std::vector<llvm::Value *> Offsets;
  /// The block returning 1 for invalid data (null until a kernel can fail).
  BasicBlock *Invalid = nullptr;
  /// The block returning 3 for a non-finite value (checked mode).
  BasicBlock *NonFinite = nullptr;

  /// Checks that every op is one the emitters support, and the name.
  Error checkFunction();
  /// Creates the step function and its entry block.
  void createStep();
  /// Loads the argument and result buffer pointers from their arrays.
  void loadPointers();
  /// Gives every value a unit stores its buffer (Plan.Arena).
  void placeBuffers();
  /// The arena's slices' offsets from its base, in bytes, computed from n;
  /// returns their total.
  llvm::Value *sliceOffsets(std::vector<llvm::Value *> &Offsets);
  /// The 64-byte aligned base of the scratch arena of \p Total bytes, grown
  /// when it is too small; returns 2 when malloc fails.
  llvm::Value *scratchBase(llvm::Value *Total);
  /// Defines F.Name + kScratchReleaseSuffix, freeing the buffer held in
  /// \p BufG (of \p SizeG bytes).
  void emitScratchRelease(GlobalVariable *BufG, GlobalVariable *SizeG);
  /// Emits unit \p U's kernel and calls it.
  void callUnit(size_t U);
  /// Returns 1 from the step when \p Status is not 0.
  void checkStatus(llvm::Value *Status);
  /// Checked mode: passes each float output of \p Unit to
  /// adj_rt_check_values and returns 3 from the step when it reports one.
  void checkValues(const StepUnit &Unit);
  /// Copies the results that are arguments or repeat an earlier result.
  void copyResults();
  /// Records the arena's slices as metadata, for arenaBytes.
  void recordArena();

  /// The address of the block of the arena at \p At.
  llvm::Value *place(ArenaPlace At) {
    llvm::Value *Off = Offsets[At.Slice];
    if (At.Offset) {
      llvm::Value *In = bytes({At.Offset, Plan.Arena.Slices[At.Slice].Pow});
      Off = isZero(Off) ? In : B.CreateAdd(Off, In);
    }
    return isZero(Off) ? Base : B.CreateInBoundsGEP(B.getInt8Ty(), Base, Off);
  }
  static bool isZero(llvm::Value *V) {
    auto *C = dyn_cast<ConstantInt>(V);
    return C && C->isZero();
  }
  llvm::Value *bytes(ByteSize S) {
    return cg::emitExtent(B, N, Extent{S.Mul, S.Pow});
  }
  llvm::Value *ptrAt(llvm::Value *Array, unsigned I, const std::string &Name) {
    llvm::Value *Slot = B.CreateConstInBoundsGEP1_64(B.getPtrTy(), Array, I);
    return B.CreateLoad(B.getPtrTy(), Slot, Name);
  }
};
} // namespace

Error StepLowering::checkFunction() {
  for (const auto &O : F.Ops)
    if (Error E = checkTypes(F, *O))
      return E;
  if (LM.getFunction(F.Name))
    return lowerError(fmt::format("codegen: duplicate function @{}", F.Name));
  return Error::success();
}

void StepLowering::createStep() {
  auto *FT = FunctionType::get(
      B.getInt32Ty(), {B.getInt64Ty(), B.getPtrTy(), B.getPtrTy()}, false);
  Step = llvm::Function::Create(FT, GlobalValue::ExternalLinkage, F.Name, LM);
  Step->addFnAttr(Attribute::NoUnwind);
  N = Step->getArg(0);
  N->setName("n");
  Step->getArg(1)->setName("args");
  Step->getArg(2)->setName("results");
  B.SetInsertPoint(BasicBlock::Create(LM.getContext(), "entry", Step));
}

void StepLowering::loadPointers() {
  for (const auto &A : F.Args)
    Buf[A.get()] = ptrAt(Step->getArg(1), A->ArgNo, A->Name);
  for (size_t I = 0; I < F.Results.size(); ++I)
    ResultPtrs.push_back(
        ptrAt(Step->getArg(2), I, "result." + F.Results[I].Name));
}

llvm::Value *StepLowering::sliceOffsets(std::vector<llvm::Value *> &Offsets) {
  llvm::Value *const Zero = B.getInt64(0);
  llvm::Value *Total = Zero;
  for (ByteSize S : Plan.Arena.Slices) {
    Offsets.push_back(Total);
    llvm::Value *Size = B.CreateAnd(B.CreateAdd(bytes(S), B.getInt64(63)),
                                    B.getInt64(~int64_t(63)));
    Total = Total == Zero ? Size : B.CreateAdd(Total, Size, "scratch.size");
  }
  return Total;
}

llvm::Value *StepLowering::scratchBase(llvm::Value *Total) {
  // One scratch buffer per step function, kept between calls in two
  // internal globals and grown (never shrunk) when a larger batch needs
  // more: no allocation per step once the largest batch has been seen.
  // Step functions are called by one thread at a time.
  LLVMContext &Ctx = LM.getContext();
  auto *PtrTy = B.getPtrTy();
  auto *I64 = B.getInt64Ty();
  auto *BufG =
      new GlobalVariable(LM, PtrTy, false, GlobalValue::InternalLinkage,
                         ConstantPointerNull::get(PtrTy), F.Name + ".scratch");
  auto *SizeG = new GlobalVariable(LM, I64, false, GlobalValue::InternalLinkage,
                                   B.getInt64(0), F.Name + ".scratch.bytes");
  emitScratchRelease(BufG, SizeG);
  llvm::Value *Need = B.CreateAdd(Total, B.getInt64(64), "scratch.need");
  llvm::Value *Have = B.CreateLoad(I64, SizeG, "scratch.have");
  llvm::Value *Old = B.CreateLoad(PtrTy, BufG, "scratch.old");
  BasicBlock *Cur = B.GetInsertBlock();
  BasicBlock *Grow = BasicBlock::Create(Ctx, "scratch.grow", Step);
  BasicBlock *NoMem = BasicBlock::Create(Ctx, "out.of.memory", Step);
  BasicBlock *Ok = BasicBlock::Create(Ctx, "run", Step);
  B.CreateCondBr(B.CreateICmpUGT(Need, Have), Grow, Ok);
  B.SetInsertPoint(Grow);
  B.CreateCall(LM.getOrInsertFunction("free", B.getVoidTy(), PtrTy), {Old});
  llvm::Value *New = B.CreateCall(LM.getOrInsertFunction("malloc", PtrTy, I64),
                                  {Need}, "scratch.new");
  B.CreateStore(New, BufG);
  B.CreateStore(B.CreateSelect(B.CreateIsNull(New), B.getInt64(0), Need),
                SizeG);
  B.CreateCondBr(B.CreateIsNull(New), NoMem, Ok);
  IRBuilder<>(NoMem).CreateRet(B.getInt32(2));
  B.SetInsertPoint(Ok);
  PHINode *Scratch = B.CreatePHI(PtrTy, 2, "scratch");
  Scratch->addIncoming(Old, Cur);
  Scratch->addIncoming(New, Grow);
  // Align the base up to 64 bytes.
  llvm::Value *Addr = B.CreatePtrToInt(Scratch, B.getInt64Ty());
  llvm::Value *Pad = B.CreateAnd(B.CreateNeg(Addr), B.getInt64(63));
  return B.CreateInBoundsGEP(B.getInt8Ty(), Scratch, Pad, "base");
}

void StepLowering::emitScratchRelease(GlobalVariable *BufG,
                                      GlobalVariable *SizeG) {
  // void @<fn>.scratch.release(): frees the buffer and forgets it, so that
  // the next call of the step allocates again. The globals live in the
  // JIT's memory, which is unmapped without running any code: the JIT calls
  // every release function before it is destroyed (JIT.cpp).
  auto *FT = FunctionType::get(B.getVoidTy(), false);
  auto *Release = llvm::Function::Create(FT, GlobalValue::ExternalLinkage,
                                         F.Name + kScratchReleaseSuffix, LM);
  Release->addFnAttr(Attribute::NoUnwind);
  IRBuilder<> RB(BasicBlock::Create(LM.getContext(), "entry", Release));
  auto *PtrTy = RB.getPtrTy();
  RB.CreateCall(LM.getOrInsertFunction("free", RB.getVoidTy(), PtrTy),
                {RB.CreateLoad(PtrTy, BufG, "scratch")});
  RB.CreateStore(ConstantPointerNull::get(PtrTy), BufG);
  RB.CreateStore(RB.getInt64(0), SizeG);
  RB.CreateRetVoid();
}

void StepLowering::placeBuffers() {
  const ArenaPlan &Arena = Plan.Arena;
  llvm::Value *Total = sliceOffsets(Offsets);
  Base = Arena.Slices.empty() ? nullptr : scratchBase(Total);
  for (const Buffer &A : Arena.Buffers) {
    if (A.Kind == Buffer::Result)
      Buf[A.V] = ResultPtrs[A.Index];
    if (A.Kind == Buffer::Scratch)
      Buf[A.V] = place({A.Index, A.Offset});
  }
  // Reshapes share their operand's buffer, known once slices are placed.
  for (const Buffer &A : Arena.Buffers)
    if (A.Kind == Buffer::Alias)
      Buf[A.V] = Buf.at(A.Source);
}

void StepLowering::callUnit(size_t U) {
  const StepUnit &Unit = Plan.Units[U];
  const Op &O = *F.Ops[Unit.Ops.back()];
  std::string Name =
      fmt::format("{}.{}.{}", F.Name, Unit.Ops.back(), O.info().Mnemonic);
  if (Unit.Ops.size() > 1)
    Name = fmt::format("{}.{}.group", F.Name, fmt::join(Unit.Ops, "-"));
  bool Fails = mayFail(F.Ops[Unit.Ops.front()]->Kind) || mayFail(O.Kind);
  // The workspace slices are outputs after the results.
  Kernel K(LM, Name, Unit.Inputs.size(), Fails,
           Unit.Outputs.size() + Unit.Workspace.size(), Unit.InPlace);
  if (Unit.Product != SIZE_MAX)
    cg::emitProductLoop(K, F, Unit);
  else if (Unit.Loop)
    cg::emitLoopGroup(K, F, Unit);
  else if (O.Kind == OpKind::Scan)
    cg::emitScan(K, F, Unit, *scanBody(M, O));
  else
    emitKernel(K, O);
  K.finish();
  std::vector<llvm::Value *> CallArgs;
  for (const adj::Value *V : Unit.Outputs)
    CallArgs.push_back(Buf.at(V));
  for (ArenaPlace At : Unit.WorkspaceAt)
    CallArgs.push_back(place(At));
  for (const adj::Value *V : Unit.Inputs)
    CallArgs.push_back(Buf.at(V));
  CallArgs.push_back(N);
  llvm::Value *Status = B.CreateCall(K.Fn, CallArgs);
  if (Fails)
    checkStatus(Status);
  if (Opts.checks(F.Name))
    checkValues(Unit);
}

void StepLowering::checkValues(const StepUnit &Unit) {
  LLVMContext &Ctx = LM.getContext();
  FunctionCallee Hook = LM.getOrInsertFunction(
      "adj_rt_check_values", B.getInt32Ty(), B.getInt64Ty(), B.getPtrTy(),
      B.getInt64Ty(), B.getInt32Ty());
  for (const adj::Value *V : Unit.Outputs) {
    if (!isFloat(V->type().Elt) || !V->Def)
      continue;
    size_t Site = 0;
    while (Site < F.Ops.size() && &F.Ops[Site]->Result != V)
      ++Site;
    llvm::Value *Count =
        cg::emitExtent(B, N, cg::product(cg::shapeOf(V->type())));
    llvm::Value *Bad =
        B.CreateCall(Hook, {B.getInt64(int64_t(Site)), Buf.at(V), Count,
                            B.getInt32(int32_t(V->type().Elt))});
    if (!NonFinite) {
      NonFinite = BasicBlock::Create(Ctx, "nonfinite", Step);
      IRBuilder<> IB(NonFinite);
      IB.CreateRet(IB.getInt32(3)); // ADJ_RT_STEP_NONFINITE
    }
    BasicBlock *Next = BasicBlock::Create(Ctx, "finite", Step);
    B.CreateCondBr(B.CreateIsNotNull(Bad), NonFinite, Next);
    B.SetInsertPoint(Next);
  }
}

void StepLowering::checkStatus(llvm::Value *Status) {
  if (!Invalid) {
    Invalid = BasicBlock::Create(LM.getContext(), "invalid.data", Step);
    IRBuilder<> IB(Invalid);
    IB.CreateRet(IB.getInt32(1));
  }
  BasicBlock *Next = BasicBlock::Create(LM.getContext(), "valid", Step);
  B.CreateCondBr(B.CreateIsNotNull(Status), Invalid, Next);
  B.SetInsertPoint(Next);
}

void StepLowering::copyResults() {
  for (size_t I = 0; I < F.Results.size(); ++I) {
    const adj::Value *V = F.Results[I].V;
    // Written by its kernel: an op's result, named here first.
    bool Own = !V->isArg();
    for (size_t E = 0; E < I && Own; ++E)
      Own = F.Results[E].V != V;
    if (Own)
      continue;
    Align A(dtypeBytes(V->type().Elt));
    B.CreateMemCpy(ResultPtrs[I], A, Buf.at(V), A, bytes(bytesOf(V->type())));
  }
}

void StepLowering::recordArena() {
  // !adj.arena = !{!{"fn", a0, p0, ...}}: slice i is a_i * n^p_i bytes.
  LLVMContext &Ctx = LM.getContext();
  std::vector<Metadata *> Slots = {MDString::get(Ctx, F.Name)};
  for (ByteSize S : Plan.Arena.Slices) {
    Slots.push_back(ConstantAsMetadata::get(B.getInt64(S.Mul)));
    Slots.push_back(ConstantAsMetadata::get(B.getInt64(S.Pow)));
  }
  LM.getOrInsertNamedMetadata("adj.arena")
      ->addOperand(MDTuple::get(Ctx, Slots));
}

Error StepLowering::run() {
  if (Error E = checkFunction())
    return E;
  Plan = planStep(F, Opts.forFunction(F.Name), &M);
  createStep();
  loadPointers();
  placeBuffers();
  for (size_t U = 0; U < Plan.Units.size(); ++U)
    if (!Plan.Units[U].Alias) // An alias calls nothing.
      callUnit(U);
  copyResults();
  B.CreateRet(B.getInt32(0));
  if (Invalid)
    Invalid->moveAfter(&Step->back());
  if (NonFinite)
    NonFinite->moveAfter(&Step->back());
  recordArena();
  return Error::success();
}

Expected<std::unique_ptr<llvm::Module>>
lowerToLLVM(const Module &M, LLVMContext &Ctx, const LowerOptions &Opts) {
  auto LM = std::make_unique<llvm::Module>("adjoint", Ctx);
  // Scan bodies before the functions that call them, so that each step
  // function is defined where it is first named.
  std::vector<const Function *> Order;
  std::set<const Function *> Done;
  std::function<void(const Function &)> Visit = [&](const Function &F) {
    if (!Done.insert(&F).second)
      return;
    for (const auto &O : F.Ops)
      if (O->Kind == OpKind::Scan)
        if (const Function *Body = scanBody(M, *O))
          Visit(*Body);
    Order.push_back(&F);
  };
  for (const auto &F : M.Functions)
    Visit(*F);
  for (const Function *F : Order)
    if (Error E = StepLowering(M, *F, *LM, Opts).run())
      return E;
  std::string Msg;
  raw_string_ostream OS(Msg);
  if (verifyModule(*LM, &OS))
    return lowerError("codegen: internal error: invalid LLVM IR: " + OS.str());
  return LM;
}

std::optional<int64_t> arenaBytes(const llvm::Module &LM, StringRef Fn,
                                  int64_t N) {
  const NamedMDNode *MD = LM.getNamedMetadata("adj.arena");
  if (!MD)
    return std::nullopt;
  for (const MDNode *Node : MD->operands()) {
    auto *Name = Node->getNumOperands()
                     ? dyn_cast<MDString>(Node->getOperand(0))
                     : nullptr;
    if (!Name || Name->getString() != Fn)
      continue;
    ArenaPlan Arena;
    for (unsigned I = 1; I + 1 < Node->getNumOperands(); I += 2) {
      auto *Mul = mdconst::dyn_extract<ConstantInt>(Node->getOperand(I));
      auto *Pow = mdconst::dyn_extract<ConstantInt>(Node->getOperand(I + 1));
      if (!Mul || !Pow)
        return std::nullopt;
      Arena.Slices.push_back(
          {Mul->getSExtValue(), unsigned(Pow->getSExtValue())});
    }
    return Arena.bytes(N);
  }
  return std::nullopt;
}

} // namespace adj
