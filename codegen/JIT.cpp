//===- JIT.cpp - ORC LLJIT for the host -----------------------------------===//
///
/// Builds the LLJIT from the detected host machine builder and a matching
/// TargetMachine for the optimisation pipeline, refusing a builder without
/// a CPU name or features (the JIT would silently fall back to a generic
/// x86-64 without AVX2/FMA). The process's own symbols are the fallback
/// definition generator, so generated code calls the C library directly;
/// the runtime's adj_rt_parallel_for, adj_rt_allreduce and
/// adj_rt_check_values are defined explicitly. The compile layer's compiler
/// carries the on-disk object cache (see JIT.h).
///
//===----------------------------------------------------------------------===//
#include "codegen/JIT.h"
#include "runtime/adjoint_rt.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/ObjectCache.h"
#include "llvm/ExecutionEngine/Orc/CompileUtils.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/Module.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/BLAKE3.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Target/TargetMachine.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace adj {

using namespace llvm;

std::string defaultObjectCacheDir() {
  if (const char *No = std::getenv("ADJ_NO_CACHE"))
    if (*No && std::strcmp(No, "0") != 0)
      return "";
  if (const char *D = std::getenv("ADJ_CACHE_DIR"); D && *D)
    return D;
  if (const char *X = std::getenv("XDG_CACHE_HOME"); X && *X)
    return std::string(X) + "/adjoint";
  if (const char *H = std::getenv("HOME"); H && *H)
    return std::string(H) + "/.cache/adjoint";
  return "";
}

unsigned defaultCompileThreads() {
  if (const char *T = std::getenv("ADJ_COMPILE_THREADS"); T && *T) {
    char *End = nullptr;
    long N = std::strtol(T, &End, 10);
    if (*End == '\0' && N > 0)
      return unsigned(std::min(N, 64L));
  }
  unsigned HW = std::thread::hardware_concurrency();
  return std::max(1u, std::min(HW, 8u));
}

namespace {
/// The trailer of an entry: [object bytes][key bytes][Trailer]. The key is
/// stored and compared on load, so that an entry under another key's file
/// name (copied, or an older layout) is a miss, never loaded.
struct Trailer {
  char Magic[8];
  uint64_t Size;    ///< of the object bytes
  uint64_t KeySize; ///< of the key bytes after them
  uint64_t Hash;    ///< xxHash64 of the object and key bytes
};
constexpr char kMagic[8] = {'A', 'D', 'J', 'O', 'B', 'J', '2', '\0'};
} // namespace

/// The on-disk cache, an llvm::ObjectCache on the compile layer's
/// compiler. JIT::addModule tags each module with its key (named metadata
/// !adj.cache.key); the optimisation transform looks the key up first and
/// skips the pipeline on a hit, leaving the loaded object for getObject,
/// which the compiler asks before compiling. Thread-safe: modules are
/// compiled concurrently.
class DiskObjectCache : public ObjectCache {
public:
  explicit DiskObjectCache(std::string Dir) : Dir(std::move(Dir)) {}

  std::string pathOf(const std::string &Key) const {
    return Dir + "/" + Key + ".o";
  }

  static std::string keyOf(const llvm::Module &M) {
    const NamedMDNode *MD = M.getNamedMetadata("adj.cache.key");
    if (!MD || !MD->getNumOperands() || !MD->getOperand(0)->getNumOperands())
      return "";
    auto *S = dyn_cast<MDString>(MD->getOperand(0)->getOperand(0));
    return S ? S->getString().str() : "";
  }
  static void setKey(llvm::Module &M, const std::string &Key) {
    M.getOrInsertNamedMetadata("adj.cache.key")
        ->addOperand(
            MDTuple::get(M.getContext(), {MDString::get(M.getContext(), Key)}));
  }

  /// Loads and checks \p Key's entry, keeping it for getObject; true on a
  /// hit. Counts hits, misses (an entry of another key among them) and
  /// rejected (corrupt) entries.
  bool prefetch(const std::string &Key) {
    bool Corrupt = false;
    auto Obj = load(Key, Corrupt);
    std::lock_guard<std::mutex> Lock(Mu);
    if (!Obj) {
      ++(Corrupt ? Rejected : Misses);
      return false;
    }
    ++Hits;
    Loaded[Key] = std::move(Obj);
    return true;
  }

  void notifyObjectCompiled(const llvm::Module *M,
                            MemoryBufferRef Obj) override {
    std::string Key = keyOf(*M);
    if (Key.empty() || sys::fs::create_directories(Dir))
      return;
    SmallString<256> Tmp;
    int FD;
    if (sys::fs::createUniqueFile(pathOf(Key) + ".tmp-%%%%%%%%", FD, Tmp))
      return;
    {
      raw_fd_ostream OS(FD, /*shouldClose=*/true);
      Trailer T;
      std::memcpy(T.Magic, kMagic, sizeof(kMagic));
      T.Size = Obj.getBufferSize();
      T.KeySize = Key.size();
      std::string Body = Obj.getBuffer().str() + Key;
      T.Hash = xxHash64(Body);
      OS << Body;
      OS.write(reinterpret_cast<const char *>(&T), sizeof(T));
      OS.close();
      if (OS.has_error()) {
        OS.clear_error();
        sys::fs::remove(Tmp);
        return;
      }
    }
    if (sys::fs::rename(Tmp, pathOf(Key)))
      sys::fs::remove(Tmp);
  }

  std::unique_ptr<MemoryBuffer> getObject(const llvm::Module *M) override {
    std::lock_guard<std::mutex> Lock(Mu);
    auto It = Loaded.find(keyOf(*M));
    if (It == Loaded.end())
      return nullptr;
    auto Obj = std::move(It->second);
    Loaded.erase(It);
    return Obj;
  }

  std::string Dir;
  std::mutex Mu;
  std::map<std::string, std::unique_ptr<MemoryBuffer>> Loaded;
  unsigned Hits = 0, Misses = 0, Rejected = 0;

private:
  /// The checked object of \p Key; null when absent or when the entry
  /// belongs to another key, \p Corrupt set when an entry exists but fails
  /// its checks (never loaded then).
  std::unique_ptr<MemoryBuffer> load(const std::string &Key, bool &Corrupt) {
    Corrupt = false;
    auto Buf = MemoryBuffer::getFile(pathOf(Key), /*IsText=*/false,
                                     /*RequiresNullTerminator=*/false);
    if (!Buf)
      return nullptr;
    StringRef Bytes = (*Buf)->getBuffer();
    Trailer T;
    if (Bytes.size() < sizeof(T)) {
      Corrupt = true;
      return nullptr;
    }
    std::memcpy(&T, Bytes.data() + Bytes.size() - sizeof(T), sizeof(T));
    StringRef Body = Bytes.drop_back(sizeof(T));
    if (std::memcmp(T.Magic, kMagic, sizeof(kMagic)) != 0 ||
        T.Size > Body.size() || T.KeySize != Body.size() - T.Size ||
        T.Hash != xxHash64(Body)) {
      Corrupt = true;
      return nullptr;
    }
    StringRef Obj = Body.take_front(T.Size);
    if (Body.drop_front(T.Size) != Key)
      return nullptr; // a sound entry of another key: a miss

    auto Copy = MemoryBuffer::getMemBufferCopy(Obj, pathOf(Key));
    auto Parsed = object::ObjectFile::createObjectFile(Copy->getMemBufferRef());
    if (!Parsed) {
      consumeError(Parsed.takeError());
      Corrupt = true;
      return nullptr;
    }
    return Copy;
  }
};

namespace {
/// The compile layer's compiler: ORC's concurrent one (a TargetMachine per
/// module) with the object cache, timing its code generation.
class TimedCompiler : public orc::IRCompileLayer::IRCompiler {
public:
  TimedCompiler(orc::JITTargetMachineBuilder JTMB, ObjectCache *Cache,
                std::atomic<int64_t> &Nanos)
      : IRCompiler(orc::irManglingOptionsFromTargetOptions(JTMB.getOptions())),
        Inner(std::move(JTMB), Cache), Nanos(Nanos) {}
  Expected<std::unique_ptr<MemoryBuffer>> operator()(llvm::Module &M) override {
    auto Start = std::chrono::steady_clock::now();
    auto R = Inner(M);
    Nanos += std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now() - Start)
                 .count();
    return R;
  }

private:
  orc::ConcurrentIRCompiler Inner;
  std::atomic<int64_t> &Nanos;
};
} // namespace

JIT::~JIT() = default;

Expected<std::unique_ptr<JIT>> JIT::create(int OptLevel, std::string CacheDir,
                                           unsigned CompileThreads) {
  std::unique_ptr<JIT> Self(new JIT());
  Self->OptLevel = OptLevel;
  Self->CompileThreads =
      CompileThreads ? CompileThreads : defaultCompileThreads();
  Self->Host = detectHostTarget();
  auto TM = createHostTargetMachine(OptLevel);
  if (!TM)
    return TM.takeError();
  Self->TM = std::move(*TM);

  auto JTMB = hostBuilder(OptLevel);
  if (!JTMB)
    return JTMB.takeError();
  if (JTMB->getCPU().empty() || JTMB->getFeatures().getFeatures().empty())
    return createStringError(inconvertibleErrorCode(),
                             "jit: could not detect the host CPU and features");
  JTMB->setCodeGenOptLevel(Self->TM->getOptLevel());
  JTMB->setRelocationModel(Reloc::PIC_);

  if (!CacheDir.empty()) {
    Self->Cache = std::make_unique<DiskObjectCache>(std::move(CacheDir));
    Self->Stats.Cache = JITStats::Miss;
  }
  orc::LLJITBuilder Builder;
  Builder.setJITTargetMachineBuilder(*JTMB);
  if (Self->CompileThreads > 1)
    Builder.setNumCompileThreads(Self->CompileThreads);
  DiskObjectCache *C = Self->Cache.get();
  std::atomic<int64_t> *CodegenNanos = &Self->CodegenNanos;
  Builder.setCompileFunctionCreator(
      [C, CodegenNanos](orc::JITTargetMachineBuilder B)
          -> Expected<std::unique_ptr<orc::IRCompileLayer::IRCompiler>> {
        return std::make_unique<TimedCompiler>(std::move(B), C, *CodegenNanos);
      });
  auto J = Builder.create();
  if (!J)
    return J.takeError();
  Self->J = std::move(*J);
  // Optimisation runs in the compile threads, one TargetMachine each, and
  // is skipped for modules whose object the cache holds.
  JIT *Raw = Self.get();
  Self->J->getIRTransformLayer().setTransform(
      [Raw](orc::ThreadSafeModule TSM, orc::MaterializationResponsibility &)
          -> Expected<orc::ThreadSafeModule> {
        TSM.withModuleDo([&](llvm::Module &M) {
          if (Raw->Cache) {
            std::string Key = DiskObjectCache::keyOf(M);
            if (!Key.empty() && Raw->Cache->prefetch(Key))
              return;
          }
          auto Start = std::chrono::steady_clock::now();
          // JIT::create made one with the same settings.
          auto TM = cantFail(createHostTargetMachine(Raw->OptLevel));
          optimizeLLVM(M, *TM, Raw->OptLevel);
          Raw->OptimizeNanos +=
              std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - Start)
                  .count();
        });
        return TSM;
      });
  auto Gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      Self->J->getDataLayout().getGlobalPrefix());
  if (!Gen)
    return Gen.takeError();
  Self->J->getMainJITDylib().addGenerator(std::move(*Gen));
  // The runtime entry points generated code calls, defined explicitly: the
  // executable need not export them to its dynamic symbol table.
  orc::MangleAndInterner Mangle(Self->J->getExecutionSession(),
                                Self->J->getDataLayout());
  orc::SymbolMap Runtime;
  Runtime[Mangle("adj_rt_parallel_for")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_parallel_for);
  Runtime[Mangle("adj_rt_allreduce")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_allreduce);
  Runtime[Mangle("adj_rt_check_values")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_check_values);
  if (Error E = Self->J->getMainJITDylib().define(
          orc::absoluteSymbols(std::move(Runtime))))
    return E;
  return Self;
}

/// The cache key of \p M for \p TM at \p OptLevel: BLAKE3 of the
/// unoptimised IR text and everything else that decides the object code.
/// The IR holds every kernel, so codegen changes give new keys; bump the
/// version string when optimizeLLVM's pipeline changes.
static std::string cacheKey(const llvm::Module &M, TargetMachine &TM,
                            int OptLevel) {
  std::string Text;
  raw_string_ostream OS(Text);
  OS << "adjoint-object-v3\n"
     << LLVM_VERSION_STRING << "\n"
     << TM.getTargetTriple().str() << "\n"
     << TM.getTargetCPU() << "\n"
     << TM.getTargetFeatureString() << "\n"
     << "O" << OptLevel << "\n";
  M.print(OS, nullptr);
  OS.flush();
  auto Hash = BLAKE3::hash<16>(ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(Text.data()), Text.size()));
  return toHex(ArrayRef<uint8_t>(Hash.data(), Hash.size()),
               /*LowerCase=*/true);
}

Error JIT::addModule(std::unique_ptr<llvm::Module> MArg,
                     std::unique_ptr<LLVMContext> CtxArg) {
  // Parameters are destroyed in an order the ABI leaves open (with clang,
  // Ctx before M when a split module leaves both here: a use after free in
  // ~Module, found by the ASan suite). Locals go in reverse order: M first.
  std::unique_ptr<LLVMContext> Ctx = std::move(CtxArg);
  std::unique_ptr<llvm::Module> M = std::move(MArg);
  using Clock = std::chrono::steady_clock;
  auto Seconds = [](Clock::time_point Since) {
    return std::chrono::duration<double>(Clock::now() - Since).count();
  };
  M->setDataLayout(J->getDataLayout());
  M->setTargetTriple(TM->getTargetTriple().str());
  std::string Key;
  if (Cache) {
    auto Start = Clock::now();
    Key = cacheKey(*M, *TM, OptLevel);
    Stats.CacheKeySeconds = Seconds(Start);
  }

  // Split a large module so that its parts compile concurrently. The split
  // is deterministic, so a part's cache key is the module's and its index.
  unsigned Parts = partsFor(*M, CompileThreads);
  std::vector<ModulePart> Modules;
  if (Parts > 1) {
    auto Start = Clock::now();
    auto Split = partitionModule(*M, Parts,
                                 "__adj" + std::to_string(ModulesAdded) + ".");
    if (!Split)
      return Split.takeError();
    Modules = std::move(*Split);
    Stats.PartitionSeconds = Seconds(Start);
  } else {
    ModulePart Whole;
    Whole.Instructions = M->getInstructionCount();
    Whole.M = std::move(M);
    Whole.Ctx = std::move(Ctx);
    Modules.push_back(std::move(Whole));
  }
  ++ModulesAdded;
  Stats.Parts = unsigned(Modules.size());
  Stats.PartInstructions.clear();

  // The functions to compile now (all of them: addModule compiles eagerly).
  std::vector<std::string> Defined;
  for (size_t P = 0; P < Modules.size(); ++P) {
    llvm::Module &Part = *Modules[P].M;
    Part.setDataLayout(J->getDataLayout());
    Part.setTargetTriple(TM->getTargetTriple().str());
    for (const llvm::Function &F : Part)
      if (!F.isDeclaration() && !F.hasLocalLinkage())
        Defined.push_back(F.getName().str());
    if (!Key.empty()) {
      std::string PartKey = Modules.size() == 1
                                ? Key
                                : Key + "-" + std::to_string(P + 1) + "of" +
                                      std::to_string(Modules.size());
      DiskObjectCache::setKey(Part, PartKey);
      if (P == 0)
        Stats.CacheFile = Cache->pathOf(PartKey);
    }
    Stats.PartInstructions.push_back(Modules[P].Instructions);
    if (Error E = J->addIRModule(orc::ThreadSafeModule(
            std::move(Modules[P].M), std::move(Modules[P].Ctx))))
      return E;
  }
  // Compile now (one lookup of every function, which ORC dispatches to its
  // compile threads a part each), so that the stages can be timed and a
  // cache hit counted.
  auto Start = Clock::now();
  orc::MangleAndInterner Mangle(J->getExecutionSession(), J->getDataLayout());
  orc::SymbolLookupSet Names;
  for (const std::string &N : Defined)
    Names.add(Mangle(N));
  Expected<orc::SymbolMap> Syms = orc::SymbolMap();
  if (!Names.empty())
    Syms = J->getExecutionSession().lookup(
        orc::makeJITDylibSearchOrder(&J->getMainJITDylib()), std::move(Names));
  Stats.CompileSeconds = Seconds(Start);
  Stats.OptimizeSeconds = double(OptimizeNanos.load()) * 1e-9;
  Stats.CodegenSeconds = double(CodegenNanos.load()) * 1e-9;
  if (Cache) {
    std::lock_guard<std::mutex> Lock(Cache->Mu);
    Stats.Cache = Cache->Rejected                 ? JITStats::Corrupt
                  : Cache->Hits && !Cache->Misses ? JITStats::Hit
                                                  : JITStats::Miss;
  }
  if (!Syms)
    return Syms.takeError();
  return Error::success();
}

Expected<void *> JIT::lookup(const std::string &Name) {
  auto Addr = J->lookup(Name);
  if (!Addr)
    return Addr.takeError();
  return Addr->toPtr<void *>();
}

} // namespace adj
