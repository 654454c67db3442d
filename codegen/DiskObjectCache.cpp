//===- DiskObjectCache.cpp - The JIT's on-disk object cache --------------===//
///
/// \file
/// The entry format of DiskObjectCache.h, its atomic write and its checked
/// read.
///
//===----------------------------------------------------------------------===//
#include "codegen/DiskObjectCache.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/Metadata.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cstring>

namespace adj {

using namespace llvm;

namespace {
/// The trailer of an entry: [object 1]...[object n][n uint64_t sizes]
/// [key bytes][Trailer]. The key is stored and compared on load, so that an
/// entry under another key's file name (copied, or an older layout) is a
/// miss, never loaded.
struct Trailer {
  char Magic[8];
  uint64_t Objects; ///< n
  uint64_t KeySize; ///< of the key bytes before the trailer
  uint64_t Hash;    ///< xxHash64 of everything before the trailer
};
constexpr char kMagic[8] = {'A', 'D', 'J', 'O', 'B', 'J', '3', '\0'};
} // namespace

DiskObjectCache::DiskObjectCache(std::string Dir) : Dir(std::move(Dir)) {}

std::string DiskObjectCache::pathOf(const std::string &Key) const {
  return Dir + "/" + Key + ".o";
}

int DiskObjectCache::partOf(const llvm::Module &M) {
  const NamedMDNode *MD = M.getNamedMetadata("adj.cache.part");
  if (!MD || !MD->getNumOperands() || !MD->getOperand(0)->getNumOperands())
    return -1;
  auto *C = mdconst::dyn_extract<ConstantInt>(MD->getOperand(0)->getOperand(0));
  return C ? int(C->getSExtValue()) : -1;
}

void DiskObjectCache::setPart(llvm::Module &M, unsigned Part) {
  LLVMContext &Ctx = M.getContext();
  M.getOrInsertNamedMetadata("adj.cache.part")
      ->addOperand(MDTuple::get(Ctx, {ConstantAsMetadata::get(ConstantInt::get(
                                         Type::getInt64Ty(Ctx), Part))}));
}

void DiskObjectCache::notifyObjectCompiled(const llvm::Module *M,
                                           MemoryBufferRef Obj) {
  int Part = partOf(*M);
  if (Part < 0)
    return;
  std::lock_guard<std::mutex> Lock(Mu);
  Compiled[unsigned(Part)] = Obj.getBuffer().str();
}

std::unique_ptr<MemoryBuffer> DiskObjectCache::getObject(const llvm::Module *) {
  return nullptr; // hits never reach the compiler (addCachedObjects)
}

void DiskObjectCache::store(const std::string &Key, unsigned Parts) {
  std::lock_guard<std::mutex> Lock(Mu);
  if (Compiled.size() != Parts || sys::fs::create_directories(Dir))
    return;
  std::string Body;
  std::vector<uint64_t> Sizes;
  for (auto &[Index, Obj] : Compiled) {
    Body += Obj;
    Sizes.push_back(Obj.size());
  }
  Body.append(reinterpret_cast<const char *>(Sizes.data()),
              Sizes.size() * sizeof(uint64_t));
  Body += Key;
  Trailer T;
  std::memcpy(T.Magic, kMagic, sizeof(kMagic));
  T.Objects = Parts;
  T.KeySize = Key.size();
  T.Hash = xxHash64(Body);
  SmallString<256> Tmp;
  int FD;
  if (sys::fs::createUniqueFile(pathOf(Key) + ".tmp-%%%%%%%%", FD, Tmp))
    return;
  {
    raw_fd_ostream OS(FD, /*shouldClose=*/true);
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

std::vector<std::unique_ptr<MemoryBuffer>>
DiskObjectCache::load(const std::string &Key, bool &Corrupt) {
  Corrupt = false;
  std::vector<std::unique_ptr<MemoryBuffer>> Objects;
  auto Buf = MemoryBuffer::getFile(pathOf(Key), /*IsText=*/false,
                                   /*RequiresNullTerminator=*/false);
  if (!Buf)
    return Objects;
  StringRef Bytes = (*Buf)->getBuffer();
  Trailer T;
  if (Bytes.size() < sizeof(T)) {
    Corrupt = true;
    return Objects;
  }
  std::memcpy(&T, Bytes.data() + Bytes.size() - sizeof(T), sizeof(T));
  StringRef Body = Bytes.drop_back(sizeof(T));
  if (std::memcmp(T.Magic, kMagic, sizeof(kMagic)) != 0 || T.Objects == 0 ||
      T.Objects > Body.size() / sizeof(uint64_t) ||
      T.KeySize > Body.size() - T.Objects * sizeof(uint64_t) ||
      T.Hash != xxHash64(Body)) {
    Corrupt = true;
    return Objects;
  }
  StringRef Stored = Body.take_back(T.KeySize);
  StringRef Table =
      Body.drop_back(T.KeySize).take_back(T.Objects * sizeof(uint64_t));
  StringRef Data = Body.drop_back(T.KeySize + Table.size());
  std::vector<uint64_t> Sizes(T.Objects);
  std::memcpy(Sizes.data(), Table.data(), Table.size());
  uint64_t Sum = 0;
  for (uint64_t S : Sizes) {
    if (S > Data.size() - Sum) {
      Corrupt = true;
      return Objects;
    }
    Sum += S;
  }
  if (Sum != Data.size()) {
    Corrupt = true;
    return Objects;
  }
  if (Stored != Key)
    return Objects; // a sound entry of another key: a miss
  for (uint64_t S : Sizes) {
    auto Copy = MemoryBuffer::getMemBufferCopy(Data.take_front(S), pathOf(Key));
    Data = Data.drop_front(S);
    auto Parsed = object::ObjectFile::createObjectFile(Copy->getMemBufferRef());
    if (!Parsed) {
      consumeError(Parsed.takeError());
      Corrupt = true;
      return {};
    }
    Objects.push_back(std::move(Copy));
  }
  return Objects;
}

} // namespace adj
