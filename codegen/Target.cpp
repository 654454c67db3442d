//===- Target.cpp - Host target, optimisation and native code emission ----===//
///
/// Everything that depends on the machine: the host's triple, CPU name and
/// features (from ORC's JITTargetMachineBuilder::detectHost, which asks
/// sys::getHostCPUName and sys::getHostCPUFeatures; ADJ_CPU=name targets
/// another x86 CPU, e.g. znver3 for AVX2 code on an AVX-512 host),
/// TargetMachines built
/// from them, the new pass manager's default O0-O3 pipelines run with the
/// TargetMachine (so the vectoriser's cost model knows the vector units and
/// FMA), after which the arithmetic is made exact (makeArithmeticExact:
/// every code generator computes the same bits from it), and assembly /
/// object emission with the legacy code generation
/// pass manager (LLVM 16 has no other).
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"

#include "llvm/CodeGen/ExpandReductions.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/X86TargetParser.h"
#include "llvm/Transforms/IPO/MergeFunctions.h"
#include <cstdlib>
#include <optional>

namespace adj {

using namespace llvm;

static void initNativeTarget() {
  static const bool Done = [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
    InitializeNativeTargetAsmParser();
    return true;
  }();
  (void)Done;
}

static CodeGenOpt::Level codeGenLevel(int OptLevel) {
  switch (OptLevel) {
  case 0:
    return CodeGenOpt::None;
  case 1:
    return CodeGenOpt::Less;
  case 2:
    return CodeGenOpt::Default;
  default:
    return CodeGenOpt::Aggressive;
  }
}

/// With ADJ_CPU set (x86 only), \p JTMB targets that CPU and exactly the
/// features it implies instead of the host's: ADJ_CPU=znver3 on an
/// AVX-512 host generates the AVX2 code an AVX2-only machine runs.
static Error overrideCPU(orc::JITTargetMachineBuilder &JTMB) {
  const char *CPU = std::getenv("ADJ_CPU");
  if (!CPU || !*CPU)
    return Error::success();
  SmallVector<StringRef> Implied;
  if (JTMB.getTargetTriple().isX86())
    X86::getFeaturesForCPU(CPU, Implied);
  if (Implied.empty())
    return createStringError(inconvertibleErrorCode(),
                             "ADJ_CPU: unknown x86 CPU '%s' (e.g. znver3, "
                             "znver4, skylake-avx512, x86-64-v3)",
                             CPU);
  std::vector<std::string> Features;
  for (StringRef F : Implied)
    Features.push_back(("+" + F).str());
  JTMB.setCPU(CPU);
  JTMB.getFeatures() = SubtargetFeatures();
  JTMB.addFeatures(Features);
  return Error::success();
}

/// The host's builder, detected once: detection executes CPUID dozens of
/// times (sys::getHostCPUName and getHostCPUFeatures), which traps to the
/// hypervisor in a virtual machine, and a cold compile builds about ten
/// target machines, half of them on the way to the first step.
static Expected<orc::JITTargetMachineBuilder> detectHostOnce() {
  static const std::optional<orc::JITTargetMachineBuilder> Host =
      []() -> std::optional<orc::JITTargetMachineBuilder> {
    auto JTMB = orc::JITTargetMachineBuilder::detectHost();
    if (!JTMB) {
      consumeError(JTMB.takeError());
      return std::nullopt;
    }
    return std::move(*JTMB);
  }();
  if (!Host)
    return orc::JITTargetMachineBuilder::detectHost(); // its error
  return *Host;
}

Expected<orc::JITTargetMachineBuilder> hostBuilder(int OptLevel) {
  initNativeTarget();
  auto JTMB = detectHostOnce();
  if (!JTMB)
    return JTMB.takeError();
  if (Error E = overrideCPU(*JTMB))
    return E;
  JTMB->setRelocationModel(Reloc::PIC_);
  JTMB->setCodeGenOptLevel(codeGenLevel(OptLevel));
  return JTMB;
}

HostTarget detectHostTarget() {
  auto JTMB = hostBuilder(2);
  if (!JTMB) {
    consumeError(JTMB.takeError());
    return {sys::getProcessTriple(), sys::getHostCPUName().str(), ""};
  }
  return {JTMB->getTargetTriple().str(), JTMB->getCPU(),
          JTMB->getFeatures().getString()};
}

Expected<std::unique_ptr<TargetMachine>> createHostTargetMachine(int OptLevel) {
  auto JTMB = hostBuilder(OptLevel);
  if (!JTMB)
    return JTMB.takeError();
  return JTMB->createTargetMachine();
}

/// Runs the module passes \p Build adds, with the new pass manager's
/// analyses registered for \p TM (null: no target).
static void
runModulePasses(llvm::Module &LM, TargetMachine *TM,
                const PipelineTuningOptions &PTO,
                function_ref<void(PassBuilder &, ModulePassManager &)> Build) {
  LoopAnalysisManager LAM;
  FunctionAnalysisManager FAM;
  CGSCCAnalysisManager CGAM;
  ModuleAnalysisManager MAM;
  PassBuilder PB(TM, PTO);
  PB.registerModuleAnalyses(MAM);
  PB.registerCGSCCAnalyses(CGAM);
  PB.registerFunctionAnalyses(FAM);
  PB.registerLoopAnalyses(LAM);
  PB.crossRegisterProxies(LAM, FAM, CGAM, MAM);
  ModulePassManager MPM;
  Build(PB, MPM);
  MPM.run(LM, MAM);
}

/// Whether \p TM's features include FMA (then fusing a multiply into an add
/// is what the code generator would have done with `contract`).
static bool hasFMA(const TargetMachine &TM) {
  SmallVector<StringRef> Features;
  TM.getTargetFeatureString().split(Features, ',');
  return llvm::is_contained(Features, "+fma");
}

/// \p V as a multiply the code generator would fuse into its user \p Add:
/// `contract`, one use, in the same block (the DAG sees one block).
static BinaryOperator *fusibleMul(llvm::Value *V, const Instruction &Add) {
  auto *Mul = dyn_cast<BinaryOperator>(V);
  if (!Mul || Mul->getOpcode() != Instruction::FMul || !Mul->hasOneUse() ||
      !Mul->hasAllowContract() || Mul->getParent() != Add.getParent())
    return nullptr;
  return Mul;
}

/// Replaces \p I (an fadd or fsub with `contract`) by an llvm.fma of one of
/// its multiplies, as SelectionDAG's FMA combines do: the first operand's
/// multiply first; fsub negates the addend or a factor (exact).
static bool fuseIntoFMA(Instruction &I) {
  if (!I.hasAllowContract())
    return false;
  bool Sub = I.getOpcode() == Instruction::FSub;
  if (!Sub && I.getOpcode() != Instruction::FAdd)
    return false;
  IRBuilder<> B(&I);
  llvm::Value *A, *M, *C;
  BinaryOperator *Mul;
  if ((Mul = fusibleMul(I.getOperand(0), I))) {
    A = Mul->getOperand(0);
    M = Mul->getOperand(1);
    C = Sub ? B.CreateFNeg(I.getOperand(1)) : I.getOperand(1);
  } else if ((Mul = fusibleMul(I.getOperand(1), I))) {
    A = Sub ? B.CreateFNeg(Mul->getOperand(0)) : Mul->getOperand(0);
    M = Mul->getOperand(1);
    C = I.getOperand(0);
  } else {
    return false;
  }
  llvm::Value *F = B.CreateIntrinsic(Intrinsic::fma, {I.getType()}, {A, M, C});
  F->takeName(&I);
  I.replaceAllUsesWith(F);
  I.eraseFromParent();
  Mul->eraseFromParent();
  return true;
}

/// Makes the floating-point arithmetic of optimised \p LM exact: afterwards
/// any code generator (FastISel at -O0 or SelectionDAG at -O2, which
/// otherwise contract and reassociate differently) computes the same bits,
/// so tiered compilation's quick and optimised code agree. Reductions are
/// expanded as CodeGen's ExpandReductions would, multiplies fused into
/// adds (with FMA) as SelectionDAG's combines would, llvm.fmuladd made
/// explicit, and then every fast-math flag is dropped.
static void makeArithmeticExact(llvm::Module &LM, TargetMachine &TM) {
  runModulePasses(
      LM, &TM, PipelineTuningOptions(),
      [](PassBuilder &, ModulePassManager &MPM) {
        MPM.addPass(createModuleToFunctionPassAdaptor(ExpandReductionsPass()));
      });
  bool FMA = hasFMA(TM);
  for (llvm::Function &F : LM)
    for (BasicBlock &BB : F)
      for (Instruction &I : make_early_inc_range(BB)) {
        if (auto *II = dyn_cast<IntrinsicInst>(&I);
            II && II->getIntrinsicID() == Intrinsic::fmuladd) {
          IRBuilder<> B(II);
          llvm::Value *R =
              FMA ? B.CreateIntrinsic(Intrinsic::fma, {II->getType()},
                                      {II->getArgOperand(0),
                                       II->getArgOperand(1),
                                       II->getArgOperand(2)})
                  : B.CreateFAdd(B.CreateFMul(II->getArgOperand(0),
                                              II->getArgOperand(1)),
                                 II->getArgOperand(2));
          R->takeName(II);
          II->replaceAllUsesWith(R);
          II->eraseFromParent();
          continue;
        }
        if (FMA)
          fuseIntoFMA(I);
      }
  for (llvm::Function &F : LM)
    for (Instruction &I : instructions(F))
      if (isa<FPMathOperator>(I))
        I.copyFastMathFlags(FastMathFlags()); // clears: set ORs
}

void optimizeLLVM(llvm::Module &LM, TargetMachine &TM, int OptLevel) {
  LM.setTargetTriple(TM.getTargetTriple().str());
  LM.setDataLayout(TM.createDataLayout());
  for (llvm::Function &F : LM) {
    if (F.isDeclaration())
      continue;
    F.addFnAttr("target-cpu", TM.getTargetCPU());
    F.addFnAttr("target-features", TM.getTargetFeatureString());
  }

  PipelineTuningOptions PTO;
  PTO.LoopVectorization = OptLevel >= 2;
  PTO.SLPVectorization = OptLevel >= 2;
  runModulePasses(LM, &TM, PTO, [&](PassBuilder &PB, ModulePassManager &MPM) {
    // @train_step repeats @forward's kernels (same ops, same shapes, same
    // code): merging identical functions first halves that part of the
    // optimisation and code generation (~15% of the MNIST compile).
    if (OptLevel >= 1)
      MPM.addPass(MergeFunctionsPass());
    switch (OptLevel) {
    case 0:
      MPM.addPass(PB.buildO0DefaultPipeline(OptimizationLevel::O0));
      break;
    case 1:
      MPM.addPass(PB.buildPerModuleDefaultPipeline(OptimizationLevel::O1));
      break;
    case 2:
      MPM.addPass(PB.buildPerModuleDefaultPipeline(OptimizationLevel::O2));
      break;
    default:
      MPM.addPass(PB.buildPerModuleDefaultPipeline(OptimizationLevel::O3));
      break;
    }
  });
  makeArithmeticExact(LM, TM);
}

void mergeIdenticalFunctions(llvm::Module &LM) {
  runModulePasses(LM, nullptr, PipelineTuningOptions(),
                  [](PassBuilder &, ModulePassManager &MPM) {
                    MPM.addPass(MergeFunctionsPass());
                  });
}

std::string printLLVM(const llvm::Module &LM) {
  std::string S;
  raw_string_ostream OS(S);
  LM.print(OS, nullptr);
  return OS.str();
}

/// Runs the code generator on \p LM, writing \p Kind to \p OS.
static Error emit(llvm::Module &LM, TargetMachine &TM, raw_pwrite_stream &OS,
                  CodeGenFileType Kind) {
  if (LM.getDataLayout().isDefault())
    LM.setDataLayout(TM.createDataLayout());
  if (LM.getTargetTriple().empty())
    LM.setTargetTriple(TM.getTargetTriple().str());
  legacy::PassManager PM;
  if (TM.addPassesToEmitFile(PM, OS, nullptr, Kind))
    return createStringError(inconvertibleErrorCode(),
                             "codegen: the target cannot emit this file type");
  PM.run(LM);
  return Error::success();
}

Expected<std::string> emitAssembly(llvm::Module &LM, TargetMachine &TM) {
  SmallString<0> Buf;
  raw_svector_ostream OS(Buf);
  if (Error E = emit(LM, TM, OS, CGFT_AssemblyFile))
    return E;
  return std::string(Buf.str());
}

Error emitObjectFile(llvm::Module &LM, TargetMachine &TM,
                     const std::string &Path) {
  std::error_code EC;
  raw_fd_ostream OS(Path, EC, sys::fs::OF_None);
  if (EC)
    return createStringError(EC, "cannot open '%s': %s", Path.c_str(),
                             EC.message().c_str());
  if (Error E = emit(LM, TM, OS, CGFT_ObjectFile))
    return E;
  OS.close();
  if (OS.has_error())
    return createStringError(OS.error(), "cannot write '%s'", Path.c_str());
  return Error::success();
}

} // namespace adj
