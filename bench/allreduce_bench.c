/* The cost of the gradient all-reduce alone: MPI_Allreduce (in place, sum)
 * of a float vector of each size given on the command line (the packed loss
 * and gradients of a model: 1 + its parameter count), REPS times after a
 * barrier each, so that the time excludes waiting for a slower rank. Rank 0
 * prints "allreduce COUNT floats (BYTES): MEDIAN ms, MIN ms". Built and run
 * by bench/mpi.sh. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  enum { REPS = 101 };
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int a = 1; a < argc; ++a) {
    long n = atol(argv[a]);
    float *buf = malloc(sizeof(float) * (size_t)n);
    double t[REPS];
    for (long i = 0; i < n; ++i)
      buf[i] = 1e-3f * (float)(i % 1000);
    for (int r = 0; r < REPS; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      double start = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
      t[r] = MPI_Wtime() - start;
    }
    qsort(t, REPS, sizeof t[0], cmp);
    if (rank == 0)
      printf("allreduce %ld floats (%.2f MB): median %.3f ms, min %.3f ms\n", n,
             4e-6 * (double)n, 1e3 * t[REPS / 2], 1e3 * t[0]);
    free(buf);
  }
  MPI_Finalize();
  return 0;
}
