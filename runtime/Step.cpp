//===- Step.cpp - Binding a compiled step function to its buffers ---------===//
///
/// \file
/// A compiled step function takes one buffer per argument and fills one
/// buffer per result. Step binds each argument by its role — INPUT to a
/// batch buffer that gather() fills with memcpy'd rows, PARAM and STATE to
/// the current buffer of their Slot, HYPER "lr" / "step" to a scalar of the
/// argument's dtype — and each result by its name: "loss" and metrics to
/// scalar buffers, and a result named like a PARAM or STATE argument to that
/// slot: to its current buffer itself when the result's descriptor allows
/// an in-place update and the caller asked for them (adj_rt_train), else to
/// the slot's other buffer, made current by commit(). A frozen parameter's
/// next values (its own and its optimizer state's) always go to the other
/// buffers and are never made current, so the parameter and its state keep
/// their values.
///
/// The descriptors come from the compiler, but a mismatch between them and
/// the model is still reported as an error ("internal error: ...") rather
/// than an assert: the runtime never crashes on its input.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <algorithm>
#include <cstring>

namespace adj::rt {

static Slot *findSlot(const std::vector<std::unique_ptr<Slot>> &slots,
                      const char *name) {
  for (const auto &s : slots)
    if (s->Name == name)
      return s.get();
  return nullptr;
}

Slot *State::findParam(const char *name) const {
  return findSlot(Params, name);
}

Slot *State::findState(const char *name) const {
  return findSlot(States, name);
}

int64_t State::paramValues() const {
  int64_t total = 0;
  for (const auto &p : Params)
    if (!p->Buffer)
      total += p->Count;
  return total;
}

/// Element count of `d`, the batch dim counting `batch`.
static bool descCount(const adj_rt_value_desc &d, int64_t batch,
                      int64_t &count) {
  if (d.rank < 0 || d.rank > 8 || (d.rank > 0 && !d.dims))
    return false;
  count = 1;
  for (int i = 0; i < d.rank; ++i) {
    int64_t dim = d.dims[i] == ADJ_RT_BATCH ? batch : d.dims[i];
    if (!checkedMul(count, dim, count))
      return false;
  }
  return count * 8 <= MaxTensorBytes;
}

static bool validDType(adj_rt_dtype t) {
  return t == ADJ_RT_F32 || t == ADJ_RT_F64 || t == ADJ_RT_I32;
}

int Step::bindArg(int i, const Split &split, State &state, int64_t batch) {
  const adj_rt_value_desc &d = Fn->args[i];
  auto internal = [&](const char *problem) {
    return fail(
        format("internal error: %s argument '%s' %s", What, d.name, problem));
  };
  int64_t count;
  if (!validDType(d.dtype) || !descCount(d, 1, count))
    return internal("has an invalid type");
  if (!descCount(d, batch, count)) // a user's batch size, not the model
    return fail(format("batch size %lld is too large for %s argument '%s'",
                       (long long)batch, What, d.name));
  switch (d.role) {
  case ADJ_RT_ARG_INPUT: {
    const InputData *data = split.find(d.name);
    if (!data)
      return fail(format("no data for input '%s'", d.name));
    if (data->DType != d.dtype)
      return internal("has another dtype than its data");
    Inputs.push_back({i, data, AlignedBuffer()});
    if (!Inputs.back().Buf.allocate(size_t(batch) * data->rowBytes()))
      return fail("out of memory");
    Args[i] = Inputs.back().Buf.data();
    return 0;
  }
  case ADJ_RT_ARG_PARAM:
  case ADJ_RT_ARG_BUFFER: {
    Slot *s = state.findParam(d.name);
    if (!s)
      return internal("is not a parameter of the model");
    if (s->DType != d.dtype || s->Rank != d.rank ||
        (d.rank &&
         std::memcmp(s->Dims, d.dims, sizeof(int64_t) * size_t(d.rank)) != 0))
      return internal("does not have its parameter's type");
    SlotArgs.push_back({i, s});
    return 0;
  }
  case ADJ_RT_ARG_STATE: {
    Slot *s = state.findState(d.name);
    if (!s) {
      if (d.dtype == ADJ_RT_I32)
        return internal("has an integer type");
      for (int k = 0; k < d.rank; ++k)
        if (d.dims[k] == ADJ_RT_BATCH)
          return internal("has a batch dimension");
      auto owned = std::make_unique<Slot>();
      s = owned.get();
      s->Name = d.name;
      s->DType = d.dtype;
      s->Rank = d.rank;
      if (d.rank)
        std::memcpy(s->Dims, d.dims, sizeof(int64_t) * size_t(d.rank));
      s->Count = count;
      if (!s->allocate())
        return fail("out of memory");
      state.States.push_back(std::move(owned));
    } else if (s->DType != d.dtype || s->Count != count) {
      return internal("has another type than before");
    }
    SlotArgs.push_back({i, s});
    return 0;
  }
  case ADJ_RT_ARG_HYPER: {
    bool isLr = std::strcmp(d.name, "lr") == 0;
    bool isSeed = std::strcmp(d.name, "seed") == 0;
    if (!isLr && !isSeed && std::strcmp(d.name, "step") != 0)
      return internal("is an unknown hyperparameter");
    if (count != 1 || (isSeed && d.dtype != ADJ_RT_I32))
      return internal("is not a scalar of its type");
    Hypers.push_back({i, isLr, d.dtype, AlignedBuffer(), isSeed});
    if (!Hypers.back().Buf.allocate(8))
      return fail("out of memory");
    Args[i] = Hypers.back().Buf.data();
    return 0;
  }
  }
  return internal("has an unknown role");
}

int Step::bindResult(int r, int64_t batch) {
  const adj_rt_value_desc &d = Fn->results[r];
  auto internal = [&](const char *problem) {
    return fail(
        format("internal error: %s result '%s' %s", What, d.name, problem));
  };
  int64_t count;
  if (!validDType(d.dtype) || !descCount(d, 1, count))
    return internal("has an invalid type");
  if (!descCount(d, batch, count))
    return fail(format("batch size %lld is too large for %s result '%s'",
                       (long long)batch, What, d.name));
  for (int i = 0; i < Fn->num_args; ++i) {
    if (std::strcmp(Fn->args[i].name, d.name) != 0)
      continue;
    Slot *s = nullptr;
    for (auto &[arg, slot] : SlotArgs)
      if (arg == i)
        s = slot;
    if (!s)
      return internal("names an argument that is not updated");
    if (s->DType != d.dtype || s->Count != count)
      return internal("does not have its argument's type");
    for (const Update &u : Updates)
      if (u.S == s)
        return internal("updates an argument twice");
    Updates.push_back({r, s, d.inplace != 0});
    return 0;
  }
  bool isLoss = std::strcmp(d.name, "loss") == 0;
  if (isLoss)
    Loss = r;
  if (isLoss && (count != 1 || d.dtype == ADJ_RT_I32))
    return internal("is not a floating-point scalar");
  ResultBufs.emplace_back();
  if (!ResultBufs.back().allocate(size_t(count) * dtypeSize(d.dtype)))
    return fail("out of memory");
  Results[r] = ResultBufs.back().data();
  return 0;
}

int Step::bind(const adj_rt_function &f, const char *what, const Split &split,
               State &state, int64_t batch, bool inPlace, bool needsLoss) {
  Fn = &f;
  What = what;
  InPlace = inPlace;
  if (f.num_args < 0 || f.num_results < 0 || (f.num_args && !f.args) ||
      (f.num_results && !f.results))
    return fail(format("internal error: %s has invalid descriptors", what));
  for (int i = 0; i < f.num_args; ++i)
    if (!f.args[i].name)
      return fail(
          format("internal error: %s argument %d has no name", what, i));
  for (int r = 0; r < f.num_results; ++r)
    if (!f.results[r].name)
      return fail(format("internal error: %s result %d has no name", what, r));
  Args.assign(size_t(f.num_args), nullptr);
  Results.assign(size_t(f.num_results), nullptr);
  for (int i = 0; i < f.num_args; ++i)
    if (bindArg(i, split, state, batch))
      return 1;
  for (int r = 0; r < f.num_results; ++r)
    if (bindResult(r, batch))
      return 1;
  if (Loss < 0 && needsLoss)
    return fail(format("internal error: %s has no loss result", what));
  return allocateNext();
}

int Step::allocateNext() {
  for (Update &u : Updates) {
    u.Mode = writeOf(u);
    u.Flip = u.Mode == Write::Other && !frozen(u.S);
  }
  for (const Update &u : Updates)
    if (u.Mode == Write::Other && !u.S->allocateNext())
      return fail(format("out of memory for '%s'", u.S->Name.c_str()));
  refresh();
  return 0;
}

int Step::requireScalarResults() const {
  if (!Updates.empty())
    return fail(format("internal error: %s updates argument '%s'", What,
                       Updates.front().S->Name.c_str()));
  for (int r = 0; r < Fn->num_results; ++r) {
    int64_t count;
    const adj_rt_value_desc &d = Fn->results[r];
    if (!descCount(d, 1, count) || count != 1 || d.dtype == ADJ_RT_I32)
      return fail(format("internal error: %s result '%s' is not a "
                         "floating-point scalar",
                         What, d.name));
  }
  return 0;
}

bool Step::frozen(const Slot *slot) const {
  return std::find(Frozen.begin(), Frozen.end(), slot) != Frozen.end();
}

Step::Write Step::writeOf(const Update &u) const {
  return u.InPlace && InPlace && !frozen(u.S) ? Write::InPlace : Write::Other;
}

Step::Write Step::writeOf(const Slot *slot) const {
  for (const Update &u : Updates)
    if (u.S == slot)
      return u.Mode;
  return Write::None;
}

void Step::refresh() {
  for (auto &[arg, slot] : SlotArgs)
    Args[size_t(arg)] = slot->current();
  for (const Update &u : Updates)
    Results[size_t(u.Result)] =
        u.Mode == Write::InPlace ? u.S->current() : u.S->next();
}

/// Copies rows idx[0, n) of `src` (rows of `Row` bytes) to `dst` in order:
/// memcpy of a constant size, which the compiler inlines as a move or two.
template <size_t Row>
static void gatherRows(unsigned char *dst, const unsigned char *src,
                       const int64_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + size_t(i) * Row, src + size_t(idx[i]) * Row, Row);
}

void Step::gather(const int64_t *order, int64_t start, int64_t n) {
  for (Input &in : Inputs) {
    size_t row = in.Data->rowBytes();
    auto *dst = static_cast<unsigned char *>(in.Buf.data());
    const unsigned char *src = in.Data->rows();
    if (!order) {
      std::memcpy(dst, src + size_t(start) * row, size_t(n) * row);
      continue;
    }
    const int64_t *idx = order + start;
    // Small rows (a label, a few features) are most of a tiny model's
    // gather: a call to memcpy per row costs more than the copy.
    switch (row) {
    case 4:
      gatherRows<4>(dst, src, idx, n);
      continue;
    case 8:
      gatherRows<8>(dst, src, idx, n);
      continue;
    case 16:
      gatherRows<16>(dst, src, idx, n);
      continue;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + size_t(i) * row, src + size_t(idx[i]) * row, row);
    }
  }
}

void Step::setHyper(double lr, int64_t step, uint64_t seed) {
  for (Hyper &h : Hypers) {
    if (h.IsSeed) {
      // The run's seed mixed to 32 bits: dropout's generator key.
      uint32_t key = uint32_t(mix64(seed ^ 0x6A09E667F3BCC909ull));
      std::memcpy(h.Buf.data(), &key, sizeof key);
      continue;
    }
    double v = h.IsLr ? lr : double(step);
    switch (h.DType) {
    case ADJ_RT_F32:
      *static_cast<float *>(h.Buf.data()) = float(v);
      break;
    case ADJ_RT_F64:
      *static_cast<double *>(h.Buf.data()) = v;
      break;
    case ADJ_RT_I32:
      *static_cast<int32_t *>(h.Buf.data()) = int32_t(v);
      break;
    }
  }
}

int32_t Step::call(int64_t n, bool rebind) {
  if (rebind)
    refresh(); // another Step may have committed the shared slots
  return Fn->fn(n, Args.data(), Results.data());
}

void Step::commit() {
  bool flipped = false;
  for (const Update &u : Updates)
    if (u.Flip) {
      u.S->Cur ^= 1;
      flipped = true;
    }
  if (flipped)
    refresh();
}

/// Whether `slot` is the optimizer state opt.SLOT.param of `param`.
static bool isStateOf(const std::string &slot, const std::string &param) {
  if (slot.compare(0, 4, "opt.") != 0)
    return false;
  size_t dot = slot.find('.', 4);
  return dot != std::string::npos &&
         slot.compare(dot + 1, std::string::npos, param) == 0;
}

int Step::freeze(const std::string &param) {
  for (const Update &u : Updates)
    if (u.S->Name == param || isStateOf(u.S->Name, param))
      Frozen.push_back(u.S);
  return allocateNext();
}

double Step::result(int r) const {
  const void *p = Results[size_t(r)];
  if (Fn->results[r].dtype == ADJ_RT_F64)
    return *static_cast<const double *>(p);
  if (Fn->results[r].dtype == ADJ_RT_I32)
    return *static_cast<const int32_t *>(p);
  return *static_cast<const float *>(p);
}

} // namespace adj::rt
