//===- Codegen.h - Lowering Adjoint IR to LLVM and native code --*- C++ -*-===//
///
/// The code generator: lowers every function of an adj::Module to LLVM IR,
/// optimises it for the host CPU and emits assembly or object files. The JIT
/// (JIT.h) builds on the same pieces.
///
/// Each adj::Function F becomes one externally visible step function
///
///   i32 @<F.Name>(i64 %n, ptr %args, ptr %results)
///
/// where `n` is the run-time batch size, `args` points to one buffer pointer
/// per argument (scalars too) and `results` to one caller-allocated buffer
/// per result, both in declaration order (the runtime's adj_rt_step_fn).
/// It returns 0, 1 when the data was invalid (an integer label outside
/// [0, C)), or 2 when its scratch memory could not be allocated. Every op
/// becomes an internal kernel `@<F.Name>.<index>.<mnemonic>(out, operands...,
/// i64 n)` with `noalias` pointers that the step function calls in order,
/// except that elementwise chains of one shape share one loop nest (loop
/// groups, `@<F.Name>.<i>-<j>-....group`; see StepPlan.h); intermediates
/// live in the slices of one malloc'ed scratch buffer that the plan lays
/// out (ArenaPlan) and the step keeps between calls. A result that the plan
/// marks in place (StepPlan::InPlace) may be passed the buffer of the
/// argument of the same name: the function computes the same either way.
/// Large matmuls and elementwise, fused and reduction kernels hand their
/// work to the runtime's adj_rt_parallel_for in tasks fixed by the problem
/// size (Kernel::parallel), so results do not depend on the thread count.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_CODEGEN_H
#define ADJ_CODEGEN_CODEGEN_H

#include "codegen/StepPlan.h"
#include "ir/IR.h"

#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace adj {

/// The host CPU as LLVM sees it: target triple, CPU name (e.g. znver3) and
/// subtarget feature string (e.g. "+avx2,+fma,-avx512f,...").
struct HostTarget {
  std::string Triple, CPU, Features;
};

/// Detects the host with llvm::orc::JITTargetMachineBuilder::detectHost()
/// (sys::getHostCPUName and sys::getHostCPUFeatures), or ADJ_CPU's target
/// (see hostBuilder). Initialises LLVM's native target on first use.
HostTarget detectHostTarget();

/// The machine builder of the host CPU (or of ADJ_CPU, an x86 CPU name, with
/// the features it implies) with PIC relocation and the code generation
/// level of \p OptLevel (0-3): what the JIT, object files and the cache key
/// use. An error for an unknown ADJ_CPU or a host LLVM cannot detect.
llvm::Expected<llvm::orc::JITTargetMachineBuilder> hostBuilder(int OptLevel);

/// A TargetMachine from hostBuilder(\p OptLevel), or why there is none.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createHostTargetMachine(int OptLevel);

/// Lowers every function of \p M to LLVM IR (one step function each, see
/// above, planned by planStep with \p Opts). Returns an error for IR it
/// cannot lower; never asserts on IR that passes the verifier. The result
/// has no triple or data layout yet: optimizeLLVM (or the JIT) sets them
/// from the target machine.
llvm::Expected<std::unique_ptr<llvm::Module>>
lowerToLLVM(const Module &M, llvm::LLVMContext &Ctx,
            const LowerOptions &Opts = {});

/// The suffix of the function lowerToLLVM defines next to each step function
/// that has a scratch arena: `void <step>.scratch.release()` frees the arena
/// (the next call of the step allocates it again). Whoever unmaps the code
/// (the JIT) calls it first; nothing else frees the buffer.
inline constexpr const char kScratchReleaseSuffix[] = ".scratch.release";

/// The bytes step function \p Fn of \p LM (from lowerToLLVM) mallocs for
/// its scratch arena at batch size \p N (the planned slices, each rounded
/// to 64 bytes, plus 64 bytes of alignment slack; 0 when it needs none),
/// from the plan lowerToLLVM records as the named metadata !adj.arena.
std::optional<int64_t> arenaBytes(const llvm::Module &LM, llvm::StringRef Fn,
                                  int64_t N);

/// Sets \p LM's triple, data layout and per-function target CPU/features
/// from \p TM, then runs the new pass manager's O0..O3 pipeline with \p TM
/// (so that the cost models see the host's vector units).
void optimizeLLVM(llvm::Module &LM, llvm::TargetMachine &TM, int OptLevel);

/// Runs LLVM's MergeFunctions on \p LM: identical functions become one.
void mergeIdenticalFunctions(llvm::Module &LM);

/// The textual LLVM IR of \p LM (what `adjc --emit=llvm` prints).
std::string printLLVM(const llvm::Module &LM);

/// Host assembly text for \p LM (what `adjc --emit=asm` prints).
llvm::Expected<std::string> emitAssembly(llvm::Module &LM,
                                         llvm::TargetMachine &TM);

/// One part of a module split by partitionModule, in a context of its own.
struct ModulePart {
  std::unique_ptr<llvm::LLVMContext> Ctx;
  std::unique_ptr<llvm::Module> M;
  size_t Instructions = 0; ///< the unoptimised instructions it holds
};

/// Splits \p LM (from lowerToLLVM, after merging its identical functions)
/// into at most \p Parts modules of about equal size that can be optimised
/// and compiled concurrently and linked together: a direct callee or a
/// global stays with its users; internal symbols used across parts become
/// external, renamed with \p Prefix. Deterministic for a given module.
llvm::Expected<std::vector<ModulePart>>
partitionModule(llvm::Module &LM, unsigned Parts, llvm::StringRef Prefix);

/// The parts worth splitting \p LM into for \p Threads compile threads:
/// at most one per 1500 unoptimised instructions (splitting costs a few
/// milliseconds), at least 1.
unsigned partsFor(const llvm::Module &LM, unsigned Threads);

/// Splits \p LM (unoptimised) into at most \p Threads parts, optimises each
/// at \p OptLevel and writes it as an object file \p PathStem.<i>.o, the
/// parts on threads of their own; returns the files' paths (ObjectEmit.cpp).
llvm::Expected<std::vector<std::string>>
compileObjectFiles(llvm::Module &LM, int OptLevel, unsigned Threads,
                   const std::string &PathStem);

/// Writes \p LM as a native object file to \p Path.
llvm::Error emitObjectFile(llvm::Module &LM, llvm::TargetMachine &TM,
                           const std::string &Path);

} // namespace adj

#endif
