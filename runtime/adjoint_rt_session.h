/*===- adjoint_rt_session.h - Training sessions -------------------*- C -*-===*\
 *
 * The session API: a compiled model kept in memory with its data, parameters,
 * optimizer state and position between calls, trained step by step,
 * evaluated, reconfigured without recompiling and switched to a recompiled
 * model. adj-repl keeps one open; adj_rt_train() is a session trained once.
 * Sessions take the model description and options of adjoint_rt_train.h and
 * expose parameters as the named tensors of adjoint_rt_io.h.
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_SESSION_H
#define ADJOINT_RT_SESSION_H

#include "runtime/adjoint_rt_io.h"
#include "runtime/adjoint_rt_train.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A training session: a model's settings, data, parameters, optimizer state
 *  and position, between calls. adj_rt_train() is a session trained once;
 *  adj-repl keeps one open. Not thread-safe, except
 *  adj_rt_session_interrupt. */
typedef struct adj_rt_session adj_rt_session;

/** adj_rt_session_train's status when adj_rt_session_interrupt stopped it. */
#define ADJ_RT_INTERRUPTED 2

/** One completed epoch of a session. */
typedef struct {
  int64_t epoch;          /**< its number, counting from 1 */
  int64_t step;           /**< optimizer steps taken at its end */
  double train_loss;      /**< mean over the samples trained in it */
  double test_loss;       /**< NAN without a test split */
  double samples_per_sec; /**< training throughput of the epoch */
} adj_rt_epoch_record;

/** Where a session stands and how it is set up. Strings point into the
 *  session and stay valid until it changes. */
typedef struct {
  const char *model;     /**< the model's name */
  const char *optimizer; /**< the optimizer of the train step */
  int num_params;        /**< parameters and buffers (adj_rt_session_param) */
  int num_buffers;       /**< of them, buffers (batch norm's statistics) */
  int64_t param_values;  /**< values of the parameters, not the buffers */
  int64_t train_samples, test_samples;
  int64_t step;          /**< optimizer steps taken */
  int64_t epoch;         /**< epochs completed */
  int64_t epoch_samples; /**< samples of the next epoch already trained */
  int64_t epochs;        /**< epochs adj_rt_session_train(s, 0, 0) trains */
  int64_t batch;
  double lr;
  uint64_t seed;
  int64_t threads;
  int shuffle;
  int num_metrics;         /**< see adj_rt_session_metric_name */
  double train_seconds;    /**< spent in training steps so far */
  int64_t trained_samples; /**< samples trained so far (this session) */
  int64_t trained_steps;   /**< steps taken so far (this session) */
} adj_rt_session_info;

/** Resolves the options `o` (NULL: defaults) against model `m` as
 *  adj_rt_train does, loads the data, initialises the parameters (from the
 *  seed, or o->load_path) and binds the step functions. Prints nothing.
 *  NULL on failure, with the message in adj_rt_last_error(). The session
 *  copies `o`; `m` must stay valid while the session uses it. */
adj_rt_session *adj_rt_session_create(const adj_rt_model *m,
                                      const adj_rt_options *o);

/** Frees the session (NULL is fine). */
void adj_rt_session_free(adj_rt_session *s);

/** Trains `epochs` more epochs (0: as many as `steps` need, else the
 *  options' or model's epochs), stopping after `steps` optimizer steps
 *  (0: no limit); a partial epoch left by an earlier call is finished first
 *  and counts as one. Prints adj_rt_train's lines (live progress on a
 *  terminal, "epoch E/N: train_loss ..." after each epoch) unless quiet,
 *  and saves after each epoch when the options have save_path. Returns 0,
 *  1 on error, or ADJ_RT_INTERRUPTED when adj_rt_session_interrupt stopped
 *  it at a step boundary, after printing "interrupted at step S (epoch E,
 *  N/M samples)"; the state is then that after step S. */
int adj_rt_session_train(adj_rt_session *s, int64_t epochs, int64_t steps);

/** Evaluates on the test split: results[0] the test loss, results[1 + i]
 *  metric i (results may be NULL; else it has 1 + num_metrics entries).
 *  Prints "eval: test_loss X  METRIC Y" unless quiet. Fails without a test
 *  split. */
int adj_rt_session_eval(adj_rt_session *s, double *results);

/** The name of metric i (0-based; NULL when out of range). */
const char *adj_rt_session_metric_name(const adj_rt_session *s, int i);

/** Asks adj_rt_session_train to stop at the next step boundary. Only sets
 *  an atomic flag, so it may be called from a signal handler or another
 *  thread; the flag is cleared when adj_rt_session_train starts. */
void adj_rt_session_interrupt(adj_rt_session *s);

/** Changes a trainer option (adj_rt_options_set's flags and values, e.g.
 *  "lr" "3e-4", "batch" "32", "optimizer" "sgd", "seed" "1", "threads" "4",
 *  "data" "train.x=x.npy", "no-shuffle", "freeze" "w1", "save" "ck",
 *  "on-nonfinite" "skip") with no
 *  recompilation; the parameters keep their values. Another optimizer
 *  starts from fresh optimizer state; another seed reseeds the shuffle;
 *  --data reloads the data. "load", "eval-only" and "report" are not
 *  session options. On failure nothing changes. */
int adj_rt_session_set_option(adj_rt_session *s, const char *flag,
                              const char *value);

/** Switches the session to model `m` (e.g. recompiled after an edit):
 *  parameters and optimizer state whose names, dtypes and shapes match the
 *  current ones keep their values, new ones are initialised from the seed
 *  (parameter i as in adj_rt_train); the position, history and options are
 *  kept, the data reloaded. On failure the session is unchanged and still
 *  uses the old model, which must stay valid until this succeeds. */
int adj_rt_session_rebind(adj_rt_session *s, const adj_rt_model *m);

/** Parameter i (in the model's order) as a named tensor whose data is the
 *  current value: readable, and writable in place until the next call that
 *  trains, loads or rebinds. Fails when i is out of range. */
int adj_rt_session_param(adj_rt_session *s, int i, adj_rt_named_tensor *out);

/** 1 when tensor i of adj_rt_session_param is a buffer (model state that is
 *  not trained, e.g. a running mean), 0 for a parameter or i out of range. */
int adj_rt_session_param_is_buffer(const adj_rt_session *s, int i);

/** The L2 norm of the change of parameter i by the last optimizer step
 *  (0 for frozen parameters); -1 when no step was taken since the session
 *  was created, rebound, reconfigured or loaded. A session keeps each
 *  parameter's value before the step for this (two buffers per parameter
 *  and optimizer state); adj_rt_train() needs no such copy and updates them
 *  in place where the step function allows (adj_rt_value_desc::inplace). */
double adj_rt_session_update_norm(const adj_rt_session *s, int i);

/** Writes a full checkpoint (parameters, optimizer state, position), as
 *  adj_rt_train's save_path. */
int adj_rt_session_save(adj_rt_session *s, const char *path);

/** --init-from for a session: copies the tensors of `path` whose name
 *  (after `map`, "NEW=OLD[,NEW=OLD]" or NULL) and shape match a parameter
 *  or buffer, prints what it did (unless quiet) and restarts the optimizer
 *  at step 0 with fresh state. On failure nothing changes. */
int adj_rt_session_init_from(adj_rt_session *s, const char *path,
                             const char *map);

/** --predict for a session: `inputs` is "INPUT=PATH[,INPUT=PATH]"; the
 *  model's output in evaluation mode for every row goes to `out_path`
 *  (.npy or .csv), as argmax classes when `classes`. Prints a line unless
 *  quiet. The session's parameters are used as they are. */
int adj_rt_session_predict(adj_rt_session *s, const char *inputs,
                           const char *out_path, int classes);

/** The model's output in evaluation mode for `rows` rows held in memory:
 *  `input` names the one input the output reads and `data` holds its rows
 *  (row-major, in its dtype and per-row shape); the output's rows go to
 *  `out` (at least rows times the output's row bytes, in its dtype). Prints
 *  nothing; used by adj-repl's :sample. */
int adj_rt_session_predict_rows(adj_rt_session *s, const char *input,
                                const void *data, int64_t rows, void *out,
                                size_t out_bytes);

/** Loads a checkpoint as adj_rt_train's load_path: a full one of the same
 *  optimizer restores the optimizer state and position too; one holding
 *  parameters only resets the optimizer state and position to step 0. On
 *  failure nothing changes. */
int adj_rt_session_load(adj_rt_session *s, const char *path);

/** Re-initialises parameter or buffer `param` from its initialiser (the
 *  value it had when the session was created) and zeroes its optimizer
 *  state; `param` NULL or "": every parameter and buffer, with the optimizer
 *  restarted at step 0 with fresh state. */
int adj_rt_session_reset(adj_rt_session *s, const char *param);

/** The completed epochs so far (in `*records`, valid until the next
 *  training call); returns their count. */
int adj_rt_session_history(const adj_rt_session *s,
                           const adj_rt_epoch_record **records);

/** Fills `out` with the session's state and settings. */
void adj_rt_session_get_info(const adj_rt_session *s, adj_rt_session_info *out);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_SESSION_H */
