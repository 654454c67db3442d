//===- TrainerMain.cpp - The command line of a native trainer -------------===//
///
/// \file
/// adj_rt_trainer_main(): what a trainer's main() calls. The options come
/// from TrainerOptions.def and are registered with CLI11, which handles the
/// syntax (--batch 8, --batch=8, repeated options, --help); each value is
/// then stored with adj_rt_options_set(), which checks it with the same
/// messages `adjc --run` gives. --help adds the model's defaults, its
/// optimizers and its data sources to the options' own help. A model
/// compiled against another runtime ABI version is refused first, --help
/// included. Every error is printed as "PROGRAM: error: MESSAGE" with exit
/// status 1; a run stopped by SIGINT or SIGTERM exits with 128 + the
/// signal's number.
///
//===----------------------------------------------------------------------===//

#include "runtime/Distributed.h"
#include "runtime/Trainer.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <iostream>

using namespace adj::rt;

namespace {

std::string programName(int argc, char **argv) {
  if (argc < 1 || !argv[0] || !*argv[0])
    return "trainer";
  const char *slash = std::strrchr(argv[0], '/');
  return slash && slash[1] ? slash + 1 : argv[0];
}

/// The model's default for `flag`, as --help shows it ("" when none).
std::string modelDefault(const adj_rt_model &m, const std::string &flag) {
  if (flag == "epochs")
    return std::to_string(m.epochs);
  if (flag == "batch")
    return std::to_string(m.batch);
  if (flag == "lr")
    return format("%g", m.lr);
  if (flag == "seed")
    return std::to_string(m.seed);
  if (flag == "optimizer" && m.optimizer)
    return m.optimizer;
  if (flag == "schedule")
    return describeSchedule(m.schedule, 0);
  if (flag == "warmup")
    return std::to_string(m.warmup);
  return "";
}

/// The model's optimizers and data sources, after the options in --help.
std::string footer(const adj_rt_model &m) {
  std::string out;
  std::string optimizers = m.optimizer ? m.optimizer : "";
  for (int i = 0; m.optimizer_steps && i < m.num_optimizer_steps; ++i)
    if (const char *name = m.optimizer_steps[i].name)
      if (optimizers != name)
        optimizers += (optimizers.empty() ? "" : ", ") + std::string(name);
  if (!optimizers.empty())
    out += "Optimizers: " + optimizers + "\n";
  static const char *const Formats[] = {"idx", "npy", "csv"};
  for (int i = 0; m.data && i < m.num_data; ++i) {
    const adj_rt_data_desc &d = m.data[i];
    if (!d.split || !d.input || !d.path)
      continue;
    out += format("%s  %s.%s = %s(%s)\n",
                  i ? ""
                    : "Data (override with "
                      "--data):\n",
                  d.split, d.input,
                  unsigned(d.format) < 3 ? Formats[d.format] : "?",
                  quoted(d.path).c_str());
  }
  return out;
}

/// An option whose values are applied in order after parsing.
struct Registered {
  const char *Flag;
  bool IsFlag;
  CLI::Option *Opt;
};

} // namespace

extern "C" int adj_rt_trainer_main(const adj_rt_model *m, int argc,
                                   char **argv) {
  std::string prog = programName(argc, argv);
  auto error = [&](const std::string &message) {
    std::fprintf(stderr, "%s: error: %s%s\n", prog.c_str(),
                 rankPrefix().c_str(), message.c_str());
    return 1;
  };
  if (!m)
    return error("no model");
  if (checkAbiVersion(*m)) // before --help reads the model
    return error(adj_rt_last_error());
  adj_rt_options o;
  adj_rt_options_init(&o);
  int status = 0;
  try {
    CLI::App app(format("Trains the model '%s' compiled by Adjoint.",
                        m->name ? m->name : "model"),
                 prog);
    app.set_help_flag("-h,--help", "print this help and exit");
    app.allow_extras();
    app.footer(footer(*m));
    std::vector<Registered> options;
    auto add = [&](const char *flag, const char *kind, const char *value,
                   const char *help) {
      bool isFlag = std::strstr(kind, "Flag") != nullptr;
      std::string text = help;
      std::string def = modelDefault(*m, flag);
      if (!def.empty())
        text += " [default: " + def + "]";
      std::string name = std::string("--") + flag;
      // A const description: add_flag(name, T &) would bind a variable.
      const std::string &desc = text;
      CLI::Option *opt =
          isFlag
              ? app.add_flag(name, desc)
              : app.add_option(
                       name, [](const CLI::results_t &) { return true; }, desc)
                    ->type_name(value)
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      options.push_back({flag, isFlag, opt});
    };
#define OPTION(Name, Flag, Kind, Field, Value, Help)                           \
  add(Flag, #Kind, Value, Help);
#include "runtime/TrainerOptions.def"

    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp &) {
      std::cout << app.help();
      return 0;
    } catch (const CLI::ArgumentMismatch &e) {
      // "--batch: 1 required N missing"
      std::string what = e.what();
      return error(what.substr(0, what.find(':')) + ": expects a value");
    } catch (const CLI::ParseError &e) {
      std::string what = e.what();
      if (!what.empty())
        what[0] = char(std::tolower((unsigned char)what[0]));
      return error(what);
    }
    for (const Registered &r : options) {
      if (r.IsFlag) {
        if (r.Opt->count() && adj_rt_options_set(&o, r.Flag, nullptr))
          status = 1;
        continue;
      }
      for (const std::string &value : r.Opt->results())
        if (!status && adj_rt_options_set(&o, r.Flag, value.c_str()))
          status = 1;
    }
    for (const std::string &extra : app.remaining()) {
      if (status)
        break;
      status =
          fail(extra.size() > 1 && extra[0] == '-'
                   ? format("unknown option '%s' (see --help)", extra.c_str())
                   : format("unexpected argument '%s'", extra.c_str()));
    }
  } catch (const std::exception &e) {
    adj_rt_options_free(&o);
    return error(e.what());
  }
  if (!status) // 0, 1, or 128 + the signal that stopped training
    status = adj_rt_train(m, &o);
  if (status == 1)
    error(adj_rt_last_error());
  adj_rt_options_free(&o);
  return status;
}
