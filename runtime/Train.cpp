//===- Train.cpp - The training loop --------------------------------------===//
///
/// \file
/// adj_rt_train(): resolve the options against the model's defaults, load
/// and check the data, initialise the parameters, then train. Each epoch
/// visits the training samples in a fresh Fisher-Yates permutation (one
/// generator seeded once from the seed, so epochs differ and runs repeat),
/// in batches of `batch` rows including a last partial batch, calling
/// train_step once per batch and swapping in the updated parameters and
/// optimizer state. After each epoch the test split is evaluated in order
/// with eval_step, every result weighted by its batch's size. One line per
/// epoch goes to stdout and the report, if asked for, to a JSON file.
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

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// The options after defaults are applied.
struct Settings {
  int64_t Epochs = 0;
  int64_t Steps = 0; ///< 0: no limit
  int64_t Batch = 0;
  double Lr = 0;
  uint64_t Seed = 0;
  bool Shuffle = true, Quiet = false, EvalOnly = false;
  bool EpochsGiven = false;
};

int resolveOptions(const adj_rt_model &m, const adj_rt_options &o,
                   Settings &s) {
  if (o.epochs < 0)
    return fail(
        format("epochs must be at least 0 (got %lld)", (long long)o.epochs));
  if (o.steps < 0)
    return fail(
        format("steps must be at least 0 (got %lld)", (long long)o.steps));
  if (o.batch < 0)
    return fail(
        format("batch size must be at least 1 (got %lld)", (long long)o.batch));
  if (!std::isfinite(o.lr) || o.lr < 0)
    return fail(format("learning rate must be positive (got %g)", o.lr));
  if (o.seed < -1)
    return fail(
        format("seed must be at least 0 (got %lld)", (long long)o.seed));
  s.EpochsGiven = o.epochs > 0;
  s.Epochs = o.epochs > 0 ? o.epochs : m.epochs;
  s.Steps = o.steps;
  s.Batch = o.batch > 0 ? o.batch : m.batch;
  s.Lr = o.lr > 0 ? o.lr : m.lr;
  s.Seed = o.seed >= 0 ? uint64_t(o.seed) : m.seed;
  s.Shuffle = o.shuffle != 0;
  s.Quiet = o.quiet != 0;
  s.EvalOnly = o.eval_only != 0;
  if (s.Epochs < 0)
    return fail(
        format("epochs must be at least 0 (got %lld)", (long long)s.Epochs));
  if (s.Batch < 1)
    return fail(
        format("batch size must be at least 1 (got %lld)", (long long)s.Batch));
  if (!std::isfinite(s.Lr) || s.Lr < 0)
    return fail(format("learning rate must be positive (got %g)", s.Lr));
  if (!s.EvalOnly && !m.train_step.fn)
    return fail("the model has no train_step");
  return 0;
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
  Trainer(const adj_rt_model &m, const Settings &s) : M(m), S(s) {}
  int setUp();
  int run(Report &report);

private:
  int trainEpoch(int64_t epoch, double &loss, int64_t &samples);
  int evaluateInto(Report &report, std::string &line);
  void printHeader() const;

  const adj_rt_model &M;
  Settings S;
  DataSet Data;
  State Params;
  Step Train, Eval;
  bool HasEval = false;
  Rng Shuffler{0};
  std::vector<int64_t> Order;
  int64_t StepCount = 0;
  double TrainSeconds = 0;
  int64_t TrainSamples = 0;
};

int Trainer::setUp() {
  if (loadData(M, S.EvalOnly, Data) || initParams(M, S.Seed, Params))
    return 1;
  if (!S.EvalOnly &&
      Train.bind(M.train_step, "train_step", Data.Train, Params, S.Batch))
    return 1;
  HasEval = !Data.Test.empty() && M.eval_step.fn;
  if (HasEval &&
      (Eval.bind(M.eval_step, "eval_step", Data.Test, Params, S.Batch) ||
       Eval.requireScalarResults()))
    return 1;
  if (S.EvalOnly)
    S.Epochs = 0;
  // --steps without --epochs: as many epochs as the steps need.
  int64_t perEpoch = (Data.Train.Samples + S.Batch - 1) / S.Batch;
  if (!S.EvalOnly && S.Steps > 0 && !S.EpochsGiven)
    S.Epochs = (S.Steps + perEpoch - 1) / perEpoch;
  Shuffler = Rng(mix64(S.Seed ^ 0xD1B54A32D192ED03ull));
  Order.resize(size_t(Data.Train.Samples));
  std::iota(Order.begin(), Order.end(), int64_t(0));
  return 0;
}

int Trainer::trainEpoch(int64_t epoch, double &loss, int64_t &samples) {
  const Split &train = Data.Train;
  if (S.Shuffle)
    for (int64_t i = train.Samples - 1; i > 0; --i)
      std::swap(Order[size_t(i)], Order[Shuffler.below(uint64_t(i) + 1)]);
  double lossSum = 0;
  samples = 0;
  auto start = Clock::now();
  for (int64_t first = 0; first < train.Samples; first += S.Batch) {
    if (S.Steps > 0 && StepCount >= S.Steps)
      break;
    int64_t n = std::min(S.Batch, train.Samples - first);
    Train.gather(S.Shuffle ? Order.data() : nullptr, first, n);
    ++StepCount;
    Train.setHyper(S.Lr, StepCount);
    if (Train.call(n) != 0)
      return fail(
          format("invalid data in batch at step %lld", (long long)StepCount));
    double l = Train.result(Train.lossIndex());
    if (!std::isfinite(l))
      return fail(format("loss is %s at step %lld (epoch %lld); try a lower "
                         "learning rate",
                         std::isnan(l) ? "nan" : "inf", (long long)StepCount,
                         (long long)epoch));
    Train.commit();
    lossSum += l * double(n);
    samples += n;
  }
  TrainSeconds += secondsSince(start);
  TrainSamples += samples;
  loss = samples ? lossSum / double(samples) : 0;
  return 0;
}

/// Evaluates on the test split (when there is one) into the report and
/// appends "  test_loss X  metric Y" to `line`.
int Trainer::evaluateInto(Report &report, std::string &line) {
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
      line += "  test_loss " + formatValue(v);
      continue;
    }
    report.Metrics.push_back({name, v});
    line += format("  %s ", name) + formatValue(v);
  }
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
  for (int64_t epoch = 1; epoch <= S.Epochs; ++epoch) {
    if (S.Steps > 0 && StepCount >= S.Steps)
      break;
    double loss = 0;
    int64_t samples = 0;
    double before = TrainSeconds;
    if (trainEpoch(epoch, loss, samples))
      return 1;
    report.Epochs = epoch;
    report.TrainLoss = loss;
    double secs = TrainSeconds - before;
    std::string line = format("epoch %lld/%lld: train_loss ", (long long)epoch,
                              (long long)S.Epochs) +
                       formatValue(loss);
    if (evaluateInto(report, line))
      return 1;
    int64_t rate = secs > 0 ? int64_t(double(samples) / secs) : 0;
    if (!S.Quiet) {
      std::printf("%s  (%s samples/s)\n", line.c_str(),
                  groupDigits(rate).c_str());
      std::fflush(stdout);
    }
  }
  if (S.Epochs == 0) {
    std::string line;
    if (evaluateInto(report, line))
      return 1;
    if (!S.Quiet && HasEval) {
      std::printf("eval: %s\n", line.c_str() + 2);
      std::fflush(stdout);
    }
  }
  report.Steps = StepCount;
  report.SamplesPerSec =
      TrainSeconds > 0 ? double(TrainSamples) / TrainSeconds : 0;
  return 0;
}

} // namespace

extern "C" void adj_rt_options_init(adj_rt_options *o) {
  if (!o)
    return;
  std::memset(o, 0, sizeof(*o));
  o->seed = -1;
  o->shuffle = 1;
}

extern "C" int adj_rt_train(const adj_rt_model *m, const adj_rt_options *o) {
  auto entered = Clock::now();
  if (!m)
    return fail("adj_rt_train: no model");
  adj_rt_options defaults;
  adj_rt_options_init(&defaults);
  Settings s;
  if (resolveOptions(*m, o ? *o : defaults, s))
    return 1;
  Report report;
  {
    Trainer t(*m, s);
    if (t.setUp() || t.run(report))
      return 1;
  }
  report.CompileSeconds = o ? o->compile_seconds : 0;
  report.WallSeconds = secondsSince(entered) + report.CompileSeconds;
  report.PeakRssBytes = peakRssBytes();
  if (o && o->report_path && writeReport(o->report_path, report))
    return 1;
  return 0;
}
