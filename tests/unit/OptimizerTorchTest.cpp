//===- OptimizerTorchTest.cpp - Optimizers and schedules against PyTorch --===//
///
/// The optimizer pass (passes/Optimizer.cpp) and the learning-rate schedules
/// (runtime/Schedule.cpp) checked step by step against torch.optim in f64,
/// from tests/fixtures/optim.json (written by scripts/torch_fixtures.py).
/// For each optimizer configuration (every optimizer of Optimizers.def,
/// each option alone and combined, clip_norm), @train_step is built by hand
/// with the parameters w [3, 2] and b [2] and their gradients as arguments
/// (grad.w = the argument g.w, so the gradients are PyTorch's exactly and
/// only the optimizer is under test), the optimizer pass rewrites it, and
/// the JIT-compiled step runs from the fixture's initial weights with its
/// gradients and per-step %lr; after every step each parameter and each
/// state tensor (opt.momentum.<p>, opt.m.<p>, opt.v.<p>) is compared with
/// PyTorch's to 1e-12 relative. Each schedule configuration compares
/// adj_rt_schedule_lr with StepLR, CosineAnnealingLR and LinearLR (the
/// warm-up) over 12 steps. Test names and messages name the configuration,
/// the step and the tensor.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"
#include "passes/Optimizer.h"
#include "runtime/adjoint_rt.h"

#include "Fixtures.h"
#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

using namespace adj;
using namespace adj::cgtest;

namespace {

constexpr double kTol = 1e-12;

const nlohmann::json &fixtures() { return test::torchFixture("optim.json"); }

const char *const kMissing = "tests/fixtures/optim.json: run /usr/bin/python3 "
                             "scripts/torch_fixtures.py";

/// One fixture entry as a test parameter: a failure prints its name, not
/// the whole entry.
struct Entry {
  const nlohmann::json *J;
  const nlohmann::json &operator*() const { return *J; }
};
void PrintTo(const Entry &E, std::ostream *OS) {
  *OS << (*E)["name"].get<std::string>();
}

/// The fixture's entries of \p Section, for INSTANTIATE_TEST_SUITE_P.
std::vector<Entry> entries(const char *Section) {
  std::vector<Entry> Out;
  if (fixtures().is_object() && fixtures().contains(Section))
    for (const nlohmann::json &E : fixtures()[Section])
      Out.push_back({&E});
  return Out;
}

std::string entryName(const testing::TestParamInfo<Entry> &I) {
  return (*I.param)["name"].get<std::string>();
}

/// The configuration's optimizer with Optimizers.def's defaults and the
/// fixture's hyperparameters, set by their keywords as a model would.
OptimizerConfig config(const nlohmann::json &R) {
  std::string Name = R["optimizer"];
  OptimizerConfig C(Name);
  const OptimizerInfo *Info = lookupOptimizer(Name);
  EXPECT_TRUE(Info) << "no optimizer '" << Name << "' in Optimizers.def";
  if (!Info)
    return C;
  for (auto &[Key, V] : R["hyper"].items()) {
    auto P = std::find_if(
        Info->Params.begin(), Info->Params.end(),
        [&, &Key = Key](const OptimizerParam &X) { return Key == X.Key; });
    EXPECT_NE(P, Info->Params.end()) << Name << " has no '" << Key << "'";
    if (P != Info->Params.end())
      P->Set(C, V.is_boolean() ? double(V.get<bool>()) : V.get<double>());
  }
  C.ClipNorm = R["clip_norm"];
  return C;
}

/// @train_step taking the fixture's parameters and, as arguments g.<p>,
/// their gradients, rewritten by the optimizer pass for \p C in f64.
void buildTrainStep(Compiled &Cm, const nlohmann::json &R,
                    const OptimizerConfig &C) {
  Function *F = Cm.add("train_step");
  std::vector<std::pair<std::string, Value *>> Grads;
  for (auto &[P, Shape] : R["shapes"].items())
    F->addArg(P, ty(DType::F64, Shape.get<Dims>()), ArgRole::Param);
  for (auto &[P, Shape] : R["shapes"].items())
    Grads.push_back({P, F->addArg("g." + P, ty(DType::F64, Shape.get<Dims>()),
                                  ArgRole::Input)});
  Builder B(*F);
  Value *Loss = B.create(OpKind::ReduceSum, {Grads[0].second});
  F->Results.push_back({"loss", Loss});
  for (auto &[P, G] : Grads)
    F->Results.push_back({"grad." + P, G});
  PassContext Ctx;
  Ctx.Optimizer = C;
  ASSERT_TRUE(createOptimizerPass()->run(Cm.M, Ctx));
  ASSERT_TRUE(Ctx.Errors.empty()) << Ctx.Errors[0].second;
}

/// "sgd(momentum = 0.9, nesterov = true), clip_norm 1.5".
std::string describe(const nlohmann::json &R) {
  std::string S = R["optimizer"].get<std::string>() + "(";
  const char *Sep = "";
  for (auto &[Key, V] : R["hyper"].items()) {
    S += Sep + Key + " = " + V.dump();
    Sep = ", ";
  }
  S += ")";
  if (R["clip_norm"].get<double>() > 0)
    S += ", clip_norm " + R["clip_norm"].dump();
  return S;
}

/// Whether \p Got is \p Want to kTol relative; else a failure naming
/// \p What and the first element that differs.
bool sameTensor(const Vec &Got, const Vec &Want, const std::string &What) {
  EXPECT_EQ(Got.size(), Want.size()) << What;
  if (Got.size() != Want.size())
    return false;
  for (size_t I = 0; I < Got.size(); ++I)
    if (!(std::abs(Got[I] - Want[I]) <= kTol * (1 + std::abs(Want[I])))) {
      ADD_FAILURE() << fmt::format("{} [{}]: got {:.17g}, PyTorch {:.17g}",
                                   What, I, Got[I], Want[I]);
      return false;
    }
  return true;
}

class OptimizerTorch : public testing::TestWithParam<Entry> {};

TEST_P(OptimizerTorch, MatchesPyTorchEveryStep) {
  const nlohmann::json &R = *GetParam();
  const std::string Name = R["name"].get<std::string>() + ": " + describe(R);
  OptimizerConfig C = config(R);
  Compiled Cm;
  buildTrainStep(Cm, R, C);
  if (HasFatalFailure())
    return;
  Cm.compile();
  const Function &F = *Cm.M.function("train_step");

  // The state Adjoint keeps is the state PyTorch keeps.
  std::set<std::string> AdjState, TorchState;
  for (const auto &A : F.Args)
    if (F.Roles[A->ArgNo] == ArgRole::State)
      AdjState.insert(A->Name);
  for (auto &[K, V] : R["steps"][0].items())
    if (!R["shapes"].contains(K))
      TorchState.insert(K);
  ASSERT_EQ(AdjState, TorchState) << Name << ": optimizer state";

  // Every argument's current value, by name: the parameters from the
  // fixture's initial values, the state from zeros.
  std::map<std::string, Vec> Cur;
  for (auto &[P, V] : R["init"].items())
    Cur[P] = V.get<Vec>();
  for (const std::string &S : AdjState)
    Cur[S] = Vec(Cur[S.substr(S.rfind('.') + 1)].size(), 0.0);

  const nlohmann::json &Steps = R["steps"];
  for (size_t T = 0; T < Steps.size(); ++T) {
    for (auto &[P, G] : R["grads"][T].items())
      Cur["g." + P] = G.get<Vec>();
    Cur["lr"] = {R["lr"][T].get<double>()};
    Cur["step"] = {double(T + 1)};
    std::vector<Vec> Args, Res;
    for (const auto &A : F.Args)
      Args.push_back(Cur.at(A->Name));
    ASSERT_EQ(Cm.run("train_step", 1, Args, Res), 0) << Name;
    for (size_t I = 0; I < F.Results.size(); ++I)
      if (F.Results[I].Name != "loss")
        Cur[F.Results[I].Name] = Res[I];
    bool Same = true;
    for (auto &[K, Want] : Steps[T].items())
      Same &= sameTensor(Cur.at(K), Want.get<Vec>(),
                         fmt::format("{}, after step {}: {}", Name, T + 1, K));
    if (!Same)
      return; // later steps only repeat the difference
  }
}

INSTANTIATE_TEST_SUITE_P(Torch, OptimizerTorch,
                         testing::ValuesIn(entries("optimizers")), entryName);

/// The fixture covers every optimizer of Optimizers.def and every
/// hyperparameter but lr (which every configuration sets per step).
TEST(OptimizerTorchFixture, CoversEveryOptimizerAndOption) {
  ASSERT_TRUE(fixtures().is_object()) << kMissing;
  std::set<std::string> Seen;
  for (const nlohmann::json &R : fixtures()["optimizers"]) {
    Seen.insert(R["optimizer"].get<std::string>());
    for (auto &[Key, V] : R["hyper"].items())
      Seen.insert(R["optimizer"].get<std::string>() + "." + Key);
    if (R["clip_norm"].get<double>() > 0)
      Seen.insert("clip_norm");
  }
  for (const OptimizerInfo &I : optimizerTable()) {
    EXPECT_TRUE(Seen.count(I.Name)) << I.Name << " has no fixture";
    for (const OptimizerParam &P : I.Params)
      if (std::string(P.Key) != "lr") {
        EXPECT_TRUE(Seen.count(std::string(I.Name) + "." + P.Key))
            << I.Name << "'s " << P.Key << " has no fixture";
      }
  }
  EXPECT_TRUE(Seen.count("clip_norm")) << "clip_norm has no fixture";
  std::set<std::string> Kinds;
  for (const nlohmann::json &R : fixtures()["schedules"])
    Kinds.insert(R["schedule"].get<std::string>().substr(
                     0, R["schedule"].get<std::string>().find(':')) +
                 (R["warmup"].get<int64_t>() > 0 ? "+warmup" : ""));
  for (const char *K :
       {"step", "cosine", "constant+warmup", "step+warmup", "cosine+warmup"})
    EXPECT_TRUE(Kinds.count(K)) << "schedule " << K << " has no fixture";
}

class ScheduleTorch : public testing::TestWithParam<Entry> {};

TEST_P(ScheduleTorch, MatchesPyTorchEveryStep) {
  const nlohmann::json &R = *GetParam();
  std::string Text = R["schedule"];
  int64_t Warmup = R["warmup"];
  std::string Name = fmt::format("{} (--schedule {}, warm-up {})",
                                 R["name"].get<std::string>(), Text, Warmup);
  adj_rt_schedule S{};
  ASSERT_EQ(adj_rt_schedule_parse(Text.c_str(), &S), 0)
      << Name << ": " << adj_rt_last_error();
  const nlohmann::json &Lrs = R["lrs"];
  ASSERT_GE(Lrs.size(), 12u);
  for (size_t T = 0; T < Lrs.size(); ++T) {
    double Got =
        adj_rt_schedule_lr(&S, R["lr"], Warmup, int64_t(T), R["default_t_max"]);
    double Want = Lrs[T];
    EXPECT_LE(std::abs(Got - Want), kTol * std::abs(Want))
        << fmt::format("{}: lr of step t = {}: got {:.17g}, PyTorch {:.17g}",
                       Name, T, Got, Want);
  }
}

INSTANTIATE_TEST_SUITE_P(Torch, ScheduleTorch,
                         testing::ValuesIn(entries("schedules")), entryName);

} // namespace
