//===- GemmLibrary.cpp - calls of the kernel library's GEMMs --------------===//
///
/// The kernel library (codegen/KernelLib.def, README "Kernel library") holds
/// shape-generic GEMMs compiled ahead of time per ISA from the same tiles as
/// the JIT's (emitTiles, GemmTiles.cpp): every size and the block of C are
/// read at run time from a struct. This file picks the variant a target runs
/// (libraryIsa), defines a variant for the generator (emitLibraryGemm), and
/// emits gemm(): a call of the library GEMM where there is one, the epilogue
/// then passed as a callback over each finished block of C
/// (epilogueCallback), else the product's own tiles.
///
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Gemm.h"

#include <cstdlib>

namespace adj::cg {

using namespace llvm;
using llvm::Value;
KernelIsa libraryIsaFor(StringRef Features) {
#ifdef ADJ_HAVE_KERNLIB
  // What x86-64-v3 and -v4, the library's targets, imply.
  for (StringRef F : {"avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe"})
    if (!hasFeature(Features, F))
      return KernelIsa::None;
  if (!hasAVX512F(Features)) // 256-bit vectors (hostVectorBits)
    return KernelIsa::AVX2;
  for (StringRef F : {"avx512vl", "avx512bw", "avx512dq", "avx512cd"})
    if (!hasFeature(Features, F))
      return KernelIsa::None;
  return KernelIsa::AVX512;
#else
  return KernelIsa::None;
#endif
}

KernelIsa libraryIsa() {
  static const KernelIsa Isa = [] {
    const char *Off = std::getenv("ADJ_NO_KERNLIB");
    if (Off && *Off && std::string(Off) != "0")
      return KernelIsa::None;
    return libraryIsaFor(detectHostTarget().Features);
  }();
  return Isa;
}

std::string libraryGemmName(KernelIsa Isa, bool F64, bool TA, bool TB,
                            unsigned NV, bool Accumulate) {
  return std::string("adj_kl_gemm_") +
         (Isa == KernelIsa::AVX512 ? "avx512" : "avx2") +
         (F64 ? "_f64_" : "_f32_") + (TA ? "t" : "n") + (TB ? "t" : "n") +
         "_nv" + std::to_string(NV) + (Accumulate ? "_1" : "_0");
}

/// What a library GEMM reads its sizes from: M, K, N, the block of C
/// (Row0, Row1, Col0, Col1), then GemmArgs::EpiFn and EpiEnv.
static StructType *libraryArgsType(LLVMContext &Ctx) {
  Type *I64 = Type::getInt64Ty(Ctx);
  Type *Ptr = PointerType::getUnqual(Ctx);
  return StructType::get(Ctx, {I64, I64, I64, I64, I64, I64, I64, Ptr, Ptr});
}

void emitLibraryGemm(llvm::Module &M, KernelIsa Isa, bool F64, bool TA, bool TB,
                     unsigned NV, bool Accumulate) {
  Kernel K(M, libraryGemmName(Isa, F64, TA, TB, NV, Accumulate), 3,
           /*MayFail=*/false);
  K.Fn->setLinkage(GlobalValue::ExternalLinkage);
  K.Fn->setUnnamedAddr(GlobalValue::UnnamedAddr::None);
  StructType *ArgsTy = libraryArgsType(K.Ctx);
  auto Field = [&](unsigned I) {
    return K.B.CreateLoad(ArgsTy->getElementType(I),
                          K.B.CreateStructGEP(ArgsTy, K.In[2], I));
  };
  Type *T = F64 ? K.B.getDoubleTy() : K.B.getFloatTy();
  Extent Dynamic{1, 1}; // Not a static size: no size-specialised code.
  GemmArgs G{T,        Dynamic, Dynamic, Dynamic, Field(0), Field(1),
             Field(2), K.In[0], K.In[1], K.Out,   TA,       TB};
  G.Row0 = Field(3);
  G.Row1 = Field(4);
  G.Col0 = Field(5);
  G.Col1 = Field(6);
  G.NV = NV;
  G.Accumulate = Accumulate;
  if (!Accumulate) {
    G.EpiFn = Field(7);
    G.EpiEnv = Field(8);
  }
  assert(tileShape(G).VL * T->getPrimitiveSizeInBits() ==
             (Isa == KernelIsa::AVX512 ? 512u : 256u) &&
         "the generator's target is not the library variant's ISA");
  emitTiles(K, G);
  K.finish();
}

/// The epilogue of \p G as a library GEMM's callback (GemmArgs::EpiFn):
/// `<kernel>.epi(env, C, r0, r1, c0, c1)` applies it to that block of C,
/// reading the epilogue's inputs from the environment built here in \p K
/// (each input's base and row stride, then N). Returns {function, env}.
static std::pair<Value *, Value *> epilogueCallback(Kernel &K,
                                                    const GemmArgs &G) {
  IRBuilder<> &B = K.B;
  size_t NumIn = G.EpiIn.size();
  SmallVector<Type *, 8> Fields(NumIn, B.getPtrTy());
  Fields.append(NumIn + 1, K.i64Ty());
  auto *EnvTy = StructType::get(K.Ctx, Fields);
  BasicBlock &Entry = K.Fn->getEntryBlock();
  Value *Env = IRBuilder<>(&Entry, Entry.begin())
                   .CreateAlloca(EnvTy, nullptr, "epi.env");
  for (size_t I = 0; I < NumIn; ++I) {
    B.CreateStore(G.EpiIn[I].Base, B.CreateStructGEP(EnvTy, Env, I));
    B.CreateStore(G.EpiIn[I].RowStride,
                  B.CreateStructGEP(EnvTy, Env, NumIn + I));
  }
  B.CreateStore(G.N, B.CreateStructGEP(EnvTy, Env, 2 * NumIn));

  // The block's loops, in a kernel (out = C, in0 = env, in1 = the block)
  // whose accesses are marked parallel: an epilogue's inputs never alias C.
  Kernel E(K.M, K.Fn->getName().str() + ".epi.body", 2, /*MayFail=*/false, 1,
           {{0, 0}});
  auto EnvField = [&](unsigned I) {
    return E.B.CreateLoad(EnvTy->getElementType(I),
                          E.B.CreateStructGEP(EnvTy, E.In[0], I));
  };
  std::vector<Value *> Bases, Strides;
  for (size_t I = 0; I < NumIn; ++I) {
    Bases.push_back(EnvField(I));
    Strides.push_back(EnvField(NumIn + I));
  }
  Value *LdC = EnvField(2 * NumIn);
  auto Blk = [&](unsigned I) { return E.load(E.i64Ty(), E.In[1], E.i64(I)); };
  Value *R0 = Blk(0), *R1 = Blk(1), *C0 = Blk(2), *C1 = Blk(3);
  E.loop(R0, R1, E.i64(1), [&](Value *Row) {
    Value *CRow = E.B.CreateMul(Row, LdC);
    E.loop(C0, C1, E.i64(1), [&](Value *Col) {
      Value *Idx = E.add(CRow, Col);
      Value *X = E.load(G.T, E.Out, Idx);
      Value *Y = emitBody(E, G.Epilogue, [&](unsigned I) -> Value * {
        if (I == 0)
          return X;
        Value *At = E.B.CreateMul(Row, Strides[I - 1]);
        if (!G.EpiIn[I - 1].ColBcast)
          At = E.add(At, Col);
        return E.load(G.T, Bases[I - 1], At);
      });
      E.store(Y, E.Out, Idx);
    });
  });
  E.finish();

  // The callback: the block to memory, then the loops.
  Type *I64 = K.i64Ty(), *Ptr = B.getPtrTy();
  auto *CB = llvm::Function::Create(
      FunctionType::get(B.getVoidTy(), {Ptr, Ptr, I64, I64, I64, I64}, false),
      GlobalValue::InternalLinkage, K.Fn->getName() + ".epi", K.M);
  CB->addFnAttr(Attribute::NoUnwind);
  // Nothing compares its address: identical callbacks merge into one.
  CB->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  E.Fn->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  IRBuilder<> CBB(BasicBlock::Create(K.Ctx, "entry", CB));
  Value *Block = CBB.CreateAlloca(ArrayType::get(I64, 4));
  for (unsigned I = 0; I < 4; ++I)
    CBB.CreateStore(CB->getArg(I + 2),
                    CBB.CreateConstInBoundsGEP1_64(I64, Block, I));
  CBB.CreateCall(E.Fn, {CB->getArg(1), CB->getArg(0), Block, CBB.getInt64(0)});
  CBB.CreateRetVoid();
  return {CB, Env};
}

/// The library GEMM \p G can call, or null (no library for the target,
/// or an element type it lacks).
static llvm::Function *libraryGemm(Kernel &K, const GemmArgs &G) {
  KernelIsa Isa = libraryIsa();
  if (Isa == KernelIsa::None || !(G.T->isFloatTy() || G.T->isDoubleTy()) ||
      G.EpiFn)
    return nullptr;
  std::string Name = libraryGemmName(Isa, G.T->isDoubleTy(), G.TA, G.TB,
                                     tileShape(G).NV, G.Accumulate);
  if (llvm::Function *F = K.M.getFunction(Name))
    return F;
  Type *Ptr = K.B.getPtrTy();
  auto *F = llvm::Function::Create(
      FunctionType::get(K.B.getVoidTy(), {Ptr, Ptr, Ptr, Ptr, K.i64Ty()},
                        false),
      GlobalValue::ExternalLinkage, Name, K.M);
  F->addFnAttr(Attribute::NoUnwind);
  return F;
}

void gemm(Kernel &K, const GemmArgs &G) {
  llvm::Function *Lib = libraryGemm(K, G);
  if (!Lib)
    return emitTiles(K, G);
  IRBuilder<> &B = K.B;
  StructType *ArgsTy = libraryArgsType(K.Ctx);
  BasicBlock &Entry = K.Fn->getEntryBlock();
  Value *Args = IRBuilder<>(&Entry, Entry.begin())
                    .CreateAlloca(ArgsTy, nullptr, "gemm.args");
  auto [EpiFn, EpiEnv] =
      G.Epilogue.empty()
          ? std::pair<Value *, Value *>{Constant::getNullValue(B.getPtrTy()),
                                        Constant::getNullValue(B.getPtrTy())}
          : epilogueCallback(K, G);
  Value *Vals[] = {G.M,
                   G.K,
                   G.N,
                   G.Row0 ? G.Row0 : K.i64(0),
                   G.Row1 ? G.Row1 : G.M,
                   G.Col0 ? G.Col0 : K.i64(0),
                   G.Col1 ? G.Col1 : G.N,
                   EpiFn,
                   EpiEnv};
  for (unsigned I = 0; I < std::size(Vals); ++I)
    B.CreateStore(Vals[I], B.CreateStructGEP(ArgsTy, Args, I));
  B.CreateCall(Lib, {G.C, G.A, G.B, Args, K.i64(0)});
}

} // namespace adj::cg
