//===- BatchNormTest.cpp - batch_norm in both modes against PyTorch -------===//
///
/// For each configuration of tests/fixtures/batch_norm.json (written by
/// scripts/torch_fixtures.py from torch.nn.functional.batch_norm and
/// autograd in float64), compiles the model
///
///   param x, gamma, beta; buffer mean, var; param r (frozen)
///   loss sum(batch_norm(x, gamma, beta, mean, var, momentum, eps) * r)
///
/// through the frontend (which lowers @forward in evaluation mode and
/// @forward_train in training mode) and the autodiff pass, JIT-compiles it
/// in f64 and compares with PyTorch: @train_step's loss, its gradients wrt
/// x, gamma and beta (through the batch statistics) and the running
/// statistics it returns, and @forward's loss with the initial running
/// statistics. x is a parameter so that its gradient is a result.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"
#include "frontend/Frontend.h"
#include "passes/ConvertToF64.h"
#include "passes/Pass.h"
#include "tools/engine/Engine.h"

#include "Fixtures.h"
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() {
  return test::torchFixture("batch_norm.json");
}

std::string modelFor(const nlohmann::json &R) {
  std::vector<int64_t> Shape = R["x_shape"];
  std::string S = fmt::format("{}", fmt::join(Shape, ", "));
  int64_t C = Shape[1];
  return fmt::format(
      "param x : f32[{0}] = zeros\n"
      "param gamma : f32[{1}] = ones\n"
      "param beta : f32[{1}] = zeros\n"
      "buffer mean : f32[{1}] = zeros\n"
      "buffer var : f32[{1}] = ones\n"
      "param r : f32[{0}] = zeros frozen\n"
      "loss sum(batch_norm(x, gamma, beta, mean, var, momentum = {2}, "
      "eps = {3}) * r)\n",
      S, C, double(R["momentum"]), double(R["eps"]));
}

/// Runs \p F of \p C on the fixture's values by argument name; returns the
/// results by name.
std::map<std::string, Vec> run(Compiled &C, const Function &F,
                               const nlohmann::json &R) {
  std::map<std::string, const char *> Key = {
      {"x", "x"},       {"gamma", "gamma"}, {"beta", "beta"},
      {"mean", "mean"}, {"var", "var"},     {"r", "r"}};
  std::vector<Vec> Args;
  for (auto &A : F.Args) {
    if (Key.count(A->Name)) {
      Args.push_back(R[Key[A->Name]].get<Vec>());
    } else {
      ADD_FAILURE() << "unexpected argument %" << A->Name;
      Args.push_back(Vec(A->Type.numElements(1), 0));
    }
  }
  std::vector<void *> Ptrs;
  for (Vec &A : Args)
    Ptrs.push_back(A.data());
  std::vector<Vec> Out;
  std::vector<void *> OutPtrs;
  for (const Result &Res : F.Results)
    Out.push_back(Vec(std::max<int64_t>(Res.V->Type.numElements(1), 1)));
  for (Vec &O : Out)
    OutPtrs.push_back(O.data());
  auto Fn = StepFn(cantFail(C.J->lookup(F.Name)));
  EXPECT_EQ(Fn(1, Ptrs.data(), OutPtrs.data()), 0);
  std::map<std::string, Vec> ByName;
  for (size_t I = 0; I < F.Results.size(); ++I)
    ByName[F.Results[I].Name] = Out[I];
  return ByName;
}

void expectNear(const Vec &Got, const nlohmann::json &Want,
                const std::string &What) {
  Vec W = Want.is_array() ? Want.get<Vec>() : Vec{Want.get<double>()};
  ASSERT_EQ(Got.size(), W.size()) << What;
  double Scale = 0;
  for (double V : W)
    Scale = std::max(Scale, std::fabs(V));
  for (size_t I = 0; I < W.size(); ++I)
    EXPECT_NEAR(Got[I], W[I], 1e-10 * std::max(1.0, Scale))
        << What << "[" << I << "]";
}

TEST(BatchNorm, BothModesMatchPyTorch) {
  ASSERT_TRUE(fixtures().is_object()) << "tests/fixtures/batch_norm.json";
  for (const auto &R : fixtures()["batch_norm"]) {
    SCOPED_TRACE(R["x_shape"].dump());
    std::ostringstream Diags;
    DiagEngine D(Diags);
    auto Spec = compileModelSource("bn.adj", modelFor(R), D);
    ASSERT_TRUE(Spec) << Diags.str();
    ASSERT_TRUE(Spec->M->function("forward_train"));
    Compiled C;
    C.M = std::move(*Spec->M->clone());
    convertToF64(C.M);
    auto PM = passPipeline("autodiff");
    ASSERT_TRUE(bool(PM));
    PassContext Ctx;
    std::ostringstream Log;
    ASSERT_TRUE(PM->run(C.M, Ctx, Log)) << Log.str();
    ASSERT_FALSE(C.M.function("forward_train"));
    C.compile();
    auto Train = run(C, *C.M.function("train_step"), R);
    expectNear(Train["loss"], R["train_loss"], "train loss");
    expectNear(Train["grad.x"], R["dx"], "dx");
    expectNear(Train["grad.gamma"], R["dgamma"], "dgamma");
    expectNear(Train["grad.beta"], R["dbeta"], "dbeta");
    expectNear(Train["mean"], R["new_mean"], "running mean");
    expectNear(Train["var"], R["new_var"], "running var");
    auto Eval = run(C, *C.M.function("forward"), R);
    expectNear(Eval["loss"], R["eval_loss"], "eval loss");
  }
}

} // namespace
