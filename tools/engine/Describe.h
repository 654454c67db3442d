//===- Describe.h - A compiled model described to the runtime ---*- C++ -*-===//
///
/// Builds the runtime's adj_rt_model from the IR module (@forward,
/// @train_step and optional @train_step_<optimizer> variants) and the
/// model spec: the roles, names and types of every step function's
/// arguments and results, the parameters' initialisers, the data sources
/// and the training defaults, and which results the step functions update
/// in place. The same description serves the JIT (function
/// pointers resolved in-process) and native trainers (emitted as C source
/// referring to the functions by symbol).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_DESCRIBE_H
#define ADJ_TOOLS_DESCRIBE_H

#include "codegen/StepPlan.h"
#include "frontend/Frontend.h"
#include "ir/IR.h"
#include "runtime/adjoint_rt.h"

#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace adj {

/// The prefix of optimizer variants of @train_step: train_step_sgd, ...
inline const char *kOptimizerStepPrefix = "train_step_";
/// The checked step (adj_rt_check_step): @train_step without the optimizer.
inline const char *kCheckStepName = "check_step";

class ModelDescription {
public:
  /// \p Resolve maps a function's symbol to its address (null for AOT);
  /// \p Lower are the options \p M was lowered with.
  ModelDescription(const Module &M, const ModelSpec &Spec,
                   const std::string &Optimizer,
                   const std::function<void *(const std::string &)> &Resolve,
                   const LowerOptions &Lower);
  ModelDescription(const ModelDescription &) = delete;
  ModelDescription &operator=(const ModelDescription &) = delete;

  const adj_rt_model &model() const { return Desc; }
  /// Describes \p F, the checked step (lowered with
  /// LowerOptions::CheckFunction naming it), with one site per op: its
  /// mnemonic and place in the model. Valid as long as this object.
  const adj_rt_check_step &
  describeCheck(const Function &F,
                const std::function<void *(const std::string &)> &R);
  /// Sets adj_rt_model::check_step and check_ctx.
  void setCheckProvider(const adj_rt_check_step *(*Fn)(void *), void *Ctx) {
    Desc.check_step = Fn;
    Desc.check_ctx = Ctx;
  }
  /// C source defining the description and a trainer's main(), which
  /// calls adj_rt_mpi_trainer_main with \p Mpi, else adj_rt_trainer_main.
  std::string emitC(bool Mpi = false) const;

private:
  LowerOptions Lower;
  adj_rt_model Desc{};
  std::vector<std::string> Symbols; ///< per adj_rt_function: its symbol
  // Deques: adding keeps the pointers into earlier entries valid.
  std::deque<std::vector<int64_t>> DimStore;
  std::deque<std::string> StrStore;
  std::deque<std::vector<adj_rt_value_desc>> ValueStore;
  std::vector<adj_rt_op_site> Sites;
  adj_rt_check_step Check{};
  bool HasCheck = false;
  std::vector<adj_rt_function> OptimizerSteps;
  std::vector<adj_rt_param_desc> Params;
  std::vector<adj_rt_data_desc> Data;
  std::vector<adj_rt_label_desc> Labels;
  const char *str(const std::string &S);
  /// \p M, F's module, sizes scan workspaces in the arena (null: none).
  adj_rt_function describe(const Function &F, const char *Name,
                           const std::function<void *(const std::string &)> &R,
                           const Module *M = nullptr);
};

} // namespace adj

#endif
