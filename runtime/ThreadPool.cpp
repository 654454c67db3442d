//===- ThreadPool.cpp - The pool that runs generated parallel loops -------===//
///
/// \file
/// adj_rt_parallel_for runs tasks [0, n) on a persistent pool of
/// adj_rt_threads() - 1 workers plus the calling thread. Tasks are handed out
/// one at a time from an atomic counter, so the partition of the work into
/// tasks (which generated code derives from the problem size alone) decides
/// the results, never the number of threads or the scheduling.
///
/// One job runs at a time: a call from inside a task, or from a second
/// thread while the pool is busy, runs its tasks inline, in order. A job
/// is published by storing its fields, opening it and bumping a generation
/// counter; workers spin briefly on the counter (parallel loops of one step
/// follow each other closely), then sleep on a condition variable. A worker
/// announces itself in `Active` before it checks that the job is still open
/// and reads its fields; the caller closes the job once every task is done
/// and waits for `Active` to drain, so no worker touches a job's context
/// after adj_rt_parallel_for returns. All atomics are sequentially
/// consistent, which makes the open/active handshake a Dekker pair.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <cstdio>
#include <cstdlib>

#include <sched.h>

namespace {

using TaskFn = void (*)(void *, int64_t);

class Pool {
public:
  ~Pool() { resize(1); }

  int64_t size() const { return Size; }

  void resize(int64_t n) {
    std::lock_guard<std::mutex> busy(Busy);
    if (n == Size && !Workers.empty() == (n > 1))
      return;
    {
      std::lock_guard<std::mutex> lock(M);
      Stop.store(true);
    }
    Wake.notify_all();
    for (std::thread &t : Workers)
      t.join();
    Workers.clear();
    Stop.store(false);
    try {
      for (int64_t i = 1; i < n; ++i)
        Workers.emplace_back([this] { work(); });
    } catch (const std::system_error &) {
      // Out of threads: run with those that started.
    }
    Size = int64_t(Workers.size()) + 1;
    HasWorkers.store(!Workers.empty());
  }

  void run(int64_t n, TaskFn fn, void *ctx) {
    std::unique_lock<std::mutex> busy(Busy, std::defer_lock);
    // HasWorkers spares a 1-thread pool the lock (a tiny model's step runs
    // a dozen parallel loops of microseconds); Workers decides under it.
    if (InTask || n == 1 || !HasWorkers.load(std::memory_order_relaxed) ||
        !busy.try_lock() || Workers.empty()) {
      for (int64_t t = 0; t < n; ++t)
        fn(ctx, t);
      return;
    }
    if (Stats.Enabled) {
      Stats.Jobs.fetch_add(1, std::memory_order_relaxed);
      Stats.Tasks.fetch_add(uint64_t(n), std::memory_order_relaxed);
      if (Sleepers.load() > 0)
        Stats.Wakes.fetch_add(1, std::memory_order_relaxed);
    }
    Fn = fn;
    Ctx = ctx;
    N = n;
    Next = 0;
    Done = 0;
    Open = true;
    Gen.fetch_add(1);
    if (Sleepers.load() > 0) {
      std::lock_guard<std::mutex> lock(M);
      Wake.notify_all();
    }
    int64_t Mine = take();
    if (Stats.Enabled) {
      Stats.CallerTasks.fetch_add(uint64_t(Mine), std::memory_order_relaxed);
      if (Mine == n)
        Stats.Alone.fetch_add(1, std::memory_order_relaxed);
      auto T0 = std::chrono::steady_clock::now();
      spinUntil([&] { return Done.load() == n; });
      Stats.WaitNs.fetch_add(
          uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - T0)
                       .count()),
          std::memory_order_relaxed);
    }
    spinUntil([&] { return Done.load() == n; });
    Open = false;
    spinUntil([&] { return Active.load() == 0; });
  }

private:
  std::mutex Busy; ///< Held by the caller of the running job.
  std::vector<std::thread> Workers;
  int64_t Size = 1;
  std::atomic<bool> HasWorkers{false}; ///< !Workers.empty(), read unlocked

  // The job.
  TaskFn Fn = nullptr;
  void *Ctx = nullptr;
  int64_t N = 0;
  std::atomic<int64_t> Next{0}, Done{0};
  std::atomic<bool> Open{false};
  std::atomic<int> Active{0};

  // Waking workers.
  std::atomic<uint64_t> Gen{0};
  std::atomic<int> Sleepers{0};
  std::mutex M;
  std::condition_variable Wake;
  std::atomic<bool> Stop{false}; ///< Set under M.

  static thread_local bool InTask;

  /// With ADJ_POOL_STATS set, counts of the jobs run on workers, printed
  /// to stderr at exit: how many jobs and tasks, how many found the
  /// workers asleep, how many the caller ran alone, and how long the caller
  /// waited for the workers' last tasks (the imbalance of the splits).
  struct Statistics {
    bool Enabled = std::getenv("ADJ_POOL_STATS") != nullptr;
    std::atomic<uint64_t> Jobs{0}, Tasks{0}, CallerTasks{0}, Wakes{0}, Alone{0},
        WaitNs{0};
    ~Statistics() {
      if (Enabled)
        std::fprintf(stderr,
                     "adj pool: %llu jobs, %llu tasks (%llu by the caller), "
                     "%llu woke sleeping workers, %llu ran by the caller "
                     "alone, %.3f ms waiting for workers\n",
                     (unsigned long long)Jobs.load(),
                     (unsigned long long)Tasks.load(),
                     (unsigned long long)CallerTasks.load(),
                     (unsigned long long)Wakes.load(),
                     (unsigned long long)Alone.load(), WaitNs.load() * 1e-6);
    }
  };
  static Statistics Stats;

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  /// Spins until \p Cond holds (a worker finishing its last task),
  /// yielding the core only after a long wait: with more threads than
  /// free cores the worker may need it.
  template <typename F> static void spinUntil(F Cond) {
    for (unsigned i = 0; !Cond(); ++i) {
      relax();
      if (i >= 16384)
        sched_yield();
    }
  }

  /// Runs tasks of the open job until none is left; returns how many.
  int64_t take() {
    InTask = true;
    int64_t Ran = 0;
    for (int64_t t; (t = Next.fetch_add(1)) < N; ++Ran) {
      Fn(Ctx, t);
      Done.fetch_add(1);
    }
    InTask = false;
    return Ran;
  }

  void work() {
    using Clock = std::chrono::steady_clock;
    uint64_t seen = Gen.load();
    for (;;) {
      // Spin for a while after the last job, then sleep.
      auto until = Clock::now() + std::chrono::microseconds(200);
      for (unsigned i = 1; Gen.load() == seen; ++i) {
        relax();
        if (i % 256 == 0) {
          if (Clock::now() < until)
            continue;
          std::unique_lock<std::mutex> lock(M);
          Sleepers.fetch_add(1);
          Wake.wait(lock, [&] { return Stop.load() || Gen.load() != seen; });
          Sleepers.fetch_sub(1);
        }
        if (Stop.load())
          return;
      }
      if (Stop.load())
        return;
      seen = Gen.load();
      Active.fetch_add(1);
      if (Open.load())
        take();
      Active.fetch_sub(1);
    }
  }
};

thread_local bool Pool::InTask = false;
Pool::Statistics Pool::Stats;

Pool &pool() {
  static Pool P;
  return P;
}

int64_t cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  unsigned n = std::thread::hardware_concurrency();
  return n ? int64_t(n) : 1;
}

std::once_flag Defaulted;

Pool &ready() {
  // Checked first: call_once is a call into libc on every parallel loop.
  static std::atomic<bool> Done{false};
  if (Done.load(std::memory_order_acquire))
    return pool();
  std::call_once(Defaulted, [] {
    if (pool().size() == 1)
      pool().resize(cores());
  });
  Done.store(true, std::memory_order_release);
  return pool();
}

} // namespace

extern "C" void adj_rt_parallel_for(int64_t n_tasks,
                                    void (*fn)(void *ctx, int64_t task),
                                    void *ctx) {
  if (n_tasks <= 0)
    return;
  ready().run(n_tasks, fn, ctx);
}

extern "C" void adj_rt_set_threads(int64_t n) {
  std::call_once(Defaulted, [] {});
  pool().resize(n > 0 ? n : cores());
}

extern "C" int64_t adj_rt_threads(void) { return ready().size(); }
