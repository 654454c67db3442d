//===- JIT.cpp - ORC LLJIT for the host -----------------------------------===//
///
/// Builds the LLJIT from the detected host machine builder and a matching
/// TargetMachine for the optimisation pipeline, refusing a builder without
/// a CPU name or features (the JIT would silently fall back to a generic
/// x86-64 without AVX2/FMA). The process's own symbols are the fallback
/// definition generator, so generated code calls the C library directly;
/// the runtime's adj_rt_parallel_for is defined explicitly.
///
//===----------------------------------------------------------------------===//
#include "codegen/JIT.h"
#include "runtime/adjoint_rt.h"

#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

namespace adj {

using namespace llvm;

JIT::~JIT() = default;

Expected<std::unique_ptr<JIT>> JIT::create(int OptLevel) {
  std::unique_ptr<JIT> Self(new JIT());
  Self->OptLevel = OptLevel;
  Self->Host = detectHostTarget();
  Self->TM = createHostTargetMachine(OptLevel);
  if (!Self->TM)
    return createStringError(inconvertibleErrorCode(),
                             "jit: no LLVM backend for the host '%s'",
                             Self->Host.Triple.c_str());

  auto JTMB = orc::JITTargetMachineBuilder::detectHost();
  if (!JTMB)
    return JTMB.takeError();
  if (JTMB->getCPU().empty() || JTMB->getFeatures().getFeatures().empty())
    return createStringError(inconvertibleErrorCode(),
                             "jit: could not detect the host CPU and features");
  JTMB->setCodeGenOptLevel(Self->TM->getOptLevel());
  JTMB->setRelocationModel(Reloc::PIC_);

  auto J = orc::LLJITBuilder().setJITTargetMachineBuilder(*JTMB).create();
  if (!J)
    return J.takeError();
  Self->J = std::move(*J);
  auto Gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      Self->J->getDataLayout().getGlobalPrefix());
  if (!Gen)
    return Gen.takeError();
  Self->J->getMainJITDylib().addGenerator(std::move(*Gen));
  // The runtime entry points generated code calls, defined explicitly: the
  // executable need not export them to its dynamic symbol table.
  orc::MangleAndInterner Mangle(Self->J->getExecutionSession(),
                                Self->J->getDataLayout());
  orc::SymbolMap Runtime;
  Runtime[Mangle("adj_rt_parallel_for")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_parallel_for);
  if (Error E = Self->J->getMainJITDylib().define(
          orc::absoluteSymbols(std::move(Runtime))))
    return E;
  return Self;
}

Error JIT::addModule(std::unique_ptr<llvm::Module> M,
                     std::unique_ptr<LLVMContext> Ctx) {
  optimizeLLVM(*M, *TM, OptLevel);
  M->setDataLayout(J->getDataLayout());
  return J->addIRModule(orc::ThreadSafeModule(std::move(M), std::move(Ctx)));
}

Expected<void *> JIT::lookup(const std::string &Name) {
  auto Addr = J->lookup(Name);
  if (!Addr)
    return Addr.takeError();
  return Addr->toPtr<void *>();
}

} // namespace adj
