//===- ThreadPoolTest.cpp - adj_rt_parallel_for ---------------------------===//
///
/// The runtime's pool: every task runs exactly once for any task and thread
/// count (zero and one task, more tasks than threads), nested calls run
/// inline, many small calls in a row (the workers' spin-and-sleep
/// hand-off), calls from two threads at once, and resizing.
///
//===----------------------------------------------------------------------===//
#include "runtime/adjoint_rt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

/// Counts the runs of each task.
struct Counts {
  std::vector<std::atomic<int>> Runs;
  explicit Counts(int64_t N) : Runs(size_t(N)) {}
  static void task(void *Ctx, int64_t T) {
    static_cast<Counts *>(Ctx)->Runs[size_t(T)].fetch_add(1);
  }
  bool eachOnce() const {
    for (const auto &R : Runs)
      if (R.load() != 1)
        return false;
    return true;
  }
};

/// Restores the default pool size after a test.
struct ThreadPool : ::testing::Test {
  void TearDown() override { adj_rt_set_threads(0); }
};

TEST_F(ThreadPool, EveryTaskRunsOnce) {
  for (int64_t Threads : {1, 2, 3, 8}) {
    adj_rt_set_threads(Threads);
    EXPECT_EQ(adj_rt_threads(), Threads);
    for (int64_t N : {1, 2, 3, 7, 16, 100, 1000}) {
      Counts C(N);
      adj_rt_parallel_for(N, Counts::task, &C);
      EXPECT_TRUE(C.eachOnce()) << N << " tasks, " << Threads << " threads";
    }
  }
}

TEST_F(ThreadPool, ZeroTasksRunNothing) {
  adj_rt_set_threads(2);
  int Calls = 0;
  auto Fn = [](void *Ctx, int64_t) { ++*static_cast<int *>(Ctx); };
  adj_rt_parallel_for(0, Fn, &Calls);
  adj_rt_parallel_for(-3, Fn, &Calls);
  EXPECT_EQ(Calls, 0);
}

TEST_F(ThreadPool, OneTaskRunsOnTheCaller) {
  adj_rt_set_threads(2);
  std::thread::id Ran;
  adj_rt_parallel_for(
      1,
      [](void *Ctx, int64_t) {
        *static_cast<std::thread::id *>(Ctx) = std::this_thread::get_id();
      },
      &Ran);
  EXPECT_EQ(Ran, std::this_thread::get_id());
}

TEST_F(ThreadPool, NestedCallsRunInline) {
  adj_rt_set_threads(2);
  constexpr int64_t Outer = 8, Inner = 5;
  Counts C(Outer * Inner);
  struct Ctx {
    Counts *C;
    int64_t Base;
  };
  auto OuterFn = [](void *P, int64_t T) {
    Ctx In{static_cast<Counts *>(P), T * Inner};
    adj_rt_parallel_for(
        Inner,
        [](void *Q, int64_t U) {
          auto *I = static_cast<Ctx *>(Q);
          Counts::task(I->C, I->Base + U);
        },
        &In);
  };
  adj_rt_parallel_for(Outer, OuterFn, &C);
  EXPECT_TRUE(C.eachOnce());
}

TEST_F(ThreadPool, ManyCallsInARow) {
  adj_rt_set_threads(2);
  std::atomic<int64_t> Sum{0};
  auto Fn = [](void *Ctx, int64_t T) {
    static_cast<std::atomic<int64_t> *>(Ctx)->fetch_add(T + 1);
  };
  for (int I = 0; I < 20000; ++I)
    adj_rt_parallel_for(1 + I % 4, Fn, &Sum);
  // Each block of four calls adds 1 + 3 + 6 + 10.
  EXPECT_EQ(Sum.load(), 20000 / 4 * 20);
}

TEST_F(ThreadPool, CallsFromTwoThreads) {
  adj_rt_set_threads(2);
  auto Run = [] {
    for (int I = 0; I < 2000; ++I) {
      Counts C(9);
      adj_rt_parallel_for(9, Counts::task, &C);
      if (!C.eachOnce())
        return false;
    }
    return true;
  };
  bool Other = false;
  std::thread T([&] { Other = Run(); });
  bool Mine = Run();
  T.join();
  EXPECT_TRUE(Mine);
  EXPECT_TRUE(Other);
}

TEST_F(ThreadPool, DefaultIsOnePerCore) {
  adj_rt_set_threads(0);
  EXPECT_GE(adj_rt_threads(), 1);
  EXPECT_LE(adj_rt_threads(), int64_t(std::thread::hardware_concurrency()) +
                                  (std::thread::hardware_concurrency() == 0));
}

} // namespace
