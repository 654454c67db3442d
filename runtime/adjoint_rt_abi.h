/*===- adjoint_rt_abi.h - Compiled code's interface ---------------*- C -*-===*\
 *
 * The binary interface between the code a compiler generates and the runtime:
 * the signature of a compiled step function (adj_rt_step_fn), the descriptors
 * of its arguments and results (adj_rt_value_desc, adj_rt_function) and the
 * runtime functions generated code calls: adj_rt_parallel_for,
 * adj_rt_gemm_scratch (the GEMMs' packing buffers), in a model
 * compiled for data-parallel training (adjc --mpi) adj_rt_allreduce, and in
 * a checked step adj_rt_check_values.
 *
 * ADJ_RT_ABI_VERSION numbers this interface together with the model
 * description a compiler fills in (adj_rt_model and the structs it points
 * to, in adjoint_rt_train.h). A compiled model records the version it was
 * compiled against in adj_rt_model.abi_version, and the runtime refuses a
 * model of another version. Increment it with any change to these
 * declarations or to the model description that code compiled before would
 * not survive.
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_ABI_H
#define ADJOINT_RT_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of the interface between compiled models and the runtime;
 *  see above. */
#define ADJ_RT_ABI_VERSION 9

/** Element types; the values match adj::DType. */
typedef enum { ADJ_RT_F32 = 0, ADJ_RT_F64 = 1, ADJ_RT_I32 = 2 } adj_rt_dtype;

/** A dimension of this value is the symbolic batch dim. */
#define ADJ_RT_BATCH (-1)

/** Roles of a step function's arguments. */
typedef enum {
  ADJ_RT_ARG_INPUT = 0, /**< a data input, batched (e.g. x, y) */
  ADJ_RT_ARG_PARAM = 1, /**< a model parameter */
  ADJ_RT_ARG_STATE = 2, /**< optimizer state, e.g. opt.m.w1 */
  ADJ_RT_ARG_HYPER = 3, /**< a scalar hyperparameter: "lr", "step" or
                           "seed" (i32: the run's seed mixed to 32 bits) */
  ADJ_RT_ARG_BUFFER = 4 /**< model state that is not trained (batch norm's
                           running statistics), e.g. bn1.running_mean */
} adj_rt_role;

/** One argument or result of a compiled step function. */
typedef struct {
  const char *name; /**< x, w1, opt.m.w1, lr, step; results: loss, ... */
  adj_rt_role role; /**< for results: ignored */
  adj_rt_dtype dtype;
  int rank;
  const int64_t *dims; /**< ADJ_RT_BATCH for the batch dim */
  /** Results only (0 for arguments): nonzero when this result's buffer may
   *  be the buffer of the argument of the same name, so that the update is
   *  written in place (the function reads that argument only where it
   *  writes, after its other readers). */
  int inplace;
} adj_rt_value_desc;

/**
 * A compiled step function. `n` is the runtime batch size; `args` points to
 * one buffer per argument and `results` to one caller-allocated buffer per
 * result (row-major, contiguous). A result buffer aliases no argument,
 * except that a result whose descriptor has `inplace` set may be passed its
 * argument's buffer (the function computes the same either way). Returns
 * 0, or non-zero when the data was invalid (e.g. a label out of range), in
 * which case the results (and the arguments updated in place) are
 * unspecified. A checked step (adj_rt_check_step) also returns
 * ADJ_RT_STEP_NONFINITE when an op's result held NaN or an infinity.
 */
typedef int32_t (*adj_rt_step_fn)(int64_t n, void *const *args,
                                  void *const *results);

typedef struct {
  const char *name; /**< "train_step" or "eval_step" */
  adj_rt_step_fn fn;
  int num_args;
  const adj_rt_value_desc *args;
  int num_results;
  /** Result names: "loss", metric names, or the name of an argument whose
   *  next value it is (updated parameters and optimizer state). */
  const adj_rt_value_desc *results;
  /** The scratch arena the function mallocs (and keeps) for its
   *  intermediate values, as the compiler planned it: num_arena slices,
   *  slice i of arena[2i] * n^arena[2i+1] bytes at batch size n, each
   *  rounded up to 64 bytes, plus 64 bytes of alignment slack when there is
   *  any. The runtime sizes a run's memory with it before allocating. */
  int num_arena;
  const int64_t *arena;
  /** The memory the function needs at least at batch size n, as --report's
   *  memory_lower_bound_bytes defines it (parameters and buffers, their
   *  gradients, optimizer state and the largest set of activations live at
   *  once; docs/memory.md): the largest of several polynomials in n.
   *  num_bound (j, m, p) triples, bound[3i] = j, bound[3i+1] = m,
   *  bound[3i+2] = p, each adding m * n^p bytes to polynomial j. 0 / NULL:
   *  unknown. */
  int num_bound;
  const int64_t *bound;
} adj_rt_function;

/* ---- Thread pool: what generated code calls for its parallel loops. ---- */

/** Runs fn(ctx, task) once for every task in [0, n_tasks) on the pool's
 *  threads, the calling thread included, and returns when all have run
 *  (n_tasks <= 0: nothing). Tasks must be independent; which thread runs
 *  which task varies, so generated code derives its partition of the work
 *  from the problem size alone and results do not depend on the number of
 *  threads. A call from inside a task, or from another thread while the
 *  pool is busy, runs its tasks inline, in order. */
void adj_rt_parallel_for(int64_t n_tasks, void (*fn)(void *ctx, int64_t task),
                         void *ctx);

/** A buffer of at least `bytes` bytes, 2 MiB aligned, private to the
 *  calling thread and valid until its next call on that thread (or the
 *  thread's exit): where a GEMM packs blocks of its operands. */
void *adj_rt_gemm_scratch(int64_t bytes);

/* ---- Data parallelism: what an all_reduce kernel calls (adjc --mpi). ---- */

/** Replaces buf[0, count) (f32 or f64 elements, as `dtype` says) in place by
 *  its weighted sum over the ranks of a data-parallel run: sum over ranks r
 *  of w_r * buf_r, w_r being rank r's share of the current step's global
 *  batch (so the result is the global batch's mean of per-rank means). Every
 *  rank calls it once per train step with the same count and receives the
 *  same values. In a single process it returns at once, leaving buf as it
 *  is. Errors of the transport end the job (MPI_Abort), they never return. */
void adj_rt_allreduce(void *buf, int64_t count, int32_t dtype);

/* ---- Checked steps: what a step compiled with every op checked calls. ---- */

/** A checked step function's status when adj_rt_check_values found a
 *  non-finite value. */
#define ADJ_RT_STEP_NONFINITE 3

/** Called by a checked step function (adj_rt_check_step) after each op with
 *  the op's result: `count` elements of `dtype` (an adj_rt_dtype) at `data`,
 *  `site` the op's index into the check step's sites. Returns 0 when every
 *  element is finite; otherwise records the site and the first non-finite
 *  element (for the runtime's diagnosis) and returns 1, and the step
 *  returns ADJ_RT_STEP_NONFINITE at once. */
int32_t adj_rt_check_values(int64_t site, const void *data, int64_t count,
                            int32_t dtype);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_ABI_H */
