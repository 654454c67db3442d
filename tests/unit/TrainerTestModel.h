//===- TrainerTestModel.h - The trainer tests' linear model -----*- C++ -*-===//
///
/// Shared by the Trainer*Test.cpp files: a linear regression model with
/// hand-written steps for adj_rt_trainer_main and adj_rt_train (SGD with
/// momentum, so that optimizer state matters, Adam as the alternative
/// optimizer, and an eval step reporting the loss and MAE), its NPY data
/// written to a temporary directory, and helpers to write NPY and IDX files,
/// read checkpoints and JSON reports, and run the trainer capturing its output.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_TRAINERTESTMODEL_H
#define ADJ_TESTS_TRAINERTESTMODEL_H

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

namespace adj::trainertest {

//===--- Helpers ----------------------------------------------------------===//

using adj::test::TempDir;

using adj::test::readFile;

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

inline bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// An .npy file of `count` rows of `cols` values of type T ('<f4', '<f8').
template <typename T>
inline void writeNpy(const std::string &path, const std::vector<T> &values,
                     int64_t cols) {
  const char *descr = sizeof(T) == 8 ? "<f8" : "<f4";
  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': False, 'shape': (" +
                     std::to_string(values.size() / size_t(cols)) + ", " +
                     std::to_string(cols) + "), }";
  while ((10 + dict.size() + 1) % 64)
    dict += ' ';
  dict += '\n';
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += char(dict.size() & 0xFF);
  bytes += char(dict.size() >> 8);
  bytes += dict;
  bytes.append(reinterpret_cast<const char *>(values.data()),
               values.size() * sizeof(T));
  writeFile(path, bytes);
}

/// An f32 IDX file of shape [count, 1].
inline void writeIdx(const std::string &path,
                     const std::vector<float> &values) {
  std::string bytes = {0, 0, 0x0D, 2};
  auto be32 = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i)
      bytes += char(v >> (8 * i));
  };
  be32(uint32_t(values.size()));
  be32(1);
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    be32(bits);
  }
  writeFile(path, bytes);
}

/// A checkpoint's header and data section.
struct Checkpoint {
  nlohmann::json Header;
  std::string Data;

  explicit Checkpoint(const std::string &path) {
    std::string bytes = readFile(path);
    EXPECT_GE(bytes.size(), 8u) << path;
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
      n = n << 8 | uint8_t(bytes[size_t(i)]);
    Header = nlohmann::json::parse(bytes.substr(8, n));
    Data = bytes.substr(8 + n);
  }
  std::string meta(const char *key) const {
    return Header["__metadata__"][key].get<std::string>();
  }
  /// The raw bytes of tensor `name`.
  std::string bytes(const std::string &name) const {
    const auto &o = Header.at(name)["data_offsets"];
    return Data.substr(o[0].get<size_t>(),
                       o[1].get<size_t>() - o[0].get<size_t>());
  }
  /// The first value of an F32 or F64 tensor.
  double first(const std::string &name) const {
    std::string b = bytes(name);
    if (Header.at(name)["dtype"] == "F64") {
      double d;
      std::memcpy(&d, b.data(), 8);
      return d;
    }
    float f;
    std::memcpy(&f, b.data(), 4);
    return f;
  }
};

//===--- The model --------------------------------------------------------===//

inline const int64_t BatchBy1[] = {ADJ_RT_BATCH, 1};
inline const int64_t OneByOne[] = {1, 1};
inline const int64_t One[] = {1};

/// loss = mean((x w + b - y)^2) and its gradient.
template <typename T>
inline T lossAndGrad(int64_t n, void *const *args, T &dw, T &db) {
  auto *x = static_cast<const T *>(args[0]);
  auto *y = static_cast<const T *>(args[1]);
  T w = *static_cast<const T *>(args[2]), b = *static_cast<const T *>(args[3]);
  T loss = 0;
  dw = db = 0;
  for (int64_t i = 0; i < n; ++i) {
    T e = x[i] * w + b - y[i];
    loss += e * e / T(n);
    dw += 2 * e * x[i] / T(n);
    db += 2 * e / T(n);
  }
  return loss;
}

template <typename T> inline T arg(void *const *args, int i) {
  return *static_cast<const T *>(args[i]);
}
template <typename T> inline void set(void *const *results, int i, T v) {
  *static_cast<T *>(results[i]) = v;
}

/// SGD with momentum 0.9. args: x, y, w, b, opt.v.w, opt.v.b, lr;
/// results: loss, w, b, opt.v.w, opt.v.b.
template <typename T>
inline int32_t momentumStep(int64_t n, void *const *args,
                            void *const *results) {
  T dw, db;
  T loss = lossAndGrad<T>(n, args, dw, db);
  T vw = T(0.9) * arg<T>(args, 4) + dw, vb = T(0.9) * arg<T>(args, 5) + db;
  T lr = arg<T>(args, 6);
  set(results, 0, loss);
  set(results, 1, arg<T>(args, 2) - lr * vw);
  set(results, 2, arg<T>(args, 3) - lr * vb);
  set(results, 3, vw);
  set(results, 4, vb);
  return 0;
}

/// Adam. args: x, y, w, b, opt.m.w, opt.m.b, opt.v.w, opt.v.b, lr, step;
/// results: loss, w, b, opt.m.w, opt.m.b, opt.v.w, opt.v.b.
template <typename T>
inline int32_t adamStep(int64_t n, void *const *args, void *const *results) {
  T g[2];
  T loss = lossAndGrad<T>(n, args, g[0], g[1]);
  T lr = arg<T>(args, 8), t = arg<T>(args, 9);
  set(results, 0, loss);
  for (int k = 0; k < 2; ++k) {
    T m = T(0.9) * arg<T>(args, 4 + k) + T(0.1) * g[k];
    T v = T(0.999) * arg<T>(args, 6 + k) + T(0.001) * g[k] * g[k];
    T mhat = m / (1 - std::pow(T(0.9), t)),
      vhat = v / (1 - std::pow(T(0.999), t));
    set(results, 1 + k,
        arg<T>(args, 2 + k) - lr * mhat / (std::sqrt(vhat) + T(1e-8)));
    set(results, 3 + k, m);
    set(results, 5 + k, v);
  }
  return 0;
}

/// args: x, y, w, b; results: loss, mae.
template <typename T>
inline int32_t evalStep(int64_t n, void *const *args, void *const *results) {
  T dw, db, mae = 0;
  T loss = lossAndGrad<T>(n, args, dw, db);
  auto *x = static_cast<const T *>(args[0]);
  auto *y = static_cast<const T *>(args[1]);
  for (int64_t i = 0; i < n; ++i)
    mae += std::fabs(x[i] * arg<T>(args, 2) + arg<T>(args, 3) - y[i]) / T(n);
  set(results, 0, loss);
  set(results, 1, mae);
  return 0;
}

/// A model description with the storage its pointers refer to.
struct Model {
  std::vector<adj_rt_value_desc> TrainArgs, TrainResults, AdamArgs, AdamResults,
      EvalArgs, EvalResults;
  std::vector<adj_rt_function> OptimizerSteps;
  std::vector<adj_rt_param_desc> Params;
  std::vector<adj_rt_data_desc> Data;
  std::deque<std::string> Strings;
  adj_rt_model M{ADJ_RT_ABI_VERSION};

  const char *str(const std::string &s) {
    Strings.push_back(s);
    return Strings.back().c_str();
  }
  void addData(const char *split, const char *input, adj_rt_data_format f,
               const std::string &path, const char *columns = nullptr,
               int header = -1) {
    Data.push_back({split, input, f, str(path), 1, columns, header});
  }
  const adj_rt_model *model() {
    auto fn = [](adj_rt_function &f, std::vector<adj_rt_value_desc> &args,
                 std::vector<adj_rt_value_desc> &results) {
      f.args = args.data();
      f.num_args = int(args.size());
      f.results = results.data();
      f.num_results = int(results.size());
    };
    fn(M.train_step, TrainArgs, TrainResults);
    fn(M.eval_step, EvalArgs, EvalResults);
    OptimizerSteps.resize(1);
    OptimizerSteps[0].name = "adam";
    OptimizerSteps[0].fn = M.train_step.fn == momentumStep<double>
                               ? adamStep<double>
                               : adamStep<float>;
    fn(OptimizerSteps[0], AdamArgs, AdamResults);
    M.optimizer_steps = OptimizerSteps.data();
    M.num_optimizer_steps = 1;
    M.params = Params.data();
    M.num_params = int(Params.size());
    M.data = Data.data();
    M.num_data = int(Data.size());
    return &M;
  }
};

inline adj_rt_value_desc value(const char *name, adj_rt_role role,
                               adj_rt_dtype t, int rank, const int64_t *dims) {
  return {name, role, t, rank, dims, 0};
}

/// Samples of y = a x + c with x in [-1, 1), as NPY files x.npy, y.npy (and
/// their test split), `train` and `test` samples.
inline void writeLinearData(const TempDir &dir, const std::string &prefix,
                            int count, double a, double c, uint32_t seed,
                            bool f64) {
  std::vector<float> xs, ys;
  std::vector<double> xd, yd;
  for (int i = 0; i < count; ++i) {
    seed = seed * 1664525u + 1013904223u;
    double x = float(seed >> 8) / float(1 << 24) * 2 - 1;
    xs.push_back(float(x));
    ys.push_back(float(a * x + c));
    xd.push_back(x);
    yd.push_back(a * x + c);
  }
  if (f64) {
    writeNpy(dir.file(prefix + "x.npy"), xd, 1);
    writeNpy(dir.file(prefix + "y.npy"), yd, 1);
    return;
  }
  writeNpy(dir.file(prefix + "x.npy"), xs, 1);
  writeNpy(dir.file(prefix + "y.npy"), ys, 1);
}

/// Linear regression on y = 3x + 0.5 from NPY files: 64 train samples (8
/// steps of 8 per epoch), 32 test samples.
inline Model linearModel(const TempDir &dir, adj_rt_dtype t = ADJ_RT_F32) {
  Model b;
  auto in = [&](const char *n) {
    return value(n, ADJ_RT_ARG_INPUT, t, 2, BatchBy1);
  };
  auto w = [&](const char *n, adj_rt_role role) {
    return value(n, role, t, 2, OneByOne);
  };
  auto v = [&](const char *n, adj_rt_role role) {
    return value(n, role, t, 1, One);
  };
  auto scalar = [&](const char *n, adj_rt_role role) {
    return value(n, role, t, 0, nullptr);
  };
  const adj_rt_role P = ADJ_RT_ARG_PARAM, S = ADJ_RT_ARG_STATE,
                    H = ADJ_RT_ARG_HYPER, R = ADJ_RT_ARG_INPUT;
  b.TrainArgs = {in("x"),         in("y"),         w("w", P),      v("b", P),
                 w("opt.v.w", S), v("opt.v.b", S), scalar("lr", H)};
  b.TrainResults = {scalar("loss", R), w("w", R), v("b", R), w("opt.v.w", R),
                    v("opt.v.b", R)};
  b.AdamArgs = {in("x"),          in("y"),         w("w", P),
                v("b", P),        w("opt.m.w", S), v("opt.m.b", S),
                w("opt.v.w", S),  v("opt.v.b", S), scalar("lr", H),
                scalar("step", H)};
  b.AdamResults = {scalar("loss", R), w("w", R),       v("b", R),
                   w("opt.m.w", R),   v("opt.m.b", R), w("opt.v.w", R),
                   v("opt.v.b", R)};
  b.EvalArgs.assign(b.TrainArgs.begin(), b.TrainArgs.begin() + 4);
  b.EvalResults = {scalar("loss", R), scalar("mae", R)};
  b.Params = {{"w", 2, OneByOne, ADJ_RT_INIT_GLOROT_UNIFORM, 0, 0, 0},
              {"b", 1, One, ADJ_RT_INIT_ZEROS, 0, 0, 0}};
  bool f64 = t == ADJ_RT_F64;
  b.M.name = "linear";
  b.M.train_step.name = "train_step";
  b.M.train_step.fn = f64 ? momentumStep<double> : momentumStep<float>;
  b.M.eval_step.name = "eval_step";
  b.M.eval_step.fn = f64 ? evalStep<double> : evalStep<float>;
  b.M.optimizer = "sgd";
  b.M.lr = 0.05;
  b.M.batch = 8;
  b.M.epochs = 2;
  b.M.seed = 7;
  writeLinearData(dir, "train-", 64, 3, 0.5, 12345, f64);
  writeLinearData(dir, "test-", 32, 3, 0.5, 777, f64);
  for (const char *split : {"train", "test"})
    for (const char *input : {"x", "y"})
      b.addData(split, input, ADJ_RT_DATA_NPY,
                dir.file(std::string(split) + "-" + input + ".npy"));
  return b;
}

/// Runs adj_rt_trainer_main with `args`; returns its status, and its stdout
/// and stderr in `out` and `err`.
inline int runMain(const adj_rt_model *m, std::vector<std::string> args,
                   std::string *out = nullptr, std::string *err = nullptr) {
  args.insert(args.begin(), "/path/to/linear-trainer");
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(&a[0]);
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int status = adj_rt_trainer_main(m, int(args.size()), argv.data());
  std::string o = testing::internal::GetCapturedStdout();
  std::string e = testing::internal::GetCapturedStderr();
  if (out)
    *out = o;
  if (err)
    *err = e;
  return status;
}

/// Runs the trainer quietly with `args`, expecting success.
inline void train(const adj_rt_model *m, std::vector<std::string> args) {
  args.push_back("--quiet");
  std::string err;
  ASSERT_EQ(runMain(m, args, nullptr, &err), 0) << err;
}

/// Runs the trainer expecting failure; returns stderr.
inline std::string trainError(const adj_rt_model *m,
                              std::vector<std::string> args) {
  args.insert(args.begin(), "--quiet");
  std::string err;
  EXPECT_EQ(runMain(m, args, nullptr, &err), 1);
  return err;
}

inline nlohmann::json readJson(const std::string &path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

} // namespace adj::trainertest

#endif // ADJ_TESTS_TRAINERTESTMODEL_H
