//===- Check.cpp - The checked step a failing step is re-run in ----------===//
///
/// When a step's loss or update is not finite, the runtime re-runs it in a
/// checked mode to name the first op that produced a non-finite value (see
/// runtime/Anomaly.cpp). The checked step is @train_step as the autodiff
/// pass and the cleanups build it (no optimizer: the loss and gradients),
/// without fusion, lowered op by op with every result checked
/// (LowerOptions::CheckFunction). Its ops keep their source locations, which
/// the description's sites carry to the runtime.
///
/// `adjc --run` and the REPL compile it into the model's JIT only when the
/// runtime asks (Engine::compileCheckStep, called through
/// adj_rt_model::check_step), so a run that stays finite pays nothing; a
/// native trainer has it compiled in (AOT.cpp), as it has no compiler.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "tools/engine/Engine.h"
#include "tools/engine/GradCheck.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <map>
#include <sstream>

namespace adj {

std::unique_ptr<Module> buildCheckModule(const ModelSpec &Spec,
                                         const EngineOptions &Opts) {
  std::unique_ptr<Module> M = Spec.M->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*M);
  PassManagerOptions PO;
  PO.VerifyEach = Opts.Passes.VerifyEach;
  auto PM = passPipeline(kGradCheckPipeline, PO);
  if (!PM) {
    llvm::consumeError(PM.takeError());
    return nullptr;
  }
  PassContext Ctx;
  std::ostringstream Log;
  if (!PM->run(*M, Ctx, Log) || !M->function("train_step"))
    return nullptr;
  // Only @train_step and the functions it calls (scan bodies), renamed.
  std::map<std::string, std::string> Renamed;
  for (auto &F : M->Functions)
    Renamed[F->Name] =
        F->Name == "train_step" ? kCheckStepName : "check." + F->Name;
  std::vector<std::unique_ptr<Function>> Kept;
  for (auto &F : M->Functions) {
    if (F->Name == "forward" || F->Name == "predict")
      continue;
    F->Name = Renamed[F->Name];
    for (auto &O : F->Ops) {
      auto It = O->Attributes.find("body");
      if (It == O->Attributes.end())
        continue;
      if (auto *Body = std::get_if<std::string>(&It->second))
        if (Renamed.count(*Body))
          *Body = Renamed[*Body];
    }
    Kept.push_back(std::move(F));
  }
  M->Functions = std::move(Kept);
  return M;
}

const adj_rt_check_step *Engine::compileCheckStep(void *Ctx) {
  auto &CM = *static_cast<CompiledModel *>(Ctx);
  if (CM.CheckTried)
    return CM.CheckStep;
  CM.CheckTried = true;
  std::unique_ptr<Module> M = buildCheckModule(*CM.Spec, CM.CheckOpts);
  if (!M)
    return nullptr;
  LowerOptions Lower = CM.CheckOpts.Lower;
  Lower.CheckFunction = kCheckStepName;
  auto LCtx = std::make_unique<llvm::LLVMContext>();
  auto LM = lowerToLLVM(*M, *LCtx, Lower);
  if (!LM) {
    llvm::consumeError(LM.takeError());
    return nullptr;
  }
  if (llvm::Error E = CM.Jit->addModule(std::move(*LM), std::move(LCtx))) {
    llvm::consumeError(std::move(E));
    return nullptr;
  }
  bool Failed = false;
  auto Resolve = [&](const std::string &Name) -> void * {
    auto Sym = CM.Jit->lookup(Name);
    if (!Sym) {
      llvm::consumeError(Sym.takeError());
      Failed = true;
      return nullptr;
    }
    return *Sym;
  };
  const adj_rt_check_step &Step =
      CM.Description->describeCheck(*M->function(kCheckStepName), Resolve);
  if (Failed)
    return nullptr;
  CM.CheckIR = std::move(M);
  CM.CheckStep = &Step;
  return CM.CheckStep;
}

} // namespace adj
