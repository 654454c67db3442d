//===- Settings.cpp - Trainer options against the model's defaults --------===//
///
/// \file
/// Turns adj_rt_options into Settings: zero fields take the train { } block's
/// defaults; --optimizer NAME swaps the model's train_step for the step
/// compiled for that optimizer; --data overrides rewrite the data sources;
/// --freeze names must be parameters (globs expand to the ones they match);
/// --map names parameters, --predict inputs. Everything a user can get wrong is
/// reported here, before any data is loaded. Before all of it, a model
/// compiled against another runtime ABI version is refused
/// (checkAbiVersion).
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/Trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fnmatch.h>
#include <unistd.h>

namespace adj::rt {

/// Makes `s.Model.train_step` the step of optimizer `name` (NULL: the
/// model's own).
static int chooseOptimizer(const adj_rt_model &m, const char *name,
                           Settings &s) {
  s.Optimizer = m.optimizer ? m.optimizer : "";
  if (!name || s.Optimizer == name)
    return 0;
  if (m.num_optimizer_steps > 0 && !m.optimizer_steps)
    return fail("internal error: optimizer steps are null");
  std::string known = s.Optimizer;
  for (int i = 0; i < m.num_optimizer_steps; ++i) {
    const adj_rt_function &f = m.optimizer_steps[i];
    if (!f.name)
      continue;
    if (std::strcmp(f.name, name) == 0) {
      s.Model.train_step = f;
      s.Optimizer = name;
      return 0;
    }
    if (f.name != s.Optimizer)
      known += (known.empty() ? "" : ", ") + std::string(f.name);
  }
  return fail(format("unknown optimizer '%s' (the model has: %s)", name,
                     known.empty() ? "none" : known.c_str()));
}

/// Whether `name` has a glob's special characters.
static bool isGlob(const char *name) {
  return std::strpbrk(name, "*?[") != nullptr;
}

/// --freeze: names and globs (fnmatch), expanded to the parameters they
/// match. A name that is no parameter is an error; a glob matching none a
/// warning (printed once, when the run's settings are first resolved).
static int checkFreeze(const adj_rt_model &m, const adj_rt_options &o,
                       Settings &s) {
  if (o.num_freeze > 0 && !o.freeze)
    return fail("internal error: --freeze array is null");
  for (int i = 0; i < o.num_freeze; ++i) {
    const char *name = o.freeze[i] ? o.freeze[i] : "";
    bool glob = isGlob(name);
    bool matched = false, buffer = false;
    for (int p = 0; m.params && p < m.num_params; ++p) {
      const char *param = m.params[p].name;
      if (!param || fnmatch(name, param, 0) != 0)
        continue;
      if (m.params[p].buffer) {
        buffer = true;
        continue; // buffers are never trained
      }
      matched = true;
      if (std::find(s.Freeze.begin(), s.Freeze.end(), param) == s.Freeze.end())
        s.Freeze.push_back(param);
    }
    if (!glob && buffer)
      return fail(format("--freeze: '%s' is a buffer, not a parameter "
                         "(buffers are never trained)",
                         name));
    if (!glob && !matched)
      return fail(format("--freeze: the model has no parameter '%s'", name));
    if (glob && !matched && !o.quiet)
      std::fprintf(stderr, "warning: --freeze: '%s' matches no parameter\n",
                   name);
  }
  return 0;
}

/// Whether the model has parameters (not buffers) and all are frozen, in
/// the model or by --freeze (`s.Freeze`).
static bool allFrozen(const adj_rt_model &m, const Settings &s) {
  int trainable = 0;
  for (int p = 0; m.params && p < m.num_params; ++p) {
    const adj_rt_param_desc &d = m.params[p];
    if (d.buffer)
      continue;
    ++trainable;
    if (!d.frozen && (!d.name || std::find(s.Freeze.begin(), s.Freeze.end(),
                                           d.name) == s.Freeze.end()))
      return false;
  }
  return trainable > 0;
}

/// Whether the model has a parameter or buffer `name`.
static bool hasParam(const adj_rt_model &m, const std::string &name) {
  for (int p = 0; m.params && p < m.num_params; ++p)
    if (m.params[p].name && name == m.params[p].name)
      return true;
  return false;
}

/// --init-from, --map, --allow-empty, --predict, --out and --classes.
static int checkTransfer(const adj_rt_model &m, const adj_rt_options &o,
                         Settings &s) {
  s.InitFromPath = o.init_from_path;
  s.AllowEmpty = o.allow_empty != 0;
  s.OutPath = o.out_path;
  s.Classes = o.classes != 0;
  if (s.InitFromPath && s.LoadPath)
    return fail("--load and --init-from cannot be used together (--load "
                "resumes exactly, --init-from starts from the tensors that "
                "match)");
  if ((o.num_map > 0 || s.AllowEmpty) && !s.InitFromPath)
    return fail(format("--%s applies to --init-from, which is not given",
                       o.num_map > 0 ? "map" : "allow-empty"));
  for (int i = 0; i < o.num_map; ++i) {
    std::string to = o.map_keys[i], from = o.map_values[i];
    if (!hasParam(m, to))
      return fail(format("--map: the model has no parameter or buffer '%s' "
                         "(in '%s=%s')",
                         to.c_str(), to.c_str(), from.c_str()));
    for (const auto &[t, f] : s.Map)
      if (t == to)
        return fail(format("--map: '%s' is mapped twice", to.c_str()));
    s.Map.push_back({to, from});
  }
  for (int i = 0; i < o.num_predict; ++i) {
    std::string input = o.predict_keys[i];
    if (!findInputDesc(m, input.c_str()))
      return fail(
          format("--predict: the model has no input '%s'", input.c_str()));
    for (const auto &[in, path] : s.Predict)
      if (in == input)
        return fail(format("--predict: input '%s' given twice", input.c_str()));
    s.Predict.push_back({input, o.predict_values[i]});
  }
  if (!s.Predict.empty() && !s.OutPath)
    return fail("--predict needs --out FILE.npy (or .csv)");
  std::string out = s.OutPath ? s.OutPath : "";
  auto endsWith = [&](const char *ext) {
    return out.size() > 4 && out.compare(out.size() - 4, 4, ext) == 0;
  };
  if (s.OutPath && !endsWith(".npy") && !endsWith(".csv"))
    return fail(format("--out: %s is neither a .npy nor a .csv file",
                       quoted(s.OutPath).c_str()));
  if (s.Predict.empty() && (s.OutPath || s.Classes))
    return fail(format("--%s applies to --predict, which is not given",
                       s.OutPath ? "out" : "classes"));
  if (!s.Predict.empty() && s.SavePath)
    return fail("--save cannot be used with --predict, which does not train");
  return 0;
}

/// Non-zero when a schedule's kind or parameters are out of range (a model
/// description or options filled in by hand; the parsers check them).
static int checkSchedule(const adj_rt_schedule &c) {
  switch (c.kind) {
  case ADJ_RT_SCHEDULE_CONSTANT:
    return 0;
  case ADJ_RT_SCHEDULE_STEP:
    return !(c.step_size > 0 && std::isfinite(c.gamma) && c.gamma > 0);
  case ADJ_RT_SCHEDULE_COSINE:
    return !(c.t_max >= 0 && std::isfinite(c.eta_min) && c.eta_min >= 0);
  default:
    return 1;
  }
}

int checkAbiVersion(const adj_rt_model &m) {
  if (m.abi_version == ADJ_RT_ABI_VERSION)
    return 0;
  return fail(format("the compiled model uses runtime ABI version %d, this "
                     "runtime has %d; recompile the model with this adjc",
                     m.abi_version, ADJ_RT_ABI_VERSION));
}

int resolveSettings(const adj_rt_model &m, const adj_rt_options &o,
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
  if (o.warmup < -1)
    return fail(
        format("warmup must be at least 0 (got %lld)", (long long)o.warmup));
  if (o.threads < 0 || o.threads > 1024)
    return fail(format("threads must be between 1 and 1024 (got %lld)",
                       (long long)o.threads));
  s.Model = m;
  s.EpochsGiven = o.epochs > 0;
  s.Epochs = o.epochs > 0 ? o.epochs : m.epochs;
  s.Steps = o.steps;
  s.Batch = o.batch > 0 ? o.batch : m.batch;
  s.Lr = o.lr > 0 ? o.lr : m.lr;
  s.Seed = o.seed >= 0 ? uint64_t(o.seed) : m.seed;
  s.Schedule =
      o.schedule.kind != ADJ_RT_SCHEDULE_DEFAULT ? o.schedule : m.schedule;
  if (s.Schedule.kind == ADJ_RT_SCHEDULE_DEFAULT)
    s.Schedule.kind = ADJ_RT_SCHEDULE_CONSTANT;
  s.Warmup = o.warmup >= 0 ? o.warmup : m.warmup;
  s.Shuffle = o.shuffle != 0;
  s.Quiet = o.quiet != 0;
  s.EvalOnly = o.eval_only != 0;
  // mpirun hands ranks a pseudo-terminal whatever its own output is.
  s.Live = !s.Quiet && isatty(STDOUT_FILENO) && ranks() == 1;
  s.LoadPath = o.load_path;
  s.SavePath = o.save_path;
  s.SaveEvery = o.save_every;
  s.LogPath = o.log_path;
  s.PlotPath = o.plot_path;
  if (s.Epochs < 0)
    return fail(
        format("epochs must be at least 0 (got %lld)", (long long)s.Epochs));
  if (s.Batch < 1)
    return fail(
        format("batch size must be at least 1 (got %lld)", (long long)s.Batch));
  if (!std::isfinite(s.Lr) || s.Lr < 0)
    return fail(format("learning rate must be positive (got %g)", s.Lr));
  if (checkSchedule(s.Schedule) || s.Warmup < 0)
    return fail(format("invalid learning-rate schedule %s",
                       describeSchedule(s.Schedule, s.Warmup).c_str()));
  if (s.SaveEvery > 0 && !s.SavePath)
    return fail("--save-every needs --save, the checkpoint it writes");
  if (s.EvalOnly && s.SavePath)
    return fail("--save cannot be used with --eval-only, which does not "
                "train");
  std::string onNonFinite = o.on_nonfinite ? o.on_nonfinite : "stop";
  if (onNonFinite != "stop" && onNonFinite != "skip")
    return fail(format("--on-nonfinite: '%s' is neither stop nor skip",
                       onNonFinite.c_str()));
  s.SkipNonFinite = onNonFinite == "skip";
  if (chooseOptimizer(m, o.optimizer, s) || checkFreeze(m, o, s) ||
      checkTransfer(m, o, s) || applyDataOverrides(m, o, s.Data, s.DataPaths))
    return 1;
  s.Model.data = s.Data.data();
  s.Model.num_data = int(s.Data.size());
  if (!s.EvalOnly && !s.Model.train_step.fn)
    return fail("the model has no train_step");
  if (!s.EvalOnly && s.Predict.empty() && !s.Quiet && allFrozen(m, s))
    std::fprintf(stderr, "warning: every parameter is frozen (in the model "
                         "or by --freeze); training will not change them\n");
  return 0;
}

} // namespace adj::rt
