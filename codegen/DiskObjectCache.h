//===- DiskObjectCache.h - The JIT's on-disk object cache -------*- C++ -*-===//
///
/// \file
/// The object cache of JIT.h on disk: one file per key holding the
/// compiled objects of every part of a module, a table of their sizes, the
/// key and a checked trailer; written atomically (a unique temporary file
/// renamed over the entry) and checked on load (magic, sizes, xxHash64,
/// the stored key), so a damaged or foreign entry is a miss or corrupt,
/// never loaded.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_DISKOBJECTCACHE_H
#define ADJ_CODEGEN_DISKOBJECTCACHE_H

#include "llvm/ExecutionEngine/ObjectCache.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/MemoryBuffer.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace adj {

/// The on-disk cache, an llvm::ObjectCache on the compile layer's
/// compiler. JIT::addModule tags each part with its index (named metadata
/// !adj.cache.part); notifyObjectCompiled collects the parts' objects,
/// which JIT::addModule writes as one entry once all are compiled.
/// Thread-safe: parts are compiled concurrently.
class DiskObjectCache : public llvm::ObjectCache {
public:
  explicit DiskObjectCache(std::string Dir);

  /// The entry file of \p Key.
  std::string pathOf(const std::string &Key) const;
  /// The part index \p M was tagged with (setPart), or -1.
  static int partOf(const llvm::Module &M);
  /// Tags \p M as part \p Part of the module being added.
  static void setPart(llvm::Module &M, unsigned Part);

  void notifyObjectCompiled(const llvm::Module *M,
                            llvm::MemoryBufferRef Obj) override;
  std::unique_ptr<llvm::MemoryBuffer> getObject(const llvm::Module *) override;

  /// Writes the \p Parts objects collected as \p Key's entry (nothing
  /// when one is missing: a failed compile).
  void store(const std::string &Key, unsigned Parts);
  /// The checked objects of \p Key's entry; empty when absent or when the
  /// entry belongs to another key, \p Corrupt set when an entry exists but
  /// fails its checks (never loaded then).
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> load(const std::string &Key,
                                                        bool &Corrupt);

  std::string Dir;
  std::mutex Mu;
  std::map<unsigned, std::string> Compiled; ///< of the module being added
};

} // namespace adj

#endif // ADJ_CODEGEN_DISKOBJECTCACHE_H
