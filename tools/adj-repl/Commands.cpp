//===- Commands.cpp - The REPL's :commands --------------------------------===//
///
/// One table lists every command with its arguments and a line of help;
/// :help prints it and tab completion reads it. Each command is a Repl
/// method that prints its result to stdout and returns false after printing
/// an error. Training, evaluation, options, checkpoints and parameter
/// access go through the runtime's session API, IR through the engine, so
/// the REPL and `adjc --run` share one engine.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/Repl.h"

#include "frontend/Builtins.h"
#include "frontend/Sema.h"
#include "runtime/adjoint_rt_io.h"
#include "tools/adj-repl/ModelText.h"
#include "tools/engine/GradCheck.h"
#include "tools/engine/Memory.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>

namespace adj {

/// Reads a positive integer; false when \p Text is not one.
static bool parsePositive(const std::string &Text, int64_t &Out) {
  if (Text.empty() || Text.size() > 12 ||
      Text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  Out = std::stoll(Text);
  return Out > 0;
}

bool Repl::runCommand(const std::string &Line) {
  size_t Space = Line.find_first_of(" \t");
  std::string Name =
      Line.substr(1, Space == std::string::npos ? Space : Space - 1);
  std::string Args;
  if (Space != std::string::npos) {
    size_t B = Line.find_first_not_of(" \t", Space);
    Args = B == std::string::npos ? "" : Line.substr(B);
  }
  if (Name == "q" || Name == "exit")
    Name = "quit";
  if (Name == "quit!") {
    Quit = true;
    return true;
  }
  size_t N;
  const Command *Cmds = commands(N);
  for (size_t I = 0; I < N; ++I)
    if (Name == Cmds[I].Name)
      return (this->*Cmds[I].Run)(Args);
  return replError(fmt::format("unknown command ':{}' (type :help)", Name));
}

bool Repl::cmdHelp(const std::string &) {
  size_t N;
  const Command *Cmds = commands(N);
  std::printf("Commands:\n");
  for (size_t I = 0; I < N; ++I) {
    std::string Left = fmt::format(":{} {}", Cmds[I].Name, Cmds[I].Args);
    std::printf("  %-26s %s\n", Left.c_str(), Cmds[I].Help);
  }
  std::printf(
      "Model statements (input, param, def, NAME = expr, loss, metric, "
      "train { }, data { }) edit the\nmodel: a statement redefines the one "
      "of the same name in place, or is added; the model\nrecompiles and "
      "parameters keep their values where names and shapes match.\n");
  return true;
}

bool Repl::trainWith(int64_t Epochs, int64_t Steps) {
  if (!ensureSession(Steps ? ":steps" : ":train"))
    return false;
  Training = Session;
  int RC = adj_rt_session_train(Session, Epochs, Steps);
  Training = nullptr;
  ParamsDirty = true;
  if (RC == ADJ_RT_INTERRUPTED)
    return true;
  if (RC != 0)
    return replError(adj_rt_last_error());
  return true;
}

bool Repl::cmdTrain(const std::string &Args) {
  int64_t Epochs = 0;
  if (!Args.empty() && !parsePositive(Args, Epochs))
    return replError(
        fmt::format(":train: '{}' is not a positive number of epochs", Args));
  return trainWith(Epochs, 0);
}

bool Repl::cmdSteps(const std::string &Args) {
  int64_t Steps = 0;
  if (!parsePositive(Args, Steps))
    return replError(
        fmt::format(":steps: '{}' is not a positive number of steps", Args));
  return trainWith(0, Steps);
}

bool Repl::cmdEval(const std::string &) {
  if (!ensureSession(":eval"))
    return false;
  if (adj_rt_session_eval(Session, nullptr))
    return replError(adj_rt_last_error());
  return true;
}

/// Prints the session's settings on one line.
static void printSettings(adj_rt_session *S) {
  adj_rt_session_info I;
  adj_rt_session_get_info(S, &I);
  std::printf("lr %g  batch %lld  optimizer %s  seed %llu  threads %s  "
              "shuffle %s  epochs %lld\n",
              I.lr, (long long)I.batch, I.optimizer, (unsigned long long)I.seed,
              I.threads ? std::to_string(I.threads).c_str() : "default",
              I.shuffle ? "on" : "off", (long long)I.epochs);
}

bool Repl::cmdSet(const std::string &Args) {
  std::istringstream In(Args);
  std::string Flag, Value, Extra;
  In >> Flag >> Value >> Extra;
  if (!Extra.empty())
    return replError(":set: expected ':set FLAG VALUE'");
  Flag.erase(0, Flag.find_first_not_of('-'));
  if (Flag.empty()) {
    if (!ensureSession(":set"))
      return false;
    printSettings(Session);
    return true;
  }
  const char *V = Value.empty() ? nullptr : Value.c_str();
  if (Flag == "optimizer") { // a train step for it: recompile
    if (!lookupOptimizer(Value))
      return replError(fmt::format("--optimizer: unknown optimizer '{}' "
                                   "(expected {})",
                                   Value, optimizerNames()));
    std::string Old = Optimizer;
    Optimizer = Value;
    if (CM && !switchModel(Text, 0, "")) {
      Optimizer = Old;
      return false;
    }
    if (Session)
      printSettings(Session);
    return true;
  }
  if (!Session) { // checked now, applied when the session is created
    adj_rt_options O;
    adj_rt_options_init(&O);
    int RC = adj_rt_options_set(&O, Flag.c_str(), V);
    adj_rt_options_free(&O);
    if (RC)
      return replError(adj_rt_last_error());
    Pending.push_back({Flag, Value});
    std::printf("%s will apply when the model has a training session\n",
                Flag.c_str());
    return true;
  }
  if (adj_rt_session_set_option(Session, Flag.c_str(), V))
    return replError(adj_rt_last_error());
  Pending.push_back({Flag, Value});
  printSettings(Session);
  return true;
}

bool Repl::cmdData(const std::string &Args) {
  if (Args.empty())
    return replError(":data: expected SPLIT.INPUT=PATH");
  if (!Session) {
    if (!CM)
      return cmdSet("data " + Args);
    // A compiled model without a session lacks data: try again with it.
    adj_rt_options O;
    adj_rt_options_init(&O);
    int RC = adj_rt_options_set(&O, "data", Args.c_str());
    adj_rt_options_free(&O);
    if (RC)
      return replError(adj_rt_last_error());
    Pending.push_back({"data", Args});
    if (!switchModel(Text, 0, "")) {
      Pending.pop_back();
      return false;
    }
    if (!Session) {
      // Inputs still without data are a state of the set-up (the next
      // :data gives them), not a failure; any other error is, and the
      // override is dropped.
      if (SessionError.rfind("no training data for input", 0) == 0) {
        std::printf("data %s set; no training session yet: %s\n", Args.c_str(),
                    SessionError.c_str());
        return true;
      }
      Pending.pop_back();
      return replError("no training session: " + SessionError);
    }
    adj_rt_session_info I;
    adj_rt_session_get_info(Session, &I);
    std::printf("training session ready: train %lld, test %lld samples\n",
                (long long)I.train_samples, (long long)I.test_samples);
    return true;
  }
  if (adj_rt_session_set_option(Session, "data", Args.c_str()))
    return replError(adj_rt_last_error());
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  std::printf("train %lld, test %lld samples\n", (long long)I.train_samples,
              (long long)I.test_samples);
  return true;
}

static const std::vector<std::pair<std::string, Stage>> &stages() {
  static const std::vector<std::pair<std::string, Stage>> S = {
      {"ast", Stage::AST}, {"ir", Stage::IR},     {"grad", Stage::Grad},
      {"opt", Stage::Opt}, {"llvm", Stage::LLVM}, {"asm", Stage::Asm},
      {"dot", Stage::Dot}};
  return S;
}

bool Repl::cmdIR(const std::string &Args) {
  auto It = std::find_if(stages().begin(), stages().end(),
                         [&](auto &P) { return P.first == Args; });
  if (It == stages().end())
    return replError(fmt::format(":ir: unknown stage '{}' (expected ast, ir, "
                                 "grad, opt, llvm, asm or dot)",
                                 Args));
  std::ostringstream Errs;
  DiagEngine Diags(Errs);
  std::string Out;
  bool Ok;
  if (It->second == Stage::AST) {
    Ok = dumpAST(diagName(), Text, Diags, Out);
  } else {
    if (!CM)
      return replError(":ir: no model yet");
    EngineOptions EO = engineOptions();
    if (Session) {
      adj_rt_session_info I;
      adj_rt_session_get_info(Session, &I);
      EO.Optimizer = I.optimizer;
    }
    Engine E(EO, Diags, Errs, "adj-repl");
    Ok = E.emit(*CM->Spec, It->second, Out);
  }
  std::fflush(stdout);
  std::cerr << Errs.str();
  if (!Ok)
    return false;
  std::fputs(Out.c_str(), stdout);
  return true;
}

static std::string shapeText(const adj_rt_named_tensor &T) {
  std::string S = "[";
  for (int K = 0; K < T.rank; ++K)
    S += (K ? ", " : "") + std::to_string(T.dims[K]);
  return S + "]";
}

static int64_t elementCount(const adj_rt_named_tensor &T) {
  int64_t N = 1;
  for (int K = 0; K < T.rank; ++K)
    N *= T.dims[K];
  return N;
}

static double element(const adj_rt_named_tensor &T, int64_t I) {
  return T.dtype == ADJ_RT_F64 ? static_cast<const double *>(T.data)[I]
                               : static_cast<const float *>(T.data)[I];
}

bool Repl::cmdParams(const std::string &) {
  if (!ensureSession(":params"))
    return false;
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  std::printf("%-12s %-14s %10s %10s %10s %10s %12s\n", "name", "shape", "mean",
              "std", "min", "max", "last update");
  for (int P = 0; P < I.num_params; ++P) {
    adj_rt_named_tensor T;
    adj_rt_session_param(Session, P, &T);
    int64_t N = elementCount(T);
    double Sum = 0, Sq = 0, Lo = INFINITY, Hi = -INFINITY;
    for (int64_t K = 0; K < N; ++K) {
      double V = element(T, K);
      Sum += V;
      Sq += V * V;
      Lo = std::min(Lo, V);
      Hi = std::max(Hi, V);
    }
    double Mean = N ? Sum / double(N) : 0;
    double Std = N ? std::sqrt(std::max(0.0, Sq / double(N) - Mean * Mean)) : 0;
    double Norm = adj_rt_session_update_norm(Session, P);
    std::string Update = Norm < 0 ? "-" : fmt::format("{:.4g}", Norm);
    if (adj_rt_session_param_is_buffer(Session, P))
      Update = "(buffer)";
    std::printf("%-12s %-14s %10.4g %10.4g %10.4g %10.4g %12s\n", T.name,
                shapeText(T).c_str(), Mean, Std, Lo, Hi, Update.c_str());
  }
  std::printf("%s values; last update: L2 norm of the change made by the "
              "last optimizer step\n",
              groupDigits(I.param_values).c_str());
  return true;
}

/// One dim of a :show slice: [Begin, End) and whether it was an index.
struct Range {
  int64_t Begin = 0, End = 0;
  bool Index = false;
};

/// Parses "NAME" or "NAME[a:b, c, :]" against \p T's dims.
static bool parseSlices(const std::string &Spec, const adj_rt_named_tensor &T,
                        std::vector<Range> &Out) {
  Out.clear();
  for (int K = 0; K < T.rank; ++K)
    Out.push_back({0, T.dims[K], false});
  size_t Open = Spec.find('[');
  if (Open == std::string::npos)
    return true;
  if (Spec.back() != ']')
    return replError(":show: expected ']' at the end of '" + Spec + "'");
  std::string Body = Spec.substr(Open + 1, Spec.size() - Open - 2);
  std::vector<std::string> Parts;
  std::stringstream In(Body);
  for (std::string P; std::getline(In, P, ',');)
    Parts.push_back(P);
  if (Parts.size() > size_t(T.rank))
    return replError(fmt::format(":show: {} has {} dims, not {}", T.name,
                                 T.rank, Parts.size()));
  auto Num = [&](std::string S, int64_t Dim, int64_t Default, int64_t &V) {
    S.erase(0, S.find_first_not_of(' '));
    S.erase(S.find_last_not_of(' ') + 1);
    if (S.empty()) {
      V = Default;
      return true;
    }
    size_t Used = 0;
    try {
      V = std::stoll(S, &Used);
    } catch (...) {
      return false;
    }
    if (Used != S.size())
      return false;
    if (V < 0)
      V += Dim;
    V = std::clamp<int64_t>(V, 0, Dim);
    return true;
  };
  for (size_t K = 0; K < Parts.size(); ++K) {
    int64_t Dim = T.dims[K];
    size_t Colon = Parts[K].find(':');
    Range &R = Out[K];
    bool Ok;
    if (Colon == std::string::npos) {
      Ok = Num(Parts[K], Dim, -1, R.Begin) && R.Begin >= 0 && R.Begin < Dim;
      R.End = R.Begin + 1;
      R.Index = true;
    } else {
      Ok = Num(Parts[K].substr(0, Colon), Dim, 0, R.Begin) &&
           Num(Parts[K].substr(Colon + 1), Dim, Dim, R.End);
      R.End = std::max(R.End, R.Begin);
    }
    if (!Ok)
      return replError(fmt::format(":show: bad index '{}' for dim {} of size "
                                   "{}",
                                   Parts[K], K, Dim));
  }
  return true;
}

bool Repl::cmdShow(const std::string &Args) {
  if (!ensureSession(":show"))
    return false;
  std::string Name = Args.substr(0, Args.find('['));
  Name.erase(Name.find_last_not_of(' ') + 1);
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  adj_rt_named_tensor T{};
  bool Found = false;
  for (int P = 0; P < I.num_params && !Found; ++P) {
    adj_rt_session_param(Session, P, &T);
    Found = Name == T.name;
  }
  if (!Found)
    return replError(fmt::format(":show: no parameter '{}' (:params lists "
                                 "them)",
                                 Name));
  std::vector<Range> R;
  if (!parseSlices(Args, T, R))
    return false;
  // Rows: every dim but the last; columns: the last.
  int64_t Count = 1;
  for (const Range &D : R)
    Count *= D.End - D.Begin;
  if (Count > 2000)
    return replError(fmt::format(":show: {} values; take a slice of at most "
                                 "2000, e.g. {}[0:4]",
                                 Count, T.name));
  std::vector<int64_t> Stride(size_t(T.rank), 1);
  for (int K = T.rank - 2; K >= 0; --K)
    Stride[size_t(K)] = Stride[size_t(K) + 1] * T.dims[K + 1];
  if (T.rank == 0 || Count == 0) {
    std::printf(Count ? "%.6g\n" : "(empty)\n", Count ? element(T, 0) : 0.0);
    return true;
  }
  std::vector<int64_t> Idx(size_t(T.rank));
  for (int K = 0; K < T.rank; ++K)
    Idx[size_t(K)] = R[size_t(K)].Begin;
  const Range &Last = R.back();
  for (;;) {
    int64_t Base = 0;
    std::string Row;
    for (int K = 0; K + 1 < T.rank; ++K) {
      Base += Idx[size_t(K)] * Stride[size_t(K)];
      if (!R[size_t(K)].Index)
        Row += (Row.empty() ? "" : ",") + std::to_string(Idx[size_t(K)]);
    }
    std::string Line = Row.empty() ? "" : fmt::format("[{}] ", Row);
    for (int64_t C = Last.Begin; C < Last.End; ++C)
      Line += fmt::format("{:>11.5g}", element(T, Base + C));
    std::printf("%s\n", Line.c_str());
    int K = T.rank - 2;
    for (; K >= 0; --K) {
      if (++Idx[size_t(K)] < R[size_t(K)].End)
        break;
      Idx[size_t(K)] = R[size_t(K)].Begin;
    }
    if (K < 0)
      break;
  }
  return true;
}

bool Repl::cmdPlot(const std::string &) {
  if (!ensureSession(":plot"))
    return false;
  const adj_rt_epoch_record *Rec;
  int N = adj_rt_session_history(Session, &Rec);
  if (N == 0)
    return replError(":plot: no epochs trained yet (:train first)");
  const int Height = 12, Width = std::min(N, 60);
  double Lo = INFINITY, Hi = -INFINITY;
  for (int I = 0; I < N; ++I)
    for (double V : {Rec[I].train_loss, Rec[I].test_loss})
      if (std::isfinite(V)) {
        Lo = std::min(Lo, V);
        Hi = std::max(Hi, V);
      }
  if (Hi - Lo < 1e-12)
    Hi = Lo + 1e-12;
  std::vector<std::string> Grid(Height, std::string(size_t(Width), ' '));
  auto Put = [&](int Col, double V, char C) {
    if (!std::isfinite(V))
      return;
    int Row = int(std::lround((Hi - V) / (Hi - Lo) * (Height - 1)));
    char &Cell = Grid[size_t(Row)][size_t(Col)];
    Cell = Cell == ' ' || Cell == C ? C : '#';
  };
  for (int Col = 0; Col < Width; ++Col) {
    int I = Width == 1 ? N - 1 : int(int64_t(Col) * (N - 1) / (Width - 1));
    Put(Col, Rec[I].train_loss, '*');
    Put(Col, Rec[I].test_loss, 'o');
  }
  for (int Row = 0; Row < Height; ++Row) {
    std::string Label = Row == 0            ? fmt::format("{:.4g}", Hi)
                        : Row == Height - 1 ? fmt::format("{:.4g}", Lo)
                                            : "";
    std::printf("%10s |%s\n", Label.c_str(), Grid[size_t(Row)].c_str());
  }
  std::printf("%10s +%s\n", "", std::string(size_t(Width), '-').c_str());
  std::printf("%10s  epoch %lld%*s%lld\n", "", (long long)Rec[0].epoch,
              std::max(1, Width - 8 - int(std::to_string(Rec[0].epoch).size())),
              "", (long long)Rec[N - 1].epoch);
  std::printf("%10s  * train_loss  o test_loss  # both\n", "");
  return true;
}

bool Repl::cmdGradCheck(const std::string &) {
  if (!CM)
    return replError(":gradcheck: no model yet");
  GradCheckOptions GO;
  if (Session) {
    adj_rt_session_info I;
    adj_rt_session_get_info(Session, &I);
    GO.Seed = I.seed;
  }
  GO.Progress = &std::cerr;
  GO.MemoryLimit = physicalMemoryBytes();
  for (const LabelSpec &L : CM->Spec->Labels)
    GO.Classes[L.Input] = L.Classes;
  rangesFromInitialisers(*CM->Spec, GO);
  GradCheckResult R = gradCheck(*CM->Spec->M, GO);
  std::fflush(stdout);
  for (const std::string &W : R.Warnings)
    std::cerr << "warning: " << W << "\n";
  std::cout << formatGradCheck(R);
  std::cout.flush();
  return R.Ok || replError("gradient check failed");
}

bool Repl::cmdSave(const std::string &Args) {
  if (!ensureSession(":save"))
    return false;
  if (Args.empty())
    return replError(":save: expected a file name");
  if (adj_rt_session_save(Session, Args.c_str()))
    return replError(adj_rt_last_error());
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  std::printf("saved %s (step %lld)\n", Args.c_str(), (long long)I.step);
  ParamsDirty = false;
  return true;
}

bool Repl::cmdLoad(const std::string &Args) {
  if (!ensureSession(":load"))
    return false;
  if (Args.empty())
    return replError(":load: expected a file name");
  if (adj_rt_session_load(Session, Args.c_str()))
    return replError(adj_rt_last_error());
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  std::printf("loaded %s (step %lld, epoch %lld)\n", Args.c_str(),
              (long long)I.step, (long long)I.epoch);
  ParamsDirty = false;
  return true;
}

bool Repl::cmdInitFrom(const std::string &Args) {
  if (!ensureSession(":init-from"))
    return false;
  std::istringstream Words(Args);
  std::string File, Map;
  Words >> File >> Map;
  if (File.empty())
    return replError(":init-from: expected a file name");
  if (adj_rt_session_init_from(Session, File.c_str(), Map.c_str()))
    return replError(adj_rt_last_error());
  ParamsDirty = true;
  return true;
}

bool Repl::cmdReset(const std::string &Args) {
  if (!ensureSession(":reset"))
    return false;
  std::istringstream Words(Args);
  std::string Name, Extra;
  Words >> Name >> Extra;
  if (!Extra.empty())
    return replError(":reset: expected at most one parameter name");
  if (adj_rt_session_reset(Session, Name.c_str()))
    return replError(":reset: " + std::string(adj_rt_last_error()));
  if (Name.empty())
    std::printf("reset every parameter to its initialiser; optimizer "
                "restarted at step 0\n");
  else
    std::printf("reset %s to its initialiser, with its optimizer state\n",
                Name.c_str());
  ParamsDirty = true;
  return true;
}

bool Repl::cmdPredict(const std::string &Args) {
  if (!ensureSession(":predict"))
    return false;
  std::string Inputs, Out;
  bool Classes = false;
  std::istringstream Words(Args);
  for (std::string W; Words >> W;) {
    if (W == "classes" || W == "--classes")
      Classes = true;
    else if (W.find('=') != std::string::npos)
      Inputs += (Inputs.empty() ? "" : ",") + W;
    else
      Out = W;
  }
  if (Inputs.empty() || Out.empty())
    return replError(":predict: expected INPUT=PATH ... FILE.npy [classes]");
  if (adj_rt_session_predict(Session, Inputs.c_str(), Out.c_str(), Classes))
    return replError(adj_rt_last_error());
  return true;
}

bool Repl::cmdTime(const std::string &) {
  if (!CM)
    return replError(":time: no model yet");
  std::string Line = fmt::format("compile: frontend {:.3f} s", FrontendSeconds);
  for (auto &[Stage, Secs] : CM->StageSeconds)
    Line += fmt::format(", {} {:.3f} s", Stage, Secs);
  std::printf("%s; total %.3f s\n", Line.c_str(),
              FrontendSeconds + CM->CompileSeconds);
  if (!Session)
    return true;
  adj_rt_session_info I;
  adj_rt_session_get_info(Session, &I);
  if (I.trained_steps == 0 || I.train_seconds <= 0) {
    std::printf("training: no steps yet\n");
    return true;
  }
  std::printf(
      "training: %lld steps in %.3g s: %s steps/s, %s samples/s "
      "(batch %lld)\n",
      (long long)I.trained_steps, I.train_seconds,
      groupDigits(int64_t(double(I.trained_steps) / I.train_seconds)).c_str(),
      groupDigits(int64_t(double(I.trained_samples) / I.train_seconds)).c_str(),
      (long long)I.batch);
  return true;
}

bool Repl::cmdSource(const std::string &) {
  std::fputs(Text.c_str(), stdout);
  return true;
}

bool Repl::cmdWrite(const std::string &Args) {
  std::string Path = Args.empty() ? ModelPath : Args;
  if (Path.empty())
    return replError(":write: expected a file name");
  // Atomically, as checkpoints are: a failed write keeps the old file.
  if (adj_rt_write_file(Path.c_str(), "model", Text.data(), Text.size(), 0666))
    return replError(adj_rt_last_error());
  std::printf("wrote %s\n", Path.c_str());
  TextDirty = false;
  return true;
}

bool Repl::cmdDrop(const std::string &Args) {
  std::string Out, What;
  if (!removeStatement(Text, Args, Out, What))
    return replError(fmt::format(":drop: the model has no statement named "
                                 "'{}'",
                                 Args));
  return switchModel(Out, 0, What);
}

bool Repl::confirm(const std::string &Question) const {
  std::printf("%s [y/N] ", Question.c_str());
  std::fflush(stdout);
  char Buf[64];
  if (!std::fgets(Buf, sizeof Buf, stdin))
    return true;
  return Buf[0] == 'y' || Buf[0] == 'Y';
}

bool Repl::cmdQuit(const std::string &) {
  if (Interactive && hasUnsavedWork() &&
      !confirm(ParamsDirty ? "the trained parameters are not saved (:save "
                             "FILE); quit anyway?"
                           : "the model edits are not written (:write "
                             "FILE); quit anyway?"))
    return true;
  Quit = true;
  return true;
}

const Repl::Command *Repl::commands(size_t &Count) {
  static const Command Table[] = {
      {"help", &Repl::cmdHelp, "", "this list"},
      {"train", &Repl::cmdTrain, "[EPOCHS]",
       "train EPOCHS epochs (default: the model's)"},
      {"steps", &Repl::cmdSteps, "N", "train N optimizer steps"},
      {"eval", &Repl::cmdEval, "", "test loss and metrics"},
      {"set", &Repl::cmdSet, "[FLAG [VALUE]]",
       "show or set lr, batch, optimizer, seed, threads, ..."},
      {"data", &Repl::cmdData, "SPLIT.INPUT=PATH", "read an input from a file"},
      {"ir", &Repl::cmdIR, "STAGE", "print ast, ir, grad, opt, llvm, asm, dot"},
      {"params", &Repl::cmdParams, "", "parameter statistics"},
      {"show", &Repl::cmdShow, "NAME[SLICE]",
       "values, e.g. :show w1[0:3, 0:5]"},
      {"plot", &Repl::cmdPlot, "", "train/test loss per epoch"},
      {"gradcheck", &Repl::cmdGradCheck, "", "analytic vs numerical gradients"},
      {"save", &Repl::cmdSave, "FILE", "write a checkpoint"},
      {"load", &Repl::cmdLoad, "FILE", "read a checkpoint"},
      {"init-from", &Repl::cmdInitFrom, "FILE [NEW=OLD,...]",
       "copy the tensors that match; fresh optimizer"},
      {"reset", &Repl::cmdReset, "[PARAM]",
       "re-initialise all parameters (or one) and their optimizer state"},
      {"predict", &Repl::cmdPredict, "INPUT=PATH... FILE [classes]",
       "the model's output for new inputs to .npy/.csv"},
      {"sample", &Repl::cmdSample, "N [\"PROMPT\"] [temperature=T]",
       "generate N bytes from a byte-level language model"},
      {"time", &Repl::cmdTime, "", "compile time per stage, steps/s"},
      {"source", &Repl::cmdSource, "", "print the model's source"},
      {"write", &Repl::cmdWrite, "[FILE]", "write the model's source"},
      {"drop", &Repl::cmdDrop, "NAME", "remove a statement from the model"},
      {"quit", &Repl::cmdQuit, "", "leave (:quit! without asking)"},
  };
  Count = sizeof Table / sizeof Table[0];
  return Table;
}

std::vector<std::string> Repl::complete(const std::string &Before) const {
  size_t Start = Before.find_last_of(" \t,([=+-*/@");
  Start = Start == std::string::npos ? 0 : Start + 1;
  std::string Word = Before.substr(Start);
  std::vector<std::string> Pool;
  size_t N;
  const Command *Cmds = commands(N);
  std::string Cmd = Before.substr(0, Before.find(' '));
  bool First = Start == 0;
  if (First && !Word.empty() && Word[0] == ':') {
    for (size_t I = 0; I < N; ++I)
      Pool.push_back(std::string(":") + Cmds[I].Name);
  } else if (Cmd == ":ir") {
    for (auto &[Name, S] : stages())
      Pool.push_back(Name);
  } else if (Cmd == ":set") {
#define OPTION(Name, Flag, Kind, Field, Value, Help) Pool.push_back(Flag);
#include "runtime/TrainerOptions.def"
  } else if (Cmd == ":data") {
    Pool = {"train.", "test."};
  } else if (Cmd == ":show" || Cmd == ":drop" || !First || Word.empty() ||
             Word[0] != ':') {
    if (Session) {
      adj_rt_session_info I;
      adj_rt_session_get_info(Session, &I);
      for (int P = 0; P < I.num_params; ++P) {
        adj_rt_named_tensor T;
        adj_rt_session_param(const_cast<adj_rt_session *>(Session), P, &T);
        Pool.push_back(T.name);
      }
    }
    for (const std::string &Name : statementNames(Text))
      Pool.push_back(Name);
    if (Cmd.empty() || Cmd[0] != ':') {
      for (const char *K : {"input", "param", "buffer", "def", "loss", "metric",
                            "train", "data", "model", "frozen"})
        Pool.push_back(K);
      for (const std::string &B : builtinNames())
        Pool.push_back(B);
      for (const std::string &I : initialiserNames())
        Pool.push_back(I);
    }
  }
  std::vector<std::string> Out;
  for (const std::string &P : Pool)
    if (P.compare(0, Word.size(), Word) == 0 &&
        std::find(Out.begin(), Out.end(), P) == Out.end())
      Out.push_back(P);
  std::sort(Out.begin(), Out.end());
  return Out;
}

} // namespace adj
