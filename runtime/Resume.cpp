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
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"
#include "runtime/Trainer.h"

#include <cstdio>

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
                       f.name().c_str(), key, v.c_str()));
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
  std::vector<std::pair<const CheckpointFile::Entry *, Slot *>> plan;
  for (const auto &p : state.Params) {
    const CheckpointFile::Entry *e = f.find(p->Name);
    if (!e)
      return fail(format("%s: no tensor for %s '%s'", n,
                         p->Buffer ? "buffer" : "parameter", p->Name.c_str()));
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
                       "model nor state of its optimizer)",
                       n, e.Name.c_str()));
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

} // namespace adj::rt
