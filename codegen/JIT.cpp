//===- JIT.cpp - ORC LLJIT for the host -----------------------------------===//
///
/// Builds the LLJIT from the detected host machine builder and a matching
/// TargetMachine for the optimisation pipeline, refusing a builder without
/// a CPU name or features (the JIT would silently fall back to a generic
/// x86-64 without AVX2/FMA). The process's own symbols are the fallback
/// definition generator, so generated code calls the C library directly;
/// the runtime's adj_rt_parallel_for, adj_rt_allreduce and
/// adj_rt_check_values are defined explicitly. The compile layer's compiler
/// carries the on-disk object cache (see JIT.h). addModule hands its parts
/// to the optimising layer directly, each in a context of its own, and
/// accounts each part's compile-thread CPU time (JITStats::PartCPUSeconds).
///
//===----------------------------------------------------------------------===//
#include "codegen/JIT.h"
#include "codegen/DiskObjectCache.h"
#include "codegen/Gemm.h"
#include "runtime/adjoint_rt.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
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
#include "llvm/Target/TargetMachine.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <elf.h>
#include <link.h>
#include <sched.h>

#ifdef ADJ_HAVE_KERNLIB
// The kernel library's GEMMs (codegen/KernelLib.def): C, A, B, the sizes.
#define ADJ_KL_GEMM(Isa, Elt, TA, TB, NV, Acc)                                 \
  extern "C" void adj_kl_gemm_##Isa##_##Elt##_##TA##TB##_nv##NV##_##Acc(       \
      void *, const void *, const void *, const void *, int64_t);
#include "codegen/KernelLib.def"
#endif

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
  return std::min(usableCPUs(), 8u);
}

unsigned usableCPUs() {
  unsigned HW = std::max(1u, std::thread::hardware_concurrency());
#ifdef __linux__
  cpu_set_t Set;
  CPU_ZERO(&Set);
  if (sched_getaffinity(0, sizeof(Set), &Set) == 0)
    return std::max(1u, std::min(HW, unsigned(CPU_COUNT(&Set))));
#endif
  return HW;
}

/// CPU seconds of the calling thread so far.
static double threadCPUSeconds() {
  timespec T;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &T);
  return double(T.tv_sec) + double(T.tv_nsec) * 1e-9;
}

void JIT::addPartCPU(const llvm::Module &M, double Seconds) {
  std::lock_guard<std::mutex> Lock(PartMu);
  auto It = PartIndex.find(&M);
  if (It != PartIndex.end() && It->second < Stats.PartCPUSeconds.size())
    Stats.PartCPUSeconds[It->second] += Seconds;
}

namespace {
/// The compile layer's compiler: ORC's concurrent one (a TargetMachine per
/// module) with the object cache, timing its code generation.
class TimedCompiler : public orc::IRCompileLayer::IRCompiler {
public:
  TimedCompiler(orc::JITTargetMachineBuilder JTMB, ObjectCache *Cache,
                JIT &Owner, std::atomic<int64_t> &Nanos)
      : IRCompiler(orc::irManglingOptionsFromTargetOptions(JTMB.getOptions())),
        Inner(std::move(JTMB), Cache), Owner(Owner), Nanos(Nanos) {}
  Expected<std::unique_ptr<MemoryBuffer>> operator()(llvm::Module &M) override {
    auto Start = std::chrono::steady_clock::now();
    double CPU = threadCPUSeconds();
    auto R = Inner(M);
    Owner.addPartCPU(M, threadCPUSeconds() - CPU);
    Nanos += std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now() - Start)
                 .count();
    return R;
  }

private:
  orc::ConcurrentIRCompiler Inner;
  JIT &Owner;
  std::atomic<int64_t> &Nanos;
};
} // namespace

JIT::~JIT() {
  if (!J)
    return;
  waitForOptimised();
  // Free the step functions' scratch buffers (their only pointers are in
  // the JIT's memory, unmapped below), the quick tier's too. Steps are not
  // running.
  auto Release = [&](orc::JITDylib &JD, const std::vector<std::string> &Names) {
    for (const std::string &Name : Names) {
      auto Sym = J->getExecutionSession().lookup(
          orc::makeJITDylibSearchOrder(&JD),
          J->getExecutionSession().intern(Name));
      if (!Sym) {
        consumeError(Sym.takeError());
        continue;
      }
      reinterpret_cast<void (*)()>(Sym->getAddress())();
    }
  };
  Release(J->getMainJITDylib(), Releases);
  if (Quick)
    Release(*Quick, QuickReleases);
}

void JIT::noteReleases(const std::vector<std::string> &Names) {
  for (const std::string &N : Names)
    if (StringRef(N).endswith(kScratchReleaseSuffix))
      Releases.push_back(N);
}

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
  JIT *Owner = Self.get();
  Builder.setCompileFunctionCreator(
      [C, Owner](orc::JITTargetMachineBuilder B)
          -> Expected<std::unique_ptr<orc::IRCompileLayer::IRCompiler>> {
        return std::make_unique<TimedCompiler>(std::move(B), C, *Owner,
                                               Owner->CodegenNanos);
      });
  auto J = Builder.create();
  if (!J)
    return J.takeError();
  Self->J = std::move(*J);
  // Optimisation runs in the compile threads, one TargetMachine each.
  JIT *Raw = Self.get();
  Self->J->getIRTransformLayer().setTransform(
      [Raw](orc::ThreadSafeModule TSM, orc::MaterializationResponsibility &)
          -> Expected<orc::ThreadSafeModule> {
        TSM.withModuleDo([&](llvm::Module &M) {
          auto Start = std::chrono::steady_clock::now();
          double CPU = threadCPUSeconds();
          // JIT::create made one with the same settings.
          auto TM = cantFail(createHostTargetMachine(Raw->OptLevel));
          optimizeLLVM(M, *TM, Raw->OptLevel);
          Raw->addPartCPU(M, threadCPUSeconds() - CPU);
          Raw->OptimizeNanos +=
              std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - Start)
                  .count();
        });
        return TSM;
      });
  if (Error E = Self->defineRuntime(Self->J->getMainJITDylib()))
    return E;
  return Self;
}

Error JIT::defineRuntime(orc::JITDylib &JD) {
  auto Gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      J->getDataLayout().getGlobalPrefix());
  if (!Gen)
    return Gen.takeError();
  JD.addGenerator(std::move(*Gen));
  // The runtime entry points generated code calls, defined explicitly: the
  // executable need not export them to its dynamic symbol table.
  orc::MangleAndInterner Mangle(J->getExecutionSession(), J->getDataLayout());
  orc::SymbolMap Runtime;
  Runtime[Mangle("adj_rt_parallel_for")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_parallel_for);
  Runtime[Mangle("adj_rt_gemm_scratch")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_gemm_scratch);
  Runtime[Mangle("adj_rt_allreduce")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_allreduce);
  Runtime[Mangle("adj_rt_check_values")] =
      JITEvaluatedSymbol::fromPointer(&adj_rt_check_values);
#ifdef ADJ_HAVE_KERNLIB
  // The kernel library's GEMMs (in adjoint_rt), which lowered code calls.
#define ADJ_KL_GEMM(Isa, Elt, TA, TB, NV, Acc)                                 \
  Runtime[Mangle(cg::libraryGemmName(                                          \
      std::string(#Isa) == "avx512" ? cg::KernelIsa::AVX512                    \
                                    : cg::KernelIsa::AVX2,                     \
      std::string(#Elt) == "f64", #TA[0] == 't', #TB[0] == 't', NV, Acc))] =   \
      JITEvaluatedSymbol::fromPointer(                                         \
          &adj_kl_gemm_##Isa##_##Elt##_##TA##TB##_nv##NV##_##Acc);
#include "codegen/KernelLib.def"
#endif
  return JD.define(orc::absoluteSymbols(std::move(Runtime)));
}

/// An id of the running compiler's build: the GNU build id of the main
/// executable (which links the lowering code), else its size and
/// modification time. Any rebuild of the compiler changes it, so entries
/// of another build (whose lowering may differ) are never loaded.
static std::string compilerBuildId() {
  static const std::string Id = [] {
    std::string Found;
    dl_iterate_phdr(
        [](dl_phdr_info *Info, size_t, void *Out) -> int {
          // The first object is the main executable.
          for (unsigned I = 0; I < Info->dlpi_phnum; ++I) {
            const ElfW(Phdr) &P = Info->dlpi_phdr[I];
            if (P.p_type != PT_NOTE)
              continue;
            const char *Note =
                reinterpret_cast<const char *>(Info->dlpi_addr + P.p_vaddr);
            const char *End = Note + P.p_memsz;
            while (Note + sizeof(ElfW(Nhdr)) <= End) {
              ElfW(Nhdr) H;
              std::memcpy(&H, Note, sizeof(H));
              const char *Name = Note + sizeof(H);
              const char *Desc = Name + alignTo(H.n_namesz, 4);
              if (H.n_type == NT_GNU_BUILD_ID && H.n_namesz == 4 &&
                  std::memcmp(Name, "GNU", 4) == 0 &&
                  Desc + H.n_descsz <= End) {
                *static_cast<std::string *>(Out) = toHex(
                    ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(Desc),
                                      H.n_descsz),
                    /*LowerCase=*/true);
                return 1;
              }
              Note = Desc + alignTo(H.n_descsz, 4);
            }
          }
          return 1;
        },
        &Found);
    if (!Found.empty())
      return "build-id " + Found;
    sys::fs::file_status St;
    if (!sys::fs::status("/proc/self/exe", St))
      return "exe " + std::to_string(St.getSize()) + " " +
             std::to_string(
                 St.getLastModificationTime().time_since_epoch().count());
    return std::string("unknown build");
  }();
  return Id;
}

std::string JIT::cacheKey(StringRef Content) {
  if (!Cache)
    return "";
  auto Start = std::chrono::steady_clock::now();
  // Bump the version string when the entry's meaning changes.
  std::string Head;
  raw_string_ostream OS(Head);
  OS << "adjoint-object-v4\n"
     << compilerBuildId() << "\n"
     << LLVM_VERSION_STRING << "\n"
     << TM->getTargetTriple().str() << "\n"
     << TM->getTargetCPU() << "\n"
     << TM->getTargetFeatureString() << "\n"
     << "O" << OptLevel << "\n";
  OS.flush();
  BLAKE3 Hasher;
  Hasher.update(Head);
  Hasher.update(Content);
  auto Hash = Hasher.final<16>();
  Stats.CacheKeySeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - Start)
          .count();
  return toHex(ArrayRef<uint8_t>(Hash.data(), Hash.size()),
               /*LowerCase=*/true);
}

Error JIT::materialize(const std::vector<std::string> &Names,
                       orc::JITDylib *JD) {
  if (Names.empty())
    return Error::success();
  orc::SymbolLookupSet Set;
  for (const std::string &N : Names)
    Set.add(J->getExecutionSession().intern(N));
  auto Syms = J->getExecutionSession().lookup(
      orc::makeJITDylibSearchOrder(JD ? JD : &J->getMainJITDylib()),
      std::move(Set));
  if (!Syms)
    return Syms.takeError();
  return Error::success();
}

Expected<bool> JIT::addCachedObjects(const std::string &Key) {
  if (!Cache || Key.empty())
    return false;
  auto Start = std::chrono::steady_clock::now();
  Stats.CacheFile = Cache->pathOf(Key);
  bool Corrupt = false;
  auto Objects = Cache->load(Key, Corrupt);
  if (Objects.empty()) {
    Stats.Cache = Corrupt ? JITStats::Corrupt : JITStats::Miss;
    return false;
  }
  // Every global symbol the objects define, linked now (as addModule
  // compiles now), already mangled.
  std::vector<std::string> Defined;
  for (auto &Obj : Objects) {
    auto Parsed = object::ObjectFile::createObjectFile(Obj->getMemBufferRef());
    if (!Parsed)
      return Parsed.takeError();
    for (const object::SymbolRef &Sym : (*Parsed)->symbols()) {
      auto Flags = Sym.getFlags();
      if (!Flags)
        return Flags.takeError();
      if (!(*Flags & object::SymbolRef::SF_Global) ||
          (*Flags & object::SymbolRef::SF_Undefined))
        continue;
      auto Name = Sym.getName();
      if (!Name)
        return Name.takeError();
      if (!Name->empty())
        Defined.push_back(Name->str());
    }
  }
  Stats.Parts = unsigned(Objects.size());
  Stats.PartInstructions.clear();
  Stats.PartCPUSeconds.clear();
  for (auto &Obj : Objects)
    if (Error E = J->addObjectFile(std::move(Obj)))
      return std::move(E);
  if (Error E = materialize(Defined))
    return std::move(E);
  noteReleases(Defined);
  Stats.Cache = JITStats::Hit;
  Stats.CompileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - Start)
          .count();
  return true;
}

Expected<std::vector<ModulePart>> JIT::splitForCompile(
    std::unique_ptr<llvm::Module> MArg, std::unique_ptr<LLVMContext> CtxArg,
    const std::string &Key, std::vector<std::string> &Defined) {
  bool Store = Cache && !Key.empty();
  if (Store) {
    Stats.CacheFile = Cache->pathOf(Key);
    std::lock_guard<std::mutex> Lock(Cache->Mu);
    Cache->Compiled.clear();
  }
  // Parameters are destroyed in an order the ABI leaves open (with clang,
  // Ctx before M when a split module leaves both here: a use after free in
  // ~Module, found by the ASan suite). Locals go in reverse order: M first.
  std::unique_ptr<LLVMContext> Ctx = std::move(CtxArg);
  std::unique_ptr<llvm::Module> M = std::move(MArg);
  M->setDataLayout(J->getDataLayout());
  M->setTargetTriple(TM->getTargetTriple().str());
  // Split a large module so that its parts compile concurrently.
  unsigned Parts = partsFor(*M, CompileThreads);
  std::vector<ModulePart> Modules;
  if (Parts > 1) {
    auto Start = std::chrono::steady_clock::now();
    auto Split = partitionModule(*M, Parts,
                                 "__adj" + std::to_string(ModulesAdded) + ".");
    if (!Split)
      return Split.takeError();
    Modules = std::move(*Split);
    Stats.PartitionSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - Start)
            .count();
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
  {
    std::lock_guard<std::mutex> Lock(PartMu);
    PartIndex.clear();
    for (size_t P = 0; P < Modules.size(); ++P)
      PartIndex[Modules[P].M.get()] = unsigned(P);
    Stats.PartCPUSeconds.assign(Modules.size(), 0.0);
  }
  // The functions to compile now (all of them: compiles are eager).
  for (size_t P = 0; P < Modules.size(); ++P) {
    llvm::Module &Part = *Modules[P].M;
    Part.setDataLayout(J->getDataLayout());
    Part.setTargetTriple(TM->getTargetTriple().str());
    for (const llvm::Function &F : Part)
      if (!F.isDeclaration() && !F.hasLocalLinkage())
        Defined.push_back(F.getName().str());
    if (Store)
      DiskObjectCache::setPart(Part, unsigned(P));
    Stats.PartInstructions.push_back(Modules[P].Instructions);
  }
  return std::move(Modules);
}

std::vector<std::string> JIT::mangle(const std::vector<std::string> &Names) {
  orc::MangleAndInterner Mangle(J->getExecutionSession(), J->getDataLayout());
  std::vector<std::string> Mangled;
  for (const std::string &N : Names)
    Mangled.push_back((*Mangle(N)).str());
  return Mangled;
}

Error JIT::addModule(std::unique_ptr<llvm::Module> M,
                     std::unique_ptr<LLVMContext> Ctx, const std::string &Key) {
  waitForOptimised();
  using Clock = std::chrono::steady_clock;
  bool Store = Cache && !Key.empty();
  std::vector<std::string> Defined;
  auto Modules = splitForCompile(std::move(M), std::move(Ctx), Key, Defined);
  if (!Modules)
    return Modules.takeError();
  Stats.Tiered = false;
  for (ModulePart &Part : *Modules) {
    // Straight to the optimising layer: LLJIT::addIRModule's top layer
    // (for static initialisers, which generated code has none of) copies
    // every module into a new context through bitcode when there are
    // compile threads, and each part already has a context of its own.
    if (Error E = J->getIRTransformLayer().add(
            J->getMainJITDylib().getDefaultResourceTracker(),
            orc::ThreadSafeModule(std::move(Part.M), std::move(Part.Ctx))))
      return E;
  }
  // Compile now (one lookup of every function, which ORC dispatches to its
  // compile threads a part each), so that the stages can be timed and the
  // entry written.
  auto Start = Clock::now();
  std::vector<std::string> Mangled = mangle(Defined);
  Error E = materialize(Mangled);
  Stats.CompileSeconds =
      std::chrono::duration<double>(Clock::now() - Start).count();
  {
    std::lock_guard<std::mutex> Lock(PartMu);
    PartIndex.clear(); // the modules are gone
  }
  Stats.OptimizeSeconds = double(OptimizeNanos.load()) * 1e-9;
  Stats.CodegenSeconds = double(CodegenNanos.load()) * 1e-9;
  if (E)
    return E;
  noteReleases(Mangled);
  if (Store)
    Cache->store(Key, Stats.Parts);
  return Error::success();
}

namespace {
/// One part of a tiered compile: optimised, kept as bitcode for the
/// optimised tier and compiled by the -O0 code generator for the quick one.
struct QuickPart {
  ModulePart Part;
  std::string Bitcode;
  std::unique_ptr<MemoryBuffer> Object;
  Error Err = Error::success();
  double OptimizeSeconds = 0, CodegenSeconds = 0, CPUSeconds = 0;
};

double secondsSince(std::chrono::steady_clock::time_point T) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - T)
      .count();
}

/// Optimises \p Q's module at \p OptLevel (exact arithmetic: see
/// optimizeLLVM), keeps its bitcode and compiles it at -O0.
void compileQuick(QuickPart &Q, int OptLevel) {
  double CPU = threadCPUSeconds();
  auto Start = std::chrono::steady_clock::now();
  auto TM = createHostTargetMachine(OptLevel);
  auto TM0 = createHostTargetMachine(0);
  if (!TM || !TM0) {
    Q.Err = joinErrors(TM.takeError(), TM0.takeError());
    return;
  }
  optimizeLLVM(*Q.Part.M, **TM, OptLevel);
  {
    raw_string_ostream OS(Q.Bitcode);
    WriteBitcodeToFile(*Q.Part.M, OS);
  }
  Q.OptimizeSeconds = secondsSince(Start);
  Start = std::chrono::steady_clock::now();
  orc::SimpleCompiler Compile(**TM0);
  auto Obj = Compile(*Q.Part.M);
  if (!Obj)
    Q.Err = Obj.takeError();
  else
    Q.Object = std::move(*Obj);
  Q.CodegenSeconds = secondsSince(Start);
  Q.CPUSeconds = threadCPUSeconds() - CPU;
}
} // namespace

Error JIT::addModuleTiered(std::unique_ptr<llvm::Module> M,
                           std::unique_ptr<LLVMContext> Ctx,
                           const std::string &Key,
                           std::function<void(bool)> OnOptimised,
                           std::function<void(const std::string &)> OnQuick) {
  waitForOptimised();
  if (Quick)
    return createStringError(inconvertibleErrorCode(),
                             "jit: one tiered module per JIT");
  auto Start = std::chrono::steady_clock::now();
  Optimised = OptimisedStats();
  // Splits, compiles and links the quick tier.
  auto QuickTier = [this, Key, Start](std::unique_ptr<llvm::Module> M,
                                      std::unique_ptr<LLVMContext> Ctx,
                                      std::vector<std::string> &Bitcode,
                                      std::vector<std::string> &Mangled) {
    std::vector<std::string> Defined;
    auto Modules = splitForCompile(std::move(M), std::move(Ctx), Key, Defined);
    if (!Modules)
      return Modules.takeError();
    {
      std::lock_guard<std::mutex> Lock(PartMu);
      PartIndex.clear();
    }
    return linkQuick(std::move(*Modules), Defined, Start, Bitcode, Mangled);
  };
  if (!OnQuick) {
    std::vector<std::string> Bitcode, Mangled;
    if (Error E = QuickTier(std::move(M), std::move(Ctx), Bitcode, Mangled))
      return E;
    Background = std::thread([this, Bitcode = std::move(Bitcode),
                              Mangled = std::move(Mangled), Key,
                              OnOptimised = std::move(OnOptimised)] {
      waitUntilReleased();
      runOptimised(Bitcode, Mangled, Key, OnOptimised);
    });
    return Error::success();
  }
  // Deferred: the split and the quick tier too are on the background
  // thread, which then goes on with the optimised tier.
  Background = std::thread([this, QuickTier, M = std::move(M),
                            Ctx = std::move(Ctx), Key,
                            OnOptimised = std::move(OnOptimised),
                            OnQuick = std::move(OnQuick)]() mutable {
    std::vector<std::string> Bitcode, Mangled;
    if (Error E = QuickTier(std::move(M), std::move(Ctx), Bitcode, Mangled)) {
      Optimised.Error = toString(std::move(E));
      OnQuick(Optimised.Error);
      if (OnOptimised)
        OnOptimised(false);
      return;
    }
    OnQuick("");
    waitUntilReleased();
    runOptimised(Bitcode, Mangled, Key, OnOptimised);
  });
  return Error::success();
}

Error JIT::linkQuick(std::vector<ModulePart> Modules,
                     const std::vector<std::string> &Defined,
                     std::chrono::steady_clock::time_point Start,
                     std::vector<std::string> &Bitcode,
                     std::vector<std::string> &Mangled) {
  // The quick tier: every part optimised and compiled at -O0, on threads of
  // their own (the calling thread takes the first).
  std::vector<QuickPart> Parts(Modules.size());
  for (size_t P = 0; P < Parts.size(); ++P)
    Parts[P].Part = std::move(Modules[P]);
  {
    std::vector<std::thread> Threads;
    for (size_t P = 1; P < Parts.size(); ++P)
      Threads.emplace_back(compileQuick, std::ref(Parts[P]), OptLevel);
    compileQuick(Parts[0], OptLevel);
    for (std::thread &T : Threads)
      T.join();
  }
  Error Failed = Error::success();
  for (QuickPart &Q : Parts)
    Failed = joinErrors(std::move(Failed), std::move(Q.Err));
  if (Failed)
    return Failed;
  auto JD = J->createJITDylib("adj.quick");
  if (!JD)
    return JD.takeError();
  Quick = &*JD;
  if (Error E = defineRuntime(*Quick))
    return E;
  Stats.OptimizeSeconds = Stats.CodegenSeconds = 0;
  for (size_t P = 0; P < Parts.size(); ++P) {
    Stats.PartCPUSeconds[P] = Parts[P].CPUSeconds;
    Stats.OptimizeSeconds += Parts[P].OptimizeSeconds;
    Stats.CodegenSeconds += Parts[P].CodegenSeconds;
    Bitcode.push_back(std::move(Parts[P].Bitcode));
    if (Error E = J->addObjectFile(*Quick, std::move(Parts[P].Object)))
      return E;
  }
  Parts.clear();
  Mangled = mangle(Defined);
  if (Error E = materialize(Mangled, Quick))
    return E;
  for (const std::string &N : Mangled)
    if (StringRef(N).endswith(kScratchReleaseSuffix))
      QuickReleases.push_back(N);
  Stats.Tiered = true;
  Stats.CompileSeconds = secondsSince(Start);
  return Error::success();
}

void JIT::runOptimised(const std::vector<std::string> &Bitcode,
                       const std::vector<std::string> &Mangled,
                       const std::string &Key,
                       const std::function<void(bool)> &OnOptimised) {
  double CPU = threadCPUSeconds();
  auto Begin = std::chrono::steady_clock::now();
  Error E = compileOptimised(Bitcode, Mangled, Key);
  Optimised.Seconds = secondsSince(Begin);
  Optimised.CPUSeconds = threadCPUSeconds() - CPU;
  Optimised.ReadyAt = std::chrono::duration<double>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (E)
    Optimised.Error = toString(std::move(E));
  else
    Optimised.Done = true;
  if (OnOptimised)
    OnOptimised(Optimised.Done);
}

Error JIT::compileOptimised(const std::vector<std::string> &Bitcode,
                            const std::vector<std::string> &Mangled,
                            const std::string &Key) {
  for (const std::string &Code : Bitcode) {
    LLVMContext Ctx;
    auto M = parseBitcodeFile(MemoryBufferRef(Code, "adj.part"), Ctx);
    if (!M)
      return M.takeError();
    auto TM2 = createHostTargetMachine(OptLevel);
    if (!TM2)
      return TM2.takeError();
    orc::SimpleCompiler Compile(**TM2, Cache.get());
    auto Obj = Compile(**M);
    if (!Obj)
      return Obj.takeError();
    if (Error E = J->addObjectFile(std::move(*Obj)))
      return E;
  }
  if (Error E = materialize(Mangled))
    return E;
  noteReleases(Mangled);
  if (Cache && !Key.empty())
    Cache->store(Key, unsigned(Bitcode.size()));
  return Error::success();
}

void JIT::holdOptimised() {
  std::lock_guard<std::mutex> Lock(HoldMu);
  Held = true;
}

void JIT::releaseOptimised() {
  {
    std::lock_guard<std::mutex> Lock(HoldMu);
    Held = false;
  }
  HoldCV.notify_all();
}

void JIT::waitUntilReleased() {
  std::unique_lock<std::mutex> Lock(HoldMu);
  HoldCV.wait(Lock, [this] { return !Held; });
}

void JIT::waitForOptimised() {
  if (!Background.joinable())
    return;
  releaseOptimised();
  Background.join();
}

Expected<void *> JIT::lookupIn(orc::JITDylib &JD, const std::string &Name) {
  auto Addr = J->lookup(JD, Name);
  if (!Addr)
    return Addr.takeError();
  return Addr->toPtr<void *>();
}

Expected<void *> JIT::lookup(const std::string &Name) {
  waitForOptimised();
  auto Addr = lookupIn(J->getMainJITDylib(), Name);
  if (Addr || !Quick || Optimised.Done)
    return Addr;
  consumeError(Addr.takeError()); // the optimised compile failed
  return lookupIn(*Quick, Name);
}

Expected<void *> JIT::lookupQuick(const std::string &Name) {
  if (!Quick)
    return createStringError(inconvertibleErrorCode(),
                             "jit: no quick tier holds '%s'", Name.c_str());
  return lookupIn(*Quick, Name);
}

Expected<void *> JIT::lookupOptimised(const std::string &Name) {
  return lookupIn(J->getMainJITDylib(), Name);
}

} // namespace adj
