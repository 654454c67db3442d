//===- ObjectEmit.cpp - Object files for a native trainer -----------------===//
///
/// Ahead-of-time compilation (tools/engine/AOT.cpp): a lowered module is
/// split by partitionModule (Partition.cpp) into as many parts as are
/// worth it for the compile threads (partsFor), and each part is optimised
/// for the host and written as an object file `<stem>.<i>.o` on a thread of
/// its own, the parts in contexts of their own. A module too small to split
/// is compiled in place, without the copy through bitcode.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"

#include "llvm/IR/Module.h"

#include <string>
#include <thread>
#include <vector>

namespace adj {

using namespace llvm;

/// Optimises \p LM for the host and writes it as an object file to \p Path.
static Error compileToObject(llvm::Module &LM, int OptLevel,
                             const std::string &Path) {
  auto TM = createHostTargetMachine(OptLevel);
  if (!TM)
    return TM.takeError();
  optimizeLLVM(LM, **TM, OptLevel);
  return emitObjectFile(LM, **TM, Path);
}

Expected<std::vector<std::string>>
compileObjectFiles(llvm::Module &LM, int OptLevel, unsigned Threads,
                   const std::string &PathStem) {
  auto PathOf = [&](size_t P) {
    return PathStem + "." + std::to_string(P + 1) + ".o";
  };
  unsigned Parts = partsFor(LM, Threads);
  if (Parts == 1) { // No split: no copy through bitcode.
    if (Error E = compileToObject(LM, OptLevel, PathOf(0)))
      return E;
    return std::vector<std::string>{PathOf(0)};
  }
  auto Split = partitionModule(LM, Parts, "__adj.");
  if (!Split)
    return Split.takeError();
  std::vector<std::string> Paths, Failures(Split->size());
  for (size_t P = 0; P < Split->size(); ++P)
    Paths.push_back(PathOf(P));
  auto Compile = [&](size_t P) {
    if (Error E = compileToObject(*(*Split)[P].M, OptLevel, Paths[P]))
      Failures[P] = toString(std::move(E));
  };
  std::vector<std::thread> Workers;
  for (size_t P = 1; P < Split->size(); ++P)
    Workers.emplace_back(Compile, P);
  Compile(0);
  for (std::thread &T : Workers)
    T.join();
  for (const std::string &F : Failures)
    if (!F.empty())
      return createStringError(inconvertibleErrorCode(), F);
  return Paths;
}

} // namespace adj
