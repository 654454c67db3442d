/*===- adjoint_rt_train.h - Models and training runs --------------*- C -*-===*\
 *
 * The trainer/driver API. The model description a compiler fills in for a
 * compiled model (adj_rt_model: its step functions, its parameters'
 * initialisers, its data sources and its training defaults); the run options
 * of the trainer command line (adj_rt_options); adj_rt_train(), which loads
 * the data, initialises the parameters, runs the training loop, evaluates on
 * the test split and writes the report; and adj_rt_trainer_main(), the whole
 * of a native trainer's main(). Also the thread count, learning-rate
 * schedules and initialisers, exposed for tests and tools.
 *
 * Every entry point of the runtime returns 0 on success; on failure it
 * returns non-zero after storing a message readable with adj_rt_last_error().
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_TRAIN_H
#define ADJOINT_RT_TRAIN_H

#include "runtime/adjoint_rt_abi.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The model description: what a compiler fills in. ---- */

/** Parameter initialisers (model language v1, and v2's kaiming_uniform and
 *  uniform_fan_in). */
typedef enum {
  ADJ_RT_INIT_ZEROS = 0,
  ADJ_RT_INIT_ONES,
  ADJ_RT_INIT_CONSTANT, /**< a = value */
  ADJ_RT_INIT_NORMAL,   /**< a = mean, b = std */
  ADJ_RT_INIT_UNIFORM,  /**< a = lo, b = hi */
  ADJ_RT_INIT_GLOROT_UNIFORM,
  ADJ_RT_INIT_GLOROT_NORMAL,
  ADJ_RT_INIT_HE_NORMAL,
  ADJ_RT_INIT_HE_UNIFORM,
  /** U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for the weights
   *  of nn.Linear and nn.Conv*d (kaiming_uniform_ with a = sqrt(5)). */
  ADJ_RT_INIT_KAIMING_UNIFORM,
  /** The same bound, fan_in being that of the weight a bias is used with:
   *  PyTorch's default for the biases of nn.Linear and nn.Conv*d. */
  ADJ_RT_INIT_UNIFORM_FAN_IN,
  /** pretrained(file, tensor): adj_rt_param_desc.file's tensor, loaded by
   *  adj_rt_train (adj_rt_init_fill writes zeros). */
  ADJ_RT_INIT_PRETRAINED
} adj_rt_init;

typedef struct {
  const char *name;
  int rank;
  const int64_t *dims; /**< static */
  adj_rt_init init;
  double a, b;
  int frozen;
  /** The fans of the fan-based initialisers, as the compiler found them from
   *  how the parameter is used; 0: computed from the shape (adj_rt_fans). */
  int64_t fan_in, fan_out;
  /** A buffer (`buffer NAME : ...`): model state that is not trained, such
   *  as batch norm's running statistics. Initialised, checkpointed and
   *  loaded like a parameter, updated by train_step's result of its name,
   *  never given to the optimizer or frozen. */
  int buffer;
  /** ADJ_RT_INIT_PRETRAINED: the safetensors file and the tensor's name in
   *  it; its dtype (F32, F64) and shape must fit. */
  const char *file;
  const char *tensor;
} adj_rt_param_desc;

/** Data sources of the model's data { } block. */
typedef enum {
  ADJ_RT_DATA_IDX = 0,
  ADJ_RT_DATA_NPY,
  ADJ_RT_DATA_CSV,
  ADJ_RT_DATA_TEXT /**< a file's bytes in windows (adj_rt_load_text) */
} adj_rt_data_format;

typedef struct {
  const char *split; /**< "train" or "test" */
  const char *input; /**< the input's name, e.g. "x" */
  adj_rt_data_format format;
  const char *path; /**< absolute, or relative to the working directory */
  double scale;     /**< multiply every value (1 when absent) */
  /* CSV only: */
  const char *columns; /**< "a,b" names or "0,2" 0-based indices; NULL: all */
  int header;          /**< -1: auto (a non-numeric first row), 0 no, 1 yes */
  /* Text only (see adj_rt_load_text): */
  int64_t seq;       /**< bytes per window */
  int64_t offset;    /**< window k starts at byte k * seq + offset */
  double start, end; /**< the fraction [start, end) of the file */
} adj_rt_data_desc;

/** An integer input used as class labels for a [.., classes] tensor, or as
 *  ids in [0, classes) (token ids of an embedding table's rows). */
typedef struct {
  const char *input;
  int64_t classes;
  const char *used_at; /**< "model.adj:20:6", for error messages */
  /** NULL: class labels; else the op that reads the values as ids in [0,
   *  classes) ("embedding", "one_hot"), for error messages. */
  const char *what;
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

/** An op of a checked step: what a non-finite value is reported at. */
typedef struct {
  const char *op;    /**< the op's mnemonic, e.g. "log", "log_grad" */
  const char *where; /**< its place in the model, "model.adj:5:11", or NULL */
  int grad;          /**< an op of the backward pass (the gradient of the
                          op at `where`) */
} adj_rt_op_site;

/** The train step without the optimizer, compiled op by op (no fusion, no
 *  loop groups, no in-place results) with every op's result passed to
 *  adj_rt_check_values, site i being op i of `sites`: the checked mode the
 *  runtime re-runs a step in whose loss or update was not finite, as
 *  torch.autograd.detect_anomaly does. Arguments: the inputs, parameters,
 *  buffers and the hyperparameters "step" and "seed" of train_step (no
 *  optimizer state, no "lr"); results: "loss", the gradients
 *  "grad.PARAM" and the buffers' next values. */
typedef struct {
  adj_rt_function step;
  int num_sites;
  const adj_rt_op_site *sites;
} adj_rt_check_step;

typedef struct {
  /** ADJ_RT_ABI_VERSION of the headers the model was compiled against.
   *  adj_rt_trainer_main, adj_rt_train, adj_rt_session_create and
   *  adj_rt_session_rebind refuse a model of another version before doing
   *  anything else. First, so that it reads the same whatever the rest of
   *  the layout. */
  int abi_version;
  const char *name;           /**< model name */
  adj_rt_function train_step; /**< args: inputs, params, states, lr, step */
  /** args: inputs, params; results: loss, metrics */
  adj_rt_function eval_step;
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
  /** The model's `output` in evaluation mode (--predict): args the inputs
   *  it reads, then the parameters and buffers; one result [N, ...] named
   *  after the output. fn NULL: the model has no per-sample output. */
  adj_rt_function predict_step;
  /** The checked step (see adj_rt_check_step), built on first use: called
   *  with check_ctx only when a step's loss or update is not finite (the JIT
   *  compiles it then; a native trainer has it compiled in). NULL, or a
   *  NULL result: the runtime names the cause (inputs, parameters or an op)
   *  without the op. */
  const adj_rt_check_step *(*check_step)(void *check_ctx);
  void *check_ctx;
} adj_rt_model;

/* ---- Running a model. ---- */

/** Run options: the trainer command line (runtime/TrainerOptions.def lists
 *  the flags and the fields they set). Zero/NULL fields take the model's
 *  defaults; call adj_rt_options_init() first. */
typedef struct {
  int64_t epochs; /**< 0: model default */
  int64_t steps;  /**< stop after this many optimizer steps (0: no limit) */
  int64_t batch;  /**< 0: model default */
  double lr;      /**< 0: model default */
  int64_t seed;   /**< -1: model default */
  int shuffle;    /**< 1 (default) or 0 */
  int quiet;      /**< no progress lines */
  int eval_only;
  const char *report_path; /**< --report FILE.json, or NULL */
  double compile_seconds;  /**< reported as compile_seconds */
  /** What the compiler knows, for --report: the train step's scratch arena
   *  at the training batch size (arena_bytes, -1: unknown) and whether the
   *  JIT's object cache had it (object_cache "hit", "miss" or "off"; NULL:
   *  not reported, e.g. in a native trainer). */
  int64_t arena_bytes;
  const char *object_cache;
  const char *optimizer; /**< NULL: the model's train_step */
  int64_t threads;       /**< 0: one per core (see adj_rt_set_threads) */
  /** --data SPLIT.INPUT=PATH[:scale=S]: data_keys[i] is "train.x",
   *  data_values[i] the file, whose format follows from its name (.npy, .csv,
   *  .idx, -ubyte, .gz or .txt), with an optional ":scale=S" (a number or
   *  A/B). It replaces the whole source of that input, scale included (1
   *  unless S is given; for CSV it keeps the columns and header, for text
   *  the windows) or adds one. */
  int num_data;
  const char *const *data_keys;
  const char *const *data_values;
  const char *load_path; /**< --load CKPT, or NULL */
  const char *save_path; /**< --save CKPT, or NULL */
  int num_freeze;        /**< --freeze: parameters not to update */
  const char *const *freeze;
  /** --log FILE.csv: "kind,epoch,step,loss,test_loss,METRICS...,
   *  samples_per_sec", a row per step (kind "step") and epoch ("epoch"). */
  const char *log_path;
  const char *plot_path;    /**< --plot FILE.svg: train/test loss per epoch */
  adj_rt_schedule schedule; /**< --schedule; kind 0: the model's */
  int64_t warmup;           /**< --warmup N; -1: the model's, 0: none */
  /** --init-from CKPT: the parameters and buffers whose name (after --map)
   *  and shape match are copied from it, the others keep their
   *  initialisers; optimizer state starts fresh. */
  const char *init_from_path;
  /** --map NEW=OLD: map_keys[i] is a parameter or buffer of the model,
   *  map_values[i] the checkpoint's tensor loaded into it. */
  int num_map;
  const char *const *map_keys;
  const char *const *map_values;
  int allow_empty; /**< --allow-empty: --init-from matching nothing is ok */
  /** --predict INPUT=PATH: instead of training, the model's output in
   *  evaluation mode for every row of these inputs goes to out_path (.npy,
   *  or .csv); with `classes`, the argmax of each row. */
  int num_predict;
  const char *const *predict_keys;
  const char *const *predict_values;
  const char *out_path;
  int classes;
  /** --on-nonfinite stop|skip: when a step's loss or update is not finite,
   *  stop with a diagnosis (NULL or "stop", the default) or skip that
   *  step's update and go on ("skip"), counting the skipped steps. */
  const char *on_nonfinite;
  /** --save-every N: with save_path, also save after every N-th optimizer
   *  step (0: only after each epoch and at the end). */
  int64_t save_every;
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
int adj_rt_options_set(adj_rt_options *o, const char *flag, const char *value);

/** Frees what adj_rt_options_set() allocated; the strings and arrays it
 *  stored in `o` become invalid. */
void adj_rt_options_free(adj_rt_options *o);

/**
 * Trains (unless eval_only), evaluates on the test split, prints the
 * progress to stdout and writes the report, log, plot and checkpoint asked
 * for. Returns 0, 1 (user error, message in adj_rt_last_error()), or
 * 128 + the signal's number when SIGINT or SIGTERM stopped training: the
 * step under way is finished, then the checkpoint, log, plot and report
 * (with "interrupted": true and "signal") are written as at the end of a
 * run; a second signal exits at once. The log is written as training goes.
 * Every file error ("'PATH': cannot write checkpoint: No space left on
 * device") is a user error; a checkpoint is replaced atomically, so a
 * failed save leaves the previous one intact.
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
 * save_path is written atomically after every epoch, every save_every
 * steps (when given) and when training stops; its metadata "epoch" counts
 * completed epochs, and when --steps stopped inside an epoch, "epoch_samples"
 * the samples of it trained.
 */
int adj_rt_train(const adj_rt_model *m, const adj_rt_options *o);

/** Seconds from the start of this process (the runtime's static
 *  initialisation, before main) to the end of its first optimizer step
 *  (train_step returned and its results were committed); -1 before any.
 *  --report writes it as time_to_first_step. */
double adj_rt_time_to_first_step(void);
/** Tiered compilation (adjc --run): a model with tiers is running, and one
 *  train step ran on its quick code; --report counts them as
 *  jit_quick_steps. */
void adj_rt_note_tiered(void);
void adj_rt_note_quick_step(void);
/** A compile that ended after adj_rt_train started (adjc's deferred quick
 *  tier: the data loads meanwhile): its seconds, which --report writes as
 *  compile_seconds instead of the options' compile_seconds (a negative
 *  value clears it: a process that compiles again). */
void adj_rt_note_compile_seconds(double seconds);

/** A native trainer's main(): parses the trainer options of argv (see
 *  TrainerOptions.def; --help lists them with the model's defaults) and
 *  calls adj_rt_train. Returns 0 on success and after --help; 1 after
 *  printing "PROGRAM: error: MESSAGE" to stderr, PROGRAM being the base
 *  name of argv[0]; 128 + the signal's number after SIGINT or SIGTERM
 *  (see adj_rt_train). */
int adj_rt_trainer_main(const adj_rt_model *m, int argc, char **argv);

/** The message of the last failure in this thread. */
const char *adj_rt_last_error(void);

/* ---- The thread pool of adj_rt_parallel_for (adjoint_rt_abi.h). ---- */

/** Sets the number of threads adj_rt_parallel_for uses, the caller
 *  included (--threads N; 0: one per core available to the process, the
 *  default). Not to be called while a parallel loop runs. */
void adj_rt_set_threads(int64_t n);

/** The machine's physical memory in bytes, which a run must fit in (the
 *  environment variable ADJ_MEMORY_BYTES overrides it, for tests); 0 when
 *  unknown. */
uint64_t adj_rt_physical_memory(void);

/** The number of threads adj_rt_parallel_for uses. */
int64_t adj_rt_threads(void);

/* ---- Pieces, exposed for tests and tools. ---- */

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

/** Fills `count` floats (or doubles, when is_f64) from the initialiser with a
 *  deterministic generator seeded by `seed`; fan_in/fan_out as PyTorch
 *  computes them for the shape. */
void adj_rt_init_fill(void *data, int is_f64, int64_t count, adj_rt_init init,
                      double a, double b, int64_t fan_in, int64_t fan_out,
                      uint64_t seed);

/** fan_in and fan_out of a parameter of shape dims[rank], as adj_rt_train
 *  passes them to adj_rt_init_fill when its descriptor gives none: weights are
 * [in, out], so a matrix has fan_in = dims[0] and fan_out = dims[1]; a
 * higher-rank kernel [in, k1, .., kr, out] has fan_in = prod(dims[:-1]) and
 * fan_out = dims[-1] * prod(dims[1:-1]); a vector has both dims[0], a scalar 1.
 */
void adj_rt_fans(int rank, const int64_t *dims, int64_t *fan_in,
                 int64_t *fan_out);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_TRAIN_H */
