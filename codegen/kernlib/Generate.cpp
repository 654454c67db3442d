//===- Generate.cpp - The kernel library's generator ----------------------===//
///
/// `adj-kernlib-gen ISA OUT.o`, run by the build: defines every GEMM of
/// codegen/KernelLib.def for ISA (avx512 or avx2) with the code generator
/// the JIT uses (emitLibraryGemm, GemmLibrary.cpp) and compiles them at O2 to
/// the object file OUT.o, which the build archives into adjoint_rt. The
/// target is x86-64-v4 (AVX-512F/BW/CD/DQ/VL) or x86-64-v3 (AVX2, FMA),
/// tuned for Sapphire Rapids or Zen 3; the output depends on neither the
/// build machine's CPU nor its ADJ_CPU.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Gemm.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdlib>
#include <string>

using namespace adj;
using namespace adj::cg;

int main(int argc, char **argv) {
  std::string Isa = argc == 3 ? argv[1] : "";
  if (Isa != "avx512" && Isa != "avx2") {
    llvm::errs() << "usage: adj-kernlib-gen avx512|avx2 OUT.o\n";
    return 1;
  }
  KernelIsa Kind = Isa == "avx512" ? KernelIsa::AVX512 : KernelIsa::AVX2;
  // The target every caller of the variant has (libraryIsaFor checks).
  setenv("ADJ_CPU", Kind == KernelIsa::AVX512 ? "x86-64-v4" : "x86-64-v3", 1);
  const char *Tune = Kind == KernelIsa::AVX512 ? "sapphirerapids" : "znver3";

  llvm::LLVMContext Ctx;
  llvm::Module M("adjoint_kernlib_" + Isa, Ctx);
#define ADJ_KL_GEMM(I, Elt, TA, TB, NV, Acc)                                   \
  if (Isa == #I)                                                               \
    emitLibraryGemm(M, Kind, std::string(#Elt) == "f64", #TA[0] == 't',        \
                    #TB[0] == 't', NV, Acc);
#include "codegen/KernelLib.def"
  for (llvm::Function &F : M)
    if (!F.isDeclaration())
      F.addFnAttr("tune-cpu", Tune);

  auto TM = createHostTargetMachine(2);
  if (!TM) {
    llvm::errs() << "adj-kernlib-gen: " << llvm::toString(TM.takeError())
                 << "\n";
    return 1;
  }
  optimizeLLVM(M, **TM, 2);
  if (llvm::Error E = emitObjectFile(M, **TM, argv[2])) {
    llvm::errs() << "adj-kernlib-gen: " << llvm::toString(std::move(E)) << "\n";
    return 1;
  }
  return 0;
}
