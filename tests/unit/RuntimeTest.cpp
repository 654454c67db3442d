//===- RuntimeTest.cpp - Tests of the runtime library ---------------------===//
///
/// \file
/// The runtime's C ABI tested from the outside: the IDX loader on files
/// written into a temporary directory (plain and gzipped, every element
/// type, malformed headers) and on the real MNIST subset (the NPY loader is
/// tested in RuntimeNpyTest.cpp, the CSV loader in RuntimeCsvTest.cpp); the
/// initialisers' determinism and statistics; and adj_rt_train end to end
/// with hand-written step functions (linear regression by SGD, a recorder
/// of the batches it is given) and its error messages.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

//===--- Helpers ----------------------------------------------------------===//

using adj::test::TempDir;
using adj::test::writeBytes;

void putBE(std::vector<uint8_t> &out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(uint8_t(v >> (8 * i)));
}

std::vector<uint8_t> idxHeader(uint8_t type,
                               const std::vector<uint32_t> &dims) {
  std::vector<uint8_t> out = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims)
    putBE(out, d, 4);
  return out;
}

/// An f32 IDX file (type 0x0D).
void writeIdxF32(const std::string &path, const std::vector<uint32_t> &dims,
                 const std::vector<float> &values, bool gz = false) {
  std::vector<uint8_t> bytes = idxHeader(0x0D, dims);
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    putBE(bytes, bits, 4);
  }
  writeBytes(path, bytes, gz);
}

void writeIdxU8(const std::string &path, const std::vector<uint32_t> &dims,
                const std::vector<uint8_t> &values, bool gz = false) {
  std::vector<uint8_t> bytes = idxHeader(0x08, dims);
  bytes.insert(bytes.end(), values.begin(), values.end());
  writeBytes(path, bytes, gz);
}

/// Loads `path` expecting failure; returns the message.
std::string idxError(const std::string &path, adj_rt_dtype dtype = ADJ_RT_F32,
                     double scale = 1) {
  adj_rt_tensor t;
  EXPECT_NE(adj_rt_load_idx(path.c_str(), dtype, scale, &t), 0);
  return adj_rt_last_error();
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

//===--- IDX loader -------------------------------------------------------===//

TEST(RuntimeIdx, LoadsPlainAndGzippedU8) {
  TempDir dir;
  for (bool gz : {false, true}) {
    std::string path = dir.file(gz ? "a.gz" : "a");
    writeIdxU8(path, {2, 3}, {0, 1, 2, 3, 4, 255}, gz);
    adj_rt_tensor t;
    ASSERT_EQ(adj_rt_load_idx(path.c_str(), ADJ_RT_F32, 0.5, &t), 0)
        << adj_rt_last_error();
    EXPECT_EQ(t.dtype, ADJ_RT_F32);
    ASSERT_EQ(t.rank, 2);
    EXPECT_EQ(t.dims[0], 2);
    EXPECT_EQ(t.dims[1], 3);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
    const float *f = static_cast<const float *>(t.data);
    EXPECT_EQ(std::vector<float>(f, f + 6),
              (std::vector<float>{0, 0.5, 1, 1.5, 2, 127.5}));
    adj_rt_tensor_free(&t);
    EXPECT_EQ(t.data, nullptr);

    ASSERT_EQ(adj_rt_load_idx(path.c_str(), ADJ_RT_I32, 1, &t), 0);
    const int32_t *i = static_cast<const int32_t *>(t.data);
    EXPECT_EQ(std::vector<int32_t>(i, i + 6),
              (std::vector<int32_t>{0, 1, 2, 3, 4, 255}));
    adj_rt_tensor_free(&t);
  }
}

TEST(RuntimeIdx, BytesScaledPastF32AreAnErrorAndBelowItLoad) {
  // The finiteness check is skipped only where no byte can overflow:
  // 255 * scale below FLT_MAX loads; above it, the byte that overflows is
  // named (and a byte that does not, in the same file, is not).
  TempDir dir;
  std::string path = dir.file("big");
  writeIdxU8(path, {3}, {1, 200, 255});
  double fits = double(FLT_MAX) / 256;
  adj_rt_tensor t;
  ASSERT_EQ(adj_rt_load_idx(path.c_str(), ADJ_RT_F32, fits, &t), 0)
      << adj_rt_last_error();
  const float *f = static_cast<const float *>(t.data);
  EXPECT_EQ(f[2], float(255 * fits));
  EXPECT_TRUE(std::isfinite(f[2]));
  adj_rt_tensor_free(&t);
  double over = double(FLT_MAX) / 220;
  std::string e = idxError(path, ADJ_RT_F32, over);
  EXPECT_TRUE(contains(e, "value 255 at index 2 overflows f32")) << e;
  ASSERT_EQ(adj_rt_load_idx(path.c_str(), ADJ_RT_F64, over, &t), 0)
      << adj_rt_last_error();
  adj_rt_tensor_free(&t);
}

TEST(RuntimeIdx, LoadsEveryElementTypeBigEndian) {
  TempDir dir;
  std::string path = dir.file("t");
  struct Case {
    uint8_t Type;
    int Bytes;
    std::vector<uint64_t> Raw;
    std::vector<double> Expected;
  };
  double f32 = 1.5, f64 = -2.25;
  uint32_t f32Bits;
  uint64_t f64Bits;
  float f32f = float(f32);
  std::memcpy(&f32Bits, &f32f, 4);
  std::memcpy(&f64Bits, &f64, 8);
  std::vector<Case> cases = {
      {0x09, 1, {0xFF, 0x05}, {-1, 5}},
      {0x0B, 2, {0xFFFE, 0x012C}, {-2, 300}},
      {0x0C, 4, {0xFFFFFFFF, 70000}, {-1, 70000}},
      {0x0D, 4, {f32Bits, 0}, {1.5, 0}},
      {0x0E, 8, {f64Bits, 0}, {-2.25, 0}},
  };
  for (const Case &c : cases) {
    std::vector<uint8_t> bytes = idxHeader(c.Type, {2});
    for (uint64_t v : c.Raw)
      putBE(bytes, v, c.Bytes);
    writeBytes(path, bytes, false);
    adj_rt_tensor t;
    ASSERT_EQ(adj_rt_load_idx(path.c_str(), ADJ_RT_F64, 2, &t), 0)
        << adj_rt_last_error();
    const double *d = static_cast<const double *>(t.data);
    EXPECT_EQ(d[0], 2 * c.Expected[0]) << int(c.Type);
    EXPECT_EQ(d[1], 2 * c.Expected[1]) << int(c.Type);
    adj_rt_tensor_free(&t);
  }
}

TEST(RuntimeIdx, LoadsRealMnist) {
  std::string dir = ADJ_SOURCE_DIR "/data/mnist-10k/";
  adj_rt_tensor labels, images;
  ASSERT_EQ(adj_rt_load_idx((dir + "train-labels-idx1-ubyte.gz").c_str(),
                            ADJ_RT_I32, 1, &labels),
            0)
      << adj_rt_last_error();
  ASSERT_EQ(labels.rank, 1);
  ASSERT_EQ(labels.dims[0], 8000);
  const int32_t *l = static_cast<const int32_t *>(labels.data);
  std::set<int32_t> seen(l, l + 8000);
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  adj_rt_tensor_free(&labels);

  ASSERT_EQ(adj_rt_load_idx((dir + "train-images-idx3-ubyte.gz").c_str(),
                            ADJ_RT_F32, 1 / 255.0, &images),
            0)
      << adj_rt_last_error();
  ASSERT_EQ(images.rank, 3);
  EXPECT_EQ(images.dims[0], 8000);
  EXPECT_EQ(images.dims[1], 28);
  EXPECT_EQ(images.dims[2], 28);
  const float *p = static_cast<const float *>(images.data);
  auto [lo, hi] = std::minmax_element(p, p + 8000 * 784);
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_FLOAT_EQ(*hi, 1.0f);
  adj_rt_tensor_free(&images);
}

TEST(RuntimeIdx, ReportsMalformedFiles) {
  TempDir dir;
  std::string path = dir.file("bad.idx");
  for (bool gz : {false, true}) {
    std::vector<uint8_t> bytes = idxHeader(0x08, {10});
    bytes.insert(bytes.end(), 5, 7);
    writeBytes(path, bytes, gz);
    EXPECT_EQ(idxError(path), "'" + path +
                                  "': truncated: expected 10 bytes of data, "
                                  "got 5");
  }

  writeBytes(path, {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 0}, false);
  std::string e = idxError(path);
  EXPECT_TRUE(contains(e, "'" + path + "': not an IDX file")) << e;
  EXPECT_TRUE(contains(e, "bad magic")) << e;

  writeBytes(path, {0, 0, 0x08}, false);
  EXPECT_TRUE(contains(idxError(path), "'" + path + "'"));

  writeBytes(path, idxHeader(0x08, std::vector<uint32_t>(9, 1)), false);
  EXPECT_TRUE(contains(idxError(path), "too many dimensions"));

  // A header promising 2^128 elements fails without allocating them.
  writeBytes(path,
             idxHeader(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}),
             false);
  EXPECT_TRUE(contains(idxError(path), "too large"));
  writeBytes(path, idxHeader(0x08, {1u << 30}), false);
  EXPECT_TRUE(contains(idxError(path), "truncated"));

  writeIdxU8(path, {2}, {1, 2, 3});
  EXPECT_TRUE(contains(idxError(path), "trailing data"));

  writeIdxU8(path, {2}, {1, 2});
  EXPECT_TRUE(contains(idxError(path, ADJ_RT_I32, 0.5), "cannot scale"));
  writeIdxF32(path, {2}, {1, 2});
  EXPECT_TRUE(contains(idxError(path, ADJ_RT_I32), "floating-point"));

  std::string missing = dir.file("missing.idx");
  EXPECT_EQ(idxError(missing),
            "'" + missing + "': cannot open: No such file or directory");
}

//===--- Initialisers -----------------------------------------------------===//

std::vector<float> initF32(adj_rt_init init, int64_t count, uint64_t seed,
                           int64_t fanIn, int64_t fanOut, double a = 0,
                           double b = 0) {
  std::vector<float> v(size_t(count), -99.f);
  adj_rt_init_fill(v.data(), 0, count, init, a, b, fanIn, fanOut, seed);
  return v;
}

void moments(const std::vector<float> &v, double &mean, double &std) {
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += double(x) * x;
  }
  mean = s / double(v.size());
  std = std::sqrt(s2 / double(v.size()) - mean * mean);
}

TEST(RuntimeInit, IsDeterministicPerSeed) {
  auto a = initF32(ADJ_RT_INIT_HE_NORMAL, 1000, 42, 100, 10);
  EXPECT_EQ(a, initF32(ADJ_RT_INIT_HE_NORMAL, 1000, 42, 100, 10));
  EXPECT_NE(a, initF32(ADJ_RT_INIT_HE_NORMAL, 1000, 43, 100, 10));
  auto u = initF32(ADJ_RT_INIT_UNIFORM, 1000, 1, 1, 1, 0, 1);
  EXPECT_NE(u, initF32(ADJ_RT_INIT_UNIFORM, 1000, 2, 1, 1, 0, 1));
}

TEST(RuntimeInit, MatchesPyTorchFormulas) {
  double mean, std;
  moments(initF32(ADJ_RT_INIT_HE_NORMAL, 256 * 256, 7, 256, 256), mean, std);
  EXPECT_NEAR(mean, 0, 0.002);
  EXPECT_NEAR(std / std::sqrt(2.0 / 256), 1, 0.03);

  moments(initF32(ADJ_RT_INIT_GLOROT_NORMAL, 256 * 256, 7, 300, 100), mean,
          std);
  EXPECT_NEAR(std / std::sqrt(2.0 / 400), 1, 0.03);

  moments(initF32(ADJ_RT_INIT_NORMAL, 100000, 3, 1, 1, 5, 2), mean, std);
  EXPECT_NEAR(mean, 5, 0.03);
  EXPECT_NEAR(std, 2, 0.03);

  struct {
    adj_rt_init Init;
    double Bound;
  } uniforms[] = {{ADJ_RT_INIT_GLOROT_UNIFORM, std::sqrt(6.0 / (784 + 256))},
                  {ADJ_RT_INIT_HE_UNIFORM, std::sqrt(6.0 / 784)}};
  for (const auto &u : uniforms) {
    auto v = initF32(u.Init, 784 * 256, 11, 784, 256);
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    EXPECT_GE(*lo, -u.Bound);
    EXPECT_LE(*hi, u.Bound);
    EXPECT_LT(*lo, -0.99 * u.Bound);
    EXPECT_GT(*hi, 0.99 * u.Bound);
  }
  auto v = initF32(ADJ_RT_INIT_UNIFORM, 10000, 5, 1, 1, 2, 3);
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_GE(*lo, 2.f);
  EXPECT_LE(*hi, 3.f);

  EXPECT_EQ(initF32(ADJ_RT_INIT_ZEROS, 3, 1, 1, 1),
            (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(initF32(ADJ_RT_INIT_ONES, 2, 1, 1, 1), (std::vector<float>{1, 1}));
  EXPECT_EQ(initF32(ADJ_RT_INIT_CONSTANT, 2, 1, 1, 1, 0.25),
            (std::vector<float>{0.25, 0.25}));

  std::vector<double> d(1000);
  adj_rt_init_fill(d.data(), 1, 1000, ADJ_RT_INIT_HE_UNIFORM, 0, 0, 6, 1, 9);
  EXPECT_LE(*std::max_element(d.begin(), d.end()), 1.0);
  EXPECT_GT(*std::max_element(d.begin(), d.end()), 0.9);
}

TEST(RuntimeInit, ComputesFans) {
  auto fans = [](std::vector<int64_t> dims) {
    int64_t in, out;
    adj_rt_fans(int(dims.size()), dims.data(), &in, &out);
    return std::make_pair(in, out);
  };
  EXPECT_EQ(fans({784, 256}), std::make_pair(int64_t(784), int64_t(256)));
  EXPECT_EQ(fans({10}), std::make_pair(int64_t(10), int64_t(10)));
  EXPECT_EQ(fans({}), std::make_pair(int64_t(1), int64_t(1)));
  // [in, kh, kw, out]: fan_in = in*kh*kw, fan_out = out*kh*kw.
  EXPECT_EQ(fans({3, 5, 5, 16}), std::make_pair(int64_t(75), int64_t(400)));
}

//===--- Training ---------------------------------------------------------===//

const int64_t BatchBy1[] = {ADJ_RT_BATCH, 1};
const int64_t Batch[] = {ADJ_RT_BATCH};
const int64_t OneByOne[] = {1, 1};
const int64_t One[] = {1};

adj_rt_value_desc value(const char *name, adj_rt_role role, adj_rt_dtype t,
                        int rank, const int64_t *dims) {
  return {name, role, t, rank, dims, 0};
}

/// Linear regression pred = x @ w + b, loss = mean((pred - y)^2), one SGD
/// step with the gradient worked out by hand.
/// args: x, y, w, b, lr; results: loss, w, b.
template <typename T>
int32_t linearTrain(int64_t n, void *const *args, void *const *results) {
  auto *x = static_cast<const T *>(args[0]);
  auto *y = static_cast<const T *>(args[1]);
  T w = *static_cast<const T *>(args[2]), b = *static_cast<const T *>(args[3]);
  T lr = *static_cast<const T *>(args[4]);
  T loss = 0, dw = 0, db = 0;
  for (int64_t i = 0; i < n; ++i) {
    T e = x[i] * w + b - y[i];
    loss += e * e / T(n);
    dw += 2 * e * x[i] / T(n);
    db += 2 * e / T(n);
  }
  *static_cast<T *>(results[0]) = loss;
  *static_cast<T *>(results[1]) = w - lr * dw;
  *static_cast<T *>(results[2]) = b - lr * db;
  return 0;
}

/// args: x, y, w, b; results: loss, mae.
template <typename T>
int32_t linearEval(int64_t n, void *const *args, void *const *results) {
  auto *x = static_cast<const T *>(args[0]);
  auto *y = static_cast<const T *>(args[1]);
  T w = *static_cast<const T *>(args[2]), b = *static_cast<const T *>(args[3]);
  T loss = 0, mae = 0;
  for (int64_t i = 0; i < n; ++i) {
    T e = x[i] * w + b - y[i];
    loss += e * e / T(n);
    mae += std::fabs(e) / T(n);
  }
  *static_cast<T *>(results[0]) = loss;
  *static_cast<T *>(results[1]) = mae;
  return 0;
}

/// A model description with the storage its pointers refer to.
struct ModelBuilder {
  std::vector<adj_rt_value_desc> TrainArgs, TrainResults, EvalArgs, EvalResults;
  std::vector<adj_rt_param_desc> Params;
  std::vector<adj_rt_data_desc> Data;
  std::vector<adj_rt_label_desc> Labels;
  std::deque<std::string> Strings;
  adj_rt_model M{ADJ_RT_ABI_VERSION};

  void addData(const char *split, const char *input, const std::string &path) {
    Strings.push_back(path);
    Data.push_back({split, input, ADJ_RT_DATA_IDX, Strings.back().c_str(), 1,
                    nullptr, -1});
  }
  const adj_rt_model *model() {
    M.train_step.name = "train_step";
    M.eval_step.name = "eval_step";
    M.train_step.args = TrainArgs.data();
    M.train_step.num_args = int(TrainArgs.size());
    M.train_step.results = TrainResults.data();
    M.train_step.num_results = int(TrainResults.size());
    M.eval_step.args = EvalArgs.data();
    M.eval_step.num_args = int(EvalArgs.size());
    M.eval_step.results = EvalResults.data();
    M.eval_step.num_results = int(EvalResults.size());
    M.params = Params.data();
    M.num_params = int(Params.size());
    M.data = Data.data();
    M.num_data = int(Data.size());
    M.labels = Labels.data();
    M.num_labels = int(Labels.size());
    return &M;
  }
};

/// y = 3x + 0.5 on x in [-1, 1): `train` and `test` samples in f32 IDX files.
ModelBuilder linearModel(const TempDir &dir, adj_rt_dtype t, int train,
                         int test) {
  ModelBuilder b;
  b.TrainArgs = {value("x", ADJ_RT_ARG_INPUT, t, 2, BatchBy1),
                 value("y", ADJ_RT_ARG_INPUT, t, 2, BatchBy1),
                 value("w", ADJ_RT_ARG_PARAM, t, 2, OneByOne),
                 value("b", ADJ_RT_ARG_PARAM, t, 1, One),
                 value("lr", ADJ_RT_ARG_HYPER, t, 0, nullptr)};
  b.TrainResults = {value("loss", ADJ_RT_ARG_INPUT, t, 0, nullptr),
                    value("w", ADJ_RT_ARG_INPUT, t, 2, OneByOne),
                    value("b", ADJ_RT_ARG_INPUT, t, 1, One)};
  b.EvalArgs.assign(b.TrainArgs.begin(), b.TrainArgs.begin() + 4);
  b.EvalResults = {value("loss", ADJ_RT_ARG_INPUT, t, 0, nullptr),
                   value("mae", ADJ_RT_ARG_INPUT, t, 0, nullptr)};
  b.Params = {{"w", 2, OneByOne, ADJ_RT_INIT_GLOROT_UNIFORM, 0, 0, 0},
              {"b", 1, One, ADJ_RT_INIT_ZEROS, 0, 0, 0}};
  bool f64 = t == ADJ_RT_F64;
  b.M.name = "linear";
  b.M.train_step.fn = f64 ? linearTrain<double> : linearTrain<float>;
  b.M.eval_step.fn = f64 ? linearEval<double> : linearEval<float>;
  b.M.optimizer = "sgd";
  b.M.lr = 0.1;
  b.M.batch = 8;
  b.M.epochs = 20;
  b.M.seed = 1;
  uint32_t state = 12345;
  for (const char *split : {"train", "test"}) {
    int count = split[1] == 'r' ? train : test;
    if (!count)
      continue;
    std::vector<float> xs, ys;
    for (int i = 0; i < count; ++i) {
      state = state * 1664525u + 1013904223u;
      xs.push_back(float(state >> 8) / float(1 << 24) * 2 - 1);
      ys.push_back(3 * xs.back() + 0.5f);
    }
    std::string x = dir.file(std::string(split) + "-x.idx");
    std::string y = dir.file(std::string(split) + "-y.idx.gz");
    writeIdxF32(x, {uint32_t(count), 1}, xs);
    writeIdxF32(y, {uint32_t(count), 1}, ys, /*gz=*/true);
    b.addData(split, "x", x);
    b.addData(split, "y", y);
  }
  return b;
}

nlohmann::json readJson(const std::string &path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(RuntimeTrain, FitsLinearRegression) {
  for (adj_rt_dtype t : {ADJ_RT_F32, ADJ_RT_F64}) {
    TempDir dir;
    ModelBuilder b = linearModel(dir, t, 64, 32);
    adj_rt_options o;
    adj_rt_options_init(&o);
    o.quiet = 1;
    o.compile_seconds = 1.5;
    std::string report = dir.file("report.json");
    o.report_path = report.c_str();
    ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
    nlohmann::json j = readJson(report);
    EXPECT_EQ(j["epochs"], 20);
    EXPECT_EQ(j["steps"], 20 * 8);
    EXPECT_LT(j["train_loss"].get<double>(), 1e-4);
    EXPECT_LT(j["test_loss"].get<double>(), 1e-4);
    EXPECT_LT(j["metrics"]["mae"].get<double>(), 1e-2);
    EXPECT_GT(j["samples_per_sec"].get<double>(), 0);
    EXPECT_EQ(j["compile_seconds"], 1.5);
    EXPECT_GE(j["wall_seconds"].get<double>(), 1.5);
    EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 0);
    EXPECT_EQ(j["ranks"], 1); // a single process
    EXPECT_EQ(j["interrupted"], false);
    // The first step of this process (in an earlier test, or this one).
    EXPECT_GT(j["time_to_first_step"].get<double>(), 0);
    EXPECT_EQ(j["time_to_first_step"].get<double>(),
              adj_rt_time_to_first_step());
    EXPECT_EQ(j.size(), 12u);

    // One epoch leaves a higher loss: training made progress.
    o.epochs = 1;
    ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
    EXPECT_GT(readJson(report)["train_loss"].get<double>(), 1e-2);
  }
}

TEST(RuntimeTrain, PrintsProgressAndHandlesMissingTestData) {
  TempDir dir;
  ModelBuilder b = linearModel(dir, ADJ_RT_F32, 64, 32);
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.epochs = 2;
  testing::internal::CaptureStdout();
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  std::string out = testing::internal::GetCapturedStdout();
  std::regex expected(
      "linear: 2 params \\(2 values\\), train 64, test 32 samples\n"
      "  train x: '.*/train-x.idx' f32\\[64, 1\\], scale 1\n"
      "  train y: '.*/train-y.idx.gz' f32\\[64, 1\\], scale 1\n"
      "  test x: '.*/test-x.idx' f32\\[32, 1\\], scale 1\n"
      "  test y: '.*/test-y.idx.gz' f32\\[32, 1\\], scale 1\n"
      "epoch 1/2: train_loss [0-9.]+  test_loss [0-9.]+  mae [0-9.]+  "
      "\\([0-9,]+ samples/s\\)\n"
      "epoch 2/2: .*\n");
  EXPECT_TRUE(std::regex_match(out, expected)) << out;

  o.eval_only = 1;
  testing::internal::CaptureStdout();
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  out = testing::internal::GetCapturedStdout();
  EXPECT_TRUE(std::regex_match(
      out, std::regex("linear: 2 params \\(2 values\\), test 32 samples\n"
                      "  test x: .*\n  test y: .*\n"
                      "eval: test_loss [0-9.]+  mae [0-9.]+\n")))
      << out;

  ModelBuilder noTest = linearModel(dir, ADJ_RT_F32, 64, 0);
  adj_rt_options_init(&o);
  o.quiet = 1;
  std::string report = dir.file("r.json");
  o.report_path = report.c_str();
  ASSERT_EQ(adj_rt_train(noTest.model(), &o), 0) << adj_rt_last_error();
  nlohmann::json j = readJson(report);
  EXPECT_TRUE(j["test_loss"].is_null());
  EXPECT_TRUE(j["metrics"].empty());
  EXPECT_TRUE(j["train_loss"].is_number());

  o.eval_only = 1;
  EXPECT_EQ(adj_rt_train(noTest.model(), &o), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()), "no test data to evaluate");
}

/// What recordStep saw.
struct Recording {
  std::vector<int64_t> Ns;
  std::vector<float> Xs, Steps, Momenta;
  int NanAt = 0, FailAt = 0;
} Rec;

/// args: x f32[N,1], y i32[N], w f32[1], opt.m.w f32[1], lr, step;
/// results: loss, opt.m.w (incremented, to observe state and its updates).
int32_t recordStep(int64_t n, void *const *args, void *const *results) {
  Rec.Ns.push_back(n);
  auto *x = static_cast<const float *>(args[0]);
  Rec.Xs.insert(Rec.Xs.end(), x, x + n);
  float m = *static_cast<const float *>(args[3]);
  Rec.Momenta.push_back(m);
  Rec.Steps.push_back(*static_cast<const float *>(args[5]));
  *static_cast<float *>(results[1]) = m + 1;
  bool nan = int(Rec.Ns.size()) == Rec.NanAt;
  *static_cast<float *>(results[0]) = nan ? NAN : 0.5f;
  return int(Rec.Ns.size()) == Rec.FailAt;
}

/// The recorder on x = 0..samples-1, labels = x % 10.
ModelBuilder recorderModel(const TempDir &dir, int samples) {
  Rec = Recording();
  ModelBuilder b;
  b.TrainArgs = {value("x", ADJ_RT_ARG_INPUT, ADJ_RT_F32, 2, BatchBy1),
                 value("y", ADJ_RT_ARG_INPUT, ADJ_RT_I32, 1, Batch),
                 value("w", ADJ_RT_ARG_PARAM, ADJ_RT_F32, 1, One),
                 value("opt.m.w", ADJ_RT_ARG_STATE, ADJ_RT_F32, 1, One),
                 value("lr", ADJ_RT_ARG_HYPER, ADJ_RT_F32, 0, nullptr),
                 value("step", ADJ_RT_ARG_HYPER, ADJ_RT_F32, 0, nullptr)};
  b.TrainResults = {value("loss", ADJ_RT_ARG_INPUT, ADJ_RT_F32, 0, nullptr),
                    value("opt.m.w", ADJ_RT_ARG_INPUT, ADJ_RT_F32, 1, One)};
  b.Params = {{"w", 1, One, ADJ_RT_INIT_ZEROS, 0, 0, 0}};
  b.Labels = {{"y", 10, "m.adj:20:6"}};
  b.M.name = "recorder";
  b.M.train_step.fn = recordStep;
  b.M.lr = 0.1;
  b.M.batch = 4;
  b.M.epochs = 1;
  std::vector<float> xs;
  std::vector<uint8_t> ys;
  for (int i = 0; i < samples; ++i) {
    xs.push_back(float(i));
    ys.push_back(uint8_t(i % 10));
  }
  writeIdxF32(dir.file("x.idx"), {uint32_t(samples), 1}, xs);
  writeIdxU8(dir.file("y.idx"), {uint32_t(samples)}, ys);
  b.addData("train", "x", dir.file("x.idx"));
  b.addData("train", "y", dir.file("y.idx"));
  return b;
}

std::vector<float> iota(int n, int from = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), float(from));
  return v;
}

TEST(RuntimeTrain, SkipsNonFiniteStepsWithoutTouchingTheState) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  Rec.NanAt = 2;
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = 1;
  o.shuffle = 0;
  ASSERT_EQ(adj_rt_options_set(&o, "on-nonfinite", "skip"), 0);
  std::string report = dir.file("r.json");
  o.report_path = report.c_str();
  testing::internal::CaptureStderr();
  int status = adj_rt_train(b.model(), &o);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_EQ(status, 0) << adj_rt_last_error();
  EXPECT_EQ(err, "warning: step 2 (epoch 1): loss is nan; the update is "
                 "skipped (1 skipped)\n");
  EXPECT_EQ(Rec.Ns, (std::vector<int64_t>{4, 4, 2}));
  // Step 2 is not applied: the optimizer state keeps step 1's value and the
  // optimizer's step count does not advance.
  EXPECT_EQ(Rec.Momenta, (std::vector<float>{0, 1, 1}));
  EXPECT_EQ(Rec.Steps, (std::vector<float>{1, 2, 2}));
  nlohmann::json r = readJson(report);
  EXPECT_EQ(r["skipped_steps"], 1);
  EXPECT_EQ(r["steps"], 2);
  adj_rt_options_free(&o);
}

TEST(RuntimeTrain, UsesThePartialLastBatch) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = 1;
  o.shuffle = 0;
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  EXPECT_EQ(Rec.Ns, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(Rec.Xs, iota(10));
  EXPECT_EQ(Rec.Steps, iota(3, 1));   // 1-based optimizer step
  EXPECT_EQ(Rec.Momenta, iota(3, 0)); // zeroed, then each step's update

  // Shuffled: every epoch sees each sample once, in a different order.
  b = recorderModel(dir, 10);
  o.shuffle = 1;
  o.epochs = 2;
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  ASSERT_EQ(Rec.Xs.size(), 20u);
  std::vector<float> first(Rec.Xs.begin(), Rec.Xs.begin() + 10);
  std::vector<float> second(Rec.Xs.begin() + 10, Rec.Xs.end());
  EXPECT_NE(first, second);
  EXPECT_NE(first, iota(10));
  std::sort(first.begin(), first.end());
  std::sort(second.begin(), second.end());
  EXPECT_EQ(first, iota(10));
  EXPECT_EQ(second, iota(10));
}

TEST(RuntimeTrain, StopsAfterSteps) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = 1;
  o.epochs = 10;
  o.steps = 5;
  std::string report = dir.file("r.json");
  o.report_path = report.c_str();
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  EXPECT_EQ(Rec.Ns.size(), 5u);
  EXPECT_EQ(readJson(report)["steps"], 5);
  EXPECT_EQ(readJson(report)["epochs"], 2);

  // --steps alone runs as many epochs as needed.
  b = recorderModel(dir, 10);
  o.epochs = 0;
  o.steps = 7;
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
  EXPECT_EQ(Rec.Ns.size(), 7u);
}

TEST(RuntimeTrain, RejectsInvalidOptions) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  struct {
    void (*Set)(adj_rt_options &);
    const char *Message;
  } cases[] = {
      {[](adj_rt_options &o) { o.batch = -1; },
       "batch size must be at least 1 (got -1)"},
      {[](adj_rt_options &o) { o.epochs = -2; },
       "epochs must be at least 0 (got -2)"},
      {[](adj_rt_options &o) { o.steps = -1; },
       "steps must be at least 0 (got -1)"},
      {[](adj_rt_options &o) { o.lr = NAN; },
       "learning rate must be positive (got nan)"},
      {[](adj_rt_options &o) { o.seed = -5; },
       "seed must be at least 0 (got -5)"},
  };
  for (const auto &c : cases) {
    adj_rt_options o;
    adj_rt_options_init(&o);
    o.quiet = 1;
    c.Set(o);
    EXPECT_EQ(adj_rt_train(b.model(), &o), 1);
    EXPECT_EQ(std::string(adj_rt_last_error()), c.Message);
  }
  EXPECT_TRUE(Rec.Ns.empty());
  b.M.batch = 0;
  EXPECT_EQ(adj_rt_train(&b.M, nullptr), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "batch size must be at least 1 (got 0)");
}

/// Trains the recorder quietly and returns the error message.
std::string trainError(ModelBuilder &b) {
  adj_rt_options o;
  adj_rt_options_init(&o);
  o.quiet = 1;
  EXPECT_EQ(adj_rt_train(b.model(), &o), 1);
  return adj_rt_last_error();
}

TEST(RuntimeTrain, ReportsDataErrors) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  std::vector<uint8_t> labels(10, 1);
  labels[5] = 12;
  std::string y = dir.file("y.idx");
  writeIdxU8(y, {10}, labels);
  EXPECT_EQ(trainError(b), "'" + y +
                               "': label 12 at index 5 is out of range for "
                               "10 classes (used at m.adj:20:6)");

  writeIdxU8(y, {9}, std::vector<uint8_t>(9, 1));
  EXPECT_EQ(trainError(b),
            "'" + y + "' has 9 samples but '" + dir.file("x.idx") + "' has 10");

  std::string x = dir.file("x.idx");
  writeIdxF32(x, {10, 3}, std::vector<float>(30));
  EXPECT_EQ(trainError(b),
            "'" + x + "': 3 values per sample, but input 'x' expects 1");

  fs::remove(x);
  EXPECT_EQ(trainError(b),
            "'" + x + "': cannot open: No such file or directory");

  b.Data.clear();
  EXPECT_EQ(trainError(b), "no training data for input 'x'");

  b = recorderModel(dir, 10);
  const int64_t noBatch[] = {10, 1};
  b.TrainArgs[0].dims = noBatch;
  EXPECT_EQ(trainError(b),
            "input 'x' has no batch dimension as its first dimension");
}

TEST(RuntimeTrain, ReportsBadSteps) {
  TempDir dir;
  ModelBuilder b = recorderModel(dir, 10);
  Rec.NanAt = 3;
  // The recorder's nan depends on its call count, so the replay that
  // looks for the first non-finite step cannot reproduce it.
  EXPECT_EQ(trainError(b),
            "step 3 (epoch 1) is not finite\nnote: replaying the steps since "
            "the last snapshot did not reproduce it (a step function that is "
            "not deterministic)");

  b = recorderModel(dir, 10);
  Rec.FailAt = 2;
  EXPECT_EQ(trainError(b), "invalid data in batch at step 2");

  b = recorderModel(dir, 10);
  b.TrainArgs[4].name = "momentum";
  EXPECT_EQ(trainError(b), "internal error: train_step argument 'momentum' "
                           "is an unknown hyperparameter");
}

TEST(RuntimeTrain, IsDeterministicPerSeed) {
  TempDir dir;
  ModelBuilder b = linearModel(dir, ADJ_RT_F32, 64, 32);
  std::string report = dir.file("r.json");
  auto trainLoss = [&](int64_t seed) {
    adj_rt_options o;
    adj_rt_options_init(&o);
    o.quiet = 1;
    o.epochs = 1;
    o.seed = seed;
    o.report_path = report.c_str();
    EXPECT_EQ(adj_rt_train(b.model(), &o), 0) << adj_rt_last_error();
    return readJson(report)["train_loss"].get<double>();
  };
  EXPECT_EQ(trainLoss(3), trainLoss(3));
  EXPECT_NE(trainLoss(3), trainLoss(4));
}

} // namespace
