//===- StepAllocTest.cpp - No allocation per training step ----------------===//
///
/// \file
/// The training loop allocates nothing per step: this binary replaces
/// malloc and its relatives (glibc's, through the __libc_* entry points;
/// operator new ends in malloc) with counting versions and trains the model
/// of TrainerTestModel.h, one sample a step, for 40 and for 440 steps of
/// the same epoch. The runs differ only in their 400 extra steps, so the
/// allocations they make must be the same up to a small slack; one
/// allocation a step comes back as 400. Its own binary, as the replacement
/// is process-wide; skipped under sanitizers, which replace malloc
/// themselves.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
    __has_feature(memory_sanitizer)
#define ADJ_ALLOC_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ADJ_ALLOC_SANITIZED 1
#endif
#if defined(__GLIBC__) && !defined(ADJ_ALLOC_SANITIZED)
#define ADJ_ALLOC_COUNTED 1
#endif

namespace {
std::atomic<long> Allocations{0};
} // namespace

#ifdef ADJ_ALLOC_COUNTED
extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);

void *malloc(size_t n) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void *memalign(size_t align, size_t n) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void *aligned_alloc(size_t align, size_t n) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
  Allocations.fetch_add(1, std::memory_order_relaxed);
  void *p = __libc_memalign(align, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

using namespace adj::trainertest;

namespace {

/// Allocations of a run of the trainer with `args`.
long allocationsOf(const adj_rt_model *m, std::vector<std::string> args) {
  long before = Allocations.load();
  std::string err;
  EXPECT_EQ(runMain(m, args, nullptr, &err), 0) << err;
  return Allocations.load() - before;
}

TEST(StepAlloc, TheCountingAllocatorCounts) {
#ifndef ADJ_ALLOC_COUNTED
  GTEST_SKIP() << "malloc is the sanitizer's";
#endif
  static volatile size_t size = 100;
  long before = Allocations.load();
  std::vector<int> v(size);
  void *p = std::malloc(size);
  // Both escape: the compiler may not elide them.
  asm volatile("" : : "r"(v.data()), "r"(p) : "memory");
  std::free(p);
  EXPECT_GE(Allocations.load() - before, 2);
}

TEST(StepAlloc, TrainingStepsAllocateNothing) {
#ifndef ADJ_ALLOC_COUNTED
  GTEST_SKIP() << "malloc is the sanitizer's";
#endif
  TempDir dir;
  Model b = linearModel(dir);
  // 4,096 samples: 440 steps of one sample stay inside the first epoch.
  writeLinearData(dir, "train-", 4096, 3, 0.5, 12345, false);
  for (const char *optimizer : {"sgd", "adam"}) {
    std::vector<std::string> args = {
        "--quiet",     "--batch", "1",
        "--optimizer", optimizer, "--threads",
        "1",           "--save",  dir.file("ck.safetensors")};
    auto run = [&](const char *steps) {
      std::vector<std::string> a = args;
      a.insert(a.end(), {"--steps", steps});
      return allocationsOf(b.model(), a);
    };
    run("40"); // once for whatever is allocated on first use
    long few = run("40"), many = run("440");
    EXPECT_LE(many - few, 8) << optimizer << ": " << few << " allocations in "
                             << "40 steps, " << many << " in 440";
  }
}

} // namespace
