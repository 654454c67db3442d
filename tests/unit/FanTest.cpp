//===- FanTest.cpp - Fan-in and fan-out from how parameters are used ------===//
///
/// The frontend gives the fan-based initialisers the fans of a parameter's
/// first use as a weight: [in, out] on the right of `@`, [out, in, k...] in
/// linear, conv1d and conv2d (PyTorch's _calculate_fan_in_and_fan_out), and
/// uniform_fan_in the fan-in of the weight its bias is used with;
/// `fan_in = K` / `fan_out = K` override. Unused parameters keep 0 (the
/// runtime then computes the fans from the shape). Also the runtime side:
/// the bounds of kaiming_uniform and uniform_fan_in.
///
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"
#include "runtime/adjoint_rt.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <sstream>

using namespace adj;

namespace {

std::unique_ptr<ModelSpec> compile(const std::string &Src,
                                   std::string *Errs = nullptr) {
  std::ostringstream OS;
  DiagEngine D(OS);
  auto Spec = compileModelSource("fans.adj", Src, D);
  if (Errs)
    *Errs = OS.str();
  else
    EXPECT_TRUE(Spec) << OS.str();
  return Spec;
}

std::pair<int64_t, int64_t> fans(const ModelSpec &S, const std::string &P) {
  for (const ParamSpec &Q : S.Params)
    if (Q.Name == P)
      return {Q.FanIn, Q.FanOut};
  ADD_FAILURE() << "no parameter " << P;
  return {};
}

using Fans = std::pair<int64_t, int64_t>;

TEST(Fans, ExamplesKeepMatMulFansAndConvUsesItsLayout) {
  std::ostringstream OS;
  DiagEngine D(OS);
  auto Mlp = compileModelFile(ADJ_SOURCE_DIR "/examples/mnist_mlp.adj", D);
  ASSERT_TRUE(Mlp) << OS.str();
  EXPECT_EQ(fans(*Mlp, "w1"), Fans(784, 256)); // as computeFans([784, 256])
  auto Cnn = compileModelFile(ADJ_SOURCE_DIR "/examples/mnist_cnn.adj", D);
  ASSERT_TRUE(Cnn) << OS.str();
  // he_normal on conv weights [O, C, KH, KW]: fan_in = C * KH * KW.
  EXPECT_EQ(fans(*Cnn, "w1"), Fans(1 * 9, 8 * 9));
  EXPECT_EQ(fans(*Cnn, "w2"), Fans(8 * 9, 16 * 9));
  EXPECT_EQ(fans(*Cnn, "w3"), Fans(3136, 10));
  EXPECT_EQ(fans(*Cnn, "b1"), Fans(0, 0)); // zeros: no fans
}

TEST(Fans, FromLinearConvAndOverrides) {
  auto S = compile(R"(
input x : f32[N, 3, 16]
param w : f32[8, 3, 5] = he_uniform
param b : f32[8] = uniform_fan_in
param v : f32[10, 128] = kaiming_uniform
param c : f32[10] = uniform_fan_in
param u : f32[10, 10] = glorot_normal(fan_out = 7)
param o : f32[10, 4] = he_normal(fan_in = 100)
param unused : f32[3, 4] = glorot_uniform
param k : f32[4] = uniform_fan_in(fan_in = 9)
def dense(x, w) = x @ w
h = flatten(conv1d(x, w, b, stride = 1, padding = "same", groups = 1))
z = linear(h, v, c)
z2 = linear(z, u) @ o
z3 = dense(z, u)
loss mean(z2) + mean(z3) + mean(k)
)");
  ASSERT_TRUE(S);
  EXPECT_EQ(fans(*S, "w"), Fans(15, 40));
  EXPECT_EQ(fans(*S, "b"), Fans(15, 0));
  EXPECT_EQ(fans(*S, "v"), Fans(128, 10));
  EXPECT_EQ(fans(*S, "c"), Fans(128, 0));
  // u's first use is linear ([out, in]); the later `@` ([in, out]) is
  // ignored; fan_out is overridden.
  EXPECT_EQ(fans(*S, "u"), Fans(10, 7));
  EXPECT_EQ(fans(*S, "o"), Fans(100, 4));
  EXPECT_EQ(fans(*S, "unused"), Fans(0, 0));
  EXPECT_EQ(fans(*S, "k"), Fans(9, 0));
}

TEST(Fans, UniformFanInNeedsAWeight) {
  std::string Errs;
  EXPECT_FALSE(compile(R"(
input x : f32[N, 4]
param w : f32[4, 2] = kaiming_uniform
param b : f32[2] = uniform_fan_in
loss mean(x @ w + b)
)",
                       &Errs));
  EXPECT_NE(Errs.find("fans.adj:4:20: error: 'uniform_fan_in' needs a "
                      "fan-in: use 'b' as the bias of linear"),
            std::string::npos)
      << Errs;
}

TEST(Fans, KaimingUniformAndUniformFanInBounds) {
  for (adj_rt_init Init :
       {ADJ_RT_INIT_KAIMING_UNIFORM, ADJ_RT_INIT_UNIFORM_FAN_IN}) {
    std::vector<float> V(100000);
    adj_rt_init_fill(V.data(), 0, int64_t(V.size()), Init, 0, 0, 400, 7, 3);
    auto [Lo, Hi] = std::minmax_element(V.begin(), V.end());
    double Bound = 1 / std::sqrt(400.0); // PyTorch: kaiming_uniform_(a=√5)
    EXPECT_GE(*Lo, -Bound);
    EXPECT_LE(*Hi, Bound);
    EXPECT_LT(*Lo, -0.99 * Bound);
    EXPECT_GT(*Hi, 0.99 * Bound);
    double Mean = 0;
    for (float X : V)
      Mean += X;
    EXPECT_NEAR(Mean / double(V.size()), 0, 0.01 * Bound);
  }
}

} // namespace
