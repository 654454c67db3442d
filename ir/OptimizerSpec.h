//===- OptimizerSpec.h - An optimizer and its hyperparameters ---*- C++ -*-===//
///
/// What a model's `train { optimizer = adam(lr = 0.001) }` says: the
/// frontend writes it (Frontend.h's TrainSpec), the `optimizer` pass
/// compiles it into @train_step (passes/Optimizer.cpp). One struct for both
/// layers, so a new hyperparameter is added in one place. The learning rate
/// is a run-time argument of @train_step (%lr), not compiled in.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_OPTIMIZERSPEC_H
#define ADJ_IR_OPTIMIZERSPEC_H

#include <string>

namespace adj {

struct OptimizerSpec {
  std::string Name = "adam"; ///< sgd, adam, adamw
  double Lr = 0.001;
  double Momentum = 0;   ///< sgd
  bool Nesterov = false; ///< sgd
  double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8; ///< adam, adamw
  double WeightDecay = 0; ///< adamw defaults to 0.01 as in PyTorch
};

} // namespace adj

#endif
