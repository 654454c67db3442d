//===- JIT.h - In-process compilation of step functions ---------*- C++ -*-===//
///
/// An ORC LLJIT for the host CPU (or ADJ_CPU's). Its JITTargetMachineBuilder
/// is hostBuilder()'s, with the CPU name and feature string set (checked at
/// creation), so JIT-compiled code uses the same vector units and FMA as
/// the ahead-of-time path. Modules are optimised with optimizeLLVM before
/// they are added; libc and libm symbols (malloc, free, memcpy, expf, tanhf,
/// ...) resolve from the running process, adj_rt_parallel_for from the
/// runtime linked into it.
///
/// A module large enough is split into parts (partitionModule) that ORC
/// optimises and compiles on a pool of compile threads, one part each, and
/// links together: the cold compile takes about 1/threads of the time.
///
/// With a cache directory, compiled objects are kept on disk under a key
/// the caller derives from what it lowered the module from (cacheKey:
/// BLAKE3 of that text and of everything else that decides the object
/// code: the compiler's build id, the LLVM version, triple, CPU name,
/// feature string and optimisation level). A caller with a key tries
/// addCachedObjects first; on a hit it never builds the LLVM module at
/// all. On a miss, addModule with the key compiles the module (in parts)
/// and writes all its parts' objects as one entry, atomically (temporary
/// file + rename): [objects][their sizes][key][trailer: magic ADJOBJ3,
/// counts, xxHash64]. An entry that does not check out is ignored (and
/// rewritten), never loaded; one holding another key is a miss.
///
/// The destructor first calls every `<step>.scratch.release` function that
/// was linked (kScratchReleaseSuffix): the step functions' scratch buffers
/// are freed, not leaked with the unmapped code.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_JIT_H
#define ADJ_CODEGEN_JIT_H

#include "codegen/Codegen.h"

#include "llvm/Support/Error.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace llvm {
namespace orc {
class LLJIT;
} // namespace orc
} // namespace llvm

namespace adj {

class DiskObjectCache;

/// The object cache directory the tools use: $ADJ_CACHE_DIR, else
/// $XDG_CACHE_HOME/adjoint, else $HOME/.cache/adjoint; empty (no cache)
/// when ADJ_NO_CACHE is set to anything but "" or "0", or nothing is set.
std::string defaultObjectCacheDir();

/// The compile threads the tools use: $ADJ_COMPILE_THREADS when set to a
/// positive number, else the hardware threads (at most 8).
unsigned defaultCompileThreads();

/// What addModule and the first lookup did, for -time-passes.
struct JITStats {
  enum CacheState { Off, Miss, Hit, Corrupt };
  CacheState Cache = Off; ///< Corrupt: an entry was there but rejected
  std::string CacheFile;
  double CacheKeySeconds = 0;  ///< cacheKey(): hashing the caller's text
  double PartitionSeconds = 0; ///< merging and splitting (0 in one part)
  double CompileSeconds = 0;   ///< optimising, compiling and linking (wall)
  /// optimizeLLVM and code generation, summed over the compile threads (0
  /// on a hit): wall time when Parts is 1.
  double OptimizeSeconds = 0;
  double CodegenSeconds = 0;
  /// Cache in words: "off", "miss", "hit" or "corrupt".
  const char *cacheName() const {
    static const char *const Names[] = {"off", "miss", "hit", "corrupt"};
    return Names[Cache];
  }
  unsigned Parts = 1;                   ///< modules compiled concurrently
  std::vector<size_t> PartInstructions; ///< their unoptimised sizes
  /// Per part, the CPU seconds of its compile thread in optimisation and
  /// code generation (thread CPU time: unlike wall time, independent of
  /// other processes on the machine); empty on a hit.
  std::vector<double> PartCPUSeconds;
};

class JIT {
public:
  /// A JIT whose modules are optimised at \p OptLevel (0-3); with a
  /// non-empty \p CacheDir, compiled objects are cached there. Modules are
  /// split over \p CompileThreads threads (0: defaultCompileThreads()).
  static llvm::Expected<std::unique_ptr<JIT>>
  create(int OptLevel = 2, std::string CacheDir = "",
         unsigned CompileThreads = 0);
  ~JIT();

  /// The object cache key of a module lowered from \p Content (which must
  /// determine the LLVM module exactly) for this JIT's target and level.
  /// Empty without a cache directory.
  std::string cacheKey(llvm::StringRef Content);
  /// Loads the cache entry of \p Key (from cacheKey) and links its objects
  /// now: true on a hit. False on a miss, or when the entry is corrupt
  /// (stats() says which); the caller then builds the module and passes it
  /// to addModule with the same key.
  llvm::Expected<bool> addCachedObjects(const std::string &Key);
  /// Adds \p M (taking ownership of it with its context) and compiles it
  /// now, optimised with optimizeLLVM. With a cache and a non-empty \p Key
  /// the objects are stored under \p Key.
  llvm::Error addModule(std::unique_ptr<llvm::Module> M,
                        std::unique_ptr<llvm::LLVMContext> Ctx,
                        const std::string &Key = "");
  /// The address of the compiled function \p Name (compiling on first use).
  llvm::Expected<void *> lookup(const std::string &Name);

  const HostTarget &host() const { return Host; }
  int optLevel() const { return OptLevel; }
  const JITStats &stats() const { return Stats; }
  /// The machine modules are optimised for (host CPU and features).
  llvm::TargetMachine &targetMachine() { return *TM; }
  /// Adds \p Seconds of a compile thread's CPU time to the part \p M
  /// (nothing when it is none of addModule's parts).
  void addPartCPU(const llvm::Module &M, double Seconds);

private:
  JIT() = default;
  /// Looks up (and so links) every symbol of \p Names now.
  llvm::Error materialize(const std::vector<std::string> &Names);
  /// Remembers the scratch release functions among \p Names (mangled), which
  /// the destructor calls.
  void noteReleases(const std::vector<std::string> &Names);
  /// Mangled names of the linked `<step>.scratch.release` functions: the
  /// step functions' scratch buffers are held only by globals in the JIT's
  /// memory, so ~JIT frees them before the memory is unmapped.
  std::vector<std::string> Releases;
  std::unique_ptr<DiskObjectCache> Cache;
  std::unique_ptr<llvm::orc::LLJIT> J;
  std::unique_ptr<llvm::TargetMachine> TM;
  HostTarget Host;
  int OptLevel = 2;
  unsigned CompileThreads = 1;
  unsigned ModulesAdded = 0;
  JITStats Stats;
  std::atomic<int64_t> OptimizeNanos{0}, CodegenNanos{0};
  /// The parts being compiled by addModule and their threads' CPU time.
  std::mutex PartMu;
  std::map<const llvm::Module *, unsigned> PartIndex;
};

} // namespace adj

#endif
