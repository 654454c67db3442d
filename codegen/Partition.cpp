//===- Partition.cpp - Splitting a module for parallel compilation --------===//
///
/// Optimisation and instruction selection are the JIT's cost, and both run
/// one function at a time, so a module split into parts compiles on as many
/// threads as there are parts. partitionModule first merges identical
/// functions across the whole module (@forward and @train_step share their
/// forward kernels), then groups what must stay together: an internal
/// function with the functions that call it directly (so that it can still
/// be inlined and keep its fast calling convention) and an internal global
/// with the functions that use it. Groups go to parts largest first, each to
/// the part with the fewest instructions so far (longest-processing-time
/// scheduling), so the parts take about as long to compile. Internal
/// symbols referenced from another part are made external under a name
/// that carries \p Prefix, which keeps two modules in one JIT apart. Each
/// part is written as bitcode and read back into a context of its own: an
/// LLVMContext is not thread-safe, and the parts are compiled concurrently:
/// by the JIT's compile threads, or by compileObjectFiles (ObjectEmit.cpp)
/// for a native trainer. partitionModule runs these phases in turn:
/// groupSymbols, assignParts, exposeShared and extractPart per part.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"

#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <algorithm>
#include <map>

namespace adj {

using namespace llvm;

/// Appends the functions that use \p V (directly or through constants).
static void usersOf(const llvm::Value *V,
                    SmallVectorImpl<const llvm::Function *> &Out) {
  for (const User *U : V->users()) {
    if (const auto *I = dyn_cast<Instruction>(U))
      Out.push_back(I->getFunction());
    else if (isa<Constant>(U) && !isa<GlobalValue>(U))
      usersOf(U, Out);
  }
}

/// True when \p U is a call of \p F (not a use of its address).
static bool callsDirectly(const llvm::Function &F, const User *U) {
  const auto *CB = dyn_cast<CallBase>(U);
  return CB && CB->getCalledOperand() == &F;
}

namespace {
/// Which part each defined global of a module goes to.
struct Split {
  std::vector<const GlobalValue *> Defined; ///< Functions, then variables.
  std::map<const GlobalValue *, unsigned> PartOf;
  std::vector<size_t> Load; ///< Per part, its instructions.
};
} // namespace

/// Groups \p S.Defined (filled here) into what must stay in one part: an
/// internal function with its direct callers, an internal global with the
/// functions that use it.
static void groupSymbols(const llvm::Module &M, Split &S,
                         EquivalenceClasses<const GlobalValue *> &Groups) {
  for (const llvm::Function &F : M)
    if (!F.isDeclaration()) {
      Groups.insert(&F);
      S.Defined.push_back(&F);
    }
  for (const GlobalVariable &G : M.globals())
    if (!G.isDeclaration()) {
      Groups.insert(&G);
      S.Defined.push_back(&G);
    }
  for (const GlobalValue *GV : S.Defined) {
    if (!GV->hasLocalLinkage())
      continue;
    if (const auto *F = dyn_cast<llvm::Function>(GV)) {
      for (const User *U : F->users())
        if (callsDirectly(*F, U))
          Groups.unionSets(F, cast<Instruction>(U)->getFunction());
    } else {
      SmallVector<const llvm::Function *, 8> Users;
      usersOf(GV, Users);
      for (const llvm::Function *UF : Users)
        Groups.unionSets(GV, UF);
    }
  }
}

/// Puts the groups into at most \p Parts parts: largest first, each into
/// the part with the fewest instructions so far.
static void assignParts(Split &S,
                        const EquivalenceClasses<const GlobalValue *> &Groups,
                        unsigned Parts) {
  // Each group's size in instructions; groups in a fixed order (by the
  // position of their first member in the module) so that the split, and
  // with it the object cache keys, are deterministic.
  std::map<const GlobalValue *, size_t> Cost, FirstIndex;
  for (size_t I = 0; I < S.Defined.size(); ++I) {
    const GlobalValue *Leader = Groups.getLeaderValue(S.Defined[I]);
    FirstIndex.emplace(Leader, I);
    size_t N = 1;
    if (const auto *F = dyn_cast<llvm::Function>(S.Defined[I]))
      N = F->getInstructionCount();
    Cost[Leader] += N;
  }
  std::vector<const GlobalValue *> Leaders;
  for (auto &[Leader, C] : Cost)
    Leaders.push_back(Leader);
  std::stable_sort(Leaders.begin(), Leaders.end(),
                   [&](const GlobalValue *A, const GlobalValue *B) {
                     if (Cost[A] != Cost[B])
                       return Cost[A] > Cost[B];
                     return FirstIndex[A] < FirstIndex[B];
                   });
  Parts = std::max(1u, std::min<unsigned>(Parts, Leaders.size()));
  S.Load.assign(Parts, 0);
  std::map<const GlobalValue *, unsigned> PartOfLeader;
  for (const GlobalValue *L : Leaders) {
    unsigned Best =
        std::min_element(S.Load.begin(), S.Load.end()) - S.Load.begin();
    PartOfLeader[L] = Best;
    S.Load[Best] += Cost[L];
  }
  for (const GlobalValue *GV : S.Defined)
    S.PartOf[GV] = PartOfLeader[Groups.getLeaderValue(GV)];
}

/// Makes the internal symbols used from another part external, renamed
/// with \p Prefix, with the C calling convention at every call site.
static void exposeShared(llvm::Module &M, Split &S, StringRef Prefix) {
  for (const GlobalValue *GV : S.Defined) {
    if (!GV->hasLocalLinkage())
      continue;
    SmallVector<const llvm::Function *, 8> Users;
    usersOf(GV, Users);
    bool Shared = llvm::any_of(Users, [&](const llvm::Function *UF) {
      return S.PartOf[UF] != S.PartOf[GV];
    });
    if (!Shared)
      continue;
    auto *Mut = const_cast<GlobalValue *>(GV);
    Mut->setName(Prefix + GV->getName());
    Mut->setLinkage(GlobalValue::ExternalLinkage);
    Mut->setVisibility(GlobalValue::DefaultVisibility);
    Mut->setDSOLocal(false);
    if (auto *F = dyn_cast<llvm::Function>(Mut))
      F->setCallingConv(CallingConv::C);
  }
  // A calling convention changed above must change at its call sites too.
  for (llvm::Function &F : M)
    for (User *U : F.users())
      if (auto *CB = dyn_cast<CallBase>(U); CB && CB->getCalledOperand() == &F)
        CB->setCallingConv(F.getCallingConv());
}

/// Part \p P of \p M as S assigns it, in a context of its own: cloned,
/// written as bitcode and read back.
static Expected<ModulePart> extractPart(const llvm::Module &M, const Split &S,
                                        unsigned P) {
  ValueToValueMapTy VMap;
  std::unique_ptr<llvm::Module> Part =
      CloneModule(M, VMap, [&](const GlobalValue *GV) {
        auto It = S.PartOf.find(GV);
        return It != S.PartOf.end() && It->second == P;
      });
  SmallVector<char, 0> Bitcode;
  raw_svector_ostream OS(Bitcode);
  WriteBitcodeToFile(*Part, OS);
  Part.reset();
  ModulePart MP;
  MP.Ctx = std::make_unique<LLVMContext>();
  auto Read = parseBitcodeFile(
      MemoryBufferRef(StringRef(Bitcode.data(), Bitcode.size()), "part"),
      *MP.Ctx);
  if (!Read)
    return Read.takeError();
  MP.M = std::move(*Read);
  MP.Instructions = S.Load[P];
  return MP;
}

Expected<std::vector<ModulePart>>
partitionModule(llvm::Module &M, unsigned Parts, StringRef Prefix) {
  mergeIdenticalFunctions(M);
  Split S;
  EquivalenceClasses<const GlobalValue *> Groups;
  groupSymbols(M, S, Groups);
  assignParts(S, Groups, Parts);
  exposeShared(M, S, Prefix);
  std::vector<ModulePart> Out;
  for (unsigned P = 0; P < S.Load.size(); ++P) {
    Expected<ModulePart> Part = extractPart(M, S, P);
    if (!Part)
      return Part.takeError();
    Out.push_back(std::move(*Part));
  }
  return Out;
}

unsigned partsFor(const llvm::Module &LM, unsigned Threads) {
  constexpr size_t kMinPartInstructions = 1500;
  size_t Size = LM.getInstructionCount();
  return unsigned(std::min<size_t>(
      std::max(1u, Threads), std::max<size_t>(1, Size / kMinPartInstructions)));
}

} // namespace adj
