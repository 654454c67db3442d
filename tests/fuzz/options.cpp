//===- options.cpp - Fuzzing the trainer option parser --------------------===//
///
/// libFuzzer target. The input is lines `FLAG VALUE` (FLAG as in
/// runtime/TrainerOptions.def without dashes, VALUE the rest of the line,
/// possibly empty), each set with adj_rt_options_set(); the options are
/// then resolved against a small model with two inputs, two parameters
/// and data sources (resolveSettings: defaults, schedules, optimizers,
/// --freeze globs, --map, --data overrides), as a trainer does before it
/// loads anything.
///
//===----------------------------------------------------------------------===//
#include "runtime/Trainer.h"
#include "runtime/adjoint_rt.h"

#include <string>

namespace {

int32_t noStep(int64_t, void *const *, void *const *) { return 0; }

const int64_t XDims[] = {ADJ_RT_BATCH, 4}, YDims[] = {ADJ_RT_BATCH};
const int64_t WDims[] = {4, 3}, BDims[] = {3};
const adj_rt_value_desc Args[] = {
    {"x", ADJ_RT_ARG_INPUT, ADJ_RT_F32, 2, XDims, 0},
    {"y", ADJ_RT_ARG_INPUT, ADJ_RT_I32, 1, YDims, 0},
    {"w", ADJ_RT_ARG_PARAM, ADJ_RT_F32, 2, WDims, 0},
    {"b", ADJ_RT_ARG_PARAM, ADJ_RT_F32, 1, BDims, 0},
    {"lr", ADJ_RT_ARG_HYPER, ADJ_RT_F32, 0, nullptr, 0}};
const adj_rt_value_desc Results[] = {
    {"loss", ADJ_RT_ARG_INPUT, ADJ_RT_F32, 0, nullptr, 0}};
const adj_rt_param_desc Params[] = {
    {"w", 2, WDims, ADJ_RT_INIT_ZEROS, 0, 0, 0, 0, 0, 0, nullptr, nullptr},
    {"b", 1, BDims, ADJ_RT_INIT_ZEROS, 0, 0, 0, 0, 0, 0, nullptr, nullptr}};
const adj_rt_data_desc Data[] = {
    {"train", "x", ADJ_RT_DATA_CSV, "x.csv", 1, "a,b,c,d", -1, 0, 0, 0, 1},
    {"train", "y", ADJ_RT_DATA_TEXT, "y.txt", 1, nullptr, 0, 8, 1, 0, 0.9},
    {"test", "x", ADJ_RT_DATA_NPY, "tx.npy", 1, nullptr, 0, 0, 0, 0, 1}};

adj_rt_model makeModel() {
  adj_rt_model M{};
  M.abi_version = ADJ_RT_ABI_VERSION;
  M.name = "fuzz";
  M.train_step = {"train_step", noStep, 5, Args, 1, Results};
  M.eval_step = {"eval_step", noStep, 4, Args, 1, Results};
  M.num_params = 2;
  M.params = Params;
  M.num_data = 3;
  M.data = Data;
  M.optimizer = "sgd";
  M.lr = 0.1;
  M.batch = 8;
  M.epochs = 1;
  return M;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Bytes, size_t Size) {
  static const adj_rt_model Model = makeModel();
  std::string Text(reinterpret_cast<const char *>(Bytes), Size);
  adj_rt_options O;
  adj_rt_options_init(&O);
  size_t Pos = 0;
  bool Ok = true;
  while (Ok && Pos <= Text.size()) {
    size_t NL = Text.find('\n', Pos);
    std::string Line =
        Text.substr(Pos, NL == std::string::npos ? NL : NL - Pos);
    Pos = NL == std::string::npos ? Text.size() + 1 : NL + 1;
    size_t Sp = Line.find(' ');
    std::string Flag = Line.substr(0, Sp);
    std::string Value = Sp == std::string::npos ? "" : Line.substr(Sp + 1);
    Ok = adj_rt_options_set(&O, Flag.c_str(),
                            Sp == std::string::npos ? nullptr
                                                    : Value.c_str()) == 0;
  }
  if (Ok) {
    adj::rt::Settings S;
    adj::rt::resolveSettings(Model, O, S);
  }
  adj_rt_options_free(&O);
  return 0;
}
