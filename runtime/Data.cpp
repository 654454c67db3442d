//===- Data.cpp - Loading and checking a model's data ---------------------===//
///
/// \file
/// Turns the model's data { } block into in-memory splits. Each source is
/// loaded as the dtype its input is declared with (train_step's argument,
/// else eval_step's). The first declared dim of an input is the batch dim;
/// the file's first dim is its sample count and the product of the others
/// must equal the input's per-sample element count, so an [N, 28, 28] file
/// feeds an f32[N, 784] input. Then: every input of a split has the same
/// number of samples, the inputs the step functions need are present, and
/// every label (or token id of an embedding or one_hot) is within [0,
/// classes).
///
/// The --data overrides are applied before: each, PATH[:scale=S], replaces
/// the whole source of its split and input or adds one, in the format its
/// file name tells (a .txt file in windows of the input's per-sample size),
/// with the scale S it gives, else 1 -- never the model's scale, which was
/// meant for the model's file. Only the structure of the file is kept: the
/// CSV options when both are CSV, and the windows when it replaces a text
/// source (which makes any file not named otherwise text).
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace adj::rt {

const InputData *Split::find(const char *name) const {
  for (const InputData &in : Inputs)
    if (in.Name == name)
      return &in;
  return nullptr;
}

static const adj_rt_value_desc *findArg(const adj_rt_function &f,
                                        const char *name, adj_rt_role role) {
  for (int i = 0; f.args && i < f.num_args; ++i)
    if (f.args[i].role == role && f.args[i].name &&
        std::strcmp(f.args[i].name, name) == 0)
      return &f.args[i];
  return nullptr;
}

const adj_rt_value_desc *findInputDesc(const adj_rt_model &m,
                                       const char *name) {
  if (const adj_rt_value_desc *d =
          findArg(m.train_step, name, ADJ_RT_ARG_INPUT))
    return d;
  return findArg(m.eval_step, name, ADJ_RT_ARG_INPUT);
}

/// Elements per sample of a declared input; fails unless dim 0 is the batch.
static int perSampleCount(const adj_rt_value_desc &d, int64_t &count) {
  if (d.rank < 1 || d.rank > 8 || !d.dims || d.dims[0] != ADJ_RT_BATCH)
    return fail(format("input '%s' has no batch dimension as its first "
                       "dimension",
                       d.name));
  count = 1;
  for (int i = 1; i < d.rank; ++i)
    if (d.dims[i] < 0 || !checkedMul(count, d.dims[i], count))
      return fail(format("input '%s' has an invalid dimension %d", d.name, i));
  return 0;
}

/// "[1, 28, 28]".
static std::string dimsText(int rank, const int64_t *dims) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += format("%s%lld", i ? ", " : "", (long long)dims[i]);
  return s + "]";
}

/// Whether a file's samples (dims 1.. of `t`) fit the input `d` without a
/// silent reshape: a vector input (rank <= 2 with the batch) takes any
/// sample flattened, as an MLP reads 28x28 images as 784 values; otherwise
/// the dims must agree once dims of size 1 are dropped ([28, 28] fits
/// [1, 28, 28], 784-wide rows do not).
static bool sameSampleShape(const adj_rt_tensor &t,
                            const adj_rt_value_desc &d) {
  if (d.rank <= 2)
    return true;
  std::vector<int64_t> a, b;
  for (int i = 1; i < t.rank; ++i)
    if (t.dims[i] != 1)
      a.push_back(t.dims[i]);
  for (int i = 1; i < d.rank; ++i)
    if (d.dims[i] != 1)
      b.push_back(d.dims[i]);
  return a == b;
}

static int loadSource(const adj_rt_data_desc &src, adj_rt_dtype dtype,
                      adj_rt_tensor &t) {
  switch (src.format) {
  case ADJ_RT_DATA_IDX:
    return adj_rt_load_idx(src.path, dtype, src.scale, &t);
  case ADJ_RT_DATA_NPY:
    return adj_rt_load_npy(src.path, dtype, src.scale, &t);
  case ADJ_RT_DATA_CSV:
    return adj_rt_load_csv(src.path, dtype, src.scale, src.columns, src.header,
                           &t);
  case ADJ_RT_DATA_TEXT:
    return adj_rt_load_text(src.path, dtype, src.seq, src.offset, src.start,
                            src.end, &t);
  }
  return fail(quoted(src.path) + ": unknown data format");
}

int loadInput(const adj_rt_data_desc &src, const adj_rt_value_desc &d,
              Split &split) {
  std::string name = quoted(src.path);
  if (split.find(src.input))
    return fail(
        format("two %s data sources for input '%s'", src.split, src.input));
  int64_t perSample;
  if (perSampleCount(d, perSample))
    return 1;
  adj_rt_tensor t;
  {
    LoadContextScope context(format("%s input '%s'", src.split, src.input));
    if (loadSource(src, d.dtype, t))
      return 1;
  }
  InputData in;
  in.Name = src.input;
  in.Path = src.path;
  in.DType = d.dtype;
  in.Data.reset(t.data);
  in.Samples = t.dims[0];
  in.Shape = dimsText(t.rank, t.dims);
  in.Text = src.format == ADJ_RT_DATA_TEXT;
  in.Scale = in.Text ? 1 : src.scale;
  int64_t fileCount = 1;
  for (int i = 1; i < t.rank; ++i)
    fileCount *= t.dims[i]; // the loader checked the product
  if (fileCount != perSample)
    return fail(format("%s: %lld values per sample, but input '%s' expects "
                       "%lld",
                       name.c_str(), (long long)fileCount, src.input,
                       (long long)perSample));
  if (!sameSampleShape(t, d))
    return fail(format("%s: samples of shape %s do not fit input '%s' of "
                       "shape %s per sample (a vector input takes any "
                       "sample flattened; a multi-dimensional one needs the "
                       "same dims, up to dims of size 1)",
                       name.c_str(), dimsText(t.rank - 1, t.dims + 1).c_str(),
                       src.input, dimsText(d.rank - 1, d.dims + 1).c_str()));
  if (in.Samples == 0)
    return fail(name + ": no samples");
  if (!split.empty() && split.Samples != in.Samples) {
    const InputData &first = split.Inputs.front();
    return fail(format("%s has %lld samples but '%s' has %lld", name.c_str(),
                       (long long)in.Samples, first.Path.c_str(),
                       (long long)first.Samples));
  }
  in.PerSample = perSample;
  split.Samples = in.Samples;
  split.Inputs.push_back(std::move(in));
  return 0;
}

/// Every input argument of `f` has data in `split`.
static int checkComplete(const adj_rt_function &f, const Split &split,
                         const char *what) {
  for (int i = 0; f.args && i < f.num_args; ++i)
    if (f.args[i].role == ADJ_RT_ARG_INPUT && f.args[i].name &&
        !split.find(f.args[i].name))
      return fail(format("no %s data for input '%s'", what, f.args[i].name));
  return 0;
}

static int checkLabels(const adj_rt_label_desc &l, const Split &split) {
  const InputData *in = split.find(l.input);
  if (!in || in->DType != ADJ_RT_I32)
    return 0;
  const auto *p = static_cast<const int32_t *>(in->Data.get());
  int64_t count = in->Samples * in->PerSample;
  for (int64_t i = 0; i < count; ++i) {
    if (p[i] >= 0 && p[i] < l.classes)
      continue;
    std::string at = l.used_at ? format(" (used at %s)", l.used_at) : "";
    if (l.what)
      return fail(format("'%s': %s: id %d at index %lld of input '%s' "
                         "outside [0, %lld)%s",
                         in->Path.c_str(), l.what, p[i], (long long)i, l.input,
                         (long long)l.classes, at.c_str()));
    return fail(format("'%s': label %d at index %lld is out of range for "
                       "%lld classes%s",
                       in->Path.c_str(), p[i], (long long)i,
                       (long long)l.classes, at.c_str()));
  }
  return 0;
}

static bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/// .npy, .csv (either possibly .gz), else IDX for .idx, -ubyte and .gz names.
int dataFormatOf(const std::string &path, const char *flag,
                 adj_rt_data_format &f) {
  std::string base =
      endsWith(path, ".gz") ? path.substr(0, path.size() - 3) : path;
  if (endsWith(base, ".txt"))
    f = ADJ_RT_DATA_TEXT;
  else if (endsWith(base, ".npy"))
    f = ADJ_RT_DATA_NPY;
  else if (endsWith(base, ".csv"))
    f = ADJ_RT_DATA_CSV;
  else if (endsWith(base, ".idx") || endsWith(base, "-ubyte") || base != path)
    f = ADJ_RT_DATA_IDX;
  else
    return fail(format("%s: cannot tell the format of %s (expected a "
                       ".npy, .csv, .txt, .idx, -ubyte or .gz file)",
                       flag, quoted(path.c_str()).c_str()));
  return 0;
}

/// The windows of a text source `d` given by --data: those of the text
/// source `old` it replaces, else windows of the input's per-sample size
/// from offset 0 over the whole file. False after an error.
static bool textWindows(const adj_rt_model &m, const adj_rt_data_desc *old,
                        adj_rt_data_desc &d) {
  d.start = 0;
  d.end = 1;
  if (old && old->format == ADJ_RT_DATA_TEXT) {
    d.seq = old->seq;
    d.offset = old->offset;
    d.start = old->start;
    d.end = old->end;
    return true;
  }
  return perSampleCount(*findInputDesc(m, d.input), d.seq) == 0;
}

/// Splits "PATH:scale=S" into the path and the scale (S a finite non-zero
/// number or A/B, e.g. 1/255); without the suffix the scale is 1.
static int parseOverride(const std::string &key, const std::string &value,
                         std::string &path, double &scale, bool &given) {
  static const char Suffix[] = ":scale=";
  size_t at = value.rfind(Suffix);
  path = value;
  scale = 1;
  given = at != std::string::npos;
  if (!given)
    return 0;
  path = value.substr(0, at);
  std::string text = value.substr(at + sizeof(Suffix) - 1);
  auto number = [](const std::string &t, double &v) {
    if (t.empty() || std::isspace((unsigned char)t[0]))
      return false;
    char *end = nullptr;
    v = std::strtod(t.c_str(), &end);
    return end == t.c_str() + t.size() && std::isfinite(v);
  };
  size_t slash = text.find('/');
  double a = 0, b = 1;
  if (!number(text.substr(0, slash), a) ||
      (slash != std::string::npos && !number(text.substr(slash + 1), b)) ||
      b == 0 || a == 0 || !std::isfinite(a / b))
    return fail(format("--data %s=%s: invalid scale '%s' (expected a "
                       "non-zero number or A/B, e.g. scale=1/255)",
                       key.c_str(), value.c_str(), text.c_str()));
  if (path.empty())
    return fail(format("--data %s=%s: no file before ':scale='", key.c_str(),
                       value.c_str()));
  scale = a / b;
  return 0;
}

int applyDataOverrides(const adj_rt_model &m, const adj_rt_options &o,
                       std::vector<adj_rt_data_desc> &out,
                       std::deque<std::string> &paths) {
  if (m.data && m.num_data > 0)
    out.assign(m.data, m.data + m.num_data);
  if (o.num_data > 0 && (!o.data_keys || !o.data_values))
    return fail("internal error: --data arrays are null");
  for (int i = 0; i < o.num_data; ++i) {
    std::string key = o.data_keys[i] ? o.data_keys[i] : "";
    size_t dot = key.find('.');
    std::string split = key.substr(0, dot);
    if (dot == std::string::npos || (split != "train" && split != "test"))
      return fail(format("--data: '%s' is not SPLIT.INPUT (split train or "
                         "test)",
                         key.c_str()));
    const char *input = o.data_keys[i] + dot + 1;
    if (!findInputDesc(m, input))
      return fail(format("--data: the model has no input '%s'", input));
    adj_rt_data_desc d{};
    d.split = split == "train" ? "train" : "test";
    d.input = input;
    if (!o.data_values[i])
      return 1;
    bool scaled = false;
    paths.emplace_back();
    if (parseOverride(key, o.data_values[i], paths.back(), d.scale, scaled))
      return 1;
    d.path = paths.back().c_str();
    d.header = -1;
    adj_rt_data_desc *old = nullptr;
    for (adj_rt_data_desc &src : out)
      if (src.split && src.input && split == src.split &&
          std::strcmp(src.input, input) == 0)
        old = &src;
    // Any file replacing a text source is text, unless its name says
    // otherwise; it keeps the windows.
    bool oldText = old && old->format == ADJ_RT_DATA_TEXT;
    if (dataFormatOf(d.path, "--data", d.format)) {
      if (!oldText)
        return 1;
      d.format = ADJ_RT_DATA_TEXT;
    }
    if (d.format == ADJ_RT_DATA_TEXT && scaled)
      return fail(format("--data %s: a scale does not apply to text, read "
                         "as byte values",
                         key.c_str()));
    if (d.format == ADJ_RT_DATA_TEXT && !textWindows(m, old, d))
      return 1;
    if (!old) {
      out.push_back(d);
      continue;
    }
    if (old->format == ADJ_RT_DATA_CSV && d.format == ADJ_RT_DATA_CSV) {
      d.columns = old->columns;
      d.header = old->header;
    }
    *old = d;
  }
  return 0;
}

int loadData(const adj_rt_model &m, bool evalOnly, DataSet &out) {
  for (int i = 0; m.data && i < m.num_data; ++i) {
    const adj_rt_data_desc &src = m.data[i];
    if (!src.split || !src.input || !src.path)
      return fail("data source with a null split, input or path");
    bool isTrain = std::strcmp(src.split, "train") == 0;
    if (!isTrain && std::strcmp(src.split, "test") != 0)
      return fail(format("%s: unknown data split '%s' (expected train or "
                         "test)",
                         quoted(src.path).c_str(), src.split));
    if (isTrain && evalOnly)
      continue;
    // Inputs no step function reads (e.g. removed as dead) need no data.
    const adj_rt_value_desc *d = findInputDesc(m, src.input);
    if (!d)
      continue;
    if (loadInput(src, *d, isTrain ? out.Train : out.Test))
      return 1;
  }
  if (!evalOnly && checkComplete(m.train_step, out.Train, "training"))
    return 1;
  if (evalOnly && out.Test.empty())
    return fail("no test data to evaluate");
  if (!out.Test.empty() && m.eval_step.fn &&
      checkComplete(m.eval_step, out.Test, "test"))
    return 1;
  for (int i = 0; m.labels && i < m.num_labels; ++i) {
    const adj_rt_label_desc &l = m.labels[i];
    if (!l.input)
      continue;
    if (checkLabels(l, out.Train) || checkLabels(l, out.Test))
      return 1;
  }
  return 0;
}

} // namespace adj::rt
