//===- Scan.cpp - The loop of a scan unit ---------------------------------===//
///
/// A scan unit (adjacent sibling scan ops, ir/Scan.h) becomes one kernel
/// that runs the loop and calls the body's own step function once per
/// step, `i32 @<body>(n, args, results)` (Codegen.h), so the body is
/// compiled once whatever the length T:
///
///   for i in 0 .. T-1:  t = reverse ? T-1-i : i
///     x_s   <- xs_s[..., t, ...]          (contiguous copies; none when the
///                                          step's slice already is)
///     (carry', y) = body(carry, x_t..., captures...)
///     stacked outputs[..., t, ...] <- carry'_k or y_j
///   final outputs <- the last carry'
///
/// The carries ping-pong between two buffers each (step 0 reads the init
/// operand itself); those, the step slices and the per-step outputs are the
/// unit's workspace, slices of the step function's arena (scanBuffers), so
/// the loop allocates nothing. A body that reports invalid data stops the
/// loop and the kernel returns 1.
///
/// Where a step's block of a stacked output is contiguous (no dim before
/// the axis is larger than 1: time-major, as the recurrent layers run), the
/// body writes that output in place, at position t of the stack, and a
/// carry's next step reads it from there: no copy in or out of the loop.
///
//===----------------------------------------------------------------------===//
#include "ir/Scan.h"
#include "codegen/Kernel.h"

#include "llvm/IR/Module.h"

namespace adj::cg {

using namespace llvm;

static bool sliceInPlace(const Op &Scan);

namespace {

/// Emits the loop of one scan unit into a kernel.
class ScanEmitter {
public:
  ScanEmitter(Kernel &K, const Function &F, const StepUnit &U,
              const Function &Body)
      : K(K), B(K.B), F(F), U(U), Body(Body) {
    First = F.Ops[U.Ops.front()].get();
    S.read(*First);
  }
  void run();

private:
  /// The bytes of one value of \p T, as an i64.
  llvm::Value *bytes(const TensorType &T) {
    return K.get(product(shapeOf(T)) * Extent{dtypeBytes(T.Elt), 0});
  }
  /// Copies the blocks of \p Step (a value of one step, \p T) to or from
  /// position \p Time of \p Seq (the stacked tensor, \p T with T inserted at
  /// the scan's axis): Outer blocks of Inner bytes each.
  void copyStep(const TensorType &T, llvm::Value *Seq, llvm::Value *Step,
                llvm::Value *Time, bool ToSeq);
  /// Whether a step's block of a value of \p T stacked at the axis is
  /// contiguous: no dim before the axis is larger than 1.
  bool contiguousStep(const TensorType &T) const {
    for (int64_t D = 0; D < S.Axis; ++D)
      if (T.Dims[D] != 1)
        return false;
    return true;
  }
  /// Position \p Time of \p Seq, whose steps are contiguous values of \p T.
  llvm::Value *stepAt(llvm::Value *Seq, const TensorType &T,
                      llvm::Value *Time) {
    return B.CreateGEP(B.getInt8Ty(), Seq, B.CreateMul(Time, bytes(T)));
  }
  /// Per carry and per y: the output (index into U.Outputs) the body writes
  /// in place, stacked, or -1.
  void findDirect(const std::vector<TensorType> &CarryT,
                  const std::vector<TensorType> &YT);
  std::vector<int> DirectCarry, DirectY;
  Kernel &K;
  IRBuilder<> &B;
  const Function &F;
  const StepUnit &U;
  const Function &Body;
  const Op *First;
  ScanShape S;
};

} // namespace

void ScanEmitter::copyStep(const TensorType &T, llvm::Value *Seq,
                           llvm::Value *Step, llvm::Value *Time, bool ToSeq) {
  Shape Sh = shapeOf(T);
  Extent Outer, Inner{dtypeBytes(T.Elt), 0};
  for (int64_t D = 0; D < int64_t(Sh.size()); ++D)
    (D < S.Axis ? Outer : Inner) = (D < S.Axis ? Outer : Inner) * Sh[D];
  llvm::Value *InnerV = K.get(Inner), *OuterV = K.get(Outer);
  llvm::Value *Len = K.i64(S.Length);
  Align A(dtypeBytes(T.Elt));
  K.loop(OuterV, [&](llvm::Value *O) {
    // Block O of the step is block O * T + t of the stacked tensor.
    llvm::Value *SeqOff =
        B.CreateMul(B.CreateAdd(B.CreateMul(O, Len), Time), InnerV);
    llvm::Value *StepOff = B.CreateMul(O, InnerV);
    llvm::Value *SeqP = B.CreateGEP(B.getInt8Ty(), Seq, SeqOff);
    llvm::Value *StepP = B.CreateGEP(B.getInt8Ty(), Step, StepOff);
    if (ToSeq)
      B.CreateMemCpy(SeqP, A, StepP, A, InnerV);
    else
      B.CreateMemCpy(StepP, A, SeqP, A, InnerV);
  });
}

void ScanEmitter::findDirect(const std::vector<TensorType> &CarryT,
                             const std::vector<TensorType> &YT) {
  DirectCarry.assign(CarryT.size(), -1);
  DirectY.assign(YT.size(), -1);
  for (size_t O = 0; O < U.Outputs.size(); ++O) {
    const Op &Sib = *F.Ops[U.Ops[O]];
    if (Sib.boolAttr("final"))
      continue;
    unsigned Out = Sib.intAttr("output");
    bool IsCarry = Out < CarryT.size();
    int &D = IsCarry ? DirectCarry[Out] : DirectY[Out - CarryT.size()];
    if (D < 0 &&
        contiguousStep(IsCarry ? CarryT[Out] : YT[Out - CarryT.size()]))
      D = int(O);
  }
}

void ScanEmitter::run() {
  unsigned NK = S.Carries, NS = S.Seqs, NC = S.Captures;
  unsigned NY = Body.Results.size() - NK;
  auto *PtrTy = B.getPtrTy();

  std::vector<TensorType> CarryT, StepT, YT;
  for (unsigned C = 0; C < NK; ++C)
    CarryT.push_back(S.init(*First, C)->Type);
  for (unsigned X = 0; X < NS; ++X)
    StepT.push_back(dropAxis(S.seq(*First, X)->Type, S.Axis));
  for (unsigned J = 0; J < NY; ++J)
    YT.push_back(Body.Results[NK + J].V->Type);
  // The workspace slices follow the outputs, in scanBuffers' order.
  bool SliceInPlace = sliceInPlace(*First);
  unsigned Slot = U.Outputs.size();
  std::vector<llvm::Value *> Ping, Pong, StepBuf, YBuf;
  for (unsigned C = 0; C < NK; ++C) {
    Ping.push_back(K.Outs[Slot++]);
    Pong.push_back(K.Outs[Slot++]);
  }
  if (!SliceInPlace)
    for (unsigned X = 0; X < NS; ++X)
      StepBuf.push_back(K.Outs[Slot++]);
  for (unsigned J = 0; J < NY; ++J)
    YBuf.push_back(K.Outs[Slot++]);

  // The body's argument and result pointer arrays.
  auto *ArgsTy = ArrayType::get(PtrTy, NK + NS + NC);
  auto *ResTy = ArrayType::get(PtrTy, std::max(1u, NK + NY));
  IRBuilder<> Entry(&K.Fn->getEntryBlock(), K.Fn->getEntryBlock().begin());
  llvm::Value *Args = Entry.CreateAlloca(ArgsTy, nullptr, "body.args");
  llvm::Value *Res = Entry.CreateAlloca(ResTy, nullptr, "body.results");
  auto SetPtr = [&](llvm::Value *Arr, llvm::Type *Ty, unsigned I,
                    llvm::Value *P) {
    B.CreateStore(P, B.CreateConstInBoundsGEP2_32(Ty, Arr, 0, I));
  };
  for (unsigned C = 0; C < NC; ++C)
    SetPtr(Args, ArgsTy, NK + NS + C, K.In[NK + NS + C]);
  findDirect(CarryT, YT);
  for (unsigned J = 0; J < NY; ++J)
    if (DirectY[J] < 0)
      SetPtr(Res, ResTy, NK + J, YBuf[J]);

  FunctionCallee BodyFn = K.M.getOrInsertFunction(Body.Name, B.getInt32Ty(),
                                                  B.getInt64Ty(), PtrTy, PtrTy);
  int64_t T = S.Length;
  K.loop(K.i64(T), [&](llvm::Value *I) {
    llvm::Value *Time = S.Reverse ? B.CreateSub(K.i64(T - 1), I) : I;
    llvm::Value *Odd = B.CreateTrunc(I, B.getInt1Ty());
    llvm::Value *IsFirst = B.CreateICmpEQ(I, K.i64(0));
    // The previous step's time (unused at step 0).
    llvm::Value *PrevTime =
        S.Reverse ? B.CreateAdd(Time, K.i64(1)) : B.CreateSub(Time, K.i64(1));
    for (unsigned C = 0; C < NK; ++C) {
      if (int O = DirectCarry[C]; O >= 0) {
        // Written at position t of the stack, read from the previous one.
        llvm::Value *Src = B.CreateSelect(
            IsFirst, K.In[C], stepAt(K.Outs[O], CarryT[C], PrevTime));
        SetPtr(Args, ArgsTy, C, Src);
        SetPtr(Res, ResTy, C, stepAt(K.Outs[O], CarryT[C], Time));
        continue;
      }
      // Even steps write Ping and read Pong (the init at step 0).
      llvm::Value *Src = B.CreateSelect(Odd, Ping[C], Pong[C]);
      Src = B.CreateSelect(IsFirst, K.In[C], Src);
      SetPtr(Args, ArgsTy, C, Src);
      SetPtr(Res, ResTy, C, B.CreateSelect(Odd, Pong[C], Ping[C]));
    }
    for (unsigned J = 0; J < NY; ++J)
      if (int O = DirectY[J]; O >= 0)
        SetPtr(Res, ResTy, NK + J, stepAt(K.Outs[O], YT[J], Time));
    for (unsigned X = 0; X < NS; ++X) {
      llvm::Value *Seq = K.In[NK + X];
      llvm::Value *P;
      if (SliceInPlace) {
        P = B.CreateGEP(B.getInt8Ty(), Seq, B.CreateMul(Time, bytes(StepT[X])));
      } else {
        copyStep(StepT[X], Seq, StepBuf[X], Time, /*ToSeq=*/false);
        P = StepBuf[X];
      }
      SetPtr(Args, ArgsTy, NK + X, P);
    }
    llvm::Value *Status = B.CreateCall(BodyFn, {K.N, Args, Res});
    K.failIf(B.CreateICmpNE(Status, B.getInt32(0)));
    for (size_t O = 0; O < U.Outputs.size(); ++O) {
      const Op &Sib = *F.Ops[U.Ops[O]];
      if (Sib.boolAttr("final"))
        continue;
      unsigned Out = Sib.intAttr("output");
      const TensorType &Ty = Out < NK ? CarryT[Out] : YT[Out - NK];
      int Direct = Out < NK ? DirectCarry[Out] : DirectY[Out - NK];
      if (Direct >= 0) {
        // Written in place; a second sibling of the output gets a copy.
        Align A(dtypeBytes(Ty.Elt));
        if (size_t(Direct) != O)
          B.CreateMemCpy(stepAt(K.Outs[O], Ty, Time), A,
                         stepAt(K.Outs[Direct], Ty, Time), A, bytes(Ty));
        continue;
      }
      llvm::Value *Src =
          Out < NK ? B.CreateSelect(Odd, Pong[Out], Ping[Out]) : YBuf[Out - NK];
      copyStep(Ty, K.Outs[O], Src, Time, /*ToSeq=*/true);
    }
  });
  // The last step (index T-1) wrote Ping when T-1 is even.
  for (size_t O = 0; O < U.Outputs.size(); ++O) {
    const Op &Sib = *F.Ops[U.Ops[O]];
    if (!Sib.boolAttr("final"))
      continue;
    unsigned Out = Sib.intAttr("output");
    llvm::Value *Last = (T - 1) % 2 == 0 ? Ping[Out] : Pong[Out];
    if (int D = DirectCarry[Out]; D >= 0)
      Last = stepAt(K.Outs[D], CarryT[Out], K.i64(S.Reverse ? 0 : T - 1));
    Align A(dtypeBytes(CarryT[Out].Elt));
    B.CreateMemCpy(K.Outs[O], A, Last, A, bytes(CarryT[Out]));
  }
}

/// Whether a step's slice of \p Scan's sequences is contiguous where it
/// lies: no dim before the axis is larger than 1 (e.g. time-major).
static bool sliceInPlace(const Op &Scan) {
  ScanShape S;
  S.read(Scan);
  for (int64_t D = 0; D < S.Axis; ++D)
    if (S.seq(Scan, 0)->Type.Dims[D] != 1)
      return false;
  return true;
}

void emitScan(Kernel &K, const Function &F, const StepUnit &U,
              const Function &Body) {
  ScanEmitter(K, F, U, Body).run();
}

} // namespace adj::cg

std::vector<adj::TensorType> adj::scanBuffers(const Module &M, const Op &Scan) {
  ScanShape S;
  S.read(Scan);
  const Function *Body = scanBody(M, Scan);
  std::vector<TensorType> Out;
  for (unsigned C = 0; C < S.Carries; ++C) {
    Out.push_back(S.init(Scan, C)->Type);
    Out.push_back(S.init(Scan, C)->Type);
  }
  if (!cg::sliceInPlace(Scan))
    for (unsigned X = 0; X < S.Seqs; ++X)
      Out.push_back(dropAxis(S.seq(Scan, X)->Type, S.Axis));
  for (size_t J = S.Carries; Body && J < Body->Results.size(); ++J)
    Out.push_back(Body->Results[J].V->Type);
  return Out;
}
