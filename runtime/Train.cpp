//===- Train.cpp - The training loop --------------------------------------===//
///
/// \file
/// adj_rt_train(): resolve the options against the model's defaults, load
/// and check the data, initialise the parameters (or load a checkpoint),
/// then train. Each epoch visits the training samples in a Fisher-Yates
/// permutation of the identity drawn from one generator seeded once from
/// the seed, so epochs differ, runs repeat, and an epoch's order depends
/// only on the generator's state at its start, which a checkpoint stores.
/// Batches of `batch` rows, including a last partial batch, go to
/// train_step, whose updated parameters and optimizer state are swapped in
/// (except frozen ones). After each epoch the test split is evaluated in
/// order with eval_step, every result weighted by its batch's size; the
/// epoch's line goes to stdout and the checkpoint, if asked for, to disk.
/// At the end the report, log and plot are written.
///
/// Parameter i is initialised from mix64(seed * golden + i), so a parameter's
/// initial value depends only on the seed and its position in the model.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

using namespace adj::rt;

namespace {

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Allocates and initialises one slot per model parameter.
int initParams(const adj_rt_model &m, uint64_t seed, State &state) {
  if (m.num_params < 0 || (m.num_params && !m.params))
    return fail("internal error: invalid parameter descriptors");
  for (int i = 0; i < m.num_params; ++i) {
    const adj_rt_param_desc &p = m.params[i];
    if (!p.name || p.rank < 0 || p.rank > 8 || (p.rank && !p.dims))
      return fail(format("internal error: invalid parameter %d", i));
    auto s = std::make_unique<Slot>();
    s->Name = p.name;
    s->Rank = p.rank;
    s->Count = 1;
    for (int k = 0; k < p.rank; ++k) {
      s->Dims[k] = p.dims[k];
      if (!checkedMul(s->Count, p.dims[k], s->Count) ||
          s->Count * 8 > MaxTensorBytes)
        return fail(format("internal error: parameter '%s' has an invalid "
                           "shape",
                           p.name));
    }
    // The dtype is the step functions' (the train_step's first).
    s->DType = ADJ_RT_F32;
    for (const adj_rt_function *f : {&m.eval_step, &m.train_step})
      for (int a = 0; a < f->num_args && f->args; ++a)
        if (f->args[a].role == ADJ_RT_ARG_PARAM && f->args[a].name &&
            std::strcmp(f->args[a].name, p.name) == 0)
          s->DType = f->args[a].dtype;
    if (s->DType != ADJ_RT_F32 && s->DType != ADJ_RT_F64)
      return fail(
          format("internal error: parameter '%s' is not f32 or f64", p.name));
    size_t bytes = size_t(s->Count) * dtypeSize(s->DType);
    if (!s->Buf[0].allocate(bytes) || !s->Buf[1].allocate(bytes))
      return fail(format("out of memory for parameter '%s'", p.name));
    int64_t fanIn, fanOut;
    computeFans(p.rank, p.dims, fanIn, fanOut);
    uint64_t pseed = mix64(seed * 0x9E3779B97F4A7C15ull + uint64_t(i));
    adj_rt_init_fill(s->current(), s->DType == ADJ_RT_F64, s->Count, p.init,
                     p.a, p.b, fanIn, fanOut, pseed);
    state.Params.push_back(std::move(s));
  }
  return 0;
}

/// Means of eval_step's results over the test split, weighted by batch size.
int evaluate(Step &eval, const Split &test, int64_t batch,
             std::vector<double> &means) {
  means.assign(size_t(eval.numResults()), 0.0);
  for (int64_t start = 0; start < test.Samples; start += batch) {
    int64_t n = std::min(batch, test.Samples - start);
    eval.gather(nullptr, start, n);
    if (eval.call(n) != 0)
      return fail(format("invalid data in test batch at sample %lld",
                         (long long)start));
    for (int r = 0; r < eval.numResults(); ++r)
      means[size_t(r)] += eval.result(r) * double(n);
  }
  for (double &v : means)
    v /= double(test.Samples);
  return 0;
}

/// The training run: settings, data, state, bound steps and progress.
class Trainer {
public:
  explicit Trainer(Settings &s) : S(s), M(s.Model), Live(s.Live) {}
  int setUp();
  int run(Report &report);
  /// Writes --log and --plot (also after a failure, for the diagnosis).
  int writeHistory() const;
  void clearLive() { Live.clear(); }

private:
  int trainEpoch(int64_t epoch, double &loss, int64_t &samples);
  void showProgress(int64_t epoch, int64_t end, double loss, int64_t samples,
                    double secs);
  int evaluateInto(Report &report, std::string &line, History::Row *row);
  int save();
  void printHeader() const;

  Settings &S;
  const adj_rt_model &M;
  DataSet Data;
  State Params;
  Step Train, Eval;
  bool HasEval = false;
  Rng Shuffler{0}, EpochStart{0};
  std::vector<int64_t> Order;
  Position Pos;
  int64_t RunSteps = 0, LastEpoch = 0;
  bool Unsaved = true;
  double TrainSeconds = 0;
  int64_t TrainSamples = 0;
  History Log;
  LiveLine Live;
};

int Trainer::setUp() {
  if (loadData(M, S.EvalOnly, Data) || initParams(M, S.Seed, Params))
    return 1;
  if (!S.EvalOnly &&
      Train.bind(M.train_step, "train_step", Data.Train, Params, S.Batch))
    return 1;
  for (const std::string &name : S.Freeze)
    Train.freeze(name);
  HasEval = !Data.Test.empty() && M.eval_step.fn;
  if (HasEval &&
      (Eval.bind(M.eval_step, "eval_step", Data.Test, Params, S.Batch) ||
       Eval.requireScalarResults()))
    return 1;
  for (int r = 0; HasEval && r < Eval.numResults(); ++r)
    if (r != Eval.lossIndex())
      Log.MetricNames.push_back(Eval.resultName(r));
  Shuffler = Rng(mix64(S.Seed ^ 0xD1B54A32D192ED03ull));
  std::optional<Position> resumed;
  if (S.LoadPath && loadCheckpoint(S.LoadPath, S, !S.EvalOnly, Params, resumed))
    return 1;
  if (resumed) {
    Pos = *resumed;
    Shuffler.setState(Pos.Rng); // checked by loadCheckpoint
  }
  EpochStart = Shuffler;
  if (S.EvalOnly) {
    S.Epochs = 0;
    return 0;
  }
  const int64_t samples = Data.Train.Samples;
  if (samples == 0)
    return fail("no training samples");
  if (Pos.EpochSamples >= samples) // the data changed: start the epoch over
    Pos.EpochSamples = 0;
  // --steps without --epochs: as many epochs as the steps need.
  int64_t perEpoch = (samples + S.Batch - 1) / S.Batch;
  int64_t firstBatches = (samples - Pos.EpochSamples + S.Batch - 1) / S.Batch;
  if (S.Steps > 0 && !S.EpochsGiven)
    S.Epochs = S.Steps <= firstBatches
                   ? 1
                   : 1 + (S.Steps - firstBatches + perEpoch - 1) / perEpoch;
  Order.resize(size_t(samples));
  return 0;
}

/// Redraws the live line after training the epoch's samples [0, `end`):
/// "epoch 2/5  step 37/125  loss 0.4123  12,345 samples/s  ETA 0:07", the
/// loss and rate over the `samples` of this run's part of the epoch.
void Trainer::showProgress(int64_t epoch, int64_t end, double loss,
                           int64_t samples, double secs) {
  if (!Live.due())
    return;
  int64_t total = Data.Train.Samples;
  std::string line =
      format("epoch %lld/%lld  step %lld/%lld  loss ", (long long)epoch,
             (long long)LastEpoch, (long long)((end + S.Batch - 1) / S.Batch),
             (long long)((total + S.Batch - 1) / S.Batch)) +
      formatValue(loss);
  double rate = secs > 0 ? double(samples) / secs : 0;
  if (rate > 0)
    line += format("  %s samples/s  ETA %s", groupDigits(int64_t(rate)).c_str(),
                   formatDuration(double(total - end) / rate).c_str());
  Live.show(line);
}

int Trainer::trainEpoch(int64_t epoch, double &loss, int64_t &samples) {
  const Split &train = Data.Train;
  EpochStart = Shuffler;
  std::iota(Order.begin(), Order.end(), int64_t(0));
  if (S.Shuffle)
    for (int64_t i = train.Samples - 1; i > 0; --i)
      std::swap(Order[size_t(i)], Order[Shuffler.below(uint64_t(i) + 1)]);
  double lossSum = 0;
  samples = 0;
  auto start = Clock::now();
  int64_t first = Pos.EpochSamples;
  for (; first < train.Samples; first += S.Batch) {
    if (S.Steps > 0 && RunSteps >= S.Steps)
      break;
    auto stepStart = Clock::now();
    int64_t n = std::min(S.Batch, train.Samples - first);
    Train.gather(S.Shuffle ? Order.data() : nullptr, first, n);
    int64_t step = Pos.Step + 1;
    Train.setHyper(S.Lr, step);
    if (Train.call(n) != 0)
      return fail(
          format("invalid data in batch at step %lld", (long long)step));
    double l = Train.result(Train.lossIndex());
    if (!std::isfinite(l))
      return fail(format("loss is %s at step %lld (epoch %lld); try a lower "
                         "learning rate",
                         std::isnan(l) ? "nan" : "inf", (long long)step,
                         (long long)epoch));
    Train.commit();
    Pos.Step = step;
    ++RunSteps;
    Unsaved = true;
    lossSum += l * double(n);
    samples += n;
    if (S.LogPath) {
      double secs = secondsSince(stepStart);
      double rate = secs > 0 ? double(n) / secs : 0;
      Log.Rows.push_back({false, epoch, step, l, std::nullopt, {}, rate});
    }
    if (Live.enabled())
      showProgress(epoch, first + n, lossSum / double(samples), samples,
                   secondsSince(start));
  }
  TrainSeconds += secondsSince(start);
  TrainSamples += samples;
  loss = samples ? lossSum / double(samples) : 0;
  if (first < train.Samples) { // stopped by --steps inside the epoch
    Pos.EpochSamples = first;
    return 0;
  }
  Pos.Epoch = epoch;
  Pos.EpochSamples = 0;
  return 0;
}

/// Evaluates on the test split (when there is one) into the report and
/// `row` (if any) and appends "  test_loss X  metric Y" to `line`.
int Trainer::evaluateInto(Report &report, std::string &line,
                          History::Row *row) {
  if (!HasEval)
    return 0;
  std::vector<double> means;
  if (evaluate(Eval, Data.Test, S.Batch, means))
    return 1;
  report.Metrics.clear();
  for (int r = 0; r < Eval.numResults(); ++r) {
    double v = means[size_t(r)];
    const char *name = Eval.resultName(r);
    if (r == Eval.lossIndex()) {
      report.TestLoss = v;
      if (row)
        row->TestLoss = v;
      line += "  test_loss " + formatValue(v);
      continue;
    }
    report.Metrics.push_back({name, v});
    if (row)
      row->Metrics.push_back(v);
    line += format("  %s ", name) + formatValue(v);
  }
  return 0;
}

int Trainer::save() {
  Position pos = Pos;
  pos.Rng = Pos.EpochSamples > 0 ? EpochStart.state() : Shuffler.state();
  if (saveCheckpoint(S.SavePath, S, Params, pos))
    return 1;
  Unsaved = false;
  return 0;
}

void Trainer::printHeader() const {
  std::string line = format(
      "%s: %d params (%s values), ", M.name ? M.name : "model",
      int(Params.Params.size()), groupDigits(Params.paramValues()).c_str());
  if (!S.EvalOnly)
    line += format("train %lld", (long long)Data.Train.Samples);
  if (!Data.Test.empty())
    line += format("%stest %lld", S.EvalOnly ? "" : ", ",
                   (long long)Data.Test.Samples);
  std::printf("%s samples\n", line.c_str());
  std::fflush(stdout);
}

int Trainer::run(Report &report) {
  if (!S.Quiet)
    printHeader();
  // A resumed partial epoch is the first of this run's epochs.
  int64_t firstEpoch = Pos.Epoch + 1;
  LastEpoch = Pos.Epoch + S.Epochs;
  for (int64_t epoch = firstEpoch; epoch <= LastEpoch; ++epoch) {
    if (S.Steps > 0 && RunSteps >= S.Steps)
      break;
    double loss = 0;
    int64_t samples = 0;
    double before = TrainSeconds;
    if (trainEpoch(epoch, loss, samples))
      return 1;
    report.Epochs = epoch;
    report.TrainLoss = loss;
    double secs = TrainSeconds - before;
    double rate = secs > 0 ? double(samples) / secs : 0;
    History::Row row{true, epoch, Pos.Step, loss, std::nullopt, {}, rate};
    std::string line = format("epoch %lld/%lld: train_loss ", (long long)epoch,
                              (long long)LastEpoch) +
                       formatValue(loss);
    if (evaluateInto(report, line, &row))
      return 1;
    if (S.LogPath || S.PlotPath)
      Log.Rows.push_back(row);
    Live.clear();
    if (!S.Quiet) {
      std::printf("%s  (%s samples/s)\n", line.c_str(),
                  groupDigits(int64_t(rate)).c_str());
      std::fflush(stdout);
    }
    if (S.SavePath && save())
      return 1;
  }
  if (S.Epochs == 0) {
    std::string line;
    if (evaluateInto(report, line, nullptr))
      return 1;
    if (!S.Quiet && HasEval) {
      std::printf("eval: %s\n", line.c_str() + 2);
      std::fflush(stdout);
    }
  }
  if (S.SavePath && Unsaved && save())
    return 1;
  report.Steps = Pos.Step;
  if (!report.Epochs)
    report.Epochs = Pos.Epoch;
  report.SamplesPerSec =
      TrainSeconds > 0 ? double(TrainSamples) / TrainSeconds : 0;
  return 0;
}

int Trainer::writeHistory() const {
  if (S.LogPath && writeLog(S.LogPath, Log))
    return 1;
  if (S.PlotPath && writePlot(S.PlotPath, M.name, Log))
    return 1;
  return 0;
}

} // namespace

extern "C" int adj_rt_train(const adj_rt_model *m, const adj_rt_options *o) {
  auto entered = Clock::now();
  if (!m)
    return fail("adj_rt_train: no model");
  adj_rt_options defaults;
  adj_rt_options_init(&defaults);
  Settings s;
  if (resolveSettings(*m, o ? *o : defaults, s))
    return 1;
  Report report;
  {
    Trainer t(s);
    if (t.setUp())
      return 1;
    if (t.run(report)) {
      t.clearLive();
      std::string error = adj_rt_last_error();
      t.writeHistory(); // best effort; the training error is the one to see
      return fail(error);
    }
    if (t.writeHistory())
      return 1;
  }
  report.CompileSeconds = o ? o->compile_seconds : 0;
  report.WallSeconds = secondsSince(entered) + report.CompileSeconds;
  report.PeakRssBytes = peakRssBytes();
  if (o && o->report_path && writeReport(o->report_path, report))
    return 1;
  return 0;
}
