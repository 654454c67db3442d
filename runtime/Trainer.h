//===- Trainer.h - Pieces of adj_rt_train ---------------------------------===//
///
/// \file
/// The parts adj_rt_train() is assembled from, shared between Settings.cpp
/// (the model's ABI version checked, the options resolved against it), Data.cpp
/// (loading and validating a model's data), Step.cpp (binding step functions to
/// buffers), Resume.cpp (checkpoints of the training state), Report.cpp
/// (console lines and the JSON report), History.cpp (the CSV log and the SVG
/// plot), Train.cpp (the training loop and evaluation) and Session.cpp (the
/// session API: building, reconfiguring and rebinding a session).
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_TRAINER_H
#define ADJOINT_RUNTIME_TRAINER_H

#include "runtime/Internal.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace adj::rt {

using Clock = std::chrono::steady_clock;

/// adj_rt_options after the model's defaults are applied.
struct Settings {
  Settings() = default;
  Settings(const Settings &) = delete; // Model points into Data
  Settings &operator=(const Settings &) = delete;

  /// The model as trained: the chosen optimizer's step as train_step and the
  /// data sources with the --data overrides (pointing into Data).
  adj_rt_model Model{};
  std::vector<adj_rt_data_desc> Data;
  std::deque<std::string> DataPaths; ///< the --data paths Data points to
  std::string Optimizer; ///< the name of Model.train_step's optimizer
  int64_t Epochs = 0;
  int64_t Steps = 0; ///< 0: no limit
  int64_t Batch = 0;
  double Lr = 0;
  adj_rt_schedule Schedule{ADJ_RT_SCHEDULE_CONSTANT, 0, 0, 0, 0};
  int64_t Warmup = 0; ///< steps of linear warm-up; 0: none
  uint64_t Seed = 0;
  bool Shuffle = true, Quiet = false, EvalOnly = false;
  int64_t SaveEvery = 0; ///< --save-every: steps between checkpoints (0: off)
  bool EpochsGiven = false;
  bool Live = false; ///< redraw a progress line (stdout is a terminal)
  std::vector<std::string> Freeze; ///< parameter names, globs expanded
  const char *LoadPath = nullptr, *SavePath = nullptr;
  const char *InitFromPath = nullptr;
  /// --map: (model tensor, checkpoint tensor), for --init-from.
  std::vector<std::pair<std::string, std::string>> Map;
  bool AllowEmpty = false;
  /// --predict: (input, file); predicting replaces training.
  std::vector<std::pair<std::string, std::string>> Predict;
  const char *OutPath = nullptr;
  bool Classes = false;
  const char *LogPath = nullptr, *PlotPath = nullptr;
  /// --on-nonfinite=skip: a step whose loss or update is not finite is not
  /// committed (else training stops with a diagnosis).
  bool SkipNonFinite = false;
};

/// Fails with "the compiled model uses runtime ABI version X, this runtime
/// has Y; ..." unless `m` was compiled against this runtime's
/// ADJ_RT_ABI_VERSION. Every entry point taking a model calls it first.
int checkAbiVersion(const adj_rt_model &m);

struct State;

/// Allocates and initialises one slot per parameter of `m`: parameter i
/// from mix64(seed * golden + i).
int initParams(const adj_rt_model &m, uint64_t seed, State &state);

/// Checks `o` and fills `s` from it and the model's defaults.
int resolveSettings(const adj_rt_model &m, const adj_rt_options &o,
                    Settings &s);

/// The model's data sources with the --data overrides of `o` applied. An
/// override PATH[:scale=S] replaces the whole source: the format follows from
/// the file name and the scale is S (a number or A/B such as 1/255), else 1.
/// The paths without their suffix are kept in `paths`.
int applyDataOverrides(const adj_rt_model &m, const adj_rt_options &o,
                       std::vector<adj_rt_data_desc> &out,
                       std::deque<std::string> &paths);

/// All samples of one input of one split: a [Samples, PerSample] row-major
/// array of DType.
struct InputData {
  std::string Name;
  std::string Path;
  adj_rt_dtype DType = ADJ_RT_F32;
  int64_t PerSample = 0; ///< elements per sample
  int64_t Samples = 0;
  std::string Shape; ///< the file's shape, e.g. "[60000, 28, 28]"
  double Scale = 1;  ///< the factor the values were multiplied by
  bool Text = false; ///< read as text windows (no scale)
  std::unique_ptr<void, FreeDeleter> Data;

  size_t rowBytes() const { return size_t(PerSample) * dtypeSize(DType); }
  const unsigned char *rows() const {
    return static_cast<const unsigned char *>(Data.get());
  }
};

/// The inputs of one split; every input has the same number of samples.
struct Split {
  std::vector<InputData> Inputs;
  int64_t Samples = 0;

  bool empty() const { return Inputs.empty(); }
  const InputData *find(const char *name) const;
};

struct DataSet {
  Split Train, Test;
};

/// The declared (batched) input of the model named `name`: the train_step's
/// argument, else the eval_step's; null when neither function has it.
const adj_rt_value_desc *findInputDesc(const adj_rt_model &m, const char *name);

/// The format of a data file named `path` (.npy, .csv, .idx, -ubyte, .gz);
/// `flag` prefixes the error ("--data").
int dataFormatOf(const std::string &path, const char *flag,
                 adj_rt_data_format &f);

/// Loads one source into `split`, checking it against the declared input
/// `d`: its dtype, values per sample and sample count.
int loadInput(const adj_rt_data_desc &src, const adj_rt_value_desc &d,
              Split &split);

/// Loads and validates the model's data: declared vs file shapes, sample
/// counts, label ranges. Skips the train split when `evalOnly`.
int loadData(const adj_rt_model &m, bool evalOnly, DataSet &out);

/// Fails with the estimate broken down when a run of `s` over `data` would
/// not fit in physical memory (see Memory.cpp); `keepPrevious`: the session
/// keeps each slot's previous value.
int checkMemory(const Settings &s, const DataSet &data, bool keepPrevious);

/// A parameter or optimizer-state tensor. A step function reads the current
/// value and writes the next one either into the same buffer (in place,
/// where the function allows it and the old value is not needed) or into
/// the other buffer, which commit() then makes current. The other buffer is
/// allocated only for the latter.
struct Slot {
  std::string Name;
  adj_rt_dtype DType = ADJ_RT_F32;
  int Rank = 0;
  int64_t Dims[8] = {};
  int64_t Count = 0;
  AlignedBuffer Buf[2];
  int Cur = 0;
  bool Buffer = false; ///< a model buffer (adj_rt_param_desc.buffer)

  void *current() const { return Buf[Cur].data(); }
  /// The other buffer; null until allocateNext().
  void *next() const { return Buf[Cur ^ 1].data(); }
  /// Allocates the current buffer (zeroed); false when out of memory.
  bool allocate() { return Buf[Cur].allocate(bytes()); }
  /// Allocates the other buffer unless it exists; false when out of memory.
  bool allocateNext() { return next() || Buf[Cur ^ 1].allocate(bytes()); }
  size_t bytes() const { return size_t(Count) * dtypeSize(DType); }
};

/// The tensors that persist across steps: the model's parameters (in the
/// model's order) and the optimizer state, looked up by name.
struct State {
  std::vector<std::unique_ptr<Slot>> Params, States;

  Slot *findParam(const char *name) const;
  Slot *findState(const char *name) const;
  /// The values of the parameters (not the buffers).
  int64_t paramValues() const;
};

/// One step function bound to its buffers: batch buffers for the inputs,
/// the slots for parameters and state, scalars for the hyperparameters and
/// result buffers. Reused for every batch.
class Step {
public:
  /// Where a call writes a slot's next value.
  enum class Write { None, InPlace, Other };

  /// Binds `f` (named `what` in messages) to `split`'s inputs and `state`'s
  /// slots; creates zeroed slots for STATE arguments. `batch` is the largest
  /// batch passed to run(). With `inPlace`, updates whose result descriptor
  /// allows it are written into the slot's current buffer (except frozen
  /// slots); the others go to the slot's other buffer.
  /// `needsLoss`: fail unless a result is named "loss" (predict_step has
  /// none).
  int bind(const adj_rt_function &f, const char *what, const Split &split,
           State &state, int64_t batch, bool inPlace, bool needsLoss = true);
  /// Fails unless every result is a floating-point scalar (for eval_step,
  /// whose results are averaged).
  int requireScalarResults() const;
  /// Copies the rows order[start, start + n) of every input into the batch
  /// buffers; `order` null means the identity.
  void gather(const int64_t *order, int64_t start, int64_t n);
  /// Sets the "lr" and "step" hyperparameters.
  /// Sets the hyperparameter arguments: lr, the 1-based optimizer step and
  /// the run's seed (dropout's key, mixed to 32 bits).
  void setHyper(double lr, int64_t step, uint64_t seed);
  /// Calls the function on the gathered batch; returns its status. With
  /// `rebind` false the buffers bound by the last call() or commit() are
  /// used as they are: for a loop of steps in which nothing else changes
  /// the slots' buffers (another Step's commit, a checkpoint's load).
  int32_t call(int64_t n, bool rebind = true);
  /// Makes the next values written by the last call current.
  void commit();
  /// Stops commit() from updating parameter `param` and its optimizer
  /// state (the slots named opt.SLOT.param): their next values go to the
  /// other buffer, which is never made current. Fails when out of memory.
  int freeze(const std::string &param);
  /// Where a call writes the next value of `slot`.
  Write writeOf(const Slot *slot) const;
  /// The first non-finite value the last call wrote into a slot it updates
  /// (frozen ones aside): false with the slot's name and the element's
  /// index, true when every update is finite (NonFinite.cpp).
  bool updatesFinite(std::string &slot, int64_t &index) const;
  /// The first non-finite value of the gathered batch of `n` rows: false
  /// with the input's name and the element's index in the batch.
  bool inputsFinite(int64_t n, std::string &input, int64_t &index,
                    int64_t &perSample) const;
  /// Result `r` (a scalar) as a double.
  double result(int r) const;
  int numResults() const { return int(Results.size()); }
  /// The buffer of result `r` after call().
  const void *resultData(int r) const { return Results[size_t(r)]; }
  const char *resultName(int r) const { return Fn->results[r].name; }
  int lossIndex() const { return Loss; }

private:
  struct Input {
    int Arg;
    const InputData *Data;
    AlignedBuffer Buf;
  };
  struct Hyper {
    int Arg;
    bool IsLr;
    adj_rt_dtype DType;
    AlignedBuffer Buf;
    bool IsSeed = false;
  };
  struct Update {
    int Result;
    Slot *S;
    bool InPlace; ///< the descriptor allows an in-place write
    /// Where a call writes it and whether commit() makes that current:
    /// derived from the above, InPlace and Frozen by allocateNext(), so
    /// that the per-step refresh() and commit() only read them.
    Write Mode = Write::Other;
    bool Flip = false;
  };
  int bindArg(int i, const Split &split, State &state, int64_t batch);
  int bindResult(int r, int64_t batch);
  /// Decides each update's Mode and Flip and allocates the other buffer of
  /// every slot not written in place.
  int allocateNext();
  bool frozen(const Slot *slot) const;
  Write writeOf(const Update &u) const;
  void refresh();

  const adj_rt_function *Fn = nullptr;
  const char *What = "";
  std::vector<void *> Args, Results;
  std::vector<Input> Inputs;
  std::vector<Hyper> Hypers;
  std::vector<std::pair<int, Slot *>> SlotArgs; // (arg, slot)
  std::vector<Update> Updates;
  std::vector<const Slot *> Frozen;
  bool InPlace = false;
  std::vector<AlignedBuffer> ResultBufs;
  int Loss = -1;
};

/// The parameters, buffers and optimizer state at a step of the current
/// epoch, for replaying the steps after it when one is not finite.
struct Snapshot {
  std::vector<AlignedBuffer> Values; ///< Params, then States, in order
  int64_t Step = -1;                 ///< optimizer steps taken (-1: none)
  int64_t First = 0;                 ///< the epoch's samples trained
};

/// The first non-finite value adj_rt_check_values() recorded in this thread
/// since clearCheckFailure(): false when there is none.
bool lastCheckFailure(int64_t &site, int64_t &index, double &value);
void clearCheckFailure();

/// Fails because result `r` of `eval` on the test samples [start, start +
/// n) is not finite, naming the cause: the batch, a parameter, or an op of
/// the model (Anomaly.cpp).
int failNonFiniteEval(const Step &eval, int r, int64_t start, int64_t n,
                      const State &state);

/// Where training stands: what a checkpoint holds besides the tensors.
struct Position {
  int64_t Step = 0;         ///< optimizer steps taken
  int64_t Epoch = 0;        ///< epochs completed
  int64_t EpochSamples = 0; ///< samples of the next epoch already trained
  std::string Rng; ///< the shuffle generator at the start of the next epoch
};

/// Writes the parameters and optimizer state of `state`, and `pos`, to the
/// checkpoint `path`.
int saveCheckpoint(const char *path, const Settings &s, const State &state,
                   const Position &pos);

/// Loads the checkpoint `path` into `state` after validating all of it.
/// When `training` and the checkpoint is a full one of the same optimizer,
/// the optimizer state is restored too and `resumed` is set to its position;
/// otherwise its optimizer state is ignored (with a note on stderr when
/// training) and `resumed` is left empty.
int loadCheckpoint(const char *path, const Settings &s, bool training,
                   State &state, std::optional<Position> &resumed);

/// --init-from: copies into `state` the tensors of checkpoint `path` whose
/// name (after s.Map) and shape match a parameter or buffer; prints what was
/// loaded, new, skipped and unused unless quiet. Fails when nothing matches
/// (unless s.AllowEmpty) or a --map source is absent.
int initFromCheckpoint(const char *path, const Settings &s, State &state);

/// The values --log and --plot write: one row per step and per epoch. Rows
/// holds the epochs' rows for --plot; --log's go to the file at once.
struct History {
  struct Row {
    bool IsEpoch = false;
    int64_t Epoch = 0, Step = 0;
    double Loss = 0; ///< the step's, or the epoch's mean
    std::optional<double> TestLoss;
    std::vector<double> Metrics; ///< epochs with a test split only
    double SamplesPerSec = 0;
  };
  std::vector<std::string> MetricNames;
  std::vector<Row> Rows;
};

/// --log's first line: "kind,epoch,step,loss,test_loss,METRICS...,
/// samples_per_sec\n".
std::string logHeader(const History &h);
/// --log's line of `r`.
std::string logLine(const History &h, const History::Row &r);

/// --plot: an SVG line chart of the train and test loss per epoch.
int writePlot(const char *path, const char *model, const History &h);

/// The progress line redrawn on a terminal; does nothing when disabled.
class LiveLine {
public:
  explicit LiveLine(bool enabled) : Enabled(enabled) {}
  /// Redraws the line with `text`, at most 10 times a second.
  void show(const std::string &text);
  /// Erases the line.
  void clear();
  bool enabled() const { return Enabled; }
  /// Whether show() would draw now.
  bool due() const;

private:
  bool Enabled;
  bool Shown = false;
  Clock::time_point Last;
};

/// 75 -> "1:15"; 3725 -> "1:02:05".
std::string formatDuration(double seconds);

/// What --report writes.
struct Report {
  int64_t Epochs = 0;
  int64_t Steps = 0;
  std::optional<double> TrainLoss, TestLoss;
  std::vector<std::pair<std::string, double>> Metrics;
  double SamplesPerSec = 0;
  double CompileSeconds = 0;
  double WallSeconds = 0;
  int64_t PeakRssBytes = 0;
  /// --on-nonfinite=skip: the steps whose update was skipped.
  std::optional<int64_t> SkippedSteps;
  int64_t ArenaBytes = -1; ///< written when known (>= 0)
  /// The train step's memory lower bound at the training batch
  /// (adj_rt_function.bound; written when known, >= 0).
  int64_t MemoryLowerBoundBytes = -1;
  /// adj_rt_time_to_first_step() (written when >= 0).
  double TimeToFirstStep = -1;
  std::string ObjectCache; ///< written when not empty
  /// Data-parallel runs: the number of ranks (samples_per_sec counts the
  /// samples of all of them) and rank 0's mean seconds per step in
  /// adj_rt_allreduce (written when there is more than one rank).
  int Ranks = 1;
  double AllReduceSecondsPerStep = 0;
  /// The signal that stopped training ("SIGINT"; empty: none): "interrupted"
  /// is true and "signal" names it.
  std::string Signal;
};

/// Fills `r`'s memory_lower_bound_bytes from the train step's description
/// at `s.Batch`, and arena_bytes from its arena when the compiler gave none
/// (a native trainer); see Memory.cpp.
void reportMemory(const Settings &s, Report &r);

/// Writes `r` as one JSON object, atomically (temporary file + rename).
int writeReport(const char *path, const Report &r);

/// Records the end of an optimizer step: the first one of the process sets
/// adj_rt_time_to_first_step(); later ones do nothing.
void noteStepEnd();

/// The peak resident set size of this process in bytes.
int64_t peakRssBytes();

/// adj_rt_session_create(), and adj_rt_train()'s session when
/// `keepPrevious` is false (see adj_rt_session::KeepPrevious).
adj_rt_session *createSession(const adj_rt_model *m, const adj_rt_options *o,
                              bool keepPrevious);

/// 203530 -> "203,530".
std::string groupDigits(int64_t v);

/// A loss or metric for the console: 4 decimals, or 4 significant digits in
/// scientific notation when that would print as 0.0000 or is very large.
std::string formatValue(double v);

} // namespace adj::rt

/// A training session: the settings, data, parameters, bound step functions
/// and position of a run, kept between calls of the adj_rt_session_* API.
/// adj_rt_train() is one session trained once. The training loop lives in
/// Train.cpp, construction and reconfiguration in Session.cpp.
struct adj_rt_session {
  adj_rt_session() = default;
  adj_rt_session(const adj_rt_session &) = delete;
  adj_rt_session &operator=(const adj_rt_session &) = delete;

  /// adj_rt_options with its strings and arrays owned (copied verbatim).
  struct OwnedOptions {
    adj_rt_options O{};
    std::deque<std::string> Strings;
    std::vector<const char *> Freeze, DataKeys, DataValues, MapKeys, MapValues,
        PredictKeys, PredictValues;
    explicit OwnedOptions(const adj_rt_options &src);
  };

  using Clock = adj::rt::Clock;

  /// (Re)builds everything from model `m` and options `o`, taken over on
  /// success: parameters and optimizer state of the same name and shape as
  /// the current ones keep their values, the others are initialised; the
  /// data is reloaded unless the model and its sources are the same. On
  /// failure nothing changes.
  int rebuild(const adj_rt_model &m, std::unique_ptr<OwnedOptions> o);
  /// Trains `epochs` more epochs (0: as many as `steps` need, else the
  /// settings' epochs), at most `steps` steps (0: no limit); prints an epoch
  /// line per epoch. Returns 0, 1 (error) or ADJ_RT_INTERRUPTED.
  int train(int64_t epochs, int64_t steps);
  /// train() without opening and flushing --log.
  int trainLoop(int64_t epochs, int64_t steps);
  /// Evaluates the test split into Last; prints "eval: ..." unless quiet.
  int evalLine();
  /// The learning rate of the next optimizer step (step Pos.Step, counting
  /// from 0) under the schedule and warm-up.
  double currentLr() const;
  /// "NAME: K params (V values), train N, test M samples".
  void printHeader() const;
  static void printInputs(const char *split, const adj::rt::Split &data);
  int save(const char *path);
  /// Writes --plot and flushes --log.
  int writeHistory();
  /// --log: (re)opens the file with its header unless it is open on
  /// S->LogPath (then rows are appended, e.g. across adj-repl's :train).
  int openLog();
  /// Appends `row` to --log (when asked for) and keeps epoch rows for --plot.
  int addLogRow(const adj::rt::History::Row &row);
  /// Writes the queued --log rows when `force` or at least a second after
  /// the last write.
  int flushLog(bool force);
  /// --save-every: after a step that leaves `done` samples of the epoch
  /// trained, writes the checkpoint when the step count is a multiple of N
  /// and the epoch is not over (the epoch's end saves anyway).
  int saveEvery(int64_t done);
  /// Whether adj_rt_session_interrupt or a signal (adj_rt_train) asked the
  /// training loop to stop.
  bool stopRequested() const;
  /// --predict: writes predict_step's output for the --predict files to
  /// --out (Predict.cpp).
  int predict();
  /// predict_step over every row of \p split into \p rows (\p perRow
  /// output elements each); \p what prefixes errors.
  int predictRows(adj::rt::Split &split, adj::rt::AlignedBuffer &rows,
                  int64_t &perRow, const char *what);

  const adj_rt_model *Source = nullptr; ///< the caller's model
  std::unique_ptr<OwnedOptions> Opts;
  std::unique_ptr<adj::rt::Settings> S;
  adj::rt::DataSet Data;
  adj::rt::State Params;
  adj::rt::Step Train, Eval;
  bool HasEval = false;
  adj::rt::Rng Shuffler{0}, EpochStart{0}; ///< EpochStart: at the start of
                                           ///< the current epoch
  std::vector<int64_t> Order;
  adj::rt::Position Pos;
  bool Unsaved = true;
  /// Parameters and state are written to their other buffers, which then
  /// hold the values before the last step (for adj_rt_session_update_norm);
  /// false (adj_rt_train): updated in place where the step allows.
  bool KeepPrevious = true;
  bool DeltaValid = false; ///< the slots' other buffers hold the values
                           ///< before the last committed step
  double TrainSeconds = 0;
  int64_t TrainSamples = 0, TrainedSteps = 0;
  /// The step count at which the current train() call will end: the
  /// default t_max of a cosine schedule.
  int64_t RunEndStep = 1;
  adj::rt::History Log;
  adj::rt::AppendFile LogFile;    ///< --log, written as training goes
  std::string LogPending;         ///< rows not written yet
  Clock::time_point LogWritten{}; ///< when LogPending was last written
  std::vector<adj_rt_epoch_record> Epochs;
  adj::rt::LiveLine Live{false};
  adj::rt::Report Last; ///< the latest results of train() and evalLine()
  std::atomic<int> Interrupt{0};
  /// Non-finite steps (Anomaly.cpp): the state to replay from (stop), the
  /// steps skipped (skip), the checked step once bound.
  adj::rt::Snapshot Snap;
  int64_t SkippedSteps = 0;
  adj::rt::Step Check;
  const adj_rt_check_step *CheckDesc = nullptr;

private:
  /// Before the step training the epoch's sample `first`, the `inEpoch`th
  /// of this call: copies the parameters, buffers and optimizer state every
  /// SnapshotEvery steps (--on-nonfinite=stop).
  void beforeStep(int64_t first, int64_t inEpoch);
  void takeSnapshot(int64_t first);
  /// Whether the last step's loss `loss` is finite and (skip) its updates.
  bool stepFinite(double loss) const;
  /// Whether every parameter, buffer and optimizer state is finite.
  bool stateFinite() const;
  /// The step of the epoch's samples [first, first + n) gave the non-finite
  /// loss `loss` (or a non-finite update): skips it (--on-nonfinite=skip,
  /// returns 0) or finds the first such step since the snapshot, re-runs it
  /// in checked mode and fails with the cause.
  int onNonFinite(int64_t epoch, int64_t first, int64_t n, double loss);
  int diagnose(int64_t epoch, int64_t end);
  /// Restores the snapshot and replays the steps before sample `end`,
  /// stopping before the first one that is not finite (when `stopAtBad`);
  /// `stop` is where it stopped.
  int replay(int64_t end, bool stopAtBad, int64_t &stop);
  /// The cause of the non-finite step at sample `first`, the state being
  /// the one before it, as notes for the error message.
  std::string explain(int64_t first, int64_t n, double lr);
  int trainEpoch(int64_t epoch, int64_t lastEpoch, int64_t maxSteps,
                 int64_t &runSteps, double &loss, int64_t &samples);
  void showProgress(int64_t epoch, int64_t lastEpoch, int64_t end, double loss,
                    int64_t samples, double secs);
  int evaluateInto(std::string &line, adj::rt::History::Row *row);
  int bindSteps(const adj::rt::Settings &s, const adj::rt::DataSet &data,
                adj::rt::State &state, adj::rt::Step &train,
                adj::rt::Step &eval, bool &hasEval) const;
};

#endif // ADJOINT_RUNTIME_TRAINER_H
