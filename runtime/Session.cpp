//===- Session.cpp - The session API --------------------------------------===//
///
/// \file
/// adj_rt_session_*: a model's training state kept between calls, for
/// adj_rt_train() (one session trained once) and adj-repl. Every change —
/// creating the session, setting an option, switching to a recompiled model
/// — goes through adj_rt_session::rebuild(), which resolves the options
/// against the model, loads the data (unless it is unchanged), initialises
/// fresh parameters, copies over the values of those whose name, dtype and
/// shape match the current ones (and the optimizer state, when the
/// optimizer is the same), and binds the step functions; only when all of
/// that succeeded does it replace the session's state, so a failure leaves
/// the session as it was. The training loop is in Train.cpp.
///
/// The norm of a parameter's last update is free: a session keeps two
/// buffers per parameter and optimizer state, and a slot's other buffer
/// still holds the value before the last committed step. adj_rt_train()'s
/// session, where nothing asks for that norm, sets KeepPrevious to false:
/// its step writes parameters and state in place where the compiled step
/// allows (one buffer each, half the memory, and the update loop touches
/// no second copy).
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace adj::rt;

adj_rt_session::OwnedOptions::OwnedOptions(const adj_rt_options &src) : O(src) {
  O.storage = nullptr;
  auto own = [&](const char *&field) {
    if (field)
      field = Strings.emplace_back(field).c_str();
  };
  for (const char **f :
       {&O.report_path, &O.optimizer, &O.load_path, &O.save_path, &O.log_path,
        &O.plot_path, &O.init_from_path, &O.out_path, &O.on_nonfinite})
    own(*f);
  auto array = [&](const char *const *from, int n,
                   std::vector<const char *> &to) {
    for (int i = 0; from && i < n; ++i)
      to.push_back(from[i] ? Strings.emplace_back(from[i]).c_str() : nullptr);
    return to.empty() ? nullptr : to.data();
  };
  O.freeze = array(src.freeze, src.num_freeze, Freeze);
  O.data_keys = array(src.data_keys, src.num_data, DataKeys);
  O.data_values = array(src.data_values, src.num_data, DataValues);
  O.map_keys = array(src.map_keys, src.num_map, MapKeys);
  O.map_values = array(src.map_values, src.num_map, MapValues);
  O.predict_keys = array(src.predict_keys, src.num_predict, PredictKeys);
  O.predict_values = array(src.predict_values, src.num_predict, PredictValues);
}

static bool sameString(const char *a, const char *b) {
  return a == b || (a && b && std::strcmp(a, b) == 0);
}

/// Whether two lists of data sources read the same files the same way.
static bool sameData(const std::vector<adj_rt_data_desc> &a,
                     const std::vector<adj_rt_data_desc> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!sameString(a[i].split, b[i].split) ||
        !sameString(a[i].input, b[i].input) || a[i].format != b[i].format ||
        !sameString(a[i].path, b[i].path) || a[i].scale != b[i].scale ||
        !sameString(a[i].columns, b[i].columns) || a[i].header != b[i].header)
      return false;
  return true;
}

static bool sameType(const Slot &a, const Slot &b) {
  return a.DType == b.DType && a.Rank == b.Rank && a.Count == b.Count &&
         std::memcmp(a.Dims, b.Dims, sizeof(int64_t) * size_t(a.Rank)) == 0;
}

/// Copies the current values of the slots of `from` into the slots of the
/// same name and type in `to`.
static void copyMatching(const std::vector<std::unique_ptr<Slot>> &from,
                         const std::vector<std::unique_ptr<Slot>> &to) {
  for (const auto &t : to)
    for (const auto &f : from)
      if (f->Name == t->Name && sameType(*f, *t))
        std::memcpy(t->current(), f->current(),
                    size_t(t->Count) * dtypeSize(t->DType));
}

int adj_rt_session::bindSteps(const Settings &s, const DataSet &data,
                              State &state, Step &train, Step &eval,
                              bool &hasEval) const {
  bool training = !s.EvalOnly && s.Predict.empty();
  // --on-nonfinite=skip needs the values before a step: no in-place writes.
  if (training && train.bind(s.Model.train_step, "train_step", data.Train,
                             state, s.Batch, !KeepPrevious && !s.SkipNonFinite))
    return 1;
  for (const std::string &name : s.Freeze)
    if (training && train.freeze(name))
      return 1;
  hasEval = !data.Test.empty() && s.Model.eval_step.fn;
  return hasEval && (eval.bind(s.Model.eval_step, "eval_step", data.Test, state,
                               s.Batch, false) ||
                     eval.requireScalarResults());
}

int adj_rt_session::rebuild(const adj_rt_model &m,
                            std::unique_ptr<OwnedOptions> o) {
  auto ns = std::make_unique<Settings>();
  if (resolveSettings(m, o->O, *ns))
    return 1;
  bool reuse = S && Source == &m && S->EvalOnly == ns->EvalOnly &&
               sameData(S->Data, ns->Data);
  // Predicting alone needs no data set (--eval-only evaluates too).
  bool noData = !ns->Predict.empty() && !ns->EvalOnly;
  DataSet loaded;
  if (!reuse && !noData && loadData(ns->Model, ns->EvalOnly, loaded))
    return 1;
  const DataSet &data = reuse ? Data : loaded;
  if (checkMemory(*ns, data, KeepPrevious))
    return 1;
  State state;
  if (initParams(ns->Model, ns->Seed, state))
    return 1;
  copyMatching(Params.Params, state.Params);
  Step train, eval;
  bool hasEval = false;
  if (bindSteps(*ns, data, state, train, eval, hasEval))
    return 1;
  if (S && ns->Optimizer == S->Optimizer)
    copyMatching(Params.States, state.States);

  bool reseed = !S || ns->Seed != S->Seed;
  int64_t oldSamples = Data.Train.Samples;
  Opts = std::move(o);
  adj_rt_set_threads(Opts->O.threads); // 0: one per core
  S = std::move(ns);
  Source = &m;
  if (!reuse)
    Data = std::move(loaded);
  Params = std::move(state);
  Train = std::move(train);
  Eval = std::move(eval);
  HasEval = hasEval;
  Log.MetricNames.clear();
  for (int r = 0; HasEval && r < Eval.numResults(); ++r)
    if (r != Eval.lossIndex())
      Log.MetricNames.push_back(Eval.resultName(r));
  Live = LiveLine(S->Live);
  if (reseed)
    EpochStart = Shuffler = Rng(mix64(S->Seed ^ 0xD1B54A32D192ED03ull));
  if (Data.Train.Samples != oldSamples && Pos.EpochSamples > 0) {
    Pos.EpochSamples = 0; // another data set: start the epoch over
    Shuffler = EpochStart;
  }
  DeltaValid = false;
  // The checked step is bound to the old data and state.
  Check = Step();
  CheckDesc = nullptr;
  Snap = Snapshot();
  return 0;
}

adj_rt_session *adj::rt::createSession(const adj_rt_model *m,
                                       const adj_rt_options *o,
                                       bool keepPrevious) {
  if (!m) {
    fail("adj_rt_session_create: no model");
    return nullptr;
  }
  if (checkAbiVersion(*m))
    return nullptr;
  adj_rt_options defaults;
  adj_rt_options_init(&defaults);
  auto s = std::make_unique<adj_rt_session>();
  s->KeepPrevious = keepPrevious;
  if (s->rebuild(*m, std::make_unique<adj_rt_session::OwnedOptions>(
                         o ? *o : defaults)))
    return nullptr;
  const Settings &set = *s->S;
  if (set.LoadPath) {
    std::optional<Position> resumed;
    bool training = !set.EvalOnly && set.Predict.empty();
    if (loadCheckpoint(set.LoadPath, set, training, s->Params, resumed))
      return nullptr;
    if (resumed) {
      s->Pos = *resumed;
      s->Shuffler.setState(s->Pos.Rng); // checked by loadCheckpoint
      s->EpochStart = s->Shuffler;
    }
  }
  if (set.InitFromPath && initFromCheckpoint(set.InitFromPath, set, s->Params))
    return nullptr;
  if (!set.EvalOnly && set.Predict.empty() && s->Data.Train.Samples == 0) {
    fail("no training samples");
    return nullptr;
  }
  return s.release();
}

extern "C" adj_rt_session *adj_rt_session_create(const adj_rt_model *m,
                                                 const adj_rt_options *o) {
  return createSession(m, o, /*keepPrevious=*/true);
}

extern "C" void adj_rt_session_free(adj_rt_session *s) { delete s; }

extern "C" int adj_rt_session_train(adj_rt_session *s, int64_t epochs,
                                    int64_t steps) {
  if (!s)
    return fail("adj_rt_session_train: no session");
  if (epochs < 0 || steps < 0)
    return fail("epochs and steps must be at least 0");
  return s->train(epochs, steps);
}

extern "C" int adj_rt_session_eval(adj_rt_session *s, double *results) {
  if (!s)
    return fail("adj_rt_session_eval: no session");
  if (!s->HasEval)
    return fail("the model has no test data to evaluate on");
  if (s->evalLine())
    return 1;
  if (!results)
    return 0;
  results[0] = s->Last.TestLoss ? *s->Last.TestLoss : NAN;
  for (size_t i = 0; i < s->Last.Metrics.size(); ++i)
    results[i + 1] = s->Last.Metrics[i].second;
  return 0;
}

/// The names of eval_step's results other than the loss.
static std::vector<const char *> metricNames(const adj_rt_session &s) {
  std::vector<const char *> names;
  const adj_rt_function &f = s.S->Model.eval_step;
  for (int r = 0; f.results && r < f.num_results; ++r)
    if (f.results[r].name && std::strcmp(f.results[r].name, "loss") != 0)
      names.push_back(f.results[r].name);
  return names;
}

extern "C" const char *adj_rt_session_metric_name(const adj_rt_session *s,
                                                  int i) {
  if (!s || i < 0)
    return nullptr;
  std::vector<const char *> names = metricNames(*s);
  return size_t(i) < names.size() ? names[size_t(i)] : nullptr;
}

extern "C" void adj_rt_session_interrupt(adj_rt_session *s) {
  if (s)
    s->Interrupt.store(1);
}

extern "C" int adj_rt_session_set_option(adj_rt_session *s, const char *flag,
                                         const char *value) {
  if (!s || !flag)
    return fail("adj_rt_session_set_option: null argument");
  for (const char *run : {"load", "eval-only", "report", "init-from", "map",
                          "allow-empty", "predict", "out", "classes"})
    if (std::strcmp(flag, run) == 0)
      return fail(format("--%s cannot be changed in a session", flag));
  adj_rt_options o = s->Opts->O;
  o.storage = nullptr;
  if (adj_rt_options_set(&o, flag, value)) {
    adj_rt_options_free(&o);
    return 1;
  }
  auto owned = std::make_unique<adj_rt_session::OwnedOptions>(o);
  adj_rt_options_free(&o);
  // Read once, when the session was created.
  owned->O.load_path = owned->O.init_from_path = nullptr;
  owned->O.num_map = 0;
  owned->O.allow_empty = 0;
  return s->rebuild(*s->Source, std::move(owned));
}

extern "C" int adj_rt_session_rebind(adj_rt_session *s, const adj_rt_model *m) {
  if (!s || !m)
    return fail("adj_rt_session_rebind: null argument");
  if (checkAbiVersion(*m))
    return 1;
  return s->rebuild(*m,
                    std::make_unique<adj_rt_session::OwnedOptions>(s->Opts->O));
}

extern "C" int adj_rt_session_param(adj_rt_session *s, int i,
                                    adj_rt_named_tensor *out) {
  if (!s || !out || i < 0 || size_t(i) >= s->Params.Params.size())
    return fail(format("no parameter %d", i));
  Slot &p = *s->Params.Params[size_t(i)];
  *out = {p.Name.c_str(), p.DType, p.Rank, p.Dims, p.current()};
  return 0;
}

extern "C" int adj_rt_session_param_is_buffer(const adj_rt_session *s, int i) {
  return s && i >= 0 && size_t(i) < s->Params.Params.size() &&
         s->Params.Params[size_t(i)]->Buffer;
}

extern "C" double adj_rt_session_update_norm(const adj_rt_session *s, int i) {
  if (!s || i < 0 || size_t(i) >= s->Params.Params.size() || !s->DeltaValid)
    return -1;
  const Slot &p = *s->Params.Params[size_t(i)];
  for (const std::string &name : s->S->Freeze)
    if (name == p.Name)
      return 0;
  switch (s->Train.writeOf(&p)) {
  case Step::Write::None: // not trained (frozen in the model)
    return 0;
  case Step::Write::InPlace: // the value before the step is gone
    return -1;
  case Step::Write::Other:
    break;
  }
  double sum = 0;
  for (int64_t k = 0; k < p.Count; ++k) {
    double d = p.DType == ADJ_RT_F64
                   ? static_cast<const double *>(p.current())[k] -
                         static_cast<const double *>(p.next())[k]
                   : double(static_cast<const float *>(p.current())[k]) -
                         double(static_cast<const float *>(p.next())[k]);
    sum += d * d;
  }
  return std::sqrt(sum);
}

extern "C" int adj_rt_session_save(adj_rt_session *s, const char *path) {
  if (!s || !path || !*path)
    return fail("adj_rt_session_save: no path");
  return s->save(path);
}

/// Zeroes the optimizer state and restarts at step 0 (new parameters).
static void restartOptimizer(adj_rt_session &s) {
  for (const auto &st : s.Params.States)
    for (const AlignedBuffer &b : st->Buf)
      if (b.data())
        std::memset(b.data(), 0, b.size());
  s.Pos = Position();
  s.Shuffler = Rng(mix64(s.S->Seed ^ 0xD1B54A32D192ED03ull));
}

extern "C" int adj_rt_session_load(adj_rt_session *s, const char *path) {
  if (!s || !path || !*path)
    return fail("adj_rt_session_load: no path");
  std::optional<Position> resumed;
  if (loadCheckpoint(path, *s->S, !s->S->EvalOnly, s->Params, resumed))
    return 1;
  if (resumed) {
    s->Pos = *resumed;
    s->Shuffler.setState(s->Pos.Rng);
  } else { // parameters only: fresh optimizer state, from step 0
    restartOptimizer(*s);
  }
  s->EpochStart = s->Shuffler;
  s->DeltaValid = false;
  s->Unsaved = false;
  return 0;
}

extern "C" int adj_rt_session_init_from(adj_rt_session *s, const char *path,
                                        const char *map) {
  if (!s || !path || !*path)
    return fail("adj_rt_session_init_from: no path");
  adj_rt_options o;
  adj_rt_options_init(&o);
  std::vector<std::pair<std::string, std::string>> pairs;
  int status = map && *map ? adj_rt_options_set(&o, "map", map) : 0;
  for (int i = 0; !status && i < o.num_map; ++i) {
    if (!s->Params.findParam(o.map_keys[i]))
      status = fail(format("--map: the model has no parameter or buffer '%s'",
                           o.map_keys[i]));
    pairs.push_back({o.map_keys[i], o.map_values[i]});
  }
  adj_rt_options_free(&o);
  if (status)
    return 1;
  std::swap(s->S->Map, pairs);
  status = initFromCheckpoint(path, *s->S, s->Params);
  std::swap(s->S->Map, pairs);
  if (status)
    return 1;
  restartOptimizer(*s);
  s->EpochStart = s->Shuffler;
  s->DeltaValid = false;
  s->Unsaved = true;
  return 0;
}

extern "C" int adj_rt_session_reset(adj_rt_session *s, const char *param) {
  if (!s)
    return fail("adj_rt_session_reset: no session");
  bool all = !param || !*param;
  Slot *one = all ? nullptr : s->Params.findParam(param);
  if (!all && !one)
    return fail(format("the model has no parameter or buffer '%s'", param));
  State fresh;
  if (initParams(s->S->Model, s->S->Seed, fresh))
    return 1;
  for (const auto &f : fresh.Params) {
    Slot *to = s->Params.findParam(f->Name.c_str());
    if (to && (all || to == one) && to->bytes() == f->bytes())
      std::memcpy(to->current(), f->current(), to->bytes());
  }
  if (all) {
    restartOptimizer(*s);
    s->EpochStart = s->Shuffler;
  } else { // its optimizer state: opt.<slot>.<param>
    for (const auto &st : s->Params.States) {
      const std::string &n = st->Name;
      size_t dot = n.rfind("opt.", 0) == 0 ? n.find('.', 4) : std::string::npos;
      if (dot != std::string::npos &&
          n.compare(dot + 1, std::string::npos, param) == 0)
        for (const AlignedBuffer &b : st->Buf)
          if (b.data())
            std::memset(b.data(), 0, b.size());
    }
  }
  s->DeltaValid = false;
  s->Unsaved = true;
  return 0;
}

extern "C" int adj_rt_session_history(const adj_rt_session *s,
                                      const adj_rt_epoch_record **records) {
  if (!s)
    return 0;
  if (records)
    *records = s->Epochs.data();
  return int(s->Epochs.size());
}

extern "C" void adj_rt_session_get_info(const adj_rt_session *s,
                                        adj_rt_session_info *out) {
  if (!s || !out)
    return;
  const Settings &set = *s->S;
  *out = adj_rt_session_info{};
  out->model = set.Model.name ? set.Model.name : "model";
  out->optimizer = set.Optimizer.c_str();
  out->num_params = int(s->Params.Params.size());
  for (const auto &p : s->Params.Params)
    out->num_buffers += p->Buffer;
  out->param_values = s->Params.paramValues();
  out->train_samples = s->Data.Train.Samples;
  out->test_samples = s->Data.Test.Samples;
  out->step = s->Pos.Step;
  out->epoch = s->Pos.Epoch;
  out->epoch_samples = s->Pos.EpochSamples;
  out->epochs = set.Epochs;
  out->batch = set.Batch;
  out->lr = set.Lr;
  out->seed = set.Seed;
  out->threads = s->Opts->O.threads;
  out->shuffle = set.Shuffle;
  out->num_metrics = int(metricNames(*s).size());
  out->train_seconds = s->TrainSeconds;
  out->trained_samples = s->TrainSamples;
  out->trained_steps = s->TrainedSteps;
}
