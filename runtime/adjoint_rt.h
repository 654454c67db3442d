/*===- adjoint_rt.h - The Adjoint runtime's C ABI ------------------*- C -*-===*\
 *
 * What compiled training code and native trainers link against: a plain C
 * interface with no LLVM dependency. A compiler (the JIT in adjc, or an
 * object file emitted ahead of time) describes a model with adj_rt_model:
 * its compiled step functions with the roles and types of their arguments
 * and results, its parameters' initialisers, its data sources and its
 * training defaults. adj_rt_train() then loads the data, initialises the
 * parameters, runs the training loop, evaluates on the test split and writes
 * the report.
 *
 * Every entry point returns 0 on success; on failure it returns non-zero
 * after storing a message readable with adj_rt_last_error(). A generated
 * trainer's main() is `return adj_rt_trainer_main(&model, argc, argv);`.
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_H
#define ADJOINT_RT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Element types; the values match adj::DType. */
typedef enum { ADJ_RT_F32 = 0, ADJ_RT_F64 = 1, ADJ_RT_I32 = 2 } adj_rt_dtype;

/** A dimension of this value is the symbolic batch dim. */
#define ADJ_RT_BATCH (-1)

/** Roles of a step function's arguments. */
typedef enum {
  ADJ_RT_ARG_INPUT = 0, /**< a data input, batched (e.g. x, y) */
  ADJ_RT_ARG_PARAM = 1, /**< a model parameter */
  ADJ_RT_ARG_STATE = 2, /**< optimizer state, e.g. opt.m.w1 */
  ADJ_RT_ARG_HYPER = 3  /**< a scalar hyperparameter: "lr" or "step" */
} adj_rt_role;

/** One argument or result of a compiled step function. */
typedef struct {
  const char *name;     /**< x, w1, opt.m.w1, lr, step; results: loss, ... */
  adj_rt_role role;     /**< for results: ignored */
  adj_rt_dtype dtype;
  int rank;
  const int64_t *dims;  /**< ADJ_RT_BATCH for the batch dim */
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
 * unspecified.
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
} adj_rt_function;

/** Parameter initialisers (model language v1). */
typedef enum {
  ADJ_RT_INIT_ZEROS = 0,
  ADJ_RT_INIT_ONES,
  ADJ_RT_INIT_CONSTANT,       /**< a = value */
  ADJ_RT_INIT_NORMAL,         /**< a = mean, b = std */
  ADJ_RT_INIT_UNIFORM,        /**< a = lo, b = hi */
  ADJ_RT_INIT_GLOROT_UNIFORM,
  ADJ_RT_INIT_GLOROT_NORMAL,
  ADJ_RT_INIT_HE_NORMAL,
  ADJ_RT_INIT_HE_UNIFORM
} adj_rt_init;

typedef struct {
  const char *name;
  int rank;
  const int64_t *dims; /**< static */
  adj_rt_init init;
  double a, b;
  int frozen;
} adj_rt_param_desc;

/** Data sources of the model's data { } block. */
typedef enum { ADJ_RT_DATA_IDX = 0, ADJ_RT_DATA_NPY, ADJ_RT_DATA_CSV } adj_rt_data_format;

typedef struct {
  const char *split;  /**< "train" or "test" */
  const char *input;  /**< the input's name, e.g. "x" */
  adj_rt_data_format format;
  const char *path;   /**< absolute, or relative to the working directory */
  double scale;       /**< multiply every value (1 when absent) */
  /* CSV only: */
  const char *columns; /**< "a,b" names or "0,2" 0-based indices; NULL: all */
  int header;          /**< -1: auto (a non-numeric first row), 0 no, 1 yes */
} adj_rt_data_desc;

/** An integer input used as class labels for a [.., classes] tensor. */
typedef struct {
  const char *input;
  int64_t classes;
  const char *used_at; /**< "model.adj:20:6", for error messages */
} adj_rt_label_desc;

/** Learning-rate schedules (train { schedule = ... }, --schedule). The
 *  schedule gives the learning rate of optimizer step t (counting from 0)
 *  from the base rate lr, as PyTorch's schedulers stepped once per
 *  iteration. 0 is "not given" in adj_rt_options (the model's schedule) and
 *  constant in adj_rt_model. */
typedef enum {
  ADJ_RT_SCHEDULE_DEFAULT = 0,
  ADJ_RT_SCHEDULE_CONSTANT, /**< lr */
  ADJ_RT_SCHEDULE_STEP,     /**< lr * gamma^floor(t / step_size) (StepLR) */
  ADJ_RT_SCHEDULE_COSINE    /**< eta_min + (lr - eta_min) *
                                 (1 + cos(pi * min(t, t_max) / t_max)) / 2
                                 (CosineAnnealingLR) */
} adj_rt_schedule_kind;

typedef struct {
  adj_rt_schedule_kind kind;
  int64_t step_size; /**< step: positive */
  double gamma;      /**< step: positive */
  int64_t t_max;     /**< cosine: positive, or 0 for the run's last step */
  double eta_min;    /**< cosine: non-negative */
} adj_rt_schedule;

typedef struct {
  const char *name; /**< model name */
  adj_rt_function train_step; /**< args: inputs, params, states, lr, step */
  adj_rt_function eval_step;  /**< args: inputs, params; results: loss, metrics */
  int num_params;
  const adj_rt_param_desc *params;
  int num_data;
  const adj_rt_data_desc *data;
  int num_labels;
  const adj_rt_label_desc *labels;
  /* Defaults from the train { } block. */
  const char *optimizer; /**< "sgd", "adam", "adamw": train_step's */
  double lr;
  int64_t batch;
  int64_t epochs;
  uint64_t seed;
  /** Alternatives to train_step for --optimizer NAME: the same arguments
   *  and results except the STATE ones, which are the optimizer's slots;
   *  each function's `name` is its optimizer's ("sgd", "adam", "adamw"). */
  int num_optimizer_steps;
  const adj_rt_function *optimizer_steps;
  /** The learning-rate schedule and linear warm-up (0: none) of the train
   *  { } block; see adj_rt_schedule_lr. */
  adj_rt_schedule schedule;
  int64_t warmup;
} adj_rt_model;

/** Run options: the trainer command line (runtime/TrainerOptions.def lists
 *  the flags and the fields they set). Zero/NULL fields take the model's
 *  defaults; call adj_rt_options_init() first. */
typedef struct {
  int64_t epochs;   /**< 0: model default */
  int64_t steps;    /**< stop after this many optimizer steps (0: no limit) */
  int64_t batch;    /**< 0: model default */
  double lr;        /**< 0: model default */
  int64_t seed;     /**< -1: model default */
  int shuffle;      /**< 1 (default) or 0 */
  int quiet;        /**< no progress lines */
  int eval_only;
  const char *report_path; /**< --report FILE.json, or NULL */
  double compile_seconds;  /**< reported as compile_seconds */
  /** What the compiler knows, for --report: the train step's scratch arena
   *  at the training batch size (arena_bytes, -1: unknown) and whether the
   *  JIT's object cache had it (object_cache "hit", "miss" or "off"; NULL:
   *  not reported, e.g. in a native trainer). */
  int64_t arena_bytes;
  const char *object_cache;
  const char *optimizer;   /**< NULL: the model's train_step */
  int64_t threads; /**< 0: one per core (see adj_rt_set_threads) */
  /** --data SPLIT.INPUT=PATH: data_keys[i] is "train.x", data_values[i] the
   *  file, whose format follows from its name (.npy, .csv, .idx, -ubyte or
   *  .gz, possibly gzipped). It replaces the model's source of that input
   *  (keeping its scale, and for CSV its columns and header) or adds one. */
  int num_data;
  const char *const *data_keys;
  const char *const *data_values;
  const char *load_path;   /**< --load CKPT, or NULL */
  const char *save_path;   /**< --save CKPT, or NULL */
  int num_freeze;          /**< --freeze: parameters not to update */
  const char *const *freeze;
  /** --log FILE.csv: "kind,epoch,step,loss,test_loss,METRICS...,
   *  samples_per_sec", a row per step (kind "step") and epoch ("epoch"). */
  const char *log_path;
  const char *plot_path; /**< --plot FILE.svg: train/test loss per epoch */
  adj_rt_schedule schedule; /**< --schedule; kind 0: the model's */
  int64_t warmup;           /**< --warmup N; -1: the model's, 0: none */
  void *storage; /**< owned by adj_rt_options_set; NULL until then */
} adj_rt_options;

/** Sets the defaults: every count 0, lr 0, seed -1, warmup -1, shuffle 1,
 *  every flag 0, every string and array NULL, compile_seconds 0,
 *  arena_bytes -1, schedule
 *  kind ADJ_RT_SCHEDULE_DEFAULT. */
void adj_rt_options_init(adj_rt_options *o);

/** Sets the option `flag` (its name in TrainerOptions.def without the
 *  dashes, e.g. "batch") from its command-line text `value` (ignored for
 *  flags) after checking it ("--batch: 0 is not a positive integer").
 *  Strings are copied and List/Map values appended into storage owned by
 *  `o` (keeping the entries of arrays set before); release it with
 *  adj_rt_options_free(). */
int adj_rt_options_set(adj_rt_options *o, const char *flag,
                       const char *value);

/** Frees what adj_rt_options_set() allocated; the strings and arrays it
 *  stored in `o` become invalid. */
void adj_rt_options_free(adj_rt_options *o);

/**
 * Trains (unless eval_only), evaluates on the test split, prints the
 * progress to stdout and writes the report, log, plot and checkpoint asked
 * for. Returns 0 or 1 (user error, message in adj_rt_last_error()).
 *
 * With steps > 0 training stops after that many optimizer steps; when epochs
 * is not given too, it runs as many epochs as the steps need (the last one
 * possibly partial). On a terminal the current epoch is shown on a line
 * redrawn in place; otherwise one line per epoch is printed.
 *
 * load_path: a checkpoint holding the parameters only (or optimizer state of
 * another optimizer, ignored with a note) starts training from step 0 with
 * fresh optimizer state. A full checkpoint written by save_path with the
 * same optimizer resumes exactly: parameters, optimizer state, step, epoch
 * and shuffle state, so that training 2 epochs equals training 1, saving,
 * loading and training 1 more, bit for bit (with the same batch size).
 * Then epochs and steps count the work of this run ("N more"), while the
 * epoch numbers printed and the report's epochs and steps are totals.
 *
 * save_path is written atomically after every epoch and when training
 * stops; its metadata "epoch" counts completed epochs, and when --steps
 * stopped inside an epoch, "epoch_samples" the samples of it trained.
 */
int adj_rt_train(const adj_rt_model *m, const adj_rt_options *o);

/** A native trainer's main(): parses the trainer options of argv (see
 *  TrainerOptions.def; --help lists them with the model's defaults) and
 *  calls adj_rt_train. Returns 0 on success and after --help; 1 after
 *  printing "PROGRAM: error: MESSAGE" to stderr, PROGRAM being the base
 *  name of argv[0]. */
int adj_rt_trainer_main(const adj_rt_model *m, int argc, char **argv);

/** The message of the last failure in this thread. */
const char *adj_rt_last_error(void);

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

/** Sets the number of threads adj_rt_parallel_for uses, the caller
 *  included (--threads N; 0: one per core available to the process, the
 *  default). Not to be called while a parallel loop runs. */
void adj_rt_set_threads(int64_t n);

/** The number of threads adj_rt_parallel_for uses. */
int64_t adj_rt_threads(void);

/* ---- Pieces, exposed for tests and tools. ---- */

/** A dense host tensor owned by the runtime. */
typedef struct {
  adj_rt_dtype dtype;
  int rank;
  int64_t dims[8];
  void *data; /**< 64-byte aligned */
} adj_rt_tensor;

/** Loads an IDX file (gzipped or not) into a new f32 (scale applied) or
 *  i32 tensor, as `dtype`. Returns 0 or non-zero with the error set. */
int adj_rt_load_idx(const char *path, adj_rt_dtype dtype, double scale,
                    adj_rt_tensor *out);

/** Loads a NumPy .npy file (optionally gzipped; C order; u1 i1 i2 i4 i8 f4
 *  f8 b1 elements) like adj_rt_load_idx. */
int adj_rt_load_npy(const char *path, adj_rt_dtype dtype, double scale,
                    adj_rt_tensor *out);

/** Loads a CSV file (optionally gzipped) as a [rows, columns] tensor:
 *  numeric cells separated by commas, an optional header row (header -1:
 *  present when the first row has a non-numeric cell; 0 absent; 1 present)
 *  and `columns` picking columns by header name or 0-based index ("x1,x2",
 *  "0,3"; NULL: all). Errors name the row (the line, counting from 1) and
 *  column (from 1) of a bad cell: "'x.csv': row 7, column 3: 'abc' is not a
 *  number". */
int adj_rt_load_csv(const char *path, adj_rt_dtype dtype, double scale,
                    const char *columns, int header, adj_rt_tensor *out);

/** Parses a --schedule SPEC: "constant", "step:step_size=100,gamma=0.5"
 *  (step_size required, gamma 0.1 by default) or "cosine:t_max=500,
 *  eta_min=0" (both optional; t_max 0 or absent: the run's length). Errors
 *  are "unknown schedule 'foo'; expected constant, step or cosine" and the
 *  like, without the flag. */
int adj_rt_schedule_parse(const char *text, adj_rt_schedule *out);

/** The learning rate of optimizer step t (0-based) under schedule `s` from
 *  the base rate lr, times the linear warm-up factor min(1, (t + 1) /
 *  warmup) when warmup > 0. A cosine schedule with t_max 0 uses
 *  `default_t_max` (the run's number of steps; at least 1). */
double adj_rt_schedule_lr(const adj_rt_schedule *s, double lr, int64_t warmup,
                          int64_t t, int64_t default_t_max);

/** Frees t->data (NULL is fine) and sets it to NULL. */
void adj_rt_tensor_free(adj_rt_tensor *t);

/** Fills `count` floats (or doubles, when is_f64) from the initialiser with a
 *  deterministic generator seeded by `seed`; fan_in/fan_out as PyTorch
 *  computes them for the shape. */
void adj_rt_init_fill(void *data, int is_f64, int64_t count, adj_rt_init init,
                      double a, double b, int64_t fan_in, int64_t fan_out,
                      uint64_t seed);

/** fan_in and fan_out of a parameter of shape dims[rank], as adj_rt_train
 *  passes them to adj_rt_init_fill: weights are [in, out], so a matrix has
 *  fan_in = dims[0] and fan_out = dims[1]; a higher-rank kernel
 *  [in, k1, .., kr, out] has fan_in = prod(dims[:-1]) and fan_out =
 *  dims[-1] * prod(dims[1:-1]); a vector has both dims[0], a scalar 1. */
void adj_rt_fans(int rank, const int64_t *dims, int64_t *fan_in,
                 int64_t *fan_out);

/** A tensor of a checkpoint, in the caller's memory (row-major). */
typedef struct {
  const char *name;
  adj_rt_dtype dtype;
  int rank;
  const int64_t *dims;
  void *data;
} adj_rt_named_tensor;

/** Writes a safetensors file: an 8-byte little-endian header length, a JSON
 *  header (padded with spaces to a multiple of 8 bytes) with `__metadata__`
 *  holding the string pairs metadata[2i] = metadata[2i + 1], then the
 *  tensors' data in order (dtypes F32, F64, I32). Atomic: a temporary file
 *  in the same directory is written, fsync'd and renamed over `path`, and
 *  the directory fsync'd, so a crash leaves the old file or the new one
 *  (and, after SIGKILL, possibly a PATH.tmp* file). */
int adj_rt_save_checkpoint(const char *path, int num_tensors,
                           const adj_rt_named_tensor *tensors,
                           int num_metadata, const char *const *metadata);

/** Reads and validates the safetensors file `path` completely (header size
 *  and JSON, dtypes, shapes against byte sizes, data offsets contiguous and
 *  in bounds) and checks that it holds exactly the tensors named in
 *  `tensors`, with their shapes; only then copies each into its data,
 *  converting F32 and F64 to the tensor's dtype. On failure no buffer has
 *  been written. */
int adj_rt_load_checkpoint(const char *path, int num_tensors,
                           const adj_rt_named_tensor *tensors);

/* ---- Sessions: a model kept in memory and trained step by step. ---- */

/** A training session: a model's settings, data, parameters, optimizer state
 *  and position, between calls. adj_rt_train() is a session trained once;
 *  adj-repl keeps one open. Not thread-safe, except adj_rt_session_interrupt. */
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
  int num_params;
  int64_t param_values;
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
  int num_metrics;        /**< see adj_rt_session_metric_name */
  double train_seconds;   /**< spent in training steps so far */
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
 *  "data" "train.x=x.npy", "no-shuffle", "freeze" "w1", "save" "ck") with no
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

/** Loads a checkpoint as adj_rt_train's load_path: a full one of the same
 *  optimizer restores the optimizer state and position too; one holding
 *  parameters only resets the optimizer state and position to step 0. On
 *  failure nothing changes. */
int adj_rt_session_load(adj_rt_session *s, const char *path);

/** The completed epochs so far (in `*records`, valid until the next
 *  training call); returns their count. */
int adj_rt_session_history(const adj_rt_session *s,
                           const adj_rt_epoch_record **records);

/** Fills `out` with the session's state and settings. */
void adj_rt_session_get_info(const adj_rt_session *s,
                             adj_rt_session_info *out);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_H */
