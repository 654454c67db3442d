/*===- adjoint_rt_mpi.h - Data-parallel trainers on MPI -----------*- C -*-===*\
 *
 * The main() of a native trainer built with `adjc MODEL -o TRAINER --mpi`,
 * defined in the library adjoint_rt_mpi (runtime/Mpi.cpp), which links Open
 * MPI; the runtime library itself needs no MPI.
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_MPI_H
#define ADJOINT_RT_MPI_H

#include "runtime/adjoint_rt_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/** adj_rt_trainer_main as one rank of a data-parallel run: initialises MPI,
 *  trains with the gradients of every step averaged over the ranks (every
 *  rank on its shard of each global batch; rank 0 alone writes to stdout,
 *  checkpoints, logs, plots and the report) and finalises MPI. Outside
 *  mpirun the process is a run of one rank. A rank that fails prints
 *  "PROGRAM: error: rank R: MESSAGE" and ends the whole job with MPI_Abort,
 *  so that no rank waits forever; returns 0 otherwise. */
int adj_rt_mpi_trainer_main(const adj_rt_model *m, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_MPI_H */
