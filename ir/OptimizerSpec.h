//===- OptimizerSpec.h - An optimizer and its hyperparameters ---*- C++ -*-===//
///
/// What a model's `train { optimizer = adam(lr = 0.001) }` says: the
/// frontend writes it (Frontend.h's TrainSpec), the `optimizer` pass
/// compiles it into @train_step (passes/Optimizer.cpp). One struct for both
/// layers, so a new hyperparameter is added in one place. The optimizers,
/// their hyperparameters and their defaults live in Optimizers.def; this
/// header gives the table's lookups (names for messages, defaults, ranges).
/// The learning rate is a run-time argument of @train_step (%lr), not
/// compiled in.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_OPTIMIZERSPEC_H
#define ADJ_IR_OPTIMIZERSPEC_H

#include <string>
#include <vector>

namespace adj {

/// The optimizer of a model whose train { } block names none.
inline constexpr const char *kDefaultOptimizer = "adam";

enum class OptimizerKind {
#define OPTIMIZER(Name, Kind) Kind,
#include "ir/Optimizers.def"
};

struct OptimizerSpec {
  std::string Name;
  double Lr = 0;
  double Momentum = 0;                  ///< sgd
  bool Nesterov = false;                ///< sgd
  double Beta1 = 0, Beta2 = 0, Eps = 0; ///< adam, adamw
  double WeightDecay = 0;

  /// kDefaultOptimizer with its defaults.
  OptimizerSpec() : OptimizerSpec(kDefaultOptimizer) {}
  /// \p Name with the defaults of Optimizers.def (all zero when \p Name is
  /// no optimizer; the optimizer pass reports it).
  explicit OptimizerSpec(const std::string &Name);
};

/// The valid values of a hyperparameter.
enum class HyperRange { Positive, NonNegative, Unit, Flag };

struct OptimizerParam {
  const char *Key; ///< as written in models: lr, momentum, ...
  double Default;  ///< for Flag: 0 or 1
  HyperRange Range;
  /// Stores \p V in the field (a Flag: V != 0).
  void (*Set)(OptimizerSpec &S, double V);
};

struct OptimizerInfo {
  const char *Name;
  OptimizerKind Kind;
  std::vector<OptimizerParam> Params; ///< in positional order
};

/// Optimizers.def, in its order.
const std::vector<OptimizerInfo> &optimizerTable();
/// The optimizer named \p Name, or null.
const OptimizerInfo *lookupOptimizer(const std::string &Name);
/// The names for messages: "sgd, adam or adamw" (\p LastSep ", ": a list).
std::string optimizerNames(const char *LastSep = " or ");

/// Whether \p V is valid for \p R (Flag: always).
bool inRange(HyperRange R, double V);
/// "positive", "non-negative", "in [0, 1)", "true or false".
const char *describeRange(HyperRange R);

} // namespace adj

#endif
