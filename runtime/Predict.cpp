//===- Predict.cpp - The model's output for new inputs --------------------===//
///
/// \file
/// --predict INPUT=PATH ... --out FILE: predict_step (the model's `output`
/// in evaluation mode) runs over every row of the given files in batches of
/// --batch, in file order, and the rows of its result go to FILE: a .npy
/// array of the output's dtype and shape [rows, ...], or, for a .csv name,
/// one line per row with the values of the row flattened. With --classes
/// each row is replaced by the index of its largest value (the first one
/// on ties, as torch.argmax), written as int32. The files are read as the
/// model's data is, with the scale of the model's data source for the input
/// (the test split's, else the train split's). Everything is checked before
/// the model runs, and the output is written atomically: on any error the
/// previous FILE is left as it was.
///
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"
#include "runtime/Distributed.h"
#include "runtime/Trainer.h"

#include <cstdio>
#include <cstring>

using namespace adj::rt;

/// The scale of the model's data source of `input` (test first), else 1.
static double sourceScale(const adj_rt_model &m, const std::string &input) {
  double scale = 1;
  bool found = false;
  for (const char *split : {"test", "train"})
    for (int i = 0; !found && m.data && i < m.num_data; ++i)
      if (m.data[i].split && m.data[i].input &&
          std::strcmp(m.data[i].split, split) == 0 &&
          input == m.data[i].input) {
        scale = m.data[i].scale;
        found = true;
      }
  return scale;
}

static bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/// A .npy file (version 1.0) of `dtype` and `shape` holding `data`.
static int writeNpy(const char *path, adj_rt_dtype dtype,
                    const std::vector<int64_t> &shape, const void *data,
                    size_t bytes) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += std::to_string(shape[i]) +
            (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  const char *descr = dtype == ADJ_RT_F64   ? "<f8"
                      : dtype == ADJ_RT_I32 ? "<i4"
                                            : "<f4";
  std::string header = format("{'descr': '%s', 'fortran_order': False, "
                              "'shape': (%s), }",
                              descr, dims.c_str());
  // Magic, version, header length, header padded with spaces to a multiple
  // of 64 bytes (ending in a newline).
  size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.resize(total - 10 - 1, ' ');
  header += '\n';
  std::string prefix = "\x93NUMPY";
  prefix += char(1);
  prefix += char(0);
  prefix += char(header.size() & 0xFF);
  prefix += char(header.size() >> 8);
  return writeFileAtomically(path, "predictions",
                             {{prefix.data(), prefix.size()},
                              {header.data(), header.size()},
                              {data, bytes}});
}

/// One line per row, the row's values separated by commas.
static int writeCsv(const char *path, adj_rt_dtype dtype, int64_t rows,
                    int64_t perRow, const void *data) {
  std::string text;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < perRow; ++k) {
      size_t i = size_t(r * perRow + k);
      if (dtype == ADJ_RT_I32)
        text += std::to_string(static_cast<const int32_t *>(data)[i]);
      else if (dtype == ADJ_RT_F64)
        text += format("%.17g", static_cast<const double *>(data)[i]);
      else
        text += format("%.9g", double(static_cast<const float *>(data)[i]));
      text += k + 1 < perRow ? ',' : '\n';
    }
  return writeFileAtomically(path, "predictions", {{text.data(), text.size()}});
}

/// Replaces each row of `perRow` values by the index of its largest.
static std::vector<int32_t> argmaxRows(adj_rt_dtype dtype, int64_t rows,
                                       int64_t perRow, const void *data) {
  std::vector<int32_t> out(size_t(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    auto at = [&](int64_t k) {
      size_t i = size_t(r * perRow + k);
      return dtype == ADJ_RT_F64 ? static_cast<const double *>(data)[i]
             : dtype == ADJ_RT_I32
                 ? double(static_cast<const int32_t *>(data)[i])
                 : double(static_cast<const float *>(data)[i]);
    };
    for (int64_t k = 1; k < perRow; ++k)
      if (at(k) > at(out[size_t(r)]))
        out[size_t(r)] = int32_t(k);
  }
  return out;
}

int adj_rt_session::predict() {
  const adj_rt_function &f = S->Model.predict_step;
  if (!f.fn || f.num_results != 1 || !f.results)
    return fail("--predict: the model has no per-sample output (name a "
                "tensor whose first dim is the batch with `output NAME`)");
  const adj_rt_value_desc &out = f.results[0];
  Split split;
  for (const auto &[input, path] : S->Predict) {
    const adj_rt_value_desc *d = nullptr;
    for (int i = 0; f.args && i < f.num_args; ++i)
      if (f.args[i].role == ADJ_RT_ARG_INPUT && input == f.args[i].name)
        d = &f.args[i];
    if (!d)
      return fail(format("--predict: the output '%s' does not read input "
                         "'%s'",
                         out.name, input.c_str()));
    adj_rt_data_desc src{};
    src.split = "predict";
    src.input = input.c_str();
    src.path = path.c_str();
    src.scale = sourceScale(S->Model, input);
    src.header = -1;
    if (dataFormatOf(path, "--predict", src.format) ||
        loadInput(src, *d, split))
      return 1;
  }
  for (int i = 0; f.args && i < f.num_args; ++i)
    if (f.args[i].role == ADJ_RT_ARG_INPUT && !split.find(f.args[i].name))
      return fail(format("--predict: the output '%s' reads input '%s'; give "
                         "it with --predict %s=PATH",
                         out.name, f.args[i].name, f.args[i].name));
  AlignedBuffer rows;
  int64_t perRow = 1;
  if (predictRows(split, rows, perRow, "--predict"))
    return 1;
  std::vector<int64_t> shape = {split.Samples};
  for (int k = 1; k < out.rank; ++k)
    shape.push_back(out.dims[k]);
  const void *data = rows.data();
  adj_rt_dtype dtype = out.dtype;
  std::vector<int32_t> classes;
  if (S->Classes) {
    classes = argmaxRows(out.dtype, split.Samples, perRow, data);
    data = classes.data();
    dtype = ADJ_RT_I32;
    shape.resize(1);
    perRow = 1;
  }
  size_t bytes = size_t(split.Samples) * size_t(perRow) * dtypeSize(dtype);
  bool csv = endsWith(S->OutPath, ".csv"); // else .npy (Settings.cpp)
  if (rank() != 0) // under MPI every rank predicts alike; rank 0 writes
    return 0;
  if (csv ? writeCsv(S->OutPath, dtype, split.Samples, perRow, data)
          : writeNpy(S->OutPath, dtype, shape, data, bytes))
    return 1;
  if (!S->Quiet) {
    std::printf("predict: '%s' %s to %s\n", out.name,
                (shapeString(shape) + (S->Classes ? " classes" : "")).c_str(),
                quoted(S->OutPath).c_str());
    std::fflush(stdout);
  }
  return 0;
}

int adj_rt_session::predictRows(Split &split, AlignedBuffer &rows,
                                int64_t &perRow, const char *what) {
  const adj_rt_function &f = S->Model.predict_step;
  const adj_rt_value_desc &out = f.results[0];
  // No larger batch than the rows: a huge --batch allocates nothing more.
  const int64_t batch = std::max<int64_t>(1, std::min(S->Batch, split.Samples));
  Step step;
  if (step.bind(f, "predict_step", split, Params, batch, false,
                /*needsLoss=*/false))
    return 1;
  perRow = 1;
  for (int k = 1; k < out.rank; ++k)
    perRow *= out.dims[k];
  size_t rowBytes = size_t(perRow) * dtypeSize(out.dtype);
  if (!rows.allocate(size_t(split.Samples) * rowBytes))
    return fail("out of memory for the predictions");
  auto *dst = static_cast<unsigned char *>(rows.data());
  for (int64_t start = 0; start < split.Samples; start += batch) {
    int64_t n = std::min(batch, split.Samples - start);
    step.gather(nullptr, start, n);
    if (step.call(n) != 0)
      return fail(format("%s: invalid data in the batch at row %lld", what,
                         (long long)start));
    std::memcpy(dst + size_t(start) * rowBytes, step.resultData(0),
                size_t(n) * rowBytes);
  }
  return 0;
}

extern "C" int adj_rt_session_predict_rows(adj_rt_session *s, const char *input,
                                           const void *data, int64_t rows,
                                           void *out, size_t out_bytes) {
  if (!s || !input || !data || !out || rows <= 0)
    return fail("adj_rt_session_predict_rows: bad argument");
  const adj_rt_function &f = s->S->Model.predict_step;
  if (!f.fn || f.num_results != 1 || !f.results)
    return fail("the model has no per-sample output (name one with `output "
                "NAME`)");
  const adj_rt_value_desc *d = nullptr;
  for (int i = 0; f.args && i < f.num_args; ++i)
    if (f.args[i].role == ADJ_RT_ARG_INPUT) {
      if (std::strcmp(f.args[i].name, input) != 0)
        return fail(format("the output '%s' also reads input '%s'",
                           f.results[0].name, f.args[i].name));
      d = &f.args[i];
    }
  if (!d)
    return fail(format("the output '%s' does not read input '%s'",
                       f.results[0].name, input));
  InputData in;
  in.Name = input;
  in.Path = "<memory>";
  in.DType = d->dtype;
  in.PerSample = 1;
  for (int k = 1; k < d->rank; ++k)
    in.PerSample *= d->dims[k];
  in.Samples = rows;
  size_t bytes = size_t(rows) * in.rowBytes();
  in.Data.reset(alignedAlloc(bytes));
  if (!in.Data)
    return fail("out of memory for the inputs");
  std::memcpy(in.Data.get(), data, bytes);
  Split split;
  split.Samples = rows;
  split.Inputs.push_back(std::move(in));
  AlignedBuffer result;
  int64_t perRow = 1;
  if (s->predictRows(split, result, perRow, "predict"))
    return 1;
  size_t need = size_t(rows) * size_t(perRow) * dtypeSize(f.results[0].dtype);
  if (out_bytes < need)
    return fail(format("adj_rt_session_predict_rows: %zu bytes for %zu of "
                       "output",
                       out_bytes, need));
  std::memcpy(out, result.data(), need);
  return 0;
}

extern "C" int adj_rt_session_predict(adj_rt_session *s, const char *inputs,
                                      const char *out_path, int classes) {
  if (!s || !inputs || !out_path)
    return fail("adj_rt_session_predict: null argument");
  adj_rt_options o;
  adj_rt_options_init(&o);
  std::vector<std::pair<std::string, std::string>> pairs;
  int status = adj_rt_options_set(&o, "predict", inputs);
  for (int i = 0; !status && i < o.num_predict; ++i) {
    if (!findInputDesc(s->S->Model, o.predict_keys[i]))
      status = fail(
          format("--predict: the model has no input '%s'", o.predict_keys[i]));
    pairs.push_back({o.predict_keys[i], o.predict_values[i]});
  }
  adj_rt_options_free(&o);
  if (status)
    return 1;
  if (!endsWith(out_path, ".npy") && !endsWith(out_path, ".csv"))
    return fail(format("--out: %s is neither a .npy nor a .csv file",
                       quoted(out_path).c_str()));
  Settings &set = *s->S;
  std::swap(set.Predict, pairs);
  const char *savedOut = set.OutPath;
  bool savedClasses = set.Classes;
  set.OutPath = out_path;
  set.Classes = classes != 0;
  status = s->predict();
  std::swap(set.Predict, pairs);
  set.OutPath = savedOut;
  set.Classes = savedClasses;
  return status;
}
