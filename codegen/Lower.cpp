//===- Lower.cpp - adj::Function -> LLVM step function --------------------===//
///
/// Lowers each function of a module to the step-function ABI of Codegen.h,
/// following its plan (StepPlan.h: one kernel call per op, or per loop
/// group of elementwise ops). The step function
///
///   1. loads the argument and result buffer pointers from its arrays;
///   2. gives every value a unit stores a buffer: the caller's result
///      buffer when the value is a result (the first one naming it), the
///      operand's buffer for a reshape that is not a result (reshapes copy
///      nothing), and otherwise a 64-byte aligned slice of one scratch
///      buffer whose size is computed from n at run time; the buffer is
///      kept between calls in internal globals and grown with malloc only
///      when a larger batch needs more (no allocation per step). Slices are
///      planned by a linear scan over the units: once the last unit reading
///      a value (through reshape aliases) has run, its slice goes to a free
///      list for later values of the same size (a * n^p bytes). Members of
///      a loop group that nothing outside it reads get no buffer at all;
///   3. calls each unit's kernel in order, checking the status of the
///      kernels that validate labels;
///   4. copies results that are arguments, or repeat an earlier result;
///   5. returns 0 (1 for invalid data, 2 when malloc fails).
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

#include "llvm/IR/Constants.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Metadata.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <map>

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
    for (const Value *V : O.Operands)
      if (V->type().Elt != O.type().Elt ||
          !broadcastShapes(V->type().Dims, O.type().Dims) ||
          V->type().rank() > O.type().rank())
        return Bad();
    if (!isFloat(O.type().Elt))
      return Bad();
    return checkBody(F, O);
  }
  case OpKind::MatMul: {
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
    for (const Value *V : O.Operands)
      if (V->type().Elt != O.type().Elt)
        return Bad();
    return isFloat(O.type().Elt) ? Error::success() : Bad();
  }
}

/// Emits the body of \p O's kernel (an op outside loop units).
static void emitKernel(Kernel &K, const Op &O) {
  using namespace cg;
  switch (O.Kind) {
  case OpKind::Constant:
    return emitConstant(K, O);
  case OpKind::Count:
    return emitCount(K, O);
  case OpKind::Transpose:
    return emitTranspose(K, O);
  case OpKind::Reshape:
    return emitReshape(K, O);
  case OpKind::BroadcastTo:
    return emitBroadcastTo(K, O);
  case OpKind::Slice:
    return emitSlice(K, O);
  case OpKind::Pad:
    return emitPad(K, O);
  case OpKind::Concat:
    return emitConcat(K, O);
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
    return emitReduce(K, O);
  case OpKind::MatMul:
    return emitMatMul(K, O);
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::SoftmaxGrad:
  case OpKind::LogSoftmaxGrad:
    return emitSoftmaxFamily(K, O);
  case OpKind::CrossEntropy:
    return emitCrossEntropy(K, O);
  case OpKind::CrossEntropyGrad:
    return emitCrossEntropyGrad(K, O);
  case OpKind::ArgMax:
    return emitArgMax(K, O);
  case OpKind::Accuracy:
    return emitAccuracy(K, O);
  default:
    llvm_unreachable("op without an emitter");
  }
}

namespace {
/// Builds one step function.
class StepLowering {
public:
  StepLowering(const Function &F, llvm::Module &LM, const LowerOptions &Opts)
      : F(F), LM(LM), B(LM.getContext()), Opts(Opts) {}
  Error run();

private:
  const Function &F;
  llvm::Module &LM;
  IRBuilder<> B;
  const LowerOptions &Opts;
  llvm::Function *Step = nullptr;
  llvm::Value *N = nullptr;
  std::map<const adj::Value *, llvm::Value *> Buf;
  /// The scratch arena's slices (sizes a * n^p), recorded for arenaBytes.
  std::vector<Extent> Arena;

  llvm::Value *bytesOf(const TensorType &T) {
    Extent E = cg::product(cg::shapeOf(T)) * Extent{dtypeBytes(T.Elt), 0};
    return cg::emitExtent(B, N, E);
  }
  llvm::Value *ptrAt(llvm::Value *Array, unsigned I, const std::string &Name) {
    llvm::Value *Slot = B.CreateConstInBoundsGEP1_64(B.getPtrTy(), Array, I);
    return B.CreateLoad(B.getPtrTy(), Slot, Name);
  }
};
} // namespace

Error StepLowering::run() {
  for (const auto &O : F.Ops)
    if (Error E = checkTypes(F, *O))
      return E;
  if (LM.getFunction(F.Name))
    return lowerError(fmt::format("codegen: duplicate function @{}", F.Name));
  LLVMContext &Ctx = LM.getContext();
  auto *FT = FunctionType::get(
      B.getInt32Ty(), {B.getInt64Ty(), B.getPtrTy(), B.getPtrTy()}, false);
  Step = llvm::Function::Create(FT, GlobalValue::ExternalLinkage, F.Name, LM);
  Step->addFnAttr(Attribute::NoUnwind);
  N = Step->getArg(0);
  N->setName("n");
  llvm::Value *Args = Step->getArg(1), *Results = Step->getArg(2);
  Args->setName("args");
  Results->setName("results");
  B.SetInsertPoint(BasicBlock::Create(Ctx, "entry", Step));

  for (const auto &A : F.Args)
    Buf[A.get()] = ptrAt(Args, A->ArgNo, A->Name);
  std::vector<llvm::Value *> ResultPtrs;
  for (size_t I = 0; I < F.Results.size(); ++I)
    ResultPtrs.push_back(ptrAt(Results, I, "result." + F.Results[I].Name));

  // Buffers: results first, then aliases and scratch slices in unit order.
  StepPlan Plan = planStep(F, Opts);
  std::map<const adj::Value *, size_t> FirstResult;
  for (size_t I = 0; I < F.Results.size(); ++I)
    if (!F.Results[I].V->isArg() && !FirstResult.count(F.Results[I].V))
      FirstResult[F.Results[I].V] = I;
  auto IsAlias = [&](const Op &O) {
    return O.Kind == OpKind::Reshape && !FirstResult.count(&O.Result);
  };
  // The values each unit writes.
  std::vector<std::vector<const adj::Value *>> Outputs(Plan.Units.size());
  for (size_t U = 0; U < Plan.Units.size(); ++U)
    for (size_t K = 0; K < Plan.Units[U].Ops.size(); ++K)
      if (Plan.Units[U].Stored[K])
        Outputs[U].push_back(&F.Ops[Plan.Units[U].Ops[K]]->Result);
  std::vector<std::pair<const adj::Value *, llvm::Value *>> Slices;
  // Reshapes share their operand's buffer, known once slices are placed.
  std::vector<std::pair<const adj::Value *, const adj::Value *>> Aliases;
  // Buffer reuse: the unit that last reads each buffer (through reshape
  // aliases); after it, the slice is free for a later value of the same
  // size (never for that unit's own outputs, which must not alias inputs).
  std::map<const adj::Value *, const adj::Value *> Root;
  std::map<const adj::Value *, size_t> LastUse;
  auto RootOf = [&](const adj::Value *U) {
    auto It = Root.find(U);
    return It == Root.end() ? U : It->second; // Arguments are their own.
  };
  for (size_t U = 0; U < Plan.Units.size(); ++U) {
    const Op &Last = *F.Ops[Plan.Units[U].Ops.back()];
    for (const adj::Value *V : Outputs[U]) {
      Root[V] = IsAlias(Last) ? RootOf(Last.Operands[0]) : V;
      LastUse[Root[V]] = U;
    }
    for (const adj::Value *V : Plan.Units[U].Inputs)
      LastUse[RootOf(V)] = U;
  }
  std::map<std::pair<int64_t, unsigned>, std::vector<llvm::Value *>> FreeSlices;
  std::map<const adj::Value *, std::pair<int64_t, unsigned>> SliceSize;
  std::map<const adj::Value *, llvm::Value *> SliceOff;
  llvm::Value *const Total0 = B.getInt64(0);
  llvm::Value *Total = Total0;
  for (size_t U = 0; U < Plan.Units.size(); ++U) {
    const Op &Last = *F.Ops[Plan.Units[U].Ops.back()];
    for (const adj::Value *V : Outputs[U]) {
      if (auto It = FirstResult.find(V); It != FirstResult.end()) {
        Buf[V] = ResultPtrs[It->second];
        continue;
      }
      if (IsAlias(Last)) {
        Aliases.push_back({V, Last.Operands[0]});
        continue;
      }
      Extent E = cg::product(cg::shapeOf(V->type())) *
                 Extent{dtypeBytes(V->type().Elt), 0};
      std::pair<int64_t, unsigned> Key{E.Mul, E.Pow};
      std::vector<llvm::Value *> &Free = FreeSlices[Key];
      llvm::Value *Off;
      if (!Free.empty()) {
        Off = Free.back();
        Free.pop_back();
      } else {
        Off = Total;
        Arena.push_back(E);
        llvm::Value *Size =
            B.CreateAnd(B.CreateAdd(bytesOf(V->type()), B.getInt64(63)),
                        B.getInt64(~int64_t(63)));
        Total = Total == Total0 ? Size
                                : B.CreateAdd(Total, Size, "scratch.size");
      }
      Slices.push_back({V, Off});
      SliceSize[V] = Key;
      SliceOff[V] = Off;
    }
    // Release the slices whose last reader is this unit.
    std::vector<const adj::Value *> Done;
    for (const adj::Value *V : Outputs[U])
      Done.push_back(RootOf(V));
    for (const adj::Value *V : Plan.Units[U].Inputs)
      Done.push_back(RootOf(V));
    for (const adj::Value *R : Done)
      if (LastUse.at(R) == U && SliceOff.count(R)) {
        FreeSlices[SliceSize.at(R)].push_back(SliceOff.at(R));
        SliceOff.erase(R);
      }
  }

  BasicBlock *Invalid = nullptr;
  llvm::Value *Scratch = nullptr;
  if (!Slices.empty()) {
    // One scratch buffer per step function, kept between calls in two
    // internal globals and grown (never shrunk) when a larger batch needs
    // more: no allocation per step once the largest batch has been seen.
    // Step functions are called by one thread at a time.
    auto *PtrTy = B.getPtrTy();
    auto *I64 = B.getInt64Ty();
    auto *BufG = new GlobalVariable(LM, PtrTy, false,
                                    GlobalValue::InternalLinkage,
                                    ConstantPointerNull::get(PtrTy),
                                    F.Name + ".scratch");
    auto *SizeG = new GlobalVariable(LM, I64, false,
                                     GlobalValue::InternalLinkage,
                                     B.getInt64(0), F.Name + ".scratch.bytes");
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
    llvm::Value *New = B.CreateCall(
        LM.getOrInsertFunction("malloc", PtrTy, I64), {Need}, "scratch.new");
    B.CreateStore(New, BufG);
    B.CreateStore(B.CreateSelect(B.CreateIsNull(New), B.getInt64(0), Need),
                  SizeG);
    B.CreateCondBr(B.CreateIsNull(New), NoMem, Ok);
    IRBuilder<>(NoMem).CreateRet(B.getInt32(2));
    B.SetInsertPoint(Ok);
    PHINode *Phi = B.CreatePHI(PtrTy, 2, "scratch");
    Phi->addIncoming(Old, Cur);
    Phi->addIncoming(New, Grow);
    Scratch = Phi;
    // Align the base up to 64 bytes.
    llvm::Value *Addr = B.CreatePtrToInt(Scratch, B.getInt64Ty());
    llvm::Value *Pad = B.CreateAnd(B.CreateNeg(Addr), B.getInt64(63));
    llvm::Value *Base =
        B.CreateInBoundsGEP(B.getInt8Ty(), Scratch, Pad, "base");
    for (auto &[V, Off] : Slices)
      Buf[V] =
          Off == Total0 ? Base : B.CreateInBoundsGEP(B.getInt8Ty(), Base, Off);
  }
  for (auto &[V, Src] : Aliases)
    Buf[V] = Buf.at(Src);

  for (size_t U = 0; U < Plan.Units.size(); ++U) {
    const StepUnit &Unit = Plan.Units[U];
    const Op &O = *F.Ops[Unit.Ops.back()];
    if (IsAlias(O))
      continue; // An alias of its operand.
    std::string Name =
        fmt::format("{}.{}.{}", F.Name, Unit.Ops.back(), O.info().Mnemonic);
    if (Unit.Ops.size() > 1)
      Name = fmt::format("{}.{}.group", F.Name, fmt::join(Unit.Ops, "-"));
    bool Fails = !Unit.Loop && mayFail(O.Kind);
    Kernel K(LM, Name, Unit.Inputs.size(), Fails, Outputs[U].size(),
             Unit.InPlace);
    if (Unit.Loop)
      cg::emitLoopGroup(K, F, Unit);
    else
      emitKernel(K, O);
    K.finish();
    std::vector<llvm::Value *> CallArgs;
    for (const adj::Value *V : Outputs[U])
      CallArgs.push_back(Buf.at(V));
    for (const adj::Value *V : Unit.Inputs)
      CallArgs.push_back(Buf.at(V));
    CallArgs.push_back(N);
    llvm::Value *Status = B.CreateCall(K.Fn, CallArgs);
    if (!Fails)
      continue;
    if (!Invalid) {
      Invalid = BasicBlock::Create(Ctx, "invalid.data", Step);
      IRBuilder<> IB(Invalid);
      IB.CreateRet(IB.getInt32(1));
    }
    BasicBlock *Next = BasicBlock::Create(Ctx, "valid", Step);
    B.CreateCondBr(B.CreateIsNotNull(Status), Invalid, Next);
    B.SetInsertPoint(Next);
  }

  // Results that are arguments or repeat an earlier result are copies.
  for (size_t I = 0; I < F.Results.size(); ++I) {
    const adj::Value *V = F.Results[I].V;
    auto It = FirstResult.find(V);
    if (It != FirstResult.end() && It->second == I)
      continue;
    Align A(dtypeBytes(V->type().Elt));
    B.CreateMemCpy(ResultPtrs[I], A, Buf.at(V), A, bytesOf(V->type()));
  }
  B.CreateRet(B.getInt32(0));
  if (Invalid)
    Invalid->moveAfter(&Step->back());
  // The arena plan as named metadata: !adj.arena = !{!{"fn", a0, p0, ...}}.
  std::vector<Metadata *> Slots = {MDString::get(Ctx, F.Name)};
  for (const Extent &E : Arena) {
    Slots.push_back(ConstantAsMetadata::get(B.getInt64(E.Mul)));
    Slots.push_back(ConstantAsMetadata::get(B.getInt64(E.Pow)));
  }
  LM.getOrInsertNamedMetadata("adj.arena")
      ->addOperand(MDTuple::get(Ctx, Slots));
  return Error::success();
}

Expected<std::unique_ptr<llvm::Module>>
lowerToLLVM(const Module &M, LLVMContext &Ctx, const LowerOptions &Opts) {
  auto LM = std::make_unique<llvm::Module>("adjoint", Ctx);
  for (const auto &F : M.Functions)
    if (Error E = StepLowering(*F, *LM, Opts).run())
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
    auto *Name = Node->getNumOperands() ? dyn_cast<MDString>(Node->getOperand(0))
                                        : nullptr;
    if (!Name || Name->getString() != Fn)
      continue;
    int64_t Total = 0;
    for (unsigned I = 1; I + 1 < Node->getNumOperands(); I += 2) {
      auto *Mul = mdconst::dyn_extract<ConstantInt>(Node->getOperand(I));
      auto *Pow = mdconst::dyn_extract<ConstantInt>(Node->getOperand(I + 1));
      if (!Mul || !Pow)
        return std::nullopt;
      int64_t Bytes = Mul->getSExtValue();
      for (int64_t P = 0; P < Pow->getSExtValue(); ++P)
        Bytes *= N;
      Total += (Bytes + 63) & ~int64_t(63);
    }
    return Total ? Total + 64 : 0; // + the alignment slack malloc'ed
  }
  return std::nullopt;
}

} // namespace adj
