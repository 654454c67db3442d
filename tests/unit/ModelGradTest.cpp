//===- ModelGradTest.cpp - Whole models against central differences -------===//
///
/// Model files (every examples/*.adj and small models written here) go
/// through the frontend and adj::gradCheck: f64, central differences,
/// PyTorch's tolerances. Every trainable parameter's gradient must match and
/// must not be all zero, except where a model says a parameter does not
/// reach the loss. The models cover user functions (a custom activation and
/// custom losses), residual connections, shared parameters, values used by
/// both the loss and a metric, unused and frozen parameters, the frontend's
/// composites and every shape op. The worst relative error is printed at
/// the end.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "tools/engine/GradCheck.h"

#include <gtest/gtest.h>
#include <llvm/Support/TargetSelect.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

using namespace adj;

namespace {

struct Worst {
  double Rel = 0;
  std::string Where;
  unsigned Checks = 0;
} WorstSeen;

class ModelGradTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
  static void TearDownTestSuite() {
    std::printf("[ gradcheck ] %u parameter checks in models; worst relative "
                "error %.3e (%s)\n",
                WorstSeen.Checks, WorstSeen.Rel, WorstSeen.Where.c_str());
  }
};

struct Options {
  /// Parameters expected to get an all-zero gradient.
  std::set<std::string> ZeroGrad;
  std::map<std::string, std::pair<double, double>> Ranges;
  std::set<std::string> Integral;
  uint64_t Seed = 1;
  /// Elements perturbed per parameter, at most.
  int64_t MaxElements = 64;
};

std::unique_ptr<ModelSpec> compile(const std::string &Name,
                                   const std::string &Src) {
  std::ostringstream OS;
  DiagEngine D(OS);
  auto Spec = compileModelSource(Name, Src, D);
  EXPECT_TRUE(Spec) << OS.str();
  return Spec;
}

/// Gradient-checks \p Spec; returns the result after the common checks.
GradCheckResult checkSpec(const std::string &Name, const ModelSpec &Spec,
                          const Options &O = {}) {
  GradCheckOptions GO;
  GO.Seed = O.Seed;
  GO.Ranges = O.Ranges;
  GO.Integral = O.Integral;
  GO.MaxElements = O.MaxElements;
  for (const LabelSpec &L : Spec.Labels)
    GO.Classes[L.Input] = L.Classes;
  GradCheckResult R = gradCheck(*Spec.M, GO);
  EXPECT_TRUE(R.Error.empty()) << Name << ": " << R.Error;
  EXPECT_TRUE(R.Ok) << Name << ":\n" << formatGradCheck(R);
  EXPECT_FALSE(R.Params.empty()) << Name;
  for (const ParamCheck &P : R.Params) {
    if (O.ZeroGrad.count(P.Name))
      EXPECT_EQ(P.MaxAbsGrad, 0) << Name << ": " << P.Name;
    else
      EXPECT_GT(P.MaxAbsGrad, 0)
          << Name << ": " << P.Name << ": gradient is all zero";
    ++WorstSeen.Checks;
    if (P.MaxRelErr > WorstSeen.Rel)
      WorstSeen = {P.MaxRelErr, Name + " " + P.Name, WorstSeen.Checks};
  }
  return R;
}

GradCheckResult checkModel(const std::string &Name, const std::string &Src,
                           const Options &O = {}) {
  auto Spec = compile(Name + ".adj", Src);
  if (!Spec)
    return {};
  return checkSpec(Name, *Spec, O);
}

std::vector<std::string> checkedNames(const GradCheckResult &R) {
  std::vector<std::string> N;
  for (const ParamCheck &P : R.Params)
    N.push_back(P.Name);
  return N;
}

TEST_F(ModelGradTest, EveryExample) {
  namespace fs = std::filesystem;
  unsigned Count = 0;
  for (const auto &E : fs::directory_iterator(ADJ_SOURCE_DIR "/examples")) {
    if (E.path().extension() != ".adj")
      continue;
    std::ostringstream OS;
    DiagEngine D(OS);
    auto Spec = compileModelFile(E.path().string(), D);
    ASSERT_TRUE(Spec) << OS.str();
    SCOPED_TRACE(E.path().filename().string());
    // Each perturbation of a model with batch norm or dropout runs the whole
    // train step, so the deep examples (resnet_small: 23 parameters) share
    // a budget of 768 elements, 16 to 64 per parameter, to stay fast.
    Options O;
    int64_t Trainable = 0;
    for (const ParamSpec &P : Spec->Params)
      Trainable += !P.Buffer && !P.Frozen;
    O.MaxElements =
        std::clamp<int64_t>(768 / std::max<int64_t>(Trainable, 1), 16, 64);
    // Recurrent weights drawn from [-1, 1] make a 128- or 256-unit GRU or
    // LSTM chaotic over 28 or 64 steps (gradients of 1e4 to 1e7, beyond
    // what central differences resolve); they are drawn at PyTorch's
    // initial scale, +-1/sqrt(256), instead.
    for (const ParamSpec &P : Spec->Params)
      if (P.Name.rfind("gru.", 0) == 0 || P.Name.rfind("lstm.", 0) == 0)
        O.Ranges[P.Name] = {-0.0625, 0.0625};
    checkSpec(E.path().filename().string(), *Spec, O);
    ++Count;
  }
  EXPECT_GE(Count, 1u);
}

TEST_F(ModelGradTest, CustomActivationAndLosses) {
  // A user-defined activation, a hand-written softmax cross-entropy against
  // one-hot targets built with == and concat, and a hand-written huber loss.
  checkModel("custom_ce", R"(
input x : f32[N, 4]
input c : f32[N, 1]
param w1 : f32[4, 5] = he_normal
param b1 : f32[5] = zeros
param w2 : f32[5, 3] = glorot_uniform
def swish2(x) = x * sigmoid(x)
def my_ce(logits, onehot) = -mean(sum(onehot * log_softmax(logits), axis = -1))
onehot = concat([c == 0, c == 1, c == 2], 1)
logits = swish2(x @ w1 + b1) @ w2
loss my_ce(logits, onehot)
)",
             {{}, {{"c", {0, 2}}}, {"c"}});
  checkModel("custom_huber", R"(
input x : f32[N, 3]
input t : f32[N, 2]
param w : f32[3, 2] = glorot_uniform
def my_huber(p, t, delta) {
  d = p - t
  return mean(where(abs(d) <= delta, 0.5 * d * d, delta * (abs(d) - 0.5 * delta)))
}
loss my_huber(x @ w, t, 0.5)
)",
             {{}, {{"t", {-3, 3}}}});
}

TEST_F(ModelGradTest, ResidualSharedAndMetricUses) {
  // h = x @ w + x (a residual), w used by two layers, logits used by the
  // loss and a metric, and a metric over an intermediate.
  checkModel("residual_shared", R"(
input x : f32[N, 4]
input y : i32[N]
param w : f32[4, 4] = glorot_uniform
param b : f32[4] = zeros
param v : f32[4, 3] = glorot_uniform
h1 = tanh(x @ w + x)
h2 = tanh(h1 @ w + b + h1)
logits = h2 @ v
loss cross_entropy(logits, y, label_smoothing = 0.1)
metric accuracy = accuracy(logits, y)
metric act = mean(h2 * h2)
)");
}

TEST_F(ModelGradTest, UnusedParameterGetsZeroAndAWarning) {
  GradCheckResult R = checkModel("unused", R"(
input x : f32[N, 3]
param w : f32[3, 2] = glorot_uniform
param u : f32[3, 2] = glorot_uniform
loss mean(tanh(x @ w))
metric m = mean(x @ u)
)",
                                 {{"u"}});
  ASSERT_EQ(R.Warnings.size(), 1u);
  EXPECT_EQ(R.Warnings[0],
            "parameter 'u' does not affect the loss; its gradient is zero");
}

TEST_F(ModelGradTest, FrozenParameterIsNotDifferentiated) {
  GradCheckResult R = checkModel("frozen", R"(
input x : f32[N, 3]
param w : f32[3, 2] = glorot_uniform
param b : f32[2] = ones frozen
loss mean(softplus(x @ w + b))
)");
  EXPECT_EQ(checkedNames(R), std::vector<std::string>{"w"});
  EXPECT_TRUE(R.Warnings.empty());
}

TEST_F(ModelGradTest, Composites) {
  // Every composite builtin of the frontend in one loss.
  checkModel("composites", R"(
input x : f32[N, 4]
input t : f32[N, 3]
input y : i32[N]
param w : f32[4, 3] = glorot_uniform
param s : f32[3] = ones
p = x @ w * s
l1_ = mse(p, t) + l1(p, t) + huber(p, t, delta = 0.3)
l2_ = bce_with_logits(p, t) + nll(log_softmax(p), y)
l3_ = mean(logsumexp(p, axis = 1)) + mean(clamp(p, -0.5, 0.5))
l4_ = mean(where(p > t, p, t)) + mean(maximum(p, t) - minimum(p, 0.1))
l5_ = mean(pow(abs(p) + 1, s)) + mean(max(p, axis = 0)) + mean(min(p * p))
loss l1_ + l2_ + l3_ + l4_ + l5_ + mean(leaky_relu(p, 0.2) + elu(p) + gelu(p))
)",
             {{}, {{"t", {0, 1}}}});
}

TEST_F(ModelGradTest, SliceConcatStack) {
  // Split the features, process the halves differently, join them again.
  checkModel("slice_concat", R"(
input x : f32[N, 6]
input y : i32[N]
param wa : f32[2, 3] = glorot_uniform
param wb : f32[4, 3] = glorot_uniform
param wc : f32[6, 3] = glorot_uniform
a = slice(x, 1, 0, 2) @ wa
b = relu(slice(x, 1, -4, 6) @ wb)
h = concat([a, b], -1)
s = stack([a, b, a * b], 1)
t = sum(slice(s, 1, 1, 3), axis = 1)
logits = h @ wc + t
loss cross_entropy(logits, y)
)");
  // Slices of a parameter, concatenated along axis 0 and stacked on axis 0.
  checkModel("param_slices", R"(
input x : f32[N, 3]
param w : f32[4, 3] = glorot_uniform
top = slice(w, 0, 0, 2)
bottom = slice(w, 0, 2, 4)
w2 = concat([bottom, top, slice(w, 0, 1, 2)], 0)
st = stack([top, bottom], 0)
loss mean(tanh(x @ transpose(w2))) + mean(st * st)
)");
}

TEST_F(ModelGradTest, EqualityMasks) {
  // where(x == y, ...) and != select through masks that carry no gradient.
  checkModel("eq_masks", R"(
input x : f32[N, 4]
input k : f32[N, 4]
param w : f32[4, 4] = glorot_uniform
param v : f32[4] = ones
h = x @ w
e = where(k == 1, h, v * h)
f = where(k != 0, e, -e)
loss mean(f * f)
)",
             {{}, {{"k", {0, 2}}}, {"k"}});
}

TEST_F(ModelGradTest, BatchedMatMul) {
  // A tiny sequence model: per-position projections [N,T,D] @ [D,H], a
  // batched product of two activations [N,T,H] @ [N,H,T], attention-like
  // weights and a [T,T] mixing matrix broadcast over the batch.
  checkModel("batched_matmul", R"(
input x : f32[N, 5, 4]
input y : i32[N]
param wq : f32[4, 3] = glorot_uniform
param wk : f32[4, 3] = glorot_uniform
param wv : f32[4, 3] = glorot_uniform
param mix : f32[5, 5] = glorot_uniform
param out : f32[3, 2] = glorot_uniform
q = x @ wq
k = x @ wk
att = softmax(q @ transpose(k, [0, 2, 1]), axis = -1)
h = mix @ (att @ (x @ wv))
logits = mean(h, axis = 1) @ out
loss cross_entropy(logits, y)
)");
}

TEST_F(ModelGradTest, LanguageV2Layers) {
  // The v2 builtins, composites of existing ops: a conv1d block returning a
  // tuple, tensors created with the batch dim, layer_norm, flatten and
  // linear with and without a bias; conv2d with a bias and groups.
  checkModel("v2_layers", R"(
input x : f32[N, 2, 9]
input y : i32[N]
param w1 : f32[4, 2, 3] = kaiming_uniform
param b1 : f32[4] = uniform_fan_in
param g : f32[4] = ones
param be : f32[4] = zeros
param w2 : f32[3, 28] = kaiming_uniform
param b2 : f32[3] = uniform_fan_in
param w3 : f32[3, 3] = kaiming_uniform
def block(x, w, b) {
  h = conv1d(x, w, b, stride = 2, padding = "valid", dilation = 1)
  return tanh(h), h + ones([N, 4, 4])
}
a, c = block(x, w1, b1)
n = layer_norm(transpose(a * c, [0, 2, 1]), g, be)
f = flatten(concat([n, full([N, 4, 3], 0.5)], 2))
logits = linear(tanh(linear(f, w2, b2)), w3) + zeros([N, 3])
loss cross_entropy(logits, y)
)");
  checkModel("v2_conv2d_bias", R"(
input x : f32[N, 4, 5, 5]
param w : f32[6, 2, 3, 3] = he_normal
param b : f32[6] = uniform_fan_in
param v : f32[6, 3, 2] = kaiming_uniform
h = conv2d(x, w, b, padding = 1, groups = 2)
u = conv1d(reshape(h, [N, 6, 25]), v, groups = 2)
loss mean(u * u) + mean(flatten(h) * flatten(h))
)");
}

} // namespace
