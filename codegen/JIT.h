//===- JIT.h - In-process compilation of step functions ---------*- C++ -*-===//
///
/// An ORC LLJIT for the host CPU. Its JITTargetMachineBuilder comes from
/// detectHost() with the CPU name and feature string set (checked at
/// creation), so JIT-compiled code uses the same vector units and FMA as
/// the ahead-of-time path. Modules are optimised with optimizeLLVM before
/// they are added; libc and libm symbols (malloc, free, memcpy, expf, tanhf,
/// ...) resolve from the running process, adj_rt_parallel_for from the
/// runtime linked into it.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_JIT_H
#define ADJ_CODEGEN_JIT_H

#include "codegen/Codegen.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace llvm {
namespace orc {
class LLJIT;
} // namespace orc
} // namespace llvm

namespace adj {

class JIT {
public:
  /// A JIT whose modules are optimised at \p OptLevel (0-3).
  static llvm::Expected<std::unique_ptr<JIT>> create(int OptLevel = 2);
  ~JIT();

  /// Optimises \p M and adds it (taking ownership of it with its context).
  llvm::Error addModule(std::unique_ptr<llvm::Module> M,
                        std::unique_ptr<llvm::LLVMContext> Ctx);
  /// The address of the compiled function \p Name (compiling on first use).
  llvm::Expected<void *> lookup(const std::string &Name);

  const HostTarget &host() const { return Host; }
  int optLevel() const { return OptLevel; }
  /// The machine modules are optimised for (host CPU and features).
  llvm::TargetMachine &targetMachine() { return *TM; }

private:
  JIT() = default;
  std::unique_ptr<llvm::orc::LLJIT> J;
  std::unique_ptr<llvm::TargetMachine> TM;
  HostTarget Host;
  int OptLevel = 2;
};

} // namespace adj

#endif
