//===- LayersTorchTest.cpp - Layers against PyTorch ---------------------===//
///
/// For each configuration of tests/fixtures/layers.json and recurrent.json
/// (written by scripts/torch_fixtures.py from F.conv1d, F.layer_norm,
/// F.linear, nn.RNN, nn.LSTM, nn.GRU and autograd), a model file declares every
/// tensor argument as an f64 parameter (dy frozen) and computes `loss
/// sum(BUILTIN(...) * dy)`. The frontend lowers the builtin as the composite a
/// model gets, the autodiff pass differentiates it, and the JIT-compiled
/// @forward and @train_step give y (the loss' first factor) and the gradients
/// with respect to each argument, which must match PyTorch's to 1e-10.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"
#include "frontend/Frontend.h"
#include "tools/engine/Engine.h"

#include "Fixtures.h"
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() { return test::torchFixture("layers.json"); }

std::string shape(const nlohmann::json &S) {
  std::vector<int64_t> D = S;
  return fmt::format("f64[{}]", fmt::join(D, ", "));
}

/// Compiles `loss sum(Builtin(Names..., Args) * dy)` over the fixture's
/// tensors and compares y and every gradient with PyTorch's.
void check(const std::string &Builtin, const nlohmann::json &R,
           const std::vector<std::string> &Names) {
  SCOPED_TRACE(Builtin + " " + std::string(R["name"]));
  std::string Src;
  for (const std::string &N : Names)
    Src += fmt::format("param {} : {} = zeros\n", N, shape(R[N + "_shape"]));
  Src += fmt::format("param dy : {} = zeros frozen\n", shape(R["y_shape"]));
  std::string Args = R["args"];
  Src += fmt::format("y = {}({}{}{})\nloss sum(y * dy)\n", Builtin,
                     fmt::join(Names, ", "), Args.empty() ? "" : ", ", Args);
  std::ostringstream Errs;
  DiagEngine D(Errs);
  auto Spec = compileModelSource("layer.adj", Src, D);
  ASSERT_TRUE(Spec) << Errs.str() << Src;
  // y is the first operand of the `mul` the loss sums.
  Function &Fwd = *Spec->M->function("forward");
  Value *Y = Fwd.Results[0].V->Def->Operands[0]->Def->Operands[0];
  auto PM = passPipeline("autodiff,canonicalize,constant-fold,cse,dce");
  ASSERT_TRUE(bool(PM));
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM->run(*Spec->M, Ctx, Log)) << Log.str();
  Fwd.Results.push_back({"y", Y});

  Compiled C;
  C.M.Functions = std::move(Spec->M->Functions);
  C.compile();
  std::vector<Vec> In;
  for (const auto &A : Fwd.Args)
    In.push_back(R[A->Name].get<Vec>());
  std::vector<Vec> Out, Grads;
  ASSERT_EQ(C.run("forward", 1, In, Out), 0);
  expectClose(Out.back(), R["y"].get<Vec>(), 1e-10, "y");
  ASSERT_EQ(C.run("train_step", 1, In, Grads), 0);
  const Function &Train = *C.M.function("train_step");
  for (const std::string &N : Names) {
    int I = -1;
    for (size_t K = 0; K < Train.Results.size(); ++K)
      if (Train.Results[K].Name == "grad." + N)
        I = int(K);
    ASSERT_GE(I, 0) << "no gradient for " << N;
    expectClose(Grads[I], R["d" + N].get<Vec>(), 1e-10, "d" + N);
  }
}

TEST(LayersTorch, Conv1d) {
  ASSERT_TRUE(fixtures().is_object())
      << "tests/fixtures/layers.json: run /usr/bin/python3 "
         "scripts/torch_fixtures.py";
  ASSERT_GE(fixtures()["conv1d"].size(), 4u);
  for (const auto &R : fixtures()["conv1d"])
    check("conv1d", R, {"x", "w", "b"});
}

TEST(LayersTorch, LayerNorm) {
  ASSERT_GE(fixtures()["layer_norm"].size(), 2u);
  for (const auto &R : fixtures()["layer_norm"])
    check("layer_norm", R, {"x", "gamma", "beta"});
}

TEST(LayersTorch, Linear) {
  ASSERT_GE(fixtures()["linear"].size(), 2u);
  for (const auto &R : fixtures()["linear"])
    check("linear", R, {"x", "w", "b"});
}

TEST(LayersTorch, Recurrent) {
  // nn.RNN / nn.LSTM / nn.GRU (batch_first=True): every hidden state and
  // the gradients with respect to x, the initial states, the weights and
  // the biases in PyTorch's gate layout (i, f, g, o and r, z, n).
  const nlohmann::json &Fx = test::torchFixture("recurrent.json");
  ASSERT_TRUE(Fx.is_object()) << "tests/fixtures/recurrent.json: run "
                                 "/usr/bin/python3 scripts/torch_fixtures.py";
  std::vector<std::string> Rnn{"x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"};
  std::vector<std::string> Lstm{"x",    "h0",   "c0",  "w_ih",
                                "w_hh", "b_ih", "b_hh"};
  for (const char *Layer : {"rnn", "lstm", "gru"}) {
    ASSERT_GE(Fx[Layer].size(), 2u) << Layer;
    for (const auto &R : Fx[Layer])
      check(Layer, R, std::string(Layer) == "lstm" ? Lstm : Rnn);
  }
}

} // namespace
