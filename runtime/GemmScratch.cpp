//===- GemmScratch.cpp - Per-thread packing buffers for the GEMMs ---------===//
///
/// \file
/// adj_rt_gemm_scratch hands a GEMM (generated code or the kernel library)
/// a buffer to copy a slab of its B operand into (KC x NC, 2 MiB, packed
/// once per K block and read by every M block's register tiles; GemmTiles.cpp):
/// one per thread, kept for the thread's lifetime and grown when a call asks
/// for more. The buffer is 2 MiB aligned and advised as a transparent huge
/// page, so the slab sits on one TLB entry and never on the caller's 4 KiB
/// stack pages.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include <cstdio>
#include <cstdlib>

#include <sys/mman.h>

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

/// The calling thread's buffer; freed when the thread exits.
struct Scratch {
  void *Ptr = nullptr;
  size_t Size = 0;
  ~Scratch() { std::free(Ptr); }
};

thread_local Scratch TheScratch;

} // namespace

extern "C" void *adj_rt_gemm_scratch(int64_t bytes) {
  Scratch &S = TheScratch;
  size_t Want = bytes > 0 ? size_t(bytes) : 1;
  if (Want <= S.Size)
    return S.Ptr;
  size_t Size = (Want + kHugePage - 1) / kHugePage * kHugePage;
  void *P = std::aligned_alloc(kHugePage, Size);
  if (!P) { // Generated code has no way to handle a failure here.
    std::fputs("adjoint: out of memory for a GEMM packing buffer\n", stderr);
    std::abort();
  }
#ifdef MADV_HUGEPAGE
  madvise(P, Size, MADV_HUGEPAGE); // Advice only: failure is harmless.
#endif
  std::free(S.Ptr);
  S.Ptr = P;
  S.Size = Size;
  return P;
}
