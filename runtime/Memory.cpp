//===- Memory.cpp - A run's memory, estimated before allocating -----------===//
///
/// \file
/// Before a session allocates anything for a model (adj_rt_session_create,
/// an option changed, a recompiled model), checkMemory() adds up what the
/// run will hold at once and refuses it, with the estimate broken down,
/// when it exceeds the machine's physical memory (adj_rt_physical_memory;
/// ADJ_MEMORY_BYTES overrides it, for tests):
///
///   - the parameters and buffers, and the optimizer state (train_step's
///     STATE arguments), each once, or twice where a step writes the next
///     value into a second buffer (no in-place update, a frozen parameter,
///     or a session that keeps the previous values);
///   - each step function's scratch arena at the batch size, from the slices
///     the compiler planned (adj_rt_function.arena): the part that grows
///     with the batch (activations and their gradients) and the part that
///     does not (parameter gradients, updates);
///   - the input buffers of one batch of each step function;
///   - the data set as loaded.
///
/// After a run, reportMemory() gives --report the train step's memory lower
/// bound at the batch (the largest of the polynomials in n the compiler
/// described, adj_rt_function.bound) and, for a native trainer, its arena.
///
/// Sums saturate, so a batch size or a shape whose bytes overflow 64 bits
/// is refused like any other that does not fit. A single batched tensor
/// beyond the runtime's limit per tensor (MaxTensorBytes) is refused too,
/// naming the input.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

using namespace adj::rt;

extern "C" uint64_t adj_rt_physical_memory(void) {
  if (const char *e = std::getenv("ADJ_MEMORY_BYTES"); e && *e) {
    char *end = nullptr;
    unsigned long long v = std::strtoull(e, &end, 10);
    if (*end == '\0' && v > 0)
      return v;
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0)
    return 0;
  return uint64_t(pages) * uint64_t(page);
}

namespace {

constexpr uint64_t Saturated = UINT64_MAX;

uint64_t add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? Saturated : r;
}

uint64_t mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? Saturated : r;
}

/// Bytes of a value of descriptor `d` at batch size `batch`.
uint64_t valueBytes(const adj_rt_value_desc &d, int64_t batch) {
  uint64_t bytes = dtypeSize(d.dtype);
  for (int i = 0; i < d.rank && d.dims; ++i)
    bytes = mul(bytes, uint64_t(d.dims[i] == ADJ_RT_BATCH ? batch
                                : d.dims[i] < 0           ? 0
                                                          : d.dims[i]));
  return bytes;
}

/// `f`'s scratch arena at `batch`, split into the slices that grow with the
/// batch and those that do not (as ArenaPlan::bytes sums them).
void arenaBytes(const adj_rt_function &f, int64_t batch, uint64_t &perBatch,
                uint64_t &fixed) {
  perBatch = fixed = 0;
  if (!f.fn || f.num_arena <= 0 || !f.arena)
    return;
  for (int i = 0; i < f.num_arena; ++i) {
    int64_t m = f.arena[2 * i], p = f.arena[2 * i + 1];
    uint64_t bytes = m < 0 ? 0 : uint64_t(m);
    for (int64_t k = 0; k < p; ++k)
      bytes = mul(bytes, uint64_t(batch));
    bytes = add(bytes, 63) & ~uint64_t(63);
    if (p > 0)
      perBatch = add(perBatch, bytes);
    else
      fixed = add(fixed, bytes);
  }
  fixed = add(fixed, 64);
}

/// The result of `f` that is the next value of argument `name`, or null.
const adj_rt_value_desc *updateOf(const adj_rt_function &f, const char *name) {
  for (int r = 0; f.results && r < f.num_results; ++r)
    if (f.results[r].name && std::strcmp(f.results[r].name, name) == 0)
      return &f.results[r];
  return nullptr;
}

struct Estimate {
  uint64_t Params = 0, State = 0, Activations = 0, Fixed = 0, Batches = 0,
           Data = 0;
  int64_t ParamCopies = 1, StateCopies = 1;

  uint64_t total() const {
    return add(add(add(Params, State), add(Activations, Fixed)),
               add(Batches, Data));
  }
};

bool isFrozen(const Settings &s, const char *name) {
  for (const std::string &f : s.Freeze)
    if (f == name)
      return true;
  return false;
}

Estimate estimate(const Settings &s, const DataSet &data, bool training,
                  bool keepPrevious, int64_t batch) {
  const adj_rt_model &m = s.Model;
  Estimate e;
  const adj_rt_function &train = m.train_step;
  // Copies of a slot: two when the step writes its next value elsewhere.
  auto copies = [&](const char *name) -> uint64_t {
    if (!training)
      return 1;
    const adj_rt_value_desc *u = updateOf(train, name);
    if (!u)
      return 1;
    return keepPrevious || !u->inplace || isFrozen(s, name) ? 2 : 1;
  };
  for (int i = 0; m.params && i < m.num_params; ++i) {
    const adj_rt_param_desc &p = m.params[i];
    adj_rt_value_desc d{p.name, ADJ_RT_ARG_PARAM, ADJ_RT_F32,
                        p.rank, p.dims,           0};
    for (const adj_rt_function *f : {&m.eval_step, &m.train_step})
      for (int a = 0; f->args && a < f->num_args; ++a)
        if (f->args[a].name && p.name &&
            std::strcmp(f->args[a].name, p.name) == 0)
          d.dtype = f->args[a].dtype;
    uint64_t n = copies(p.name);
    e.ParamCopies = std::max<int64_t>(e.ParamCopies, int64_t(n));
    e.Params = add(e.Params, mul(valueBytes(d, 1), n));
  }
  std::vector<const adj_rt_function *> steps;
  if (training)
    steps.push_back(&train);
  if (!data.Test.empty() && m.eval_step.fn)
    steps.push_back(&m.eval_step);
  for (const adj_rt_function *f : steps) {
    for (int a = 0; f->args && a < f->num_args; ++a) {
      const adj_rt_value_desc &d = f->args[a];
      if (d.role == ADJ_RT_ARG_STATE && f == &train) {
        uint64_t n = copies(d.name);
        e.StateCopies = std::max<int64_t>(e.StateCopies, int64_t(n));
        e.State = add(e.State, mul(valueBytes(d, batch), n));
      }
      if (d.role == ADJ_RT_ARG_INPUT)
        e.Batches = add(e.Batches, valueBytes(d, batch));
    }
    uint64_t perBatch, fixed;
    arenaBytes(*f, batch, perBatch, fixed);
    e.Activations = add(e.Activations, perBatch);
    e.Fixed = add(e.Fixed, fixed);
  }
  for (const Split *split : {&data.Train, &data.Test})
    for (const InputData &in : split->Inputs)
      e.Data = add(e.Data, mul(uint64_t(in.Samples), in.rowBytes()));
  return e;
}

std::string bytesText(uint64_t b) {
  return b == Saturated
             ? std::string("more than 2^64")
             : groupDigits(int64_t(b > uint64_t(INT64_MAX) ? INT64_MAX : b));
}

} // namespace

/// The largest of `f`'s lower-bound polynomials at `batch` (-1: none).
static int64_t lowerBoundBytes(const adj_rt_function &f, int64_t batch) {
  if (f.num_bound <= 0 || !f.bound)
    return -1;
  std::vector<uint64_t> sums;
  for (int i = 0; i < f.num_bound; ++i) {
    int64_t j = f.bound[3 * i], m = f.bound[3 * i + 1], p = f.bound[3 * i + 2];
    if (j < 0 || m < 0 || p < 0 || j >= f.num_bound)
      return -1;
    uint64_t bytes = uint64_t(m);
    for (int64_t k = 0; k < p; ++k)
      bytes = mul(bytes, uint64_t(batch));
    if (sums.size() <= size_t(j))
      sums.resize(size_t(j) + 1, 0);
    sums[size_t(j)] = add(sums[size_t(j)], bytes);
  }
  uint64_t max = 0;
  for (uint64_t v : sums)
    max = std::max(max, v);
  return int64_t(std::min<uint64_t>(max, uint64_t(INT64_MAX)));
}

void adj::rt::reportMemory(const Settings &s, Report &r) {
  const adj_rt_function &train = s.Model.train_step;
  r.MemoryLowerBoundBytes = lowerBoundBytes(train, s.Batch);
  if (r.ArenaBytes < 0 && train.fn && train.arena) {
    uint64_t perBatch, fixed;
    arenaBytes(train, s.Batch, perBatch, fixed);
    r.ArenaBytes =
        int64_t(std::min<uint64_t>(add(perBatch, fixed), uint64_t(INT64_MAX)));
  }
}

int adj::rt::checkMemory(const Settings &s, const DataSet &data,
                         bool keepPrevious) {
  bool training = !s.EvalOnly && s.Predict.empty();
  const int64_t batch = s.Batch;
  // One batched tensor beyond the runtime's limit per tensor, in the step
  // functions the run binds at the batch size (--predict binds its own at
  // no more than its rows).
  std::vector<const adj_rt_function *> steps;
  if (training)
    steps.push_back(&s.Model.train_step);
  if (!data.Test.empty())
    steps.push_back(&s.Model.eval_step);
  for (const adj_rt_function *f : steps)
    for (int a = 0; f->fn && f->args && a < f->num_args; ++a) {
      const adj_rt_value_desc &d = f->args[a];
      if (d.role != ADJ_RT_ARG_INPUT || !d.name)
        continue;
      uint64_t bytes = valueBytes(d, batch);
      if (bytes > uint64_t(MaxTensorBytes))
        return fail(format("batch size %lld is too large: input '%s' would "
                           "need %s bytes per batch, more than the %s bytes "
                           "a tensor may have",
                           (long long)batch, d.name, bytesText(bytes).c_str(),
                           groupDigits(MaxTensorBytes).c_str()));
    }
  uint64_t memory = adj_rt_physical_memory();
  if (memory == 0)
    return 0;
  Estimate e = estimate(s, data, training, keepPrevious, batch);
  if (e.total() <= memory)
    return 0;
  std::string what = training
                         ? format("training at batch %lld", (long long)batch)
                         : format("evaluating at batch %lld", (long long)batch);
  std::string msg = format(
      "%s needs about %s bytes, more than the %s bytes of this "
      "machine's memory:\n",
      what.c_str(), bytesText(e.total()).c_str(), bytesText(memory).c_str());
  auto row = [&](const char *name, uint64_t bytes, const std::string &note) {
    msg += format("  %-32s %26s%s\n", name, bytesText(bytes).c_str(),
                  note.empty() ? "" : ("  " + note).c_str());
  };
  row("parameters and buffers", e.Params,
      e.ParamCopies > 1 ? "(current and next values)" : "");
  if (training)
    row("optimizer state", e.State,
        s.Optimizer.empty() ? "" : "(" + s.Optimizer + ")");
  row("activations and their gradients", e.Activations,
      format("(scratch growing with the batch, at %lld)", (long long)batch));
  row(training ? "parameter gradients and updates" : "other scratch", e.Fixed,
      "(scratch independent of the batch)");
  row("input batches", e.Batches, "");
  row("data", e.Data,
      format("(%lld train + %lld test samples)", (long long)data.Train.Samples,
             (long long)data.Test.Samples));
  // The largest batch that fits, when one does.
  int64_t lo = 0, hi = batch;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (estimate(s, data, training, keepPrevious, mid).total() <= memory)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (lo > 0)
    msg += format("a batch size of at most %s fits", groupDigits(lo).c_str());
  else
    msg += "the model does not fit at any batch size";
  return fail(msg);
}
