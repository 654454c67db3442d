//===- Resume.cpp - Checkpoints of a training run -------------------------===//
///
/// \file
/// What --save writes and --load reads. A checkpoint holds one tensor per
/// parameter, named as in the model, in the parameters' dtype (F32, or F64
/// for f64 models); the optimizer state as the step function names it
/// (opt.m.w1); and __metadata__ with format "adjoint-1", the model's name,
/// the optimizer's, the step, the completed epochs, the samples of a
/// partial next epoch (epoch_samples) and the shuffle generator's full state
/// at the start of that epoch (rng, as Rng::state() text).
///
/// Loading validates the whole file and matches it against the model before
/// a single value is copied. A checkpoint of the same optimizer resumes the
/// run exactly; any other (parameters only, another optimizer's state,
/// another tool's file) provides the parameters, and training starts again
/// at step 0 with fresh optimizer state.
///
/// --init-from is the lenient load for transfer learning: every parameter
/// and buffer takes the checkpoint's tensor of its name (or the one --map
/// names) when shape and dtype fit; the others keep their initialisers;
/// optimizer state, PyTorch's num_batches_tracked counters and tensors of
/// no parameter are left. A summary says what was loaded, new, skipped (and
/// why) and unused; a checkpoint of which nothing fits is an error unless
/// --allow-empty.
///
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"
#include "runtime/Trainer.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace adj::rt {

static const char *const Format = "adjoint-1";

int saveCheckpoint(const char *path, const Settings &s, const State &state,
                   const Position &pos) {
  std::vector<TensorRef> tensors;
  for (const auto *slots : {&state.Params, &state.States})
    for (const auto &slot : *slots)
      tensors.push_back(
          {slot->Name, slot->DType,
           std::vector<int64_t>(slot->Dims, slot->Dims + slot->Rank),
           slot->current()});
  Metadata meta = {
      {"format", Format},
      {"model", s.Model.name ? s.Model.name : ""},
      {"optimizer", s.Optimizer},
      {"step", std::to_string(pos.Step)},
      {"epoch", std::to_string(pos.Epoch)},
      {"epoch_samples", std::to_string(pos.EpochSamples)},
      {"rng", pos.Rng},
  };
  return writeCheckpoint(path, tensors, meta);
}

/// Reads the metadata `key` as a non-negative integer.
static int metaInt(const CheckpointFile &f, const char *key, int64_t &out) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end())
    return fail(format("%s: __metadata__ has no '%s'", f.name().c_str(), key));
  const std::string &v = it->second;
  out = 0;
  bool ok = !v.empty();
  for (char c : v)
    ok = ok && c >= '0' && c <= '9' && checkedMul(out, 10, out) &&
         !__builtin_add_overflow(out, c - '0', &out);
  if (!ok)
    return fail(format("%s: __metadata__ '%s' is not a non-negative integer: "
                       "'%s'",
                       f.name().c_str(), key, escapeText(v).c_str()));
  return 0;
}

/// The position of a full checkpoint.
static int readPosition(const CheckpointFile &f, Position &pos) {
  if (metaInt(f, "step", pos.Step) || metaInt(f, "epoch", pos.Epoch))
    return 1;
  if (f.metadata().count("epoch_samples") &&
      metaInt(f, "epoch_samples", pos.EpochSamples))
    return 1;
  auto rng = f.metadata().find("rng");
  Rng probe(0);
  if (rng == f.metadata().end() || !probe.setState(rng->second))
    return fail(f.name() + ": __metadata__ has no valid 'rng' state");
  pos.Rng = rng->second;
  return 0;
}

/// What --load's errors about a tensor suggest.
static const char *const InitFromHint =
    "; --load resumes this model exactly, --init-from CKPT copies the "
    "tensors that match";

static bool isOptimizerState(const std::string &name) {
  return name.compare(0, 4, "opt.") == 0;
}

int loadCheckpoint(const char *path, const Settings &s, bool training,
                   State &state, std::optional<Position> &resumed) {
  resumed.reset();
  CheckpointFile f;
  if (f.read(path))
    return 1;
  const char *n = f.name().c_str();
  // Another model's checkpoint may still fit; say so, as it may not be meant.
  if (auto it = f.metadata().find("model");
      it != f.metadata().end() && s.Model.name && it->second != s.Model.name)
    std::fprintf(stderr, "warning: %s was saved by model '%s', not '%s'\n", n,
                 escapeText(it->second).c_str(), s.Model.name);
  std::vector<std::pair<const CheckpointFile::Entry *, Slot *>> plan;
  for (const auto &p : state.Params) {
    const CheckpointFile::Entry *e = f.find(p->Name);
    if (!e)
      return fail(format("%s: no tensor for %s '%s'%s", n,
                         p->Buffer ? "buffer" : "parameter", p->Name.c_str(),
                         InitFromHint));
    if (f.check(*e, p->DType, p->Rank, p->Dims))
      return 1;
    plan.push_back({e, p.get()});
  }

  auto meta = [&](const char *key) {
    auto it = f.metadata().find(key);
    return it == f.metadata().end() ? std::string() : it->second;
  };
  bool full = meta("format") == Format && f.metadata().count("optimizer");
  bool resume = training && full && meta("optimizer") == s.Optimizer;
  Position pos;
  if (resume) {
    if (readPosition(f, pos))
      return 1;
    for (const auto &st : state.States) {
      const CheckpointFile::Entry *e = f.find(st->Name);
      if (!e)
        return fail(format("%s: no tensor for optimizer state '%s'", n,
                           st->Name.c_str()));
      if (f.check(*e, st->DType, st->Rank, st->Dims))
        return 1;
      plan.push_back({e, st.get()});
    }
  }

  int ignored = 0;
  for (const CheckpointFile::Entry &e : f.entries()) {
    bool planned = false;
    for (const auto &step : plan)
      planned |= step.first == &e;
    if (planned)
      continue;
    if (!resume && isOptimizerState(e.Name)) {
      ++ignored;
      continue;
    }
    return fail(format("%s: unknown tensor '%s' (neither a parameter of the "
                       "model nor state of its optimizer)%s",
                       n, escapeText(e.Name).c_str(), InitFromHint));
  }
  if (training && ignored) {
    std::string of = full ? " of " + meta("optimizer") : "";
    std::fprintf(stderr,
                 "note: %s: ignoring the optimizer state%s; training with "
                 "%s from fresh state at step 0\n",
                 n, of.c_str(),
                 s.Optimizer.empty() ? "the model's optimizer"
                                     : s.Optimizer.c_str());
  }

  for (const auto &[e, slot] : plan)
    f.copy(*e, slot->DType, slot->current());
  if (resume)
    resumed = pos;
  return 0;
}

static bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "a b c" (at most `max` names, then "... (N more)").
static std::string nameList(const std::vector<std::string> &names,
                            size_t max = 12) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i)
    out += (i ? " " : "") + escapeText(names[i]);
  if (names.size() > max)
    out += format(" ... (%zu more)", names.size() - max);
  return out;
}

int initFromCheckpoint(const char *path, const Settings &s, State &state) {
  CheckpointFile f;
  if (f.read(path))
    return 1;
  const char *n = f.name().c_str();
  for (const auto &[to, from] : s.Map)
    if (!f.find(from))
      return fail(format("--map: %s has no tensor '%s' (to load into '%s')", n,
                         from.c_str(), to.c_str()));
  std::vector<std::pair<const CheckpointFile::Entry *, Slot *>> plan;
  std::vector<std::string> loaded, fresh, skipped, unused, counters;
  std::set<std::string> used;
  for (const auto &p : state.Params) {
    std::string source = p->Name;
    for (const auto &[to, from] : s.Map)
      if (to == p->Name)
        source = from;
    const CheckpointFile::Entry *e = f.find(source);
    if (!e) {
      fresh.push_back(p->Name);
      continue;
    }
    used.insert(source);
    std::string label = source == p->Name ? p->Name : p->Name + "=" + source;
    std::vector<int64_t> dims(p->Dims, p->Dims + p->Rank);
    if (e->DType != "F32" && e->DType != "F64")
      skipped.push_back(format("%s (dtype %s, the model's %s)", label.c_str(),
                               e->DType.c_str(),
                               p->DType == ADJ_RT_F64 ? "F64" : "F32"));
    else if (e->Shape != dims)
      skipped.push_back(format("%s (shape %s in the checkpoint, %s in the "
                               "model)",
                               label.c_str(), shapeString(e->Shape).c_str(),
                               shapeString(dims).c_str()));
    else {
      plan.push_back({e, p.get()});
      loaded.push_back(label);
    }
  }
  int optimizerState = 0;
  std::vector<const CheckpointFile::Entry *> inFileOrder;
  for (const CheckpointFile::Entry &e : f.entries())
    inFileOrder.push_back(&e);
  std::sort(inFileOrder.begin(), inFileOrder.end(),
            [](auto *a, auto *b) { return a->Begin < b->Begin; });
  for (const CheckpointFile::Entry *e : inFileOrder) {
    if (used.count(e->Name))
      continue;
    if (isOptimizerState(e->Name))
      ++optimizerState;
    else if (endsWith(e->Name, "num_batches_tracked"))
      counters.push_back(e->Name);
    else
      unused.push_back(e->Name);
  }
  if (plan.empty() && !s.AllowEmpty)
    return fail(format("%s: no tensor matches a parameter or buffer of the "
                       "model by name and shape (%zu skipped, %zu not in the "
                       "checkpoint; it has: %s); rename with --map NEW=OLD, "
                       "or start from the initialisers with --allow-empty",
                       n, skipped.size(), fresh.size(),
                       nameList(unused).c_str()));
  for (const auto &[e, slot] : plan)
    if (f.check(*e, slot->DType, slot->Rank, slot->Dims))
      return 1;
  for (const auto &[e, slot] : plan)
    f.copy(*e, slot->DType, slot->current());
  if (s.Quiet)
    return 0;
  std::printf("init-from %s: loaded %zu of %zu tensors\n", n, loaded.size(),
              state.Params.size());
  auto line = [](const char *what, const std::vector<std::string> &names) {
    if (!names.empty())
      std::printf("  %-8s %s\n", what, nameList(names, 64).c_str());
  };
  line("loaded", loaded);
  line("new", fresh);
  for (const std::string &skip : skipped)
    std::printf("  skipped  %s\n", skip.c_str());
  line("unused", unused);
  if (!counters.empty())
    std::printf("  unused   %s (PyTorch's batch counters; batch_norm uses its "
                "momentum)\n",
                nameList(counters).c_str());
  if (optimizerState)
    std::printf("  ignored  %d optimizer-state tensors; the optimizer starts "
                "fresh\n",
                optimizerState);
  std::fflush(stdout);
  return 0;
}

} // namespace adj::rt
