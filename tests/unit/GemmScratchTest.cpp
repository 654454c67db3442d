//===- GemmScratchTest.cpp - adj_rt_gemm_scratch --------------------------===//
///
/// The GEMMs' per-thread packing buffer: 2 MiB aligned, the same buffer
/// again for a request it holds, a larger one (still aligned, writable to
/// its end) for a larger request, and a different buffer on each thread.
///
//===----------------------------------------------------------------------===//
#include "runtime/adjoint_rt.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>

namespace {

constexpr uintptr_t kHuge = uintptr_t(2) << 20;

TEST(GemmScratch, AlignedReusedAndGrown) {
  char *P = static_cast<char *>(adj_rt_gemm_scratch(1000));
  ASSERT_NE(P, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(P) % kHuge, 0u);
  std::memset(P, 1, 1000);
  EXPECT_EQ(adj_rt_gemm_scratch(int64_t(kHuge)), P); // Already that large.
  EXPECT_EQ(adj_rt_gemm_scratch(0), P);
  int64_t Big = int64_t(3 * kHuge + 5);
  char *Q = static_cast<char *>(adj_rt_gemm_scratch(Big));
  ASSERT_NE(Q, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(Q) % kHuge, 0u);
  std::memset(Q, 2, size_t(Big)); // Writable to its end.
  EXPECT_EQ(adj_rt_gemm_scratch(10), Q);
}

TEST(GemmScratch, OnePerThread) {
  void *Mine = adj_rt_gemm_scratch(4096);
  void *Other = nullptr;
  std::thread T([&] {
    Other = adj_rt_gemm_scratch(4096);
    std::memset(Other, 3, 4096);
  });
  T.join();
  ASSERT_NE(Other, nullptr);
  EXPECT_NE(Other, Mine);
  EXPECT_EQ(adj_rt_gemm_scratch(4096), Mine);
}

} // namespace
