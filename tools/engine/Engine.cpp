//===- Engine.cpp - The compile-and-train engine --------------------------===//
///
/// Compilation is a list of stages: frontend (done by the caller), the pass
/// pipeline on a module holding @forward (autodiff, optimizer, cse, dce),
/// optional f64 conversion, LLVM lowering, and the JIT. The compiled
/// functions are described to the runtime by name and role, which is all
/// the runtime's training loop needs.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Engine.h"

#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "ir/Dot.h"
#include "ir/Printer.h"

#include <chrono>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <sstream>

namespace adj {

CompiledModel::~CompiledModel() = default;

OptimizerConfig optimizerConfig(const OptimizerSpec &S,
                                const std::string &Override) {
  OptimizerConfig C;
  C.Name = S.Name;
  C.Momentum = S.Momentum;
  C.Nesterov = S.Nesterov;
  C.Beta1 = S.Beta1;
  C.Beta2 = S.Beta2;
  C.Eps = S.Eps;
  C.WeightDecay = S.WeightDecay;
  if (!Override.empty() && Override != S.Name) {
    // A different optimizer from the command line takes its own defaults.
    OptimizerConfig D;
    D.Name = Override;
    if (Override == "adamw")
      D.WeightDecay = 0.01;
    return D;
  }
  return C;
}

std::string pipelineFor(Stage Last) {
  if (Last <= Stage::Grad)
    return "autodiff,optimizer";
  return "autodiff,optimizer,cse,dce";
}

void reportPassErrors(const PassContext &Ctx, DiagEngine &Diags,
                      const std::string &Prog, std::ostream &OS) {
  for (auto &[L, Msg] : Ctx.Warnings) {
    if (L.known())
      Diags.warning(L, Msg);
    else
      OS << Prog << ": warning: " << Msg << "\n";
  }
  for (auto &[L, Msg] : Ctx.Errors) {
    if (L.known())
      Diags.error(L, Msg);
    else if (Msg.find(": error: ") != std::string::npos)
      OS << Msg << "\n";
    else
      OS << Prog << ": error: " << Msg << "\n";
  }
}

bool Engine::runPipeline(Module &M, const OptimizerSpec &Spec, Stage Last,
                         std::ostream &Log) {
  PassManager PM(Opts.Passes);
  std::string PipelineErr;
  bool Parsed = PM.parsePipeline(pipelineFor(Last), PipelineErr);
  (void)Parsed;
  PassContext Ctx;
  Ctx.Optimizer = optimizerConfig(Spec, Opts.Optimizer);
  bool Ok = PM.run(M, Ctx, Log);
  reportPassErrors(Ctx, Diags, Prog, Err);
  return Ok;
}

void convertToF64(Module &M) {
  for (auto &F : M.Functions) {
    for (auto &A : F->Args)
      if (A->Type.Elt == DType::F32)
        A->Type.Elt = DType::F64;
    for (auto &O : F->Ops)
      if (O->Result.Type.Elt == DType::F32)
        O->Result.Type.Elt = DType::F64;
  }
}

bool Engine::lowerModule(const Module &M, llvm::LLVMContext &Ctx,
                         std::unique_ptr<llvm::Module> &Out) {
  auto LM = lowerToLLVM(M, Ctx);
  if (!LM) {
    Err << Prog << ": error: " << llvm::toString(LM.takeError()) << "\n";
    return false;
  }
  Out = std::move(*LM);
  return true;
}

bool Engine::emit(ModelSpec &Spec, Stage S, std::string &Out) {
  std::unique_ptr<Module> M = Spec.M->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*M);
  if (S == Stage::IR) {
    Out = printModule(*M);
    return true;
  }
  std::ostringstream Log;
  bool Ok = runPipeline(*M, Spec.Train.Optimizer,
                        S == Stage::Grad ? Stage::Grad : Stage::Opt, Log);
  Err << Log.str();
  if (!Ok)
    return false;
  if (S == Stage::Grad || S == Stage::Opt) {
    Out = printModule(*M);
    return true;
  }
  if (S == Stage::Dot) {
    Out = printDot(*M);
    return true;
  }
  llvm::LLVMContext Ctx;
  std::unique_ptr<llvm::Module> LM;
  if (!lowerModule(*M, Ctx, LM))
    return false;
  auto TM = createHostTargetMachine(Opts.OptLevel);
  if (!TM) {
    Err << Prog << ": error: no LLVM backend for the host CPU\n";
    return false;
  }
  optimizeLLVM(*LM, *TM, Opts.OptLevel);
  if (S == Stage::LLVM) {
    Out = printLLVM(*LM);
    return true;
  }
  if (S == Stage::Asm) {
    auto Asm = emitAssembly(*LM, *TM);
    if (!Asm) {
      Err << Prog << ": error: " << llvm::toString(Asm.takeError()) << "\n";
      return false;
    }
    Out = std::move(*Asm);
    return true;
  }
  Err << Prog << ": error: this output stage is not supported yet\n";
  return false;
}

std::unique_ptr<CompiledModel>
Engine::compile(std::unique_ptr<ModelSpec> Spec) {
  auto Start = std::chrono::steady_clock::now();
  auto CM = std::make_unique<CompiledModel>();
  CM->IR = Spec->M->clone();
  if (Opts.Elt == DType::F64)
    convertToF64(*CM->IR);
  std::ostringstream Log;
  bool Ok = runPipeline(*CM->IR, Spec->Train.Optimizer, Stage::Opt, Log);
  Err << Log.str();
  if (!Ok)
    return nullptr;
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> LM;
  if (!lowerModule(*CM->IR, *Ctx, LM))
    return nullptr;
  auto J = JIT::create(Opts.OptLevel);
  if (!J) {
    Err << Prog << ": error: " << llvm::toString(J.takeError()) << "\n";
    return nullptr;
  }
  CM->Jit = std::move(*J);
  if (auto E = CM->Jit->addModule(std::move(LM), std::move(Ctx))) {
    Err << Prog << ": error: " << llvm::toString(std::move(E)) << "\n";
    return nullptr;
  }
  auto Train = CM->Jit->lookup("train_step");
  auto Eval = Train ? CM->Jit->lookup("forward")
                    : llvm::Expected<void *>(Train.takeError());
  if (!Eval) {
    Err << Prog << ": error: " << llvm::toString(Eval.takeError()) << "\n";
    return nullptr;
  }
  CM->Spec = std::move(Spec);
  CM->describe(*Train, *Eval);
  CM->CompileSeconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - Start)
                           .count();
  return CM;
}

static adj_rt_role roleOf(ArgRole R) {
  switch (R) {
  case ArgRole::Input:
    return ADJ_RT_ARG_INPUT;
  case ArgRole::Param:
    return ADJ_RT_ARG_PARAM;
  case ArgRole::State:
    return ADJ_RT_ARG_STATE;
  case ArgRole::Hyper:
    return ADJ_RT_ARG_HYPER;
  }
  return ADJ_RT_ARG_INPUT;
}

void CompiledModel::describe(void *TrainFn, void *EvalFn) {
  // Reserve so that pointers into the stores stay valid.
  size_t Count = 16;
  for (auto &F : IR->Functions)
    Count += F->Args.size() + F->Results.size();
  Count += Spec->Params.size() + Spec->Data.size() + Spec->Labels.size();
  DimStore.reserve(Count);
  StrStore.reserve(Count * 2);
  auto Str = [&](const std::string &S) {
    StrStore.push_back(S);
    return StrStore.back().c_str();
  };
  auto Dims = [&](const std::vector<int64_t> &D) {
    DimStore.push_back(D);
    return DimStore.back().data();
  };
  auto Describe = [&](const Function &F, std::vector<adj_rt_value_desc> &Args,
                      std::vector<adj_rt_value_desc> &Results) {
    for (size_t I = 0; I < F.Args.size(); ++I) {
      const Value &A = *F.Args[I];
      Args.push_back({Str(A.Name), roleOf(F.Roles[I]),
                      adj_rt_dtype(A.Type.Elt), int(A.Type.rank()),
                      Dims(A.Type.Dims)});
    }
    for (const Result &R : F.Results)
      Results.push_back({Str(R.Name), ADJ_RT_ARG_INPUT,
                         adj_rt_dtype(R.V->Type.Elt), int(R.V->Type.rank()),
                         Dims(R.V->Type.Dims)});
  };
  const Function &Train = *IR->function("train_step");
  const Function &Eval = *IR->function("forward");
  Describe(Train, TrainArgs, TrainResults);
  Describe(Eval, EvalArgs, EvalResults);
  for (const ParamSpec &P : Spec->Params)
    Params.push_back({Str(P.Name), int(P.Type.rank()), Dims(P.Type.Dims),
                      P.Init, P.A, P.B, P.Frozen ? 1 : 0});
  for (const DataSpec &D : Spec->Data)
    Data.push_back({Str(D.Split), Str(D.Input), D.Format, Str(D.Path),
                    D.Scale});
  for (const LabelSpec &L : Spec->Labels)
    Labels.push_back({Str(L.Input), L.Classes,
                      Str(fmt::format("{}:{}:{}", L.L.File, L.L.Line,
                                      L.L.Col))});
  Desc.name = Str(Spec->Name);
  Desc.train_step = {"train_step", adj_rt_step_fn(TrainFn),
                     int(TrainArgs.size()), TrainArgs.data(),
                     int(TrainResults.size()), TrainResults.data()};
  Desc.eval_step = {"eval_step", adj_rt_step_fn(EvalFn), int(EvalArgs.size()),
                    EvalArgs.data(), int(EvalResults.size()),
                    EvalResults.data()};
  Desc.num_params = Params.size();
  Desc.params = Params.data();
  Desc.num_data = Data.size();
  Desc.data = Data.data();
  Desc.num_labels = Labels.size();
  Desc.labels = Labels.data();
  Desc.optimizer = Str(Spec->Train.Optimizer.Name);
  Desc.lr = Spec->Train.Optimizer.Lr;
  Desc.batch = Spec->Train.Batch;
  Desc.epochs = Spec->Train.Epochs;
  Desc.seed = Spec->Train.Seed;
}

} // namespace adj
