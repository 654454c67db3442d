//===- Distributed.cpp - The ranks of a data-parallel run -----------------===//
///
/// \file
/// The parts of data-parallel training that need no MPI (see
/// Distributed.h): adj_rt_allreduce, which generated code calls with the
/// packed loss and gradients of a step, scales this rank's values by its
/// share of the global batch and sums them over the ranks through the
/// installed Comm; the shard gather; the per-rank dropout seed; the replica
/// check (a checksum of every parameter and optimizer-state byte, compared
/// across ranks) and the fault injection the tests use. Without a Comm all
/// of it reduces to what a single process does.
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/Trainer.h"

#include <chrono>
#include <csignal>
#include <cstring>

namespace adj::rt {

namespace {

Comm *TheComm = nullptr;
/// This rank's weight in the all-reduce of the current step.
double StepWeight = 1;
double ReduceSeconds = 0;
int64_t ReduceCalls = 0;
std::vector<int64_t> ShardRows;

/// The step of the fault the environment variable `name` injects into this
/// rank: its value is RANK:STEP; -1 when it is not set, malformed or names
/// another rank.
int64_t faultStep(const char *name) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return -1;
  char *end = nullptr;
  long r = std::strtol(v, &end, 10);
  if (*end != ':' || r != rank())
    return -1;
  long long s = std::strtoll(end + 1, &end, 10);
  return *end || s < 1 ? -1 : int64_t(s);
}

/// FNV-1a over the bytes of the parameters (not the buffers) and the
/// optimizer state, in the model's order.
uint64_t checksum(const State &state) {
  uint64_t h = 0xCBF29CE484222325ull;
  auto add = [&](const Slot &s) {
    const auto *p = static_cast<const unsigned char *>(s.current());
    for (size_t i = 0, n = s.bytes(); i < n; ++i)
      h = (h ^ p[i]) * 0x100000001B3ull;
  };
  for (const auto &s : state.Params)
    if (!s->Buffer)
      add(*s);
  for (const auto &s : state.States)
    add(*s);
  return h;
}

} // namespace

void setComm(Comm *c) { TheComm = c; }
int rank() { return TheComm ? TheComm->rank() : 0; }
int ranks() { return TheComm ? TheComm->size() : 1; }

std::string rankPrefix() {
  return ranks() > 1 ? format("rank %d: ", rank()) : std::string();
}

int checkLaunch() {
  if (TheComm)
    return 0;
  for (const char *var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char *v = std::getenv(var);
    if (v && std::atoi(v) > 1)
      return fail("this process has no MPI (a trainer built without --mpi, "
                  "or adjc --run), so under mpirun every process would train "
                  "alone; build a trainer with `adjc MODEL -o TRAINER --mpi`");
  }
  return 0;
}

double shardRows(const int64_t *order, int64_t first, int64_t n, int r, int k,
                 std::vector<int64_t> &rows) {
  rows.clear();
  for (int64_t pos = first + r; pos < first + n; pos += k)
    rows.push_back(order ? order[pos] : pos);
  double weight = double(rows.size()) / double(n);
  if (rows.empty()) // a short last batch: train a row, contribute nothing
    rows.push_back(order ? order[first] : first);
  return weight;
}

int64_t gatherShard(Step &step, const int64_t *order, int64_t first,
                    int64_t n) {
  if (ranks() == 1) {
    step.gather(order, first, n);
    return n;
  }
  StepWeight = shardRows(order, first, n, rank(), ranks(), ShardRows);
  step.gather(ShardRows.data(), 0, int64_t(ShardRows.size()));
  return int64_t(ShardRows.size());
}

uint64_t rankSeed(uint64_t seed) {
  int r = rank();
  return r == 0 ? seed : mix64(seed ^ (uint64_t(r) * 0x9E3779B97F4A7C15ull));
}

double allReduceSeconds() { return ReduceSeconds; }
int64_t allReduceCalls() { return ReduceCalls; }

int syncReplicas(State &state, int64_t step, int64_t epoch) {
  if (ranks() == 1)
    return 0;
  uint64_t h = checksum(state);
  uint64_t extremes[2] = {h, ~h}; // max of h, and ~min of h
  TheComm->max(extremes, 2);
  if (extremes[0] != ~extremes[1])
    return fail(format("ranks diverged: the parameters and optimizer state "
                       "differ between ranks after step %lld (epoch %lld); "
                       "checksums range from %016llx to %016llx",
                       (long long)step, (long long)epoch,
                       (unsigned long long)~extremes[1],
                       (unsigned long long)extremes[0]));
  for (const auto &s : state.Params)
    if (s->Buffer)
      TheComm->broadcast(s->current(), s->bytes());
  return 0;
}

int afterStep(State &state, int64_t step, int64_t epoch) {
  static const int64_t killAt = faultStep("ADJOINT_TEST_KILL");
  static const int64_t perturbAt = faultStep("ADJOINT_TEST_PERTURB");
  static const bool everyStep = [] {
    const char *v = std::getenv("ADJOINT_CHECK_REPLICAS");
    return v && std::strcmp(v, "step") == 0;
  }();
  if (step == killAt) {
    std::fflush(nullptr);
    std::raise(SIGKILL);
  }
  if (step == perturbAt)
    for (const auto &s : state.Params)
      if (!s->Buffer && s->Count > 0) {
        // The smallest change: the last bit of the first value.
        static_cast<unsigned char *>(s->current())[0] ^= 1;
        break;
      }
  return everyStep ? syncReplicas(state, step, epoch) : 0;
}

bool anyRank(bool local) {
  if (ranks() <= 1)
    return local;
  uint64_t flag = local;
  TheComm->max(&flag, 1);
  return flag != 0;
}

void sumOverRanks(std::vector<double> &values) {
  if (ranks() > 1 && !values.empty())
    TheComm->sum(values.data(), int64_t(values.size()), ADJ_RT_F64);
}

} // namespace adj::rt

using namespace adj::rt;

extern "C" void adj_rt_allreduce(void *buf, int64_t count, int32_t dtype) {
  if (!TheComm || TheComm->size() == 1 || count <= 0)
    return;
  auto start = std::chrono::steady_clock::now();
  adj_rt_dtype t = dtype == ADJ_RT_F64 ? ADJ_RT_F64 : ADJ_RT_F32;
  if (StepWeight != 1) {
    if (t == ADJ_RT_F64)
      for (double *p = static_cast<double *>(buf), *e = p + count; p != e; ++p)
        *p *= StepWeight;
    else
      for (float *p = static_cast<float *>(buf), *e = p + count; p != e; ++p)
        *p = float(double(*p) * StepWeight);
  }
  TheComm->sum(buf, count, t);
  ReduceSeconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ++ReduceCalls;
}
