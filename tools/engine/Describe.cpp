//===- Describe.cpp - A compiled model described to the runtime -----------===//
///
/// Storage for every string and array the description points to lives in
/// this object (in deques, so pointers stay valid as it grows). Which results
/// may be updated in place comes from the step plan the code was lowered with
/// (planStep), so the description and the compiled code agree. emitC() walks
/// the finished adj_rt_model and prints it as C initialisers, so the JIT and a
/// native trainer are described by one piece of code. Both record the
/// runtime ABI version adjc was built with, which the runtime checks. The
/// frontend's enums for initialisers, data formats and schedules are mapped
/// to the runtime's here (the frontend does not include the runtime).
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Describe.h"

#include <fmt/format.h>

namespace adj {

static adj_rt_role roleOf(ArgRole R) {
  switch (R) {
  case ArgRole::Input:
    return ADJ_RT_ARG_INPUT;
  case ArgRole::Param:
    return ADJ_RT_ARG_PARAM;
  case ArgRole::State:
    return ADJ_RT_ARG_STATE;
  case ArgRole::Hyper:
    return ADJ_RT_ARG_HYPER;
  case ArgRole::Buffer:
    return ADJ_RT_ARG_BUFFER;
  }
  return ADJ_RT_ARG_INPUT;
}

static adj_rt_init initOf(InitKind K) {
  switch (K) {
  case InitKind::Zeros:
    return ADJ_RT_INIT_ZEROS;
  case InitKind::Ones:
    return ADJ_RT_INIT_ONES;
  case InitKind::Constant:
    return ADJ_RT_INIT_CONSTANT;
  case InitKind::Normal:
    return ADJ_RT_INIT_NORMAL;
  case InitKind::Uniform:
    return ADJ_RT_INIT_UNIFORM;
  case InitKind::GlorotUniform:
    return ADJ_RT_INIT_GLOROT_UNIFORM;
  case InitKind::GlorotNormal:
    return ADJ_RT_INIT_GLOROT_NORMAL;
  case InitKind::HeNormal:
    return ADJ_RT_INIT_HE_NORMAL;
  case InitKind::HeUniform:
    return ADJ_RT_INIT_HE_UNIFORM;
  case InitKind::KaimingUniform:
    return ADJ_RT_INIT_KAIMING_UNIFORM;
  case InitKind::UniformFanIn:
    return ADJ_RT_INIT_UNIFORM_FAN_IN;
  case InitKind::Pretrained:
    return ADJ_RT_INIT_PRETRAINED;
  }
  return ADJ_RT_INIT_ZEROS;
}

static adj_rt_data_format formatOf(DataFormat F) {
  switch (F) {
  case DataFormat::Idx:
    return ADJ_RT_DATA_IDX;
  case DataFormat::Npy:
    return ADJ_RT_DATA_NPY;
  case DataFormat::Csv:
    return ADJ_RT_DATA_CSV;
  case DataFormat::Text:
    return ADJ_RT_DATA_TEXT;
  }
  return ADJ_RT_DATA_IDX;
}

static adj_rt_schedule scheduleOf(const ScheduleSpec &S) {
  adj_rt_schedule_kind K = ADJ_RT_SCHEDULE_CONSTANT;
  switch (S.Kind) {
  case ScheduleKind::Constant:
    K = ADJ_RT_SCHEDULE_CONSTANT;
    break;
  case ScheduleKind::Step:
    K = ADJ_RT_SCHEDULE_STEP;
    break;
  case ScheduleKind::Cosine:
    K = ADJ_RT_SCHEDULE_COSINE;
    break;
  }
  return {K, S.StepSize, S.Gamma, S.TMax, S.EtaMin};
}

const char *ModelDescription::str(const std::string &S) {
  StrStore.push_back(S);
  return StrStore.back().c_str();
}

adj_rt_function
ModelDescription::describe(const Function &F, const char *Name,
                           const std::function<void *(const std::string &)> &R,
                           const Module *M) {
  auto Dims = [&](const std::vector<int64_t> &D) {
    DimStore.push_back(D);
    return DimStore.back().data();
  };
  ValueStore.emplace_back();
  std::vector<adj_rt_value_desc> &Args = ValueStore.back();
  for (size_t I = 0; I < F.Args.size(); ++I) {
    const Value &A = *F.Args[I];
    Args.push_back({str(A.Name), roleOf(F.Roles[I]), adj_rt_dtype(A.Type.Elt),
                    int(A.Type.rank()), Dims(A.Type.Dims), 0});
  }
  ValueStore.emplace_back();
  std::vector<adj_rt_value_desc> &Results = ValueStore.back();
  StepPlan Plan = planStep(F, Lower.forFunction(F.Name), M);
  const std::vector<bool> &InPlace = Plan.InPlace;
  for (size_t I = 0; I < F.Results.size(); ++I) {
    const Value &V = *F.Results[I].V;
    Results.push_back({str(F.Results[I].Name), ADJ_RT_ARG_INPUT,
                       adj_rt_dtype(V.Type.Elt), int(V.Type.rank()),
                       Dims(V.Type.Dims), InPlace[I] ? 1 : 0});
  }
  std::vector<int64_t> Arena;
  for (ByteSize S : Plan.Arena.Slices) {
    Arena.push_back(S.Mul);
    Arena.push_back(int64_t(S.Pow));
  }
  // The lower bound's polynomials as (polynomial, mul, pow) triples.
  std::vector<int64_t> Bound;
  std::vector<BytePoly> Polys = memoryBound(F, Plan).polynomials();
  for (size_t J = 0; J < Polys.size(); ++J)
    for (size_t K = 0; K < Polys[J].Coef.size(); ++K)
      if (Polys[J].Coef[K])
        Bound.insert(Bound.end(), {int64_t(J), Polys[J].Coef[K], int64_t(K)});
  Symbols.push_back(F.Name);
  return {Name,
          adj_rt_step_fn(R(F.Name)),
          int(Args.size()),
          Args.data(),
          int(Results.size()),
          Results.data(),
          int(Arena.size() / 2),
          Arena.empty() ? nullptr : Dims(Arena),
          int(Bound.size() / 3),
          Bound.empty() ? nullptr : Dims(Bound)};
}

ModelDescription::ModelDescription(
    const Module &M, const ModelSpec &Spec, const std::string &Optimizer,
    const std::function<void *(const std::string &)> &Resolve,
    const LowerOptions &Lower)
    : Lower(Lower) {
  OptimizerSteps.reserve(M.Functions.size());

  Desc.abi_version = ADJ_RT_ABI_VERSION;
  Desc.name = str(Spec.Name);
  Desc.eval_step = describe(*M.function("forward"), "eval_step", Resolve, &M);
  Desc.train_step =
      describe(*M.function("train_step"), "train_step", Resolve, &M);
  if (const Function *P = M.function("predict"))
    Desc.predict_step = describe(*P, "predict_step", Resolve, &M);
  std::string Prefix = kOptimizerStepPrefix;
  for (auto &F : M.Functions)
    if (F->Name.rfind(Prefix, 0) == 0)
      OptimizerSteps.push_back(
          describe(*F, str(F->Name.substr(Prefix.size())), Resolve, &M));
  Desc.num_optimizer_steps = OptimizerSteps.size();
  Desc.optimizer_steps = OptimizerSteps.data();

  for (const ParamSpec &P : Spec.Params) {
    DimStore.push_back(P.Type.Dims);
    bool Pre = P.Init == InitKind::Pretrained;
    Params.push_back({str(P.Name), int(P.Type.rank()), DimStore.back().data(),
                      initOf(P.Init), P.A, P.B, P.Frozen ? 1 : 0, P.FanIn,
                      P.FanOut, P.Buffer ? 1 : 0, Pre ? str(P.File) : nullptr,
                      Pre ? str(P.Tensor) : nullptr});
  }
  for (const DataSpec &D : Spec.Data)
    Data.push_back(
        {str(D.Split), str(D.Input), formatOf(D.Format), str(D.Path), D.Scale,
         D.Columns.empty() ? nullptr
                           : str(fmt::format("{}", fmt::join(D.Columns, ","))),
         D.Header ? 1 : 0, D.Seq, D.Offset, D.Start, D.End});
  for (const LabelSpec &L : Spec.Labels)
    Labels.push_back({str(L.Input), L.Classes,
                      str(fmt::format("{}:{}:{}", L.L.File, L.L.Line, L.L.Col)),
                      L.What.empty() ? nullptr : str(L.What)});
  Desc.num_params = Params.size();
  Desc.params = Params.data();
  Desc.num_data = Data.size();
  Desc.data = Data.data();
  Desc.num_labels = Labels.size();
  Desc.labels = Labels.data();
  Desc.optimizer = str(Optimizer);
  Desc.lr = Spec.Train.Optimizer.Lr;
  Desc.batch = Spec.Train.Batch;
  Desc.epochs = Spec.Train.Epochs;
  Desc.seed = Spec.Train.Seed;
  Desc.schedule = scheduleOf(Spec.Train.Schedule);
  Desc.warmup = Spec.Train.Warmup;
}

const adj_rt_check_step &ModelDescription::describeCheck(
    const Function &F, const std::function<void *(const std::string &)> &R) {
  Sites.clear();
  for (const auto &O : F.Ops) {
    const Loc &L = O->Location;
    Sites.push_back({str(O->info().Mnemonic),
                     L.known()
                         ? str(fmt::format("{}:{}:{}", L.File, L.Line, L.Col))
                         : nullptr,
                     L.Grad ? 1 : 0});
  }
  Check.step = describe(F, kCheckStepName, R);
  Check.num_sites = int(Sites.size());
  Check.sites = Sites.data();
  HasCheck = true;
  return Check;
}

/// A C string literal.
static std::string lit(const char *S) {
  if (!S)
    return "0";
  std::string Out = "\"";
  for (const char *P = S; *P; ++P) {
    unsigned char C = *P;
    if (C == '"' || C == '\\')
      Out += fmt::format("\\{}", char(C));
    else if (C < 32 || C >= 127)
      Out += fmt::format("\\{:03o}", C);
    else
      Out += char(C);
  }
  return Out + "\"";
}

/// A double that reads back exactly.
static std::string num(double D) { return fmt::format("{:.17g}", D); }

std::string ModelDescription::emitC(bool Mpi) const {
  std::string S = "/* Generated by adjc: the model description of a native "
                  "trainer. */\n#include \"runtime/adjoint_rt.h\"\n";
  if (Mpi)
    S += "#include \"runtime/adjoint_rt_mpi.h\"\n";
  S += "\n";
  unsigned Next = 0;
  auto Dims = [&](int Rank, const int64_t *D) {
    if (!Rank)
      return std::string("0");
    std::string Name = fmt::format("dims{}", Next++);
    std::string Init;
    for (int I = 0; I < Rank; ++I)
      Init += fmt::format("{}{}", I ? ", " : "", D[I]);
    S += fmt::format("static const int64_t {}[] = {{{}}};\n", Name, Init);
    return Name;
  };
  auto Values = [&](int N, const adj_rt_value_desc *V) {
    if (!N)
      return std::string("0");
    std::vector<std::string> DimNames;
    for (int I = 0; I < N; ++I)
      DimNames.push_back(Dims(V[I].rank, V[I].dims));
    std::string Name = fmt::format("values{}", Next++);
    S += fmt::format("static const adj_rt_value_desc {}[] = {{\n", Name);
    for (int I = 0; I < N; ++I)
      S += fmt::format(
          "  {{{}, (adj_rt_role){}, (adj_rt_dtype){}, {}, {}, {}}},\n",
          lit(V[I].name), int(V[I].role), int(V[I].dtype), V[I].rank,
          DimNames[I], V[I].inplace);
    S += "};\n";
    return Name;
  };
  size_t SymbolIdx = 0;
  auto Function = [&](const adj_rt_function &F) {
    std::string Sym = Symbols[SymbolIdx++];
    S += fmt::format("int32_t {}(int64_t, void *const *, void *const *);\n",
                     Sym);
    std::string A = Values(F.num_args, F.args);
    std::string R = Values(F.num_results, F.results);
    std::string Arena = Dims(2 * F.num_arena, F.arena);
    std::string Bound = Dims(3 * F.num_bound, F.bound);
    return fmt::format("{{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}}}",
                       lit(F.name), Sym, F.num_args, A, F.num_results, R,
                       F.num_arena, Arena, F.num_bound, Bound);
  };
  std::string Eval = Function(Desc.eval_step);
  std::string Train = Function(Desc.train_step);
  std::string Predict = Desc.predict_step.fn || Desc.predict_step.num_results
                            ? Function(Desc.predict_step)
                            : std::string("{0, 0, 0, 0, 0, 0}");
  std::vector<std::string> Opts;
  for (int I = 0; I < Desc.num_optimizer_steps; ++I)
    Opts.push_back(Function(Desc.optimizer_steps[I]));
  std::string CheckFn = "0";
  if (HasCheck) {
    std::string Step = Function(Check.step);
    S += "static const adj_rt_op_site sites[] = {\n";
    for (const adj_rt_op_site &Site : Sites)
      S += fmt::format("  {{{}, {}, {}}},\n", lit(Site.op), lit(Site.where),
                       Site.grad);
    S += fmt::format("}};\nstatic const adj_rt_check_step check = {{{}, {}, "
                     "sites}};\nstatic const adj_rt_check_step "
                     "*check_step_of(void *ctx) {{\n  (void)ctx;\n  return "
                     "&check;\n}}\n",
                     Step, Sites.size());
    CheckFn = "check_step_of";
  }
  std::string OptName = "0";
  if (!Opts.empty()) {
    OptName = "optimizer_steps";
    S += "static const adj_rt_function optimizer_steps[] = {\n";
    for (const std::string &O : Opts)
      S += "  " + O + ",\n";
    S += "};\n";
  }
  std::string ParamsName = "0";
  if (Desc.num_params) {
    std::vector<std::string> DimNames;
    for (int I = 0; I < Desc.num_params; ++I)
      DimNames.push_back(Dims(Desc.params[I].rank, Desc.params[I].dims));
    ParamsName = "params";
    S += "static const adj_rt_param_desc params[] = {\n";
    for (int I = 0; I < Desc.num_params; ++I) {
      const adj_rt_param_desc &P = Desc.params[I];
      S += fmt::format("  {{{}, {}, {}, (adj_rt_init){}, {}, {}, {}, {}, {}, "
                       "{}, {}, {}}},\n",
                       lit(P.name), P.rank, DimNames[I], int(P.init), num(P.a),
                       num(P.b), P.frozen, P.fan_in, P.fan_out, P.buffer,
                       lit(P.file), lit(P.tensor));
    }
    S += "};\n";
  }
  std::string DataName = "0";
  if (Desc.num_data) {
    DataName = "data";
    S += "static const adj_rt_data_desc data[] = {\n";
    for (int I = 0; I < Desc.num_data; ++I) {
      const adj_rt_data_desc &D = Desc.data[I];
      S += fmt::format("  {{{}, {}, (adj_rt_data_format){}, {}, {}, {}, {}, "
                       "{}, {}, {}, {}}},\n",
                       lit(D.split), lit(D.input), int(D.format), lit(D.path),
                       num(D.scale), lit(D.columns), D.header, D.seq, D.offset,
                       num(D.start), num(D.end));
    }
    S += "};\n";
  }
  std::string LabelsName = "0";
  if (Desc.num_labels) {
    LabelsName = "labels";
    S += "static const adj_rt_label_desc labels[] = {\n";
    for (int I = 0; I < Desc.num_labels; ++I)
      S += fmt::format("  {{{}, {}, {}, {}}},\n", lit(Desc.labels[I].input),
                       Desc.labels[I].classes, lit(Desc.labels[I].used_at),
                       lit(Desc.labels[I].what));
    S += "};\n";
  }
  S += fmt::format(
      "\nstatic const adj_rt_model model = {{\n  {}, /* abi_version */\n"
      "  {}, {}, {}, {}, {}, {}, {}, {}, {},\n  {}, {}, {}, {}, {}u, {}, {},\n"
      "  {{(adj_rt_schedule_kind){}, {}, {}, {}, {}}}, {},\n  {}, {}, 0}};\n\n"
      "int main(int argc, char **argv) {{\n"
      "  return adj_rt_{}trainer_main(&model, argc, argv);\n}}\n",
      Desc.abi_version, lit(Desc.name), Train, Eval, Desc.num_params,
      ParamsName, Desc.num_data, DataName, Desc.num_labels, LabelsName,
      lit(Desc.optimizer), num(Desc.lr), Desc.batch, Desc.epochs, Desc.seed,
      Desc.num_optimizer_steps, OptName, int(Desc.schedule.kind),
      Desc.schedule.step_size, num(Desc.schedule.gamma), Desc.schedule.t_max,
      num(Desc.schedule.eta_min), Desc.warmup, Predict, CheckFn,
      Mpi ? "mpi_" : "");
  return S;
}

} // namespace adj
