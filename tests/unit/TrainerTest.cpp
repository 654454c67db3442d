//===- TrainerTest.cpp - Tests of the trainer: options, resume, data ------===//
///
/// \file
/// The trainer side of the runtime from the outside: adj_rt_trainer_main's
/// command line (every option of TrainerOptions.def, --help, bad values),
/// adj_rt_options_set, checkpoints written by --save and read by --load
/// (exact resume bit for bit, fine-tuning from parameters, another
/// optimizer's state, errors naming tensors), --optimizer, --freeze,
/// --eval-only, NPY and CSV data end to end and --data overrides, the CSV
/// log, the SVG plot and the live progress line on a terminal. The model is
/// linear regression with hand-written steps: SGD with momentum, so that
/// optimizer state matters, and Adam as the alternative optimizer.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <pty.h>
#include <regex>
#include <sstream>
#include <string>
#include <termios.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

//===--- Helpers ----------------------------------------------------------===//

using adj::test::TempDir;

using adj::test::readFile;

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// An .npy file of `count` rows of `cols` values of type T ('<f4', '<f8').
template <typename T>
void writeNpy(const std::string &path, const std::vector<T> &values,
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
void writeIdx(const std::string &path, const std::vector<float> &values) {
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

const int64_t BatchBy1[] = {ADJ_RT_BATCH, 1};
const int64_t OneByOne[] = {1, 1};
const int64_t One[] = {1};

/// loss = mean((x w + b - y)^2) and its gradient.
template <typename T>
T lossAndGrad(int64_t n, void *const *args, T &dw, T &db) {
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

template <typename T> T arg(void *const *args, int i) {
  return *static_cast<const T *>(args[i]);
}
template <typename T> void set(void *const *results, int i, T v) {
  *static_cast<T *>(results[i]) = v;
}

/// SGD with momentum 0.9. args: x, y, w, b, opt.v.w, opt.v.b, lr;
/// results: loss, w, b, opt.v.w, opt.v.b.
template <typename T>
int32_t momentumStep(int64_t n, void *const *args, void *const *results) {
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
int32_t adamStep(int64_t n, void *const *args, void *const *results) {
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
int32_t evalStep(int64_t n, void *const *args, void *const *results) {
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
  adj_rt_model M{};

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

adj_rt_value_desc value(const char *name, adj_rt_role role, adj_rt_dtype t,
                        int rank, const int64_t *dims) {
  return {name, role, t, rank, dims, 0};
}

/// Samples of y = a x + c with x in [-1, 1), as NPY files x.npy, y.npy (and
/// their test split), `train` and `test` samples.
void writeLinearData(const TempDir &dir, const std::string &prefix, int count,
                     double a, double c, uint32_t seed, bool f64) {
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
Model linearModel(const TempDir &dir, adj_rt_dtype t = ADJ_RT_F32) {
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
int runMain(const adj_rt_model *m, std::vector<std::string> args,
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
void train(const adj_rt_model *m, std::vector<std::string> args) {
  args.push_back("--quiet");
  std::string err;
  ASSERT_EQ(runMain(m, args, nullptr, &err), 0) << err;
}

/// Runs the trainer expecting failure; returns stderr.
std::string trainError(const adj_rt_model *m, std::vector<std::string> args) {
  args.insert(args.begin(), "--quiet");
  std::string err;
  EXPECT_EQ(runMain(m, args, nullptr, &err), 1);
  return err;
}

nlohmann::json readJson(const std::string &path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

//===--- Command line -----------------------------------------------------===//

struct DefOption {
  const char *Flag, *Kind, *Value, *Help;
};
const DefOption AllOptions[] = {
#define OPTION(Name, Flag, Kind, Field, Value, Help) {Flag, #Kind, Value, Help},
#include "runtime/TrainerOptions.def"
};

TEST(TrainerMain, HelpListsEveryOptionAndTheModelsDefaults) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string out;
  ASSERT_EQ(runMain(b.model(), {"--help"}, &out), 0);
  EXPECT_TRUE(contains(out, "Trains the model 'linear'")) << out;
  for (const DefOption &o : AllOptions) {
    std::string line = std::string("--") + o.Flag;
    if (*o.Value)
      line += std::string(" ") + o.Value;
    EXPECT_TRUE(contains(out, line)) << line << "\n" << out;
    EXPECT_TRUE(contains(out, o.Help)) << o.Help;
  }
  EXPECT_TRUE(contains(out, "[default: 8]")) << out; // batch
  EXPECT_TRUE(contains(out, "[default: 0.05]")) << out;
  EXPECT_TRUE(contains(out, "Optimizers: sgd, adam")) << out;
  EXPECT_TRUE(contains(out, "train.x = npy(")) << out;
  EXPECT_EQ(runMain(b.model(), {"-h"}, &out), 0);
}

TEST(TrainerMain, ReportsBadCommandLines) {
  TempDir dir;
  Model b = linearModel(dir);
  struct {
    std::vector<std::string> Args;
    const char *Message;
  } cases[] = {
      {{"--batch", "0"}, "--batch: 0 is not a positive integer"},
      {{"--epochs", "1.5"}, "--epochs: 1.5 is not a positive integer"},
      {{"--steps=-2"}, "--steps: -2 is not a positive integer"},
      {{"--seed", "-1"}, "--seed: -1 is not a non-negative integer"},
      {{"--lr", "abc"}, "--lr: abc is not a positive number"},
      {{"--lr", "inf"}, "--lr: inf is not a positive number"},
      {{"--threads", "0"}, "--threads: 0 is not a positive integer"},
      {{"--batch"}, "--batch: expects a value"},
      {{"--batch", "--epochs", "2"},
       "--batch: --epochs is not a positive "
       "integer"},
      {{"--save", ""}, "--save: expects a non-empty value"},
      {{"--bogus"}, "unknown option '--bogus' (see --help)"},
      {{"model.adj"}, "unexpected argument 'model.adj'"},
      {{"--data", "x.npy"}, "--data: 'x.npy' is not SPLIT.INPUT=PATH"},
      {{"--data", "valid.x=x.npy"},
       "--data: unknown split 'valid' in 'valid.x=x.npy' (expected train or "
       "test)"},
      {{"--data", "train.z=x.npy"}, "--data: the model has no input 'z'"},
      {{"--data", "train.x=x.bin"},
       "--data: cannot tell the format of 'x.bin' (expected a .npy, .csv, "
       ".idx, -ubyte or .gz file)"},
      {{"--freeze", "w,,b"}, "--freeze: empty name in 'w,,b'"},
      {{"--schedule", "foo"},
       "--schedule: unknown schedule 'foo'; expected constant, step or "
       "cosine"},
      {{"--schedule", "step:gamma=0.5"},
       "--schedule: 'step' needs step_size, e.g. "
       "step:step_size=100,gamma=0.5"},
      {{"--warmup", "-1"}, "--warmup: -1 is not a non-negative integer"},
      {{"--freeze", "w", "--freeze", "c"},
       "--freeze: the model has no parameter 'c'"},
      {{"--optimizer", "rmsprop"},
       "unknown optimizer 'rmsprop' (the model has: sgd, adam)"},
      {{"--eval-only", "--save", "c.safetensors"},
       "--save cannot be used with --eval-only, which does not train"},
  };
  for (const auto &c : cases) {
    std::string err = trainError(b.model(), c.Args);
    EXPECT_EQ(err, std::string("linear-trainer: error: ") + c.Message + "\n");
  }
  // A failure of training itself is reported the same way.
  fs::remove(dir.file("train-y.npy"));
  EXPECT_EQ(trainError(b.model(), {}),
            "linear-trainer: error: '" + dir.file("train-y.npy") +
                "': cannot open: No such file or directory\n");
}

TEST(TrainerMain, TrainsWithOptionsInEitherSyntax) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string report = dir.file("r.json"), out;
  ASSERT_EQ(runMain(b.model(),
                    {"--epochs=10", "--batch", "16", "--lr", "0.1", "--seed",
                     "3", "--threads", "4", "--no-shuffle", "--report", report},
                    &out),
            0);
  EXPECT_TRUE(std::regex_search(out, std::regex("^linear: 2 params \\(2 "
                                                "values\\), train 64, test "
                                                "32 samples\nepoch 1/10: ")))
      << out;
  nlohmann::json j = readJson(report);
  EXPECT_EQ(j["epochs"], 10);
  EXPECT_EQ(j["steps"], 40);
  EXPECT_LT(j["test_loss"].get<double>(), 0.1);
}

TEST(TrainerOptions, SetChecksAndStoresEveryOption) {
  // Every option of the table is accepted by adj_rt_options_set.
  for (const DefOption &d : AllOptions) {
    std::string kind = d.Kind;
    const char *sample = kind == "PosInt"     ? "3"
                         : kind == "UInt"     ? "0"
                         : kind == "PosFloat" ? "0.5"
                         : kind == "List"     ? "a,b"
                         : kind == "Map"      ? "train.x=a.npy"
                         : kind == "String"   ? "name"
                         : kind == "Schedule" ? "cosine:t_max=10"
                                              : nullptr;
    adj_rt_options o;
    adj_rt_options_init(&o);
    EXPECT_EQ(adj_rt_options_set(&o, d.Flag, sample), 0)
        << d.Flag << ": " << adj_rt_last_error();
    adj_rt_options_free(&o);
  }

  adj_rt_options o;
  adj_rt_options_init(&o);
  const char *mine[] = {"w"};
  o.freeze = mine; // set by the caller: kept, then appended to
  o.num_freeze = 1;
  std::string value = "b,c";
  ASSERT_EQ(adj_rt_options_set(&o, "freeze", value.c_str()), 0);
  value = "xxx"; // values are copied
  ASSERT_EQ(o.num_freeze, 3);
  EXPECT_STREQ(o.freeze[0], "w");
  EXPECT_STREQ(o.freeze[1], "b");
  EXPECT_STREQ(o.freeze[2], "c");
  ASSERT_EQ(adj_rt_options_set(&o, "data", "train.x=a=b.csv"), 0);
  ASSERT_EQ(adj_rt_options_set(&o, "data", "test.y=y.npy"), 0);
  ASSERT_EQ(o.num_data, 2);
  EXPECT_STREQ(o.data_keys[0], "train.x");
  EXPECT_STREQ(o.data_values[0], "a=b.csv");
  EXPECT_STREQ(o.data_keys[1], "test.y");
  EXPECT_STREQ(o.data_values[1], "y.npy");
  ASSERT_EQ(adj_rt_options_set(&o, "seed", "0"), 0);
  EXPECT_EQ(o.seed, 0);
  ASSERT_EQ(adj_rt_options_set(&o, "no-shuffle", nullptr), 0);
  EXPECT_EQ(o.shuffle, 0);
  ASSERT_EQ(adj_rt_options_set(&o, "lr", "1e-3"), 0);
  EXPECT_EQ(o.lr, 1e-3);
  EXPECT_EQ(adj_rt_options_set(&o, "batch", "99999999999999999999"), 1);
  EXPECT_STREQ(adj_rt_last_error(),
               "--batch: 99999999999999999999 is not a positive integer");
  EXPECT_EQ(adj_rt_options_set(&o, "nope", "1"), 1);
  EXPECT_STREQ(adj_rt_last_error(), "unknown trainer option '--nope'");
  adj_rt_options_free(&o);
  EXPECT_EQ(o.storage, nullptr);
}

//===--- Checkpoints and resuming -----------------------------------------===//

TEST(TrainerCheckpoint, WritesTheDesignsFormat) {
  for (adj_rt_dtype t : {ADJ_RT_F32, ADJ_RT_F64}) {
    TempDir dir;
    Model b = linearModel(dir, t);
    std::string ck = dir.file("ck.safetensors");
    train(b.model(), {"--epochs", "1", "--save", ck});
    Checkpoint c(ck);
    const char *dtype = t == ADJ_RT_F64 ? "F64" : "F32";
    EXPECT_EQ(c.Header["w"]["dtype"], dtype);
    EXPECT_EQ(c.Header["w"]["shape"], nlohmann::json({1, 1}));
    EXPECT_EQ(c.Header["b"]["shape"], nlohmann::json({1}));
    EXPECT_EQ(c.Header["opt.v.w"]["dtype"], dtype);
    EXPECT_EQ(c.Header["opt.v.b"]["shape"], nlohmann::json({1}));
    EXPECT_EQ(c.Header.size(), 5u); // 4 tensors and __metadata__
    EXPECT_EQ(c.meta("format"), "adjoint-1");
    EXPECT_EQ(c.meta("model"), "linear");
    EXPECT_EQ(c.meta("optimizer"), "sgd");
    EXPECT_EQ(c.meta("step"), "8");
    EXPECT_EQ(c.meta("epoch"), "1");
    EXPECT_EQ(c.meta("epoch_samples"), "0");
    EXPECT_TRUE(std::regex_match(c.meta("rng"), std::regex("[0-9a-f]{64}")));
    EXPECT_EQ(c.Data.size(), 4u * (t == ADJ_RT_F64 ? 8 : 4));
    // The header length is a multiple of 8, padded with spaces.
    std::string bytes = readFile(ck);
    EXPECT_EQ((bytes.size() - c.Data.size()) % 8, 0u);
    // No temporary file is left behind.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()),
                            fs::directory_iterator()),
              5);
  }
}

TEST(TrainerCheckpoint, ResumesBitForBit) {
  for (adj_rt_dtype t : {ADJ_RT_F32, ADJ_RT_F64}) {
    TempDir dir;
    Model b = linearModel(dir, t);
    std::string whole = dir.file("whole.safetensors"),
                half = dir.file("half.safetensors"),
                resumed = dir.file("resumed.safetensors");
    train(b.model(), {"--epochs", "2", "--save", whole});
    train(b.model(), {"--epochs", "1", "--save", half});
    // --epochs after --load counts the epochs on top.
    train(b.model(), {"--load", half, "--epochs", "1", "--save", resumed});
    Checkpoint w(whole), r(resumed), h(half);
    for (const char *tensor : {"w", "b", "opt.v.w", "opt.v.b"}) {
      EXPECT_EQ(w.bytes(tensor), r.bytes(tensor)) << tensor;
      EXPECT_NE(w.bytes(tensor), h.bytes(tensor)) << tensor;
    }
    EXPECT_EQ(readFile(whole), readFile(resumed));

    // Stopping inside an epoch with --steps resumes inside it too.
    std::string part = dir.file("part.safetensors");
    train(b.model(), {"--steps", "11", "--save", part});
    Checkpoint p(part);
    EXPECT_EQ(p.meta("step"), "11");
    EXPECT_EQ(p.meta("epoch"), "1");
    EXPECT_EQ(p.meta("epoch_samples"), "24");
    train(b.model(), {"--load", part, "--steps", "5", "--save", resumed});
    EXPECT_EQ(readFile(whole), readFile(resumed));
  }
}

TEST(TrainerCheckpoint, ResumedRunsCountEpochsAndStepsOnTop) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("ck.safetensors"), report = dir.file("r.json");
  train(b.model(), {"--epochs", "1", "--save", ck});
  std::string out;
  ASSERT_EQ(runMain(b.model(),
                    {"--load", ck, "--epochs", "2", "--report", report}, &out),
            0);
  EXPECT_TRUE(contains(out, "\nepoch 2/3: train_loss")) << out;
  EXPECT_TRUE(contains(out, "\nepoch 3/3: train_loss")) << out;
  EXPECT_FALSE(contains(out, "epoch 1/")) << out;
  nlohmann::json j = readJson(report);
  EXPECT_EQ(j["epochs"], 3);
  EXPECT_EQ(j["steps"], 24);
}

/// Writes a parameters-only checkpoint with w and b.
void writeParams(const std::string &path, float w, float b) {
  adj_rt_named_tensor t[] = {{"w", ADJ_RT_F32, 2, OneByOne, &w},
                             {"b", ADJ_RT_F32, 1, One, &b}};
  ASSERT_EQ(adj_rt_save_checkpoint(path.c_str(), 2, t, 0, nullptr), 0)
      << adj_rt_last_error();
}

TEST(TrainerCheckpoint, ParametersOnlyStartFreshAtStepZero) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string pre = dir.file("pre.safetensors"), report = dir.file("r.json");
  writeParams(pre, 3, 0.5f);
  // The exact solution: evaluating it gives a zero loss.
  train(b.model(), {"--load", pre, "--eval-only", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-10);
  EXPECT_EQ(readJson(report)["steps"], 0);

  std::string ck = dir.file("ck.safetensors");
  writeParams(pre, 1, 0);
  train(b.model(), {"--load", pre, "--epochs", "1", "--save", ck});
  Checkpoint c(ck);
  EXPECT_EQ(c.meta("step"), "8");
  EXPECT_EQ(c.meta("epoch"), "1");
  // Started from the loaded w = 1, not from the initialiser: the same run
  // from another loaded w ends elsewhere.
  writeParams(pre, 2, 0);
  std::string ck2 = dir.file("ck2.safetensors");
  train(b.model(), {"--load", pre, "--epochs", "1", "--save", ck2});
  EXPECT_NE(Checkpoint(ck2).first("w"), c.first("w"));
}

TEST(TrainerCheckpoint, IgnoresAnotherOptimizersStateWithANote) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("sgd.safetensors"),
              adam = dir.file("adam.safetensors");
  train(b.model(), {"--epochs", "1", "--save", ck});
  std::string err;
  ASSERT_EQ(runMain(b.model(),
                    {"--load", ck, "--optimizer", "adam", "--epochs", "1",
                     "--save", adam, "--quiet"},
                    nullptr, &err),
            0)
      << err;
  EXPECT_EQ(err, "note: '" + ck +
                     "': ignoring the optimizer state of sgd; training with "
                     "adam from fresh state at step 0\n");
  Checkpoint c(adam);
  EXPECT_EQ(c.meta("optimizer"), "adam");
  EXPECT_EQ(c.meta("step"), "8");
  EXPECT_EQ(c.Header.size(), 7u); // w, b, opt.{m,v}.{w,b}, __metadata__
  EXPECT_NE(c.Header.find("opt.m.w"), c.Header.end());
  EXPECT_EQ(c.Header.find("opt.v.w")->at("shape"), nlohmann::json({1, 1}));

  // Adam resumes from its own state bit for bit.
  std::string whole = dir.file("whole.safetensors"),
              half = dir.file("half.safetensors");
  train(b.model(), {"--optimizer", "adam", "--epochs", "2", "--save", whole});
  train(b.model(), {"--optimizer", "adam", "--epochs", "1", "--save", half});
  train(b.model(), {"--optimizer", "adam", "--load", half, "--epochs", "1",
                    "--save", adam});
  EXPECT_EQ(readFile(whole), readFile(adam));
}

TEST(TrainerCheckpoint, RejectsCheckpointsThatDoNotFitTheModel) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string ck = dir.file("ck.safetensors");
  std::string prefix = "linear-trainer: error: '" + ck + "': ";
  float two[2] = {1, 2}, one = 1;
  const int64_t twoDims[] = {1, 2};
  adj_rt_named_tensor w = {"w", ADJ_RT_F32, 2, OneByOne, &one},
                      wide = {"w", ADJ_RT_F32, 2, twoDims, two},
                      bias = {"b", ADJ_RT_F32, 1, One, &one},
                      extra = {"c", ADJ_RT_F32, 1, One, &one},
                      state = {"opt.v.w", ADJ_RT_F32, 2, OneByOne, &one};
  auto write = [&](std::vector<adj_rt_named_tensor> t,
                   std::vector<const char *> meta = {}) {
    ASSERT_EQ(adj_rt_save_checkpoint(ck.c_str(), int(t.size()), t.data(),
                                     int(meta.size() / 2), meta.data()),
              0);
  };
  write({wide, bias});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "tensor 'w' has shape [1, 2], the model expects [1, 1]\n");
  write({w});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "no tensor for parameter 'b'\n");
  write({w, bias, extra});
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "unknown tensor 'c' (neither a parameter of the model "
                     "nor state of its optimizer)\n");
  // A full checkpoint of the same optimizer must hold all of its state.
  std::vector<const char *> meta = {"format", "adjoint-1", "optimizer", "sgd",
                                    "step",   "8",         "epoch",     "1",
                                    "rng",    nullptr};
  std::string rng(64, 'a');
  meta.back() = rng.c_str();
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "no tensor for optimizer state 'opt.v.b'\n");
  meta[5] = "eight";
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "__metadata__ 'step' is not a non-negative integer: "
                     "'eight'\n");
  meta[5] = "8";
  meta.back() = "xyz";
  write({w, bias, state}, meta);
  EXPECT_EQ(trainError(b.model(), {"--load", ck}),
            prefix + "__metadata__ has no valid 'rng' state\n");
  // Evaluating needs the parameters only.
  write({w, bias, state}, meta);
  std::string err;
  EXPECT_EQ(runMain(b.model(), {"--load", ck, "--eval-only", "--quiet"},
                    nullptr, &err),
            0)
      << err;
  EXPECT_EQ(err, "");
}

//===--- Optimizers and freezing ------------------------------------------===//

TEST(TrainerOptimizer, PicksTheStepByName) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string sgd = dir.file("sgd.safetensors"),
              adam = dir.file("adam.safetensors");
  train(b.model(), {"--optimizer", "sgd", "--epochs", "1", "--save", sgd});
  train(b.model(), {"--optimizer", "adam", "--epochs", "1", "--save", adam});
  EXPECT_EQ(Checkpoint(sgd).Header.size(), 5u);
  EXPECT_EQ(Checkpoint(adam).Header.size(), 7u);
  EXPECT_NE(Checkpoint(sgd).first("w"), Checkpoint(adam).first("w"));
}

TEST(TrainerFreeze, KeepsParametersAndTheirState) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string pre = dir.file("pre.safetensors"),
              ck = dir.file("ck.safetensors");
  writeParams(pre, 0.25f, 0);
  train(b.model(), {"--load", pre, "--freeze", "w", "--save", ck});
  Checkpoint c(ck);
  EXPECT_EQ(c.first("w"), 0.25);
  EXPECT_EQ(c.first("opt.v.w"), 0.0);
  EXPECT_NE(c.first("b"), 0.0);
  EXPECT_NE(c.first("opt.v.b"), 0.0);

  train(b.model(), {"--load", pre, "--freeze", "w,b", "--save", ck});
  EXPECT_EQ(Checkpoint(ck).first("w"), 0.25);
  EXPECT_EQ(Checkpoint(ck).first("b"), 0.0);
}

//===--- Data -------------------------------------------------------------===//

TEST(TrainerData, TrainsOnNpyAndCsvEndToEnd) {
  TempDir dir;
  Model b = linearModel(dir); // NPY sources
  std::string report = dir.file("r.json");
  train(b.model(), {"--epochs", "30", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-4);

  // The same data as one CSV file per split with a header: x, y and an id.
  for (const char *split : {"train", "test"}) {
    std::string csv = "id,x,y\n";
    adj_rt_tensor x, y;
    std::string prefix = dir.file(std::string(split) + "-");
    ASSERT_EQ(adj_rt_load_npy((prefix + "x.npy").c_str(), ADJ_RT_F64, 1, &x),
              0);
    ASSERT_EQ(adj_rt_load_npy((prefix + "y.npy").c_str(), ADJ_RT_F64, 1, &y),
              0);
    for (int64_t i = 0; i < x.dims[0]; ++i) {
      char row[128];
      std::snprintf(row, sizeof row, "row%lld, %.9g, %.9g\n", (long long)i,
                    static_cast<double *>(x.data)[i],
                    static_cast<double *>(y.data)[i]);
      csv += row;
    }
    adj_rt_tensor_free(&x);
    adj_rt_tensor_free(&y);
    writeFile(prefix + "xy.csv", csv);
  }
  Model c = linearModel(dir);
  c.Data.clear();
  for (const char *split : {"train", "test"}) {
    std::string path = dir.file(std::string(split) + "-xy.csv");
    c.addData(split, "x", ADJ_RT_DATA_CSV, path, "x");
    c.addData(split, "y", ADJ_RT_DATA_CSV, path, "2", 1);
  }
  train(c.model(), {"--epochs", "30", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-4);
}

TEST(TrainerData, OverridesSourcesByFileName) {
  TempDir dir;
  Model b = linearModel(dir);
  // y = -2x + 1 in other formats: the model must learn w = -2.
  writeLinearData(dir, "other-", 64, -2, 1, 99, false);
  adj_rt_tensor x, y;
  ASSERT_EQ(adj_rt_load_npy(dir.file("other-x.npy").c_str(), ADJ_RT_F32, 1, &x),
            0);
  ASSERT_EQ(adj_rt_load_npy(dir.file("other-y.npy").c_str(), ADJ_RT_F32, 1, &y),
            0);
  auto *xs = static_cast<float *>(x.data), *ys = static_cast<float *>(y.data);
  writeIdx(dir.file("other-x.idx"), std::vector<float>(xs, xs + 64));
  std::string csv;
  for (int i = 0; i < 64; ++i)
    csv += std::to_string(ys[i]) + "\n";
  writeFile(dir.file("other-y.csv"), csv);
  adj_rt_tensor_free(&x);
  adj_rt_tensor_free(&y);

  std::string ck = dir.file("ck.safetensors");
  train(b.model(),
        {"--epochs", "40", "--data", "train.x=" + dir.file("other-x.idx"),
         "--data", "train.y=" + dir.file("other-y.csv"), "--save", ck});
  EXPECT_NEAR(Checkpoint(ck).first("w"), -2, 1e-2);
  EXPECT_NEAR(Checkpoint(ck).first("b"), 1, 1e-2);

  // An input without a source gets one; a missing file names itself.
  b.Data.resize(2); // no test split
  std::string report = dir.file("r.json");
  train(b.model(),
        {"--epochs", "1", "--data", "test.x=" + dir.file("test-x.npy"),
         "--data", "test.y=" + dir.file("test-y.npy"), "--report", report});
  EXPECT_TRUE(readJson(report)["test_loss"].is_number());
  EXPECT_EQ(trainError(b.model(), {"--data", "train.x=" + dir.file("no.npy")}),
            "linear-trainer: error: '" + dir.file("no.npy") +
                "': cannot open: No such file or directory\n");
}

//===--- Log, plot and progress -------------------------------------------===//

TEST(TrainerLog, WritesEveryStepAndEpochAsCsv) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string log = dir.file("log.csv"), plot = dir.file("plot.svg");
  train(b.model(), {"--epochs", "3", "--log", log, "--plot", plot});
  std::istringstream in(readFile(log));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "kind,epoch,step,loss,test_loss,mae,samples_per_sec");
  std::regex step("step,[1-3],([1-9]|1[0-9]|2[0-4]),[-+.e0-9]+,,,[.0-9]+");
  std::regex epoch("epoch,[1-3],(8|16|24),[-+.e0-9]+,[-+.e0-9]+,[-+.e0-9]+,"
                   "[.0-9]+");
  int steps = 0, epochs = 0;
  while (std::getline(in, line)) {
    if (std::regex_match(line, step))
      ++steps;
    else if (std::regex_match(line, epoch))
      ++epochs;
    else
      ADD_FAILURE() << line;
  }
  EXPECT_EQ(steps, 24);
  EXPECT_EQ(epochs, 3);

  std::string svg = readFile(plot);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_TRUE(contains(svg, "linear: loss per epoch"));
  EXPECT_TRUE(contains(svg, ">train loss</text>"));
  EXPECT_TRUE(contains(svg, ">test loss</text>"));
  EXPECT_TRUE(contains(svg, ">epoch</text>"));
  size_t polylines = 0;
  for (size_t at = 0; (at = svg.find("<polyline", at)) != std::string::npos;
       ++at)
    ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

/// Runs adj_rt_train with stdout on a pseudo-terminal; returns its output.
std::string trainOnTerminal(const adj_rt_model *m) {
  int master, slave;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0)
    return "openpty failed";
  struct termios raw;
  tcgetattr(slave, &raw);
  cfmakeraw(&raw);
  tcsetattr(slave, TCSANOW, &raw);
  std::fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(slave, STDOUT_FILENO);
  adj_rt_options o;
  adj_rt_options_init(&o);
  int status = adj_rt_train(m, &o);
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(slave);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0)
    out.append(buf, size_t(n));
  close(master);
  return status == 0 ? out : std::string("failed: ") + adj_rt_last_error();
}

TEST(TrainerProgress, RedrawsALineOnATerminal) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string out = trainOnTerminal(b.model());
  // The live line, erased before each epoch's line.
  EXPECT_TRUE(std::regex_search(
      out, std::regex("\r\033\\[Kepoch 1/2  step [1-8]/8  loss [0-9.]+  "
                      "[0-9,]+ samples/s  ETA [0-9]+:[0-9]{2}")))
      << out;
  EXPECT_TRUE(contains(out, "\r\033[Kepoch 1/2: train_loss ")) << out;
  EXPECT_TRUE(contains(out, "\r\033[Kepoch 2/2: train_loss ")) << out;

  // Not a terminal: the plain lines only.
  testing::internal::CaptureStdout();
  adj_rt_options o;
  adj_rt_options_init(&o);
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0);
  out = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(contains(out, "\r")) << out;
  EXPECT_TRUE(std::regex_match(
      out, std::regex("linear: .*\nepoch 1/2: .*\nepoch 2/2: .*\n")))
      << out;
}

} // namespace
