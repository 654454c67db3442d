//===- AOT.cpp - Native trainer executables -------------------------------===//
///
/// `adjc MODEL -o TRAINER`: the model's step functions (with a train step
/// for every optimizer, so the trainer's --optimizer can choose) are
/// compiled for the host CPU (explicit CPU name and features) to object
/// files, one per part of the module compiled on a thread of its own (see
/// compileObjectFiles), the model description is emitted as C source with a
/// main() calling adj_rt_trainer_main, and both are linked with the runtime's
/// static library by the system C/C++ driver. The checked step a failing
/// step is re-run in (Check.cpp) is compiled in too, so that the trainer
/// names the op that made a loss non-finite. The trainer needs neither
/// LLVM nor the model file at run time; the data paths of the model's
/// data { } block are made absolute and serve as defaults. With --mpi the
/// main() calls adj_rt_mpi_trainer_main and the trainer also links
/// adjoint_rt_mpi and the MPI libraries found when adjc was built.
///
/// Everything is built in a private temporary directory; the linked trainer
/// is then written to its destination by the runtime's atomic writer
/// (adj_rt_write_file: a temporary file next to it, fsync, rename), so that
/// a full disk or a read-only directory leaves any previous trainer intact
/// and is reported as "'TRAINER': cannot write trainer: reason".
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "runtime/adjoint_rt_io.h"
#include "tools/engine/Engine.h"

#include <chrono>
#include <fmt/format.h>
#include <fstream>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>

#ifndef ADJ_RT_LIBRARY
#error "ADJ_RT_LIBRARY must name the runtime's static library"
#endif
#ifndef ADJ_RT_INCLUDE
#error "ADJ_RT_INCLUDE must name the directory holding runtime/adjoint_rt.h"
#endif

namespace adj {

/// Runs \p Args[0] (looked up on PATH); false with \p Err set on failure.
static bool run(const std::vector<std::string> &Args, std::string &Err) {
  auto Prog = llvm::sys::findProgramByName(Args[0]);
  if (!Prog) {
    Err = fmt::format("cannot find '{}' to link the trainer", Args[0]);
    return false;
  }
  std::vector<llvm::StringRef> Refs(Args.begin(), Args.end());
  std::string Msg;
  int RC = llvm::sys::ExecuteAndWait(*Prog, Refs, std::nullopt, {}, 0, 0, &Msg);
  if (RC != 0) {
    Err = fmt::format("'{}' failed{}{}", fmt::join(Args, " "),
                      Msg.empty() ? "" : ": ", Msg);
    return false;
  }
  return true;
}

/// The C++ driver's command linking the trainer from the description's
/// object, the model's objects and the runtime.
static std::vector<std::string>
linkCommand(const std::string &OutPath, const std::string &DescObj,
            const std::vector<std::string> &ModelObjs, bool Mpi) {
#ifndef ADJ_RT_CXX
#define ADJ_RT_CXX "c++"
#endif
  std::vector<std::string> Cmd = {ADJ_RT_CXX, "-pthread", "-o", OutPath,
                                  DescObj};
  Cmd.insert(Cmd.end(), ModelObjs.begin(), ModelObjs.end());
#ifdef ADJ_RT_MPI_LIBRARY
  if (Mpi) {
    Cmd.push_back(ADJ_RT_MPI_LIBRARY);
    llvm::SmallVector<llvm::StringRef, 4> Libs;
    llvm::StringRef(ADJ_MPI_LINK).split(Libs, '|', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef L : Libs)
      Cmd.push_back(L.str());
  }
#endif
  for (const char *A : {ADJ_RT_LIBRARY, "-lz", "-lm"})
    Cmd.push_back(A);
#ifdef ADJ_RT_SANITIZE
  // A sanitizer build's runtime needs the sanitizer's runtime too (of the
  // compiler that built it: ADJ_RT_CXX).
  Cmd.push_back("-fsanitize=" ADJ_RT_SANITIZE);
#endif
  return Cmd;
}

bool Engine::buildTrainer(const ModelSpec &Spec, const std::string &OutPath) {
#ifndef ADJ_RT_MPI_LIBRARY
  if (Opts.Mpi) {
    Err << Prog
        << ": error: --mpi: this adjc was built without MPI (install "
           "openmpi-bin and libopenmpi-dev, then rebuild Adjoint)\n";
    return false;
  }
#endif
  if (llvm::sys::fs::is_directory(OutPath)) {
    Err << Prog << ": error: cannot write the trainer to '" << OutPath
        << "': it is a directory\n";
    return false;
  }
  // Data paths become absolute so the trainer runs from any directory.
  std::unique_ptr<ModelSpec> AbsSpec = Spec.clone();
  ModelSpec &Abs = *AbsSpec;
  auto MakeAbsolute = [](std::string &Path) {
    llvm::SmallString<256> P(Path);
    if (!llvm::sys::fs::make_absolute(P)) {
      llvm::sys::path::remove_dots(P, /*remove_dot_dot=*/true);
      Path = std::string(P);
    }
  };
  for (DataSpec &D : Abs.Data)
    MakeAbsolute(D.Path);
  for (ParamSpec &P : Abs.Params) // pretrained() files
    if (!P.File.empty())
      MakeAbsolute(P.File);

  std::unique_ptr<Module> M = buildIR(Abs, /*AllOptimizers=*/true);
  if (!M)
    return false;
  // The checked step the runtime re-runs a non-finite step in (Check.cpp).
  std::unique_ptr<Module> CheckM = buildCheckModule(Abs, Opts);
  if (CheckM)
    for (auto &F : CheckM->Functions)
      M->Functions.push_back(std::move(F));
  LowerOptions Lower = Opts.Lower;
  if (CheckM)
    Lower.CheckFunction = kCheckStepName;
  llvm::LLVMContext Ctx;
  auto Lowered = lowerToLLVM(*M, Ctx, Lower);
  if (!Lowered)
    return fail(Lowered.takeError());
  std::unique_ptr<llvm::Module> LM = std::move(*Lowered);

  llvm::SmallString<128> Dir;
  if (auto EC = llvm::sys::fs::createUniqueDirectory("adjc-trainer", Dir)) {
    Err << Prog
        << ": error: cannot create a temporary directory: " << EC.message()
        << "\n";
    return false;
  }
  std::string Src = std::string(Dir) + "/model.c";
  std::string DescObj = std::string(Dir) + "/desc.o";
  std::string Linked = std::string(Dir) + "/trainer";
  std::vector<std::string> Objs;
  auto Cleanup = [&] {
    for (const std::string &F : Objs)
      llvm::sys::fs::remove(F);
    for (const std::string &F : {Src, DescObj, Linked})
      llvm::sys::fs::remove(F);
    llvm::sys::fs::remove(Dir);
  };
  // The model's code in parts compiled on threads of their own.
  auto Compiled = compileObjectFiles(
      *LM, Opts.OptLevel, defaultCompileThreads(), std::string(Dir) + "/model");
  if (!Compiled) {
    Err << Prog << ": error: " << llvm::toString(Compiled.takeError()) << "\n";
    Cleanup();
    return false;
  }
  Objs = std::move(*Compiled);
  auto NoAddress = [](const std::string &) -> void * { return nullptr; };
  ModelDescription Desc(*M, Abs, optimizerName(Abs), NoAddress, Lower);
  if (CheckM)
    Desc.describeCheck(*M->function(kCheckStepName), NoAddress);
  {
    std::ofstream OS(Src, std::ios::binary);
    OS << Desc.emitC(Opts.Mpi);
    if (!OS) {
      Err << Prog << ": error: cannot write '" << Src << "'\n";
      Cleanup();
      return false;
    }
  }
  std::string LinkErr;
  bool Ok = run({"cc", "-c", "-O1", "-I", ADJ_RT_INCLUDE, Src, "-o", DescObj},
                LinkErr) &&
            run(linkCommand(Linked, DescObj, Objs, Opts.Mpi), LinkErr);
  if (!Ok) {
    Cleanup();
    Err << Prog << ": error: " << LinkErr << "\n";
    return false;
  }
  auto Exe = llvm::MemoryBuffer::getFile(Linked, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!Exe) {
    Cleanup();
    Err << Prog << ": error: cannot read the linked trainer '" << Linked
        << "': " << Exe.getError().message() << "\n";
    return false;
  }
  int RC =
      adj_rt_write_file(OutPath.c_str(), "trainer", (*Exe)->getBufferStart(),
                        (*Exe)->getBufferSize(), 0777);
  Exe->reset();
  Cleanup();
  if (RC) {
    Err << Prog << ": error: " << adj_rt_last_error() << "\n";
    return false;
  }
  return true;
}

} // namespace adj
