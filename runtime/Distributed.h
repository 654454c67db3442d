//===- Distributed.h - The ranks of a data-parallel run ---------*- C++ -*-===//
///
/// \file
/// What the training loop needs from data-parallel training (a trainer built
/// with adjc --mpi, run under mpirun): the ranks, the split of every global
/// batch into per-rank shards, and the collectives behind adj_rt_allreduce,
/// the replica check and the sharded evaluation. The runtime library holds
/// no MPI: adj_rt_mpi_trainer_main (Mpi.cpp, library adjoint_rt_mpi)
/// installs a Comm for the run; without one a process is rank 0 of 1, every
/// collective is the identity and the training loop does what it always
/// did.
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_DISTRIBUTED_H
#define ADJOINT_RUNTIME_DISTRIBUTED_H

#include "runtime/Internal.h"

#include <cstdint>
#include <string>
#include <vector>

namespace adj::rt {

struct State;
class Step;

/// The collectives of a data-parallel run over all its ranks. Every rank
/// calls each of them in the same order; none returns before all have
/// called it. A transport error ends the job (never returns).
class Comm {
public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Replaces buf[0, count) by its elementwise sum over the ranks.
  virtual void sum(void *buf, int64_t count, adj_rt_dtype t) = 0;
  /// Replaces buf[0, count) by its elementwise maximum over the ranks.
  virtual void max(uint64_t *buf, int count) = 0;
  /// Copies rank 0's buf[0, bytes) to every other rank.
  virtual void broadcast(void *buf, size_t bytes) = 0;
};

/// Installs the run's communicator (null: a single process).
void setComm(Comm *c);
/// This process's rank, 0 in a single process.
int rank();
/// The number of ranks, 1 in a single process.
int ranks();
/// "rank R: " when there is more than one rank, else "": the prefix of a
/// rank's error messages.
std::string rankPrefix();

/// Fails when the process was started by mpirun with more than one rank but
/// has no communicator: a trainer built without --mpi would train alone in
/// every process.
int checkLaunch();

/// The sample indices of rank `r` of `k`'s shard of the global batch at
/// positions [first, first + n) of `order` (null: the identity) into
/// `rows`: positions first + r + k*j (PyTorch's DistributedSampler order),
/// so that the k shards together are the rows of a single process's batch
/// of n. Returns the shard's weight in the all-reduce, its share of the n
/// rows. A rank left without a row by a short last batch gets the batch's
/// first row with weight 0.
double shardRows(const int64_t *order, int64_t first, int64_t n, int r, int k,
                 std::vector<int64_t> &rows);

/// Gathers this rank's shard of the global batch at positions [first, first
/// + n) of `order` (shardRows) into `step`'s batch buffers and sets the
/// weight adj_rt_allreduce gives it; returns the shard's row count. In a
/// single process: step.gather(order, first, n), returning n.
int64_t gatherShard(Step &step, const int64_t *order, int64_t first, int64_t n);

/// The seed of this rank's dropout masks: the run's seed on rank 0, a
/// different one mixed from it and the rank elsewhere.
uint64_t rankSeed(uint64_t seed);

/// Seconds this process spent in adj_rt_allreduce, and its calls.
double allReduceSeconds();
int64_t allReduceCalls();

/// Checks that every rank holds bit-identical parameters and optimizer
/// state (one 64-bit checksum per rank, compared with a max all-reduce) and
/// fails with "ranks diverged ..." otherwise (on every rank alike), then
/// copies rank 0's buffers (batch norm's running statistics, which each
/// rank updates from its own shard) to the others. `step` and `epoch` are
/// for the message. A single process: returns 0.
int syncReplicas(State &state, int64_t step, int64_t epoch);

/// After optimizer step `step`: the replica check of every step when the
/// environment sets ADJOINT_CHECK_REPLICAS=step (tests), and the faults the
/// tests inject with RANK:STEP values: ADJOINT_TEST_KILL=1:25 makes rank 1
/// kill itself (SIGKILL) after step 25, ADJOINT_TEST_PERTURB=1:5 makes it
/// flip the last bit of its first parameter value after step 5.
int afterStep(State &state, int64_t step, int64_t epoch);

/// Whether `local` is true on some rank (a max all-reduce; every rank must
/// call it at the same point). In a single process: `local`.
bool anyRank(bool local);
/// Sums `values` over the ranks.
void sumOverRanks(std::vector<double> &values);

} // namespace adj::rt

#endif // ADJOINT_RUNTIME_DISTRIBUTED_H
