//===- Mpi.cpp - Data-parallel trainers on MPI ----------------------------===//
///
/// \file
/// The library adjoint_rt_mpi: the Comm of Distributed.h on
/// MPI_COMM_WORLD, and adj_rt_mpi_trainer_main, the main() of trainers
/// built with adjc --mpi. It initialises MPI (MPI_THREAD_FUNNELED: only the
/// thread that runs the training loop, which also runs the step functions'
/// all_reduce kernels, calls MPI), has waiting ranks yield their core
/// (Open MPI's mpi_yield_when_idle, unless set), installs the Comm, silences
/// stdout on every rank but 0, runs adj_rt_trainer_main and turns any
/// failure into MPI_Abort: a rank that stops early would leave the others
/// blocked in their next collective. Sums, maxima and broadcasts go in
/// pieces of at most INT_MAX elements, MPI's count type.
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/adjoint_rt_mpi.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

// MPI's C interface only: its deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace {

using adj::rt::Comm;

class MpiComm final : public Comm {
public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &Rank);
    MPI_Comm_size(MPI_COMM_WORLD, &Size);
  }
  int rank() const override { return Rank; }
  int size() const override { return Size; }

  void sum(void *buf, int64_t count, adj_rt_dtype t) override {
    bool f64 = t == ADJ_RT_F64;
    size_t elt = f64 ? 8 : 4;
    auto *p = static_cast<char *>(buf);
    for (int64_t done = 0; done < count;) {
      int n = int(std::min<int64_t>(count - done, INT_MAX));
      MPI_Allreduce(MPI_IN_PLACE, p + size_t(done) * elt, n,
                    f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      done += n;
    }
  }

  void max(uint64_t *buf, int count) override {
    MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_UINT64_T, MPI_MAX,
                  MPI_COMM_WORLD);
  }

  void broadcast(void *buf, size_t bytes) override {
    auto *p = static_cast<char *>(buf);
    for (size_t done = 0; done < bytes;) {
      int n = int(std::min<size_t>(bytes - done, INT_MAX));
      MPI_Bcast(p + done, n, MPI_BYTE, 0, MPI_COMM_WORLD);
      done += size_t(n);
    }
  }

private:
  int Rank = 0, Size = 1;
};

} // namespace

extern "C" int adj_rt_mpi_trainer_main(const adj_rt_model *m, int argc,
                                       char **argv) {
  // A rank waiting in a collective yields its core instead of spinning
  // (unless the user chose): ranks share cores with their own threads and,
  // on a shared machine, with other work; a step lasts milliseconds, so
  // the microseconds of a wake-up do not count.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MpiComm comm;
  adj::rt::setComm(&comm);
  // Rank 0 alone prints progress, results and --help.
  if (comm.rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fclose(stdout);
  int status = adj_rt_trainer_main(m, argc, argv);
  std::fflush(stdout);
  std::fflush(stderr);
  // A signal stops every rank after the same step (the ranks agree on it,
  // anyRank) with 128 + the signal: a clean end, as in one process. Any
  // other failure may be one rank's alone, which MPI_Abort makes the job's.
  bool interrupted = status > 128;
  if (status != 0 && !interrupted && comm.size() > 1)
    MPI_Abort(MPI_COMM_WORLD, status);
  adj::rt::setComm(nullptr);
  MPI_Finalize();
  return status;
}
