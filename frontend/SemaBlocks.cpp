//===- SemaBlocks.cpp - The train and data blocks' checks -----------------===//
///
/// train { optimizer, schedule, batch, epochs, seed, warmup, clip_norm,
/// lr_mult } and data { split.input = source(...) }: each setting and
/// source is checked against its parameter list with located errors and
/// written into the ModelSpec; data paths are resolved against the model
/// file's directory.
///
//===----------------------------------------------------------------------===//
#include "frontend/SemaBlocks.h"

#include "frontend/Builtins.h"

#include <cmath>
#include <filesystem>
#include <fmt/format.h>

namespace adj {

std::optional<int64_t> asInt(std::optional<double> V) {
  if (!V || !(std::fabs(*V) < 9.0e15) || std::floor(*V) != *V)
    return std::nullopt;
  return int64_t(*V);
}

std::optional<double> constNumber(const Expr &E, DiagEngine &Diags) {
  auto V = evalConst(E);
  if (!V) {
    Diags.error(E.L, "expected a number");
    return std::nullopt;
  }
  if (!std::isfinite(*V)) {
    Diags.error(E.L, fmt::format("expected a finite number, got {}", *V));
    return std::nullopt;
  }
  return V;
}

std::optional<bool> constBool(const Expr &E, DiagEngine &Diags) {
  if (E.Kind == ExprKind::Bool)
    return E.BoolVal;
  Diags.error(E.L, "expected true or false");
  return std::nullopt;
}

std::optional<std::vector<const Expr *>>
bindNameOrCall(const Expr &E, const std::vector<std::string> &Params,
               unsigned Required, DiagEngine &Diags) {
  if (E.Kind == ExprKind::Call)
    return bindArgs(E, Params, Required, Diags);
  Expr Bare(ExprKind::Call, E.L);
  Bare.Text = E.Text;
  return bindArgs(Bare, Params, Required, Diags);
}

std::string resolveModelPath(const std::string &ModelPath,
                             const std::string &P) {
  std::string Dir = std::filesystem::path(ModelPath).parent_path().string();
  if (Dir.empty() || P.empty() || P[0] == '/')
    return P;
  return Dir + "/" + P;
}

void redefinedError(DiagEngine &Diags, const Loc &L, const std::string &Msg,
                    const Loc &Prev) {
  Diags.error(L, Msg);
  Diags.note(Prev, "previous definition is here");
}

namespace {

class BlockChecker : CheckerBase {
public:
  BlockChecker(DiagEngine &Diags, ModelSpec &Spec)
      : CheckerBase(Diags), Spec(Spec) {}

  const Expr *LrMultDict = nullptr;
  const SemaInfo *InfoPtr = nullptr;
  InputQuery IsInput;

  void train(const Stmt &S) {
    std::map<std::string, Loc> Seen;
    TrainSpec &T = Spec.Train;
    for (const Entry &E : S.Entries) {
      auto [It, New] = Seen.insert({E.Key, E.KeyLoc});
      if (!New) {
        redefined(E.KeyLoc, fmt::format("'{}' is already set", E.Key),
                  It->second);
        continue;
      }
      if (E.Key == "optimizer") {
        optimizer(*E.Value);
        continue;
      }
      if (E.Key == "clip_norm") {
        auto V = number(*E.Value);
        if (V && !(*V > 0))
          Diags.error(E.Value->L,
                      fmt::format("'clip_norm' must be positive, got {}", *V));
        else if (V)
          T.ClipNorm = *V;
        continue;
      }
      if (E.Key == "schedule") {
        schedule(*E.Value);
        continue;
      }
      if (E.Key == "lr_mult") {
        LrMultDict = E.Value.get();
        continue;
      }
      bool IsSeed = E.Key == "seed", IsWarmup = E.Key == "warmup";
      if (!IsSeed && !IsWarmup && E.Key != "batch" && E.Key != "epochs") {
        Diags.error(E.KeyLoc,
                    fmt::format("unknown train setting '{}'; expected "
                                "optimizer, batch, epochs, seed, clip_norm, "
                                "schedule, warmup or lr_mult",
                                E.Key));
        continue;
      }
      bool NonNeg = IsSeed || IsWarmup;
      auto V = asInt(evalConst(*E.Value));
      if (!V || *V < (NonNeg ? 0 : 1)) {
        Diags.error(E.Value->L,
                    fmt::format("'{}' must be a {} integer", E.Key,
                                NonNeg ? "non-negative" : "positive"));
        continue;
      }
      if (IsSeed)
        T.Seed = *V;
      else if (IsWarmup)
        T.Warmup = *V;
      else
        (E.Key == "batch" ? T.Batch : T.Epochs) = *V;
    }
  }

  /// `constant`, `step(step_size, gamma = 0.1)` or `cosine(t_max, eta_min =
  /// 0)`, t_max defaulting to the run's number of steps.
  void schedule(const Expr &E) {
    static const std::map<std::string, std::vector<std::string>> Params = {
        {"constant", {}},
        {"step", {"step_size", "gamma"}},
        {"cosine", {"t_max", "eta_min"}}};
    if (E.Kind != ExprKind::Name && E.Kind != ExprKind::Call) {
      Diags.error(E.L, "expected a schedule such as cosine(t_max = 1000)");
      return;
    }
    auto It = Params.find(E.Text);
    if (It == Params.end()) {
      Diags.error(E.L, fmt::format("unknown schedule '{}'; expected constant, "
                                   "step or cosine",
                                   E.Text));
      return;
    }
    auto Args = bindNameOrCall(E, It->second, E.Text == "step" ? 1 : 0);
    if (!Args)
      return;
    ScheduleSpec R;
    if (E.Text == "step") {
      R.Kind = ScheduleKind::Step;
      R.Gamma = 0.1;
    } else if (E.Text == "cosine") {
      R.Kind = ScheduleKind::Cosine;
    }
    bool Ok = true;
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      const std::string &Key = It->second[I];
      if (!A)
        continue;
      if (Key == "step_size" || Key == "t_max") {
        auto V = asInt(evalConst(*A));
        if (!V || *V < 1) {
          Diags.error(A->L,
                      fmt::format("'{}' must be a positive integer", Key));
          Ok = false;
          continue;
        }
        (Key == "step_size" ? R.StepSize : R.TMax) = *V;
        continue;
      }
      auto V = number(*A);
      if (!V) {
        Ok = false;
        continue;
      }
      bool IsGamma = Key == "gamma";
      if (IsGamma ? !(*V > 0) : !(*V >= 0)) {
        Diags.error(A->L,
                    fmt::format("'{}' must be {}, got {}", Key,
                                IsGamma ? "positive" : "non-negative", *V));
        Ok = false;
        continue;
      }
      (IsGamma ? R.Gamma : R.EtaMin) = *V;
    }
    if (Ok)
      Spec.Train.Schedule = R;
  }

  void optimizer(const Expr &E) {
    if (E.Kind != ExprKind::Name && E.Kind != ExprKind::Call) {
      Diags.error(E.L, "expected an optimizer such as adam(lr = 0.001)");
      return;
    }
    const OptimizerInfo *Info = lookupOptimizer(E.Text);
    if (!Info) {
      Diags.error(E.L, fmt::format("unknown optimizer '{}'; expected {}",
                                   E.Text, optimizerNames()));
      return;
    }
    std::vector<std::string> Keys;
    for (const OptimizerParam &P : Info->Params)
      Keys.push_back(P.Key);
    auto Args = bindNameOrCall(E, Keys, 0);
    if (!Args)
      return;
    OptimizerSpec O(E.Text);
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      const OptimizerParam &P = Info->Params[I];
      if (!A)
        continue;
      if (P.Range == HyperRange::Flag) {
        if (auto B = boolean(*A))
          P.Set(O, *B);
        continue;
      }
      auto V = number(*A);
      if (!V)
        continue;
      if (!inRange(P.Range, *V)) {
        Diags.error(A->L, fmt::format("'{}' must be {}, got {}", P.Key,
                                      describeRange(P.Range), *V));
        continue;
      }
      P.Set(O, *V);
    }
    Spec.Train.Optimizer = O;
  }

  void data(const Stmt &S) {
    std::map<std::string, Loc> Seen;
    for (const Entry &E : S.Entries) {
      if (E.Key != "train" && E.Key != "test") {
        Diags.error(E.KeyLoc, fmt::format("unknown data split '{}'; expected "
                                          "'train' or 'test'",
                                          E.Key));
        continue;
      }
      std::optional<bool> Input = IsInput(E.Key2);
      if (!Input || !*Input) {
        Diags.error(E.Key2Loc,
                    !Input ? fmt::format("unknown input '{}'", E.Key2)
                           : fmt::format("'{}' is not an input", E.Key2));
        continue;
      }
      std::string Key = E.Key + " " + E.Key2;
      auto [It, New] = Seen.insert({Key, E.KeyLoc});
      if (!New) {
        redefined(E.KeyLoc, fmt::format("data for '{}' is already given", Key),
                  It->second);
        continue;
      }
      DataSpec D;
      D.Split = E.Key;
      D.Input = E.Key2;
      D.L = E.KeyLoc;
      if (source(*E.Value, D))
        Spec.Data.push_back(std::move(D));
    }
  }

  bool source(const Expr &E, DataSpec &D) {
    static const std::map<std::string,
                          std::pair<DataFormat, std::vector<std::string>>>
        Formats = {
            {"idx", {DataFormat::Idx, {"path", "scale"}}},
            {"npy", {DataFormat::Npy, {"path", "scale"}}},
            {"csv", {DataFormat::Csv, {"path", "columns", "header", "scale"}}},
            {"text",
             {DataFormat::Text, {"path", "seq", "offset", "start", "end"}}}};
    if (E.Kind != ExprKind::Call && E.Kind != ExprKind::Name) {
      Diags.error(E.L, "expected a data source such as idx(\"file\")");
      return false;
    }
    auto It = Formats.find(E.Text);
    if (It == Formats.end()) {
      Diags.error(E.L, fmt::format("unknown data format '{}'; expected idx, "
                                   "npy, csv or text",
                                   E.Text));
      return false;
    }
    const std::vector<std::string> &Params = It->second.second;
    auto Args =
        bindNameOrCall(E, Params, It->second.first == DataFormat::Text ? 2 : 1);
    if (!Args)
      return false;
    D.Format = It->second.first;
    if (D.Format == DataFormat::Text)
      return textSource(E, *Args, D);
    bool Ok = true;
    for (size_t I = 0; I < Args->size(); ++I) {
      const Expr *A = (*Args)[I];
      if (!A)
        continue;
      const std::string &Key = Params[I];
      if (Key == "path") {
        if (A->Kind != ExprKind::String) {
          Diags.error(A->L, "expected a string path");
          Ok = false;
          continue;
        }
        D.Path = resolve(A->Text);
      } else if (Key == "scale") {
        auto V = number(*A);
        Ok &= V.has_value();
        D.Scale = V.value_or(1);
      } else if (Key == "header") {
        auto V = boolean(*A);
        Ok &= V.has_value();
        D.Header = V.value_or(false);
      } else if (!columns(*A, D.Columns)) {
        Ok = false;
      }
    }
    return Ok;
  }

  /// text(path, seq, offset = 0, start = 0, end = 1) for an i32 input
  /// [N, seq].
  bool textSource(const Expr &E, const std::vector<const Expr *> &Args,
                  DataSpec &D) {
    bool Ok = true;
    if (Args[0]->Kind != ExprKind::String) {
      Diags.error(Args[0]->L, "expected a string path");
      Ok = false;
    }
    D.Path = resolve(Args[0]->Text);
    auto Int = [&](const Expr *A, int64_t Default, int64_t Min,
                   const char *What) -> std::optional<int64_t> {
      if (!A)
        return Default;
      auto V = asInt(evalConst(*A));
      if (!V || *V < Min) {
        Diags.error(A->L,
                    fmt::format("'{}' must be {} integer", What,
                                Min > 0 ? "a positive" : "a non-negative"));
        return std::nullopt;
      }
      return V;
    };
    auto Seq = Int(Args[1], 0, 1, "seq"), Off = Int(Args[2], 0, 0, "offset");
    Ok &= Seq && Off;
    D.Seq = Seq.value_or(1);
    D.Offset = Off.value_or(0);
    for (int I : {3, 4}) {
      if (!Args[I])
        continue;
      auto V = number(*Args[I]);
      if (V && !(*V >= 0 && *V <= 1)) {
        Diags.error(Args[I]->L, fmt::format("'{}' must be a fraction of the "
                                            "file in [0, 1], got {}",
                                            I == 3 ? "start" : "end", *V));
        V.reset();
      }
      Ok &= V.has_value();
      (I == 3 ? D.Start : D.End) = V.value_or(I == 3 ? 0 : 1);
    }
    if (Ok && D.Start >= D.End) {
      Diags.error(E.L, fmt::format("text data needs start < end, got [{}, {})",
                                   D.Start, D.End));
      Ok = false;
    }
    if (!Ok)
      return false;
    for (const auto &[S, T] : InfoPtr->Inputs) {
      if (S->Name != D.Input)
        continue;
      std::vector<int64_t> Want{kBatch, D.Seq};
      if (T.Elt != DType::I32 || T.Dims != Want) {
        Diags.error(E.L, fmt::format("text data with seq = {} feeds inputs "
                                     "of type i32[{},{}], but '{}' is {}",
                                     D.Seq, InfoPtr->Batch, D.Seq, D.Input,
                                     T.str(InfoPtr->Batch)));
        return false;
      }
    }
    return true;
  }

  bool columns(const Expr &E, std::vector<int64_t> &Out) {
    std::vector<const Expr *> Items;
    if (E.Kind == ExprKind::List)
      for (const ExprPtr &A : E.Args)
        Items.push_back(A.get());
    else
      Items.push_back(&E);
    for (const Expr *I : Items) {
      auto V = asInt(evalConst(*I));
      if (!V || *V < 0) {
        Diags.error(I->L, "expected a column index (a non-negative integer)");
        return false;
      }
      Out.push_back(*V);
    }
    return true;
  }

  std::string resolve(const std::string &P) const {
    return resolveModelPath(Spec.Path, P);
  }

private:
  ModelSpec &Spec;
};

} // namespace

void checkTrainBlock(const Stmt &S, DiagEngine &Diags, ModelSpec &Spec,
                     const Expr *&LrMultDict) {
  BlockChecker C(Diags, Spec);
  C.train(S);
  LrMultDict = C.LrMultDict;
}

void checkDataBlock(const Stmt &S, DiagEngine &Diags, ModelSpec &Spec,
                    const SemaInfo &Info, const InputQuery &IsInput) {
  BlockChecker C(Diags, Spec);
  C.InfoPtr = &Info;
  C.IsInput = IsInput;
  C.data(S);
}

} // namespace adj
