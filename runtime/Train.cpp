//===- Train.cpp - The training loop --------------------------------------===//
///
/// \file
/// The training loop of a session, and adj_rt_train() on top of it: create a
/// session (resolve the options against the model's defaults, load and
/// check the data, initialise the parameters or load a checkpoint), then
/// train it once. Each epoch visits the training samples in a Fisher-Yates
/// permutation of the identity drawn from one generator seeded once from
/// the seed, so epochs differ, runs repeat, and an epoch's order depends
/// only on the generator's state at its start, which a checkpoint stores.
/// Batches of `batch` rows, including a last partial batch, go to
/// train_step, whose updated parameters and optimizer state are written in
/// place or swapped in (frozen ones never change; see Step.cpp). After each
/// epoch the test split is evaluated in order with eval_step, every result
/// weighted by its batch's size (a non-finite one is an error); the epoch's
/// line goes to stdout and the checkpoint, if asked for, to disk; the log is
/// written as training goes (RunFiles.cpp). At the end the report and plot
/// are written; after SIGINT or SIGTERM too, once the current step is done
/// (Signals.h). A session trained again continues where it stopped: a
/// partial epoch (after --steps or an interrupt) is finished with the
/// permutation it started with.
///
/// Parameter i is initialised from mix64(seed * golden + i), so a parameter's
/// initial value depends only on the seed and its position in the model.
///
/// In a data-parallel run (Distributed.h) a step is a global batch of
/// `batch` rows per rank, of which each rank gathers and trains its shard;
/// the ranks' replicas are compared after every epoch, the test split is
/// evaluated in shards, and rank 0 alone writes checkpoints, log, plot and
/// report.
///
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"
#include "runtime/Distributed.h"
#include "runtime/Signals.h"
#include "runtime/Trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>

using namespace adj::rt;

static double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Copies the tensor of a pretrained(file, tensor) parameter into `s`;
/// `files` caches the files read.
static int
loadPretrained(const adj_rt_param_desc &p, Slot &s,
               std::map<std::string, std::unique_ptr<CheckpointFile>> &files) {
  if (!p.file || !p.tensor)
    return fail(format("internal error: pretrained parameter '%s' has no "
                       "file or tensor",
                       p.name));
  auto &f = files[p.file];
  if (!f) {
    f = std::make_unique<CheckpointFile>();
    if (f->read(p.file)) {
      f.reset();
      return fail(format("pretrained '%s': %s", p.name, adj_rt_last_error()));
    }
  }
  const CheckpointFile::Entry *e = f->find(p.tensor);
  if (!e)
    return fail(format("pretrained '%s': %s has no tensor '%s'", p.name,
                       f->name().c_str(), p.tensor));
  if (f->check(*e, s.DType, s.Rank, s.Dims))
    return fail(format("pretrained '%s': %s", p.name, adj_rt_last_error()));
  f->copy(*e, s.DType, s.current());
  return 0;
}

int adj::rt::initParams(const adj_rt_model &m, uint64_t seed, State &state) {
  if (m.num_params < 0 || (m.num_params && !m.params))
    return fail("internal error: invalid parameter descriptors");
  std::map<std::string, std::unique_ptr<CheckpointFile>> files;
  for (int i = 0; i < m.num_params; ++i) {
    const adj_rt_param_desc &p = m.params[i];
    if (!p.name || p.rank < 0 || p.rank > 8 || (p.rank && !p.dims))
      return fail(format("internal error: invalid parameter %d", i));
    auto s = std::make_unique<Slot>();
    s->Name = p.name;
    s->Buffer = p.buffer != 0;
    s->Rank = p.rank;
    s->Count = 1;
    for (int k = 0; k < p.rank; ++k) {
      s->Dims[k] = p.dims[k];
      if (p.dims[k] < 1)
        return fail(format("internal error: parameter '%s' has an invalid "
                           "shape",
                           p.name));
      if (!checkedMul(s->Count, p.dims[k], s->Count) ||
          s->Count * 8 > MaxTensorBytes) // a declared shape, not a bug
        return fail(format("parameter '%s' is too large: more than the %s "
                           "bytes a tensor may have",
                           p.name, groupDigits(MaxTensorBytes).c_str()));
    }
    // The dtype is the step functions' (the train_step's first).
    s->DType = ADJ_RT_F32;
    for (const adj_rt_function *f : {&m.eval_step, &m.train_step})
      for (int a = 0; a < f->num_args && f->args; ++a)
        if ((f->args[a].role == ADJ_RT_ARG_PARAM ||
             f->args[a].role == ADJ_RT_ARG_BUFFER) &&
            f->args[a].name && std::strcmp(f->args[a].name, p.name) == 0)
          s->DType = f->args[a].dtype;
    if (s->DType != ADJ_RT_F32 && s->DType != ADJ_RT_F64)
      return fail(
          format("internal error: parameter '%s' is not f32 or f64", p.name));
    if (!s->allocate())
      return fail(format("out of memory for parameter '%s'", p.name));
    int64_t fanIn, fanOut;
    computeFans(p.rank, p.dims, fanIn, fanOut);
    if (p.fan_in > 0)
      fanIn = p.fan_in;
    if (p.fan_out > 0)
      fanOut = p.fan_out;
    uint64_t pseed = mix64(seed * 0x9E3779B97F4A7C15ull + uint64_t(i));
    if (p.init == ADJ_RT_INIT_PRETRAINED) {
      if (loadPretrained(p, *s, files))
        return 1;
      state.Params.push_back(std::move(s));
      continue;
    }
    adj_rt_init_fill(s->current(), s->DType == ADJ_RT_F64, s->Count, p.init,
                     p.a, p.b, fanIn, fanOut, pseed);
    state.Params.push_back(std::move(s));
  }
  return 0;
}

/// Means of eval_step's results over the test split, weighted by batch size:
/// each result is computed per batch of `batch` samples in file order (the
/// last one partial) and weighted by the batch's samples. A non-finite
/// result is an error naming the batch and the cause. With several ranks,
/// rank r evaluates batches r, r + K, ... and the sums are added up over
/// the ranks.
static int evaluate(Step &eval, const Split &test, int64_t batch,
                    const State &state, std::vector<double> &means) {
  means.assign(size_t(eval.numResults()), 0.0);
  for (int64_t start = batch * rank(); start < test.Samples;
       start += batch * ranks()) {
    int64_t n = std::min(batch, test.Samples - start);
    eval.gather(nullptr, start, n);
    if (eval.call(n) != 0)
      return fail(format("invalid data in test batch at sample %lld",
                         (long long)start));
    for (int r = 0; r < eval.numResults(); ++r) {
      if (!std::isfinite(eval.result(r)))
        return failNonFiniteEval(eval, r, start, n, state);
      means[size_t(r)] += eval.result(r) * double(n);
    }
  }
  sumOverRanks(means);
  for (double &v : means)
    v /= double(test.Samples);
  return 0;
}

/// Redraws the live line after training the epoch's samples [0, `end`):
/// "epoch 2/5  step 37/125  loss 0.4123  12,345 samples/s  ETA 0:07", the
/// loss and rate over the `samples` of this run's part of the epoch.
void adj_rt_session::showProgress(int64_t epoch, int64_t lastEpoch, int64_t end,
                                  double loss, int64_t samples, double secs) {
  if (!Live.due())
    return;
  int64_t total = Data.Train.Samples, batch = S->Batch * ranks();
  std::string line =
      format("epoch %lld/%lld  step %lld/%lld  loss ", (long long)epoch,
             (long long)lastEpoch, (long long)((end + batch - 1) / batch),
             (long long)((total + batch - 1) / batch)) +
      formatValue(loss);
  double rate = secs > 0 ? double(samples) / secs : 0;
  if (rate > 0)
    line += format("  %s samples/s  ETA %s", groupDigits(int64_t(rate)).c_str(),
                   formatDuration(double(total - end) / rate).c_str());
  Live.show(line);
}

double adj_rt_session::currentLr() const {
  return adj_rt_schedule_lr(&S->Schedule, S->Lr, S->Warmup, Pos.Step,
                            RunEndStep);
}

/// Trains epoch `epoch` from Pos.EpochSamples on, stopping early after
/// `maxSteps` steps of this run (0: no limit) or at an interrupt.
int adj_rt_session::trainEpoch(int64_t epoch, int64_t lastEpoch,
                               int64_t maxSteps, int64_t &runSteps,
                               double &loss, int64_t &samples) {
  const Split &train = Data.Train;
  // The global batch: --batch rows on each rank.
  const int64_t batch = S->Batch * ranks();
  // A partial epoch continues with the permutation it started with.
  if (Pos.EpochSamples > 0)
    Shuffler = EpochStart;
  else
    EpochStart = Shuffler;
  std::iota(Order.begin(), Order.end(), int64_t(0));
  if (S->Shuffle)
    for (int64_t i = train.Samples - 1; i > 0; --i)
      std::swap(Order[size_t(i)], Order[Shuffler.below(uint64_t(i) + 1)]);
  double lossSum = 0;
  samples = 0;
  auto start = Clock::now();
  int64_t first = Pos.EpochSamples;
  int status = 0;
  bool diagnosed = false;
  for (int64_t inEpoch = 0; first < train.Samples; first += batch) {
    if ((maxSteps > 0 && runSteps >= maxSteps) || stopRequested())
      break;
    beforeStep(first, inEpoch++);
    // The clock is read per step only for the log's rate column.
    Clock::time_point stepStart;
    if (S->LogPath)
      stepStart = Clock::now();
    int64_t n = std::min(batch, train.Samples - first);
    int64_t rows =
        gatherShard(Train, S->Shuffle ? Order.data() : nullptr, first, n);
    int64_t step = Pos.Step + 1;
    Train.setHyper(currentLr(), step, rankSeed(S->Seed));
    DeltaValid = false;
    // Between the epoch's steps only Train.commit() changes the buffers
    // of its slots, and it rebinds them itself.
    if (Train.call(rows, /*rebind=*/inEpoch == 1) != 0) {
      status =
          fail(format("invalid data in batch at step %lld", (long long)step));
      break;
    }
    double l = Train.result(Train.lossIndex());
    if (!stepFinite(l)) { // skipped (--on-nonfinite=skip), or a diagnosis
      if ((status = onNonFinite(epoch, first, n, l))) {
        diagnosed = true; // the position is the one before the bad step
        break;
      }
      ++runSteps;
      continue;
    }
    Train.commit();
    noteStepEnd();
    DeltaValid = true;
    if (afterStep(Params, step, epoch)) {
      status = 1;
      break;
    }
    Pos.Step = step;
    ++runSteps;
    ++TrainedSteps;
    Unsaved = true;
    lossSum += l * double(n);
    samples += n;
    if (S->LogPath) {
      double secs = secondsSince(stepStart);
      double rate = secs > 0 ? double(n) / secs : 0;
      status = addLogRow({false, epoch, step, l, std::nullopt, {}, rate});
    }
    if (status || (status = saveEvery(first + n))) {
      first += batch; // the step was taken
      break;
    }
    if (Live.enabled())
      showProgress(epoch, lastEpoch, first + n, lossSum / double(samples),
                   samples, secondsSince(start));
  }
  TrainSeconds += secondsSince(start);
  TrainSamples += samples;
  loss = samples ? lossSum / double(samples) : 0;
  if (first < train.Samples) { // stopped inside the epoch
    if (!diagnosed)
      Pos.EpochSamples = first;
    return status;
  }
  if (!stateFinite()) // a non-finite update the loss did not show
    return diagnose(epoch, first);
  Pos.Epoch = epoch;
  Pos.EpochSamples = 0;
  return status;
}

/// Evaluates on the test split (when there is one) into Last and `row` (if
/// any) and appends "  test_loss X  metric Y" to `line`.
int adj_rt_session::evaluateInto(std::string &line, History::Row *row) {
  if (!HasEval)
    return 0;
  std::vector<double> means;
  if (evaluate(Eval, Data.Test, S->Batch, Params, means))
    return 1;
  Last.Metrics.clear();
  for (int r = 0; r < Eval.numResults(); ++r) {
    double v = means[size_t(r)];
    const char *name = Eval.resultName(r);
    if (r == Eval.lossIndex()) {
      Last.TestLoss = v;
      if (row)
        row->TestLoss = v;
      line += "  test_loss " + formatValue(v);
      continue;
    }
    Last.Metrics.push_back({name, v});
    if (row)
      row->Metrics.push_back(v);
    line += format("  %s ", name) + formatValue(v);
  }
  return 0;
}

int adj_rt_session::evalLine() {
  std::string line;
  if (evaluateInto(line, nullptr))
    return 1;
  if (!S->Quiet && HasEval) {
    std::printf("eval: %s\n", line.c_str() + 2);
    std::fflush(stdout);
  }
  return 0;
}

int adj_rt_session::save(const char *path) {
  Unsaved = false;
  if (rank() != 0) // rank 0 writes the checkpoint of every rank's state
    return 0;
  Position pos = Pos;
  pos.Rng = Pos.EpochSamples > 0 ? EpochStart.state() : Shuffler.state();
  if (saveCheckpoint(path, *S, Params, pos)) {
    Unsaved = true;
    return 1;
  }
  return 0;
}

void adj_rt_session::printHeader() const {
  int buffers = 0;
  for (const auto &p : Params.Params)
    buffers += p->Buffer;
  std::string line = format("%s: %d params (%s values), ",
                            S->Model.name ? S->Model.name : "model",
                            int(Params.Params.size()) - buffers,
                            groupDigits(Params.paramValues()).c_str());
  if (buffers)
    line += format("%d buffers, ", buffers);
  bool training = !S->EvalOnly && S->Predict.empty();
  if (training)
    line += format("train %lld", (long long)Data.Train.Samples);
  if (!Data.Test.empty())
    line += format("%stest %lld", training ? ", " : "",
                   (long long)Data.Test.Samples);
  if (!training && Data.Test.empty())
    line.resize(line.size() - 2);
  std::printf("%s%s\n", line.c_str(),
              training || !Data.Test.empty() ? " samples" : "");
  // Each input as read, so that nothing about the data is implicit.
  if (training)
    printInputs("train", Data.Train);
  printInputs("test", Data.Test);
  std::fflush(stdout);
}

/// "1/255" for a scale whose inverse is a whole number, else "%g".
static std::string scaleText(double scale) {
  double inv = 1 / scale;
  if (scale != 1 && std::fabs(inv) < 1e9 &&
      std::fabs(inv - std::round(inv)) < 1e-9 * std::fabs(inv))
    return format("1/%lld", (long long)std::round(inv));
  return format("%g", scale);
}

void adj_rt_session::printInputs(const char *split,
                                 const adj::rt::Split &data) {
  for (const adj::rt::InputData &in : data.Inputs) {
    std::string what =
        in.Text ? "text windows" : "scale " + scaleText(in.Scale);
    std::printf("  %s %s: %s %s%s, %s\n", split, in.Name.c_str(),
                quoted(in.Path.c_str()).c_str(), dtypeName(in.DType),
                in.Shape.c_str(), what.c_str());
  }
}

int adj_rt_session::trainLoop(int64_t epochs, int64_t steps) {
  Interrupt.store(0);
  if (S->EvalOnly)
    return fail("cannot train with --eval-only");
  const int64_t samples = Data.Train.Samples;
  if (samples == 0)
    return fail("no training samples");
  if (Pos.EpochSamples >= samples) { // the data changed: start the epoch over
    Pos.EpochSamples = 0;
    Shuffler = EpochStart;
  }
  Order.resize(size_t(samples));
  // Only steps: as many epochs as the steps need.
  const int64_t batch = S->Batch * ranks();
  int64_t perEpoch = (samples + batch - 1) / batch;
  int64_t firstBatches = (samples - Pos.EpochSamples + batch - 1) / batch;
  if (epochs <= 0 && steps > 0)
    epochs = steps <= firstBatches
                 ? 1
                 : 1 + (steps - firstBatches + perEpoch - 1) / perEpoch;
  else if (epochs <= 0)
    epochs = S->Epochs;
  if (epochs == 0)
    return evalLine();
  // A partial epoch is the first of this run's epochs.
  int64_t firstEpoch = Pos.Epoch + 1, lastEpoch = Pos.Epoch + epochs;
  // Where this call will stop: a cosine schedule's default t_max.
  int64_t runBatches;
  if (!checkedMul(epochs - 1, perEpoch, runBatches) ||
      __builtin_add_overflow(runBatches, firstBatches, &runBatches))
    runBatches = INT64_MAX / 2;
  if (steps > 0 && steps < runBatches)
    runBatches = steps;
  RunEndStep = Pos.Step + std::max<int64_t>(runBatches, 1);
  int64_t runSteps = 0;
  Last.TrainLoss.reset();
  Last.Epochs = 0;
  auto interrupted = [&] {
    Live.clear();
    std::printf("interrupted at step %lld (epoch %lld, %lld/%lld samples)\n",
                (long long)Pos.Step, (long long)Pos.Epoch + 1,
                (long long)Pos.EpochSamples, (long long)samples);
    std::fflush(stdout);
    if (S->SavePath && save(S->SavePath))
      return 1;
    return ADJ_RT_INTERRUPTED;
  };
  for (int64_t epoch = firstEpoch; epoch <= lastEpoch; ++epoch) {
    if (steps > 0 && runSteps >= steps)
      break;
    if (stopRequested())
      return interrupted();
    double loss = 0;
    int64_t trained = 0;
    double before = TrainSeconds;
    int status = trainEpoch(epoch, lastEpoch, steps, runSteps, loss, trained);
    if (!status)
      status = syncReplicas(Params, Pos.Step, epoch);
    if (status) {
      Live.clear();
      return status;
    }
    if (Pos.EpochSamples > 0 && stopRequested())
      return interrupted();
    Last.Epochs = epoch;
    Last.TrainLoss = loss;
    double secs = TrainSeconds - before;
    double rate = secs > 0 ? double(trained) / secs : 0;
    History::Row row{true, epoch, Pos.Step, loss, std::nullopt, {}, rate};
    std::string line = format("epoch %lld/%lld: train_loss ", (long long)epoch,
                              (long long)lastEpoch) +
                       formatValue(loss);
    // The last step's learning rate, when a schedule varies it.
    bool scheduled =
        S->Schedule.kind != ADJ_RT_SCHEDULE_CONSTANT || S->Warmup > 0;
    double lastLr = Pos.Step > 0
                        ? adj_rt_schedule_lr(&S->Schedule, S->Lr, S->Warmup,
                                             Pos.Step - 1, RunEndStep)
                        : S->Lr;
    if (evaluateInto(line, &row)) {
      Live.clear();
      return 1;
    }
    if (Pos.EpochSamples == 0)
      Epochs.push_back(
          {epoch, Pos.Step, loss, row.TestLoss ? *row.TestLoss : NAN, rate});
    if (addLogRow(row)) {
      Live.clear();
      return 1;
    }
    Live.clear();
    if (!S->Quiet) {
      std::printf("%s%s  (%s samples/s)\n", line.c_str(),
                  scheduled ? format("  lr %.4g", lastLr).c_str() : "",
                  groupDigits(int64_t(rate)).c_str());
      std::fflush(stdout);
    }
    if (S->SavePath && save(S->SavePath))
      return 1;
  }
  if (S->SavePath && Unsaved && save(S->SavePath))
    return 1;
  return 0;
}

int adj_rt_session::writeHistory() {
  if (flushLog(/*force=*/true) || LogFile.close())
    return 1;
  if (rank() != 0)
    return 0;
  if (S->PlotPath && writePlot(S->PlotPath, S->Model.name, Log))
    return 1;
  return 0;
}

extern "C" int adj_rt_train(const adj_rt_model *m, const adj_rt_options *o) {
  auto entered = Clock::now();
  if (!m)
    return fail("adj_rt_train: no model");
  if (checkLaunch())
    return 1;
  std::unique_ptr<adj_rt_session, void (*)(adj_rt_session *)> s(
      createSession(m, o, /*keepPrevious=*/false), adj_rt_session_free);
  if (!s)
    return 1;
  const Settings &set = *s->S;
  if (!set.Quiet)
    s->printHeader();
  // SIGINT and SIGTERM stop training after the current step (Signals.h).
  std::optional<SignalGuard> signals;
  if (set.Predict.empty() && !set.EvalOnly)
    signals.emplace();
  int status =
      !set.Predict.empty() ? (set.EvalOnly && s->evalLine()) || s->predict()
      : set.EvalOnly       ? s->evalLine()
                     : s->train(set.EpochsGiven ? set.Epochs : 0, set.Steps);
  int sig = status == ADJ_RT_INTERRUPTED ? pendingSignal() : 0;
  if (status && !sig) {
    s->Live.clear();
    std::string error = adj_rt_last_error();
    s->writeHistory(); // best effort; the training error is the one to see
    return fail(error);
  }
  if (s->writeHistory())
    return 1;
  Report report = s->Last;
  report.Steps = s->Pos.Step;
  if (set.SkipNonFinite)
    report.SkippedSteps = s->SkippedSteps;
  if (!report.Epochs)
    report.Epochs = s->Pos.Epoch;
  report.SamplesPerSec =
      s->TrainSeconds > 0 ? double(s->TrainSamples) / s->TrainSeconds : 0;
  report.CompileSeconds = o ? o->compile_seconds : 0;
  report.WallSeconds = secondsSince(entered) + report.CompileSeconds;
  report.PeakRssBytes = peakRssBytes();
  report.TimeToFirstStep = adj_rt_time_to_first_step();
  report.Ranks = ranks();
  if (allReduceCalls() > 0)
    report.AllReduceSecondsPerStep =
        allReduceSeconds() / double(allReduceCalls());
  report.Signal = sig ? signalName(sig) : "";
  if (o) {
    report.ArenaBytes = o->arena_bytes;
    report.ObjectCache = o->object_cache ? o->object_cache : "";
  }
  reportMemory(set, report); // memory_lower_bound_bytes (Memory.cpp)
  if (o && o->report_path && rank() == 0 && writeReport(o->report_path, report))
    return 1;
  return sig ? 128 + sig : 0;
}
