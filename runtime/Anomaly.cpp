//===- Anomaly.cpp - Steps whose loss or update is not finite -------------===//
///
/// \file
/// What the training loop does when a step's loss, or (with
/// --on-nonfinite=skip) one of the values it updates, is NaN or infinite.
///
/// skip: the step is not committed, as PyTorch AMP's GradScaler skips
/// optimizer.step(): parameters, buffers and optimizer state keep their
/// values and the optimizer's step count does not advance (the train step
/// writes to the slots' other buffers, see Session.cpp), a warning is printed
/// and the step is counted for --report.
///
/// stop (the default) diagnoses, as torch.autograd.detect_anomaly does, by
/// re-running the failing step in a checked mode. Training keeps a copy of
/// the parameters, buffers and optimizer state at the start of each epoch
/// and every SnapshotEvery steps (the train step updates them in place, so
/// the values before a step are otherwise gone). From that copy the steps up
/// to the failure are replayed -- bit for bit, since a step depends only on
/// its batch, the state and its step number -- checking every loss and every
/// update, which finds the first step that was not finite (a non-finite
/// gradient shows first in the update, one step before the loss). With the
/// state before that step the cause is, in order: the batch (a non-finite
/// input), the state (a parameter or optimizer state that was already not
/// finite), or an op, found by running the model's check step
/// (adj_rt_check_step: the train step without the optimizer, compiled op by
/// op with every result checked) on that batch and state; its first
/// non-finite result has finite operands, and its site names the op and its
/// place in the model. A check step whose loss and gradients are all finite
/// leaves the optimizer's update. The hint follows the cause: the op's
/// domain at the first step, where no learning rate is involved; a lower
/// learning rate after finite steps (a divergence).
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace adj::rt;

/// Steps between two snapshots: at most this many are replayed.
static constexpr int64_t SnapshotEvery = 256;

static std::vector<Slot *> allSlots(const State &state) {
  std::vector<Slot *> slots;
  for (const auto &p : state.Params)
    slots.push_back(p.get());
  for (const auto &p : state.States)
    slots.push_back(p.get());
  return slots;
}

void adj_rt_session::takeSnapshot(int64_t first) {
  std::vector<Slot *> slots = allSlots(Params);
  if (Snap.Values.size() != slots.size())
    Snap.Values = std::vector<AlignedBuffer>(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    AlignedBuffer &b = Snap.Values[i];
    if (b.size() != slots[i]->bytes() && !b.allocate(slots[i]->bytes())) {
      Snap.Step = -1; // out of memory: no diagnosis, training goes on
      return;
    }
    std::memcpy(b.data(), slots[i]->current(), slots[i]->bytes());
  }
  Snap.Step = Pos.Step;
  Snap.First = first;
}

void adj_rt_session::beforeStep(int64_t first, int64_t inEpoch) {
  if (!S->SkipNonFinite && inEpoch % SnapshotEvery == 0)
    takeSnapshot(first);
}

bool adj_rt_session::stepFinite(double loss) const {
  if (!std::isfinite(loss))
    return false;
  if (!S->SkipNonFinite)
    return true;
  std::string slot;
  int64_t index;
  return Train.updatesFinite(slot, index);
}

bool adj_rt_session::stateFinite() const {
  for (Slot *s : allSlots(Params))
    if (firstNonFinite(s->current(), s->DType, s->Count) >= 0)
      return false;
  return true;
}

int adj_rt_session::replay(int64_t end, bool stopAtBad, int64_t &stop) {
  std::vector<Slot *> slots = allSlots(Params);
  for (size_t i = 0; i < slots.size(); ++i)
    std::memcpy(slots[i]->current(), Snap.Values[i].data(), slots[i]->bytes());
  Pos.Step = Snap.Step;
  const int64_t batch = S->Batch, samples = Data.Train.Samples;
  for (stop = Snap.First; stop < end; stop += batch) {
    int64_t n = std::min(batch, samples - stop);
    Train.gather(S->Shuffle ? Order.data() : nullptr, stop, n);
    Train.setHyper(currentLr(), Pos.Step + 1, S->Seed);
    if (Train.call(n) != 0)
      return fail(format("invalid data in batch at step %lld",
                         (long long)Pos.Step + 1));
    std::string slot;
    int64_t index;
    if (stopAtBad && (!std::isfinite(Train.result(Train.lossIndex())) ||
                      !Train.updatesFinite(slot, index)))
      return 0;
    Train.commit();
    ++Pos.Step;
  }
  return 0;
}

/// What usually makes op `op` non-finite from finite operands.
static const char *domainOf(const std::string &op) {
  if (op == "log" || op == "log_softmax")
    return "log of a value <= 0";
  if (op == "sqrt" || op == "rsqrt")
    return "sqrt of a negative value";
  if (op == "div")
    return "a division by zero";
  if (op == "exp" || op == "softmax")
    return "exp of a large value overflowing";
  if (op == "pow")
    return "pow of a negative base or of 0 to a negative power";
  if (op.size() > 5 && op.compare(op.size() - 5, 5, "_grad") == 0)
    return "a gradient at a point where it is infinite (sqrt's and log's at "
           "0) or overflowing";
  return "a value outside the op's domain, or one overflowing";
}

std::string adj_rt_session::explain(int64_t first, int64_t n, double lr) {
  const int64_t step = Pos.Step + 1;
  std::string input, slot;
  int64_t index = 0, perSample = 1;
  // 1. The batch.
  Train.gather(S->Shuffle ? Order.data() : nullptr, first, n);
  if (!Train.inputsFinite(n, input, index, perSample)) {
    int64_t row = first + index / perSample;
    if (S->Shuffle)
      row = Order[size_t(row)];
    return format("\nnote: the inputs: the batch of step %lld holds a "
                  "non-finite value (input '%s', sample %lld of its file, "
                  "element %lld); fix the data",
                  (long long)step, input.c_str(), (long long)row,
                  (long long)(index % perSample));
  }
  // 2. The state before the step.
  for (Slot *s : allSlots(Params)) {
    int64_t at = firstNonFinite(s->current(), s->DType, s->Count);
    if (at < 0)
      continue;
    double v = s->DType == ADJ_RT_F64
                   ? static_cast<const double *>(s->current())[at]
                   : static_cast<const float *>(s->current())[at];
    const char *what = s->Name.compare(0, 4, "opt.") == 0 ? "optimizer state"
                       : s->Buffer                        ? "buffer"
                                                          : "parameter";
    return format("\nnote: the parameters: %s '%s' was already %s (index "
                  "%lld) before step %lld; it was initialised or set so",
                  what, s->Name.c_str(), valueText(v).c_str(), (long long)at,
                  (long long)step);
  }
  // 3. An op: the step re-run with every op's result checked.
  std::string before =
      Pos.Step == 0
          ? "no update had been made yet, so the data and the initial "
            "parameters give it and a lower learning rate will not help"
          : format("the loss was finite for %lld steps before: training "
                   "diverged; try a lower learning rate (now %g), clip_norm "
                   "in train { } or --warmup",
                   (long long)Pos.Step, lr);
  if (!CheckDesc && S->Model.check_step)
    if (const adj_rt_check_step *c = S->Model.check_step(S->Model.check_ctx))
      if (!Check.bind(c->step, "check_step", Data.Train, Params, S->Batch,
                      /*inPlace=*/false))
        CheckDesc = c;
  if (!CheckDesc)
    return "\nnote: an op: the inputs and parameters were finite (this "
           "trainer cannot re-run the step to name the op); " +
           before;
  Check.gather(S->Shuffle ? Order.data() : nullptr, first, n);
  Check.setHyper(lr, step, S->Seed);
  clearCheckFailure();
  int32_t status = Check.call(n);
  int64_t site, at;
  double v;
  if (status == ADJ_RT_STEP_NONFINITE && lastCheckFailure(site, at, v) &&
      site >= 0 && site < CheckDesc->num_sites) {
    const adj_rt_op_site &o = CheckDesc->sites[site];
    std::string where = o.where ? std::string(o.where) + ": " : "";
    std::string what =
        o.grad ? format("'%s' (in the gradient of the op here)", o.op)
               : format("'%s'", o.op);
    return format(
        "\n%snote: an op: %s gave %s (index %lld of its result) "
        "from finite operands; the inputs and parameters were "
        "finite\nnote: %s%s",
        where.c_str(), what.c_str(), valueText(v).c_str(), (long long)at,
        Pos.Step == 0 ? format("likely %s; ", domainOf(o.op)).c_str() : "",
        before.c_str());
  }
  if (status != 0)
    return "\nnote: an op: the inputs and parameters were finite (the "
           "checked re-run of the step failed)";
  // 4. The loss and gradients are finite: the optimizer's update.
  Train.gather(S->Shuffle ? Order.data() : nullptr, first, n);
  Train.setHyper(lr, step, S->Seed);
  if (Train.call(n) == 0 && !Train.updatesFinite(slot, index))
    return format("\nnote: the optimizer: the loss and gradients of step "
                  "%lld are finite, but the %s update of '%s' is not (index "
                  "%lld); try a lower learning rate (now %g)",
                  (long long)step, S->Optimizer.c_str(), slot.c_str(),
                  (long long)index, lr);
  return "\nnote: the checked re-run of the step found no non-finite value "
         "(the fused step computes in another order)";
}

int adj_rt_session::diagnose(int64_t epoch, int64_t end) {
  // The first step since the snapshot whose loss or update is not finite,
  // then the state before it.
  int64_t bad = 0, ignored = 0;
  const int64_t failed = Pos.Step + 1;
  if (replay(end, /*stopAtBad=*/true, bad))
    return 1;
  if (bad >= end) { // the replay was finite: the state is that after `end`
    Pos.EpochSamples = std::min(end, Data.Train.Samples);
    DeltaValid = false;
    return fail(format("step %lld (epoch %lld) is not finite\nnote: replaying "
                       "the steps since the last snapshot did not reproduce "
                       "it (a step function that is not deterministic)",
                       (long long)failed, (long long)epoch));
  }
  if (replay(bad, /*stopAtBad=*/false, ignored))
    return 1;
  const int64_t batch = S->Batch;
  const int64_t n = std::min(batch, Data.Train.Samples - bad);
  const int64_t step = Pos.Step + 1;
  const double lr = currentLr();
  Train.gather(S->Shuffle ? Order.data() : nullptr, bad, n);
  Train.setHyper(lr, step, S->Seed);
  std::string head;
  if (Train.call(n) != 0)
    return fail(format("invalid data in batch at step %lld", (long long)step));
  double loss = Train.result(Train.lossIndex());
  std::string slot;
  int64_t index = 0;
  if (!std::isfinite(loss))
    head = format("loss is %s at step %lld (epoch %lld)",
                  valueText(loss).c_str(), (long long)step, (long long)epoch);
  else if (!Train.updatesFinite(slot, index))
    head = format("the update of step %lld (epoch %lld) is not finite: "
                  "'%s' at index %lld (the loss is %s)",
                  (long long)step, (long long)epoch, slot.c_str(),
                  (long long)index, formatValue(loss).c_str());
  else
    head = format("step %lld (epoch %lld) is not finite", (long long)step,
                  (long long)epoch);
  // The state before the step again (the call may have updated it in
  // place), and the position with it.
  int64_t ignored2 = 0;
  if (replay(bad, /*stopAtBad=*/false, ignored2))
    return 1;
  std::string cause = explain(bad, n, lr);
  if (replay(bad, /*stopAtBad=*/false, ignored2))
    return 1;
  Pos.EpochSamples = bad;
  DeltaValid = false;
  return fail(head + cause);
}

int adj_rt_session::onNonFinite(int64_t epoch, int64_t first, int64_t n,
                                double loss) {
  if (!S->SkipNonFinite) {
    if (Snap.Step < 0)
      return fail(format("loss is %s at step %lld (epoch %lld)",
                         valueText(loss).c_str(), (long long)Pos.Step + 1,
                         (long long)epoch));
    return diagnose(epoch, first + n);
  }
  ++SkippedSteps;
  Live.clear();
  std::string slot;
  int64_t index = 0;
  std::string what =
      std::isfinite(loss) && !Train.updatesFinite(slot, index)
          ? format("the update of '%s' is not finite (index %lld)",
                   slot.c_str(), (long long)index)
          : format("loss is %s", valueText(loss).c_str());
  std::fprintf(stderr,
               "warning: step %lld (epoch %lld): %s; the update is skipped "
               "(%lld skipped)\n",
               (long long)Pos.Step + 1, (long long)epoch, what.c_str(),
               (long long)SkippedSteps);
  std::fflush(stderr);
  return 0;
}

int adj::rt::failNonFiniteEval(const Step &eval, int r, int64_t start,
                               int64_t n, const State &state) {
  std::string name =
      r == eval.lossIndex() ? "test_loss" : std::string(eval.resultName(r));
  std::string head = format("%s is %s on the test samples [%lld, %lld)",
                            name.c_str(), valueText(eval.result(r)).c_str(),
                            (long long)start, (long long)(start + n));
  std::string input;
  int64_t index = 0, perSample = 1;
  if (!eval.inputsFinite(n, input, index, perSample))
    return fail(head + format("\nnote: the inputs: input '%s' holds a "
                              "non-finite value (sample %lld)",
                              input.c_str(),
                              (long long)(start + index / perSample)));
  for (Slot *s : allSlots(state)) {
    if (s->Name.compare(0, 4, "opt.") == 0)
      continue;
    int64_t at = firstNonFinite(s->current(), s->DType, s->Count);
    if (at >= 0)
      return fail(head + format("\nnote: the parameters: '%s' is not finite "
                                "(index %lld)",
                                s->Name.c_str(), (long long)at));
  }
  return fail(head + "\nnote: an op: the test data and the parameters are "
                     "finite, so an op of the model gives it (log or sqrt "
                     "of a value out of their domain, a division by zero, "
                     "an overflow)");
}
