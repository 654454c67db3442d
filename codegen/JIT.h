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
/// Tiered compilation (addModuleTiered): the parts are optimised as
/// addModule's, then compiled by the -O0 code generator (FastISel, the
/// fast register allocator: about a quarter of -O2's code generation time)
/// into a JITDylib of their own, and the call returns; a background thread
/// compiles the same optimised IR (kept as bitcode) with the -O2 code
/// generator into the main JITDylib, writes the cache entry and calls the
/// caller back. optimizeLLVM leaves IR whose arithmetic is exact (no
/// fast-math flags), so both tiers compute the same bits. lookup(),
/// addModule() and the destructor wait for the background compile.
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
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llvm {
namespace orc {
class JITDylib;
class LLJIT;
} // namespace orc
} // namespace llvm

namespace adj {

class DiskObjectCache;

/// The object cache directory the tools use: $ADJ_CACHE_DIR, else
/// $XDG_CACHE_HOME/adjoint, else $HOME/.cache/adjoint; empty (no cache)
/// when ADJ_NO_CACHE is set to anything but "" or "0", or nothing is set.
std::string defaultObjectCacheDir();

/// The CPUs this process may run on (its affinity mask, e.g. one under
/// `taskset -c 0`), at most the hardware threads; at least 1.
unsigned usableCPUs();

/// The compile threads the tools use: $ADJ_COMPILE_THREADS when set to a
/// positive number, else the CPUs the process may run on (usableCPUs(), at
/// most 8): on one CPU a module is compiled whole, as more parts would only
/// add the cost of splitting.
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
  /// addModuleTiered: the code linked first is the quick tier's (-O0 code
  /// generation; PartCPUSeconds and CodegenSeconds are its); the
  /// optimised tier's are in OptimisedStats once waitForOptimised returned.
  bool Tiered = false;
};

/// The background compile of addModuleTiered, valid after
/// JIT::waitForOptimised().
struct OptimisedStats {
  bool Done = false;     ///< linked (false: none, or it failed)
  std::string Error;     ///< why it failed
  double Seconds = 0;    ///< wall time of the background compile
  double CPUSeconds = 0; ///< its thread's CPU time
  double ReadyAt = 0;    ///< steady-clock seconds when it was linked
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
  /// Like addModule, but tiered (see above): returns once the quick code
  /// is linked (lookupQuick); \p OnOptimised is called on the background
  /// thread once the optimised code is linked (lookupOptimised) with true,
  /// or with false after a failure (the quick code stays valid and
  /// computes the same; optimisedStats() says why).
  ///
  /// With \p OnQuick, the quick tier is deferred: the call returns at once,
  /// and the background thread splits the module, compiles and links the
  /// quick code, calls \p OnQuick (with "" once lookupQuick works, else
  /// with why it failed, and then OnOptimised with false), and goes on with
  /// the optimised code. The caller does other work meanwhile (the runtime
  /// loads the data); stats() is written by the background thread until
  /// OnQuick.
  llvm::Error
  addModuleTiered(std::unique_ptr<llvm::Module> M,
                  std::unique_ptr<llvm::LLVMContext> Ctx,
                  const std::string &Key, std::function<void(bool)> OnOptimised,
                  std::function<void(const std::string &)> OnQuick = nullptr);
  /// The address of the compiled function \p Name (compiling on first use);
  /// after addModuleTiered, the optimised code's (waiting for it).
  llvm::Expected<void *> lookup(const std::string &Name);
  /// The quick tier's \p Name (addModuleTiered); an error when absent.
  llvm::Expected<void *> lookupQuick(const std::string &Name);
  /// The optimised tier's \p Name without waiting: for OnOptimised.
  llvm::Expected<void *> lookupOptimised(const std::string &Name);
  /// Waits for addModuleTiered's background compile (if any) to end
  /// (releasing a held optimised tier first).
  void waitForOptimised();
  /// Call before addModuleTiered: its background thread links the quick
  /// code, then waits for releaseOptimised() (or waitForOptimised()) before
  /// it compiles the optimised code. On one or two CPUs that compile would
  /// take time from what the caller does until its first step (loading
  /// data, the step itself); the caller releases it after that step.
  void holdOptimised();
  /// Lets a held optimised tier compile (any thread, any number of times).
  void releaseOptimised();
  /// Valid after waitForOptimised().
  const OptimisedStats &optimisedStats() const { return Optimised; }

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
  /// Looks up (and so links) every symbol of \p Names now, in \p JD
  /// (null: the main JITDylib).
  llvm::Error materialize(const std::vector<std::string> &Names,
                          llvm::orc::JITDylib *JD = nullptr);
  llvm::Expected<void *> lookupIn(llvm::orc::JITDylib &JD,
                                  const std::string &Name);
  /// The runtime's symbols and the process's, defined in \p JD.
  llvm::Error defineRuntime(llvm::orc::JITDylib &JD);
  /// Splits \p M into parts (addModule's and addModuleTiered's first half):
  /// their modules, the functions they define (unmangled) and the time
  /// taken; with a cache and a \p Key, the parts are marked for the cache
  /// and its pending objects cleared.
  llvm::Expected<std::vector<ModulePart>>
  splitForCompile(std::unique_ptr<llvm::Module> M,
                  std::unique_ptr<llvm::LLVMContext> Ctx,
                  const std::string &Key, std::vector<std::string> &Defined);
  std::vector<std::string> mangle(const std::vector<std::string> &Names);
  /// The quick half of addModuleTiered: optimises \p Modules, compiles them
  /// at -O0 (a thread each) into the Quick JITDylib and links them; their
  /// optimised IR in \p Bitcode and the mangled \p Defined in \p Mangled.
  llvm::Error linkQuick(std::vector<ModulePart> Modules,
                        const std::vector<std::string> &Defined,
                        std::chrono::steady_clock::time_point Start,
                        std::vector<std::string> &Bitcode,
                        std::vector<std::string> &Mangled);
  /// Blocks the background thread while the optimised tier is held.
  void waitUntilReleased();
  /// compileOptimised, timed into Optimised, then \p OnOptimised.
  void runOptimised(const std::vector<std::string> &Bitcode,
                    const std::vector<std::string> &Mangled,
                    const std::string &Key,
                    const std::function<void(bool)> &OnOptimised);
  /// The background half of addModuleTiered: compiles \p Bitcode (one per
  /// part) with the -O2 code generator into the main JITDylib.
  llvm::Error compileOptimised(const std::vector<std::string> &Bitcode,
                               const std::vector<std::string> &Mangled,
                               const std::string &Key);
  /// The quick tier's JITDylib (null until addModuleTiered) and the
  /// background compile.
  llvm::orc::JITDylib *Quick = nullptr;
  std::vector<std::string> QuickReleases;
  std::thread Background;
  OptimisedStats Optimised;
  /// holdOptimised(): the background thread waits while Held.
  std::mutex HoldMu;
  std::condition_variable HoldCV;
  bool Held = false;
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
