//===- OptimizerSpec.cpp - The optimizer table as data --------------------===//
///
/// Optimizers.def expanded once into a vector of OptimizerInfo; each
/// hyperparameter's setter is a captureless lambda writing its field, so
/// the frontend binds arguments and OptimizerSpec(Name) applies defaults
/// without naming fields.
///
//===----------------------------------------------------------------------===//
#include "ir/OptimizerSpec.h"

namespace adj {

const std::vector<OptimizerInfo> &optimizerTable() {
  static const std::vector<OptimizerInfo> Table = [] {
    std::vector<OptimizerInfo> T;
    auto Of = [&T](OptimizerKind K) -> OptimizerInfo & {
      for (OptimizerInfo &I : T)
        if (I.Kind == K)
          return I;
      return T.back();
    };
#define OPTIMIZER(Name, Kind) T.push_back({Name, OptimizerKind::Kind, {}});
#define HYPER(Kind, Key, Field, Default, Range)                                \
  Of(OptimizerKind::Kind)                                                      \
      .Params.push_back({Key, double(Default), HyperRange::Range,              \
                         [](OptimizerSpec &S, double V) {                      \
                           S.Field = decltype(S.Field)(V);                     \
                         }});
#include "ir/Optimizers.def"
    return T;
  }();
  return Table;
}

const OptimizerInfo *lookupOptimizer(const std::string &Name) {
  for (const OptimizerInfo &I : optimizerTable())
    if (Name == I.Name)
      return &I;
  return nullptr;
}

std::string optimizerNames(const char *LastSep) {
  const std::vector<OptimizerInfo> &T = optimizerTable();
  std::string Out;
  for (size_t I = 0; I < T.size(); ++I) {
    if (I)
      Out += I + 1 == T.size() ? LastSep : ", ";
    Out += T[I].Name;
  }
  return Out;
}

OptimizerSpec::OptimizerSpec(const std::string &Name) : Name(Name) {
  if (const OptimizerInfo *I = lookupOptimizer(Name))
    for (const OptimizerParam &P : I->Params)
      P.Set(*this, P.Default);
}

bool inRange(HyperRange R, double V) {
  switch (R) {
  case HyperRange::Positive:
    return V > 0;
  case HyperRange::NonNegative:
    return V >= 0;
  case HyperRange::Unit:
    return V >= 0 && V < 1;
  case HyperRange::Flag:
    return true;
  }
  return false;
}

const char *describeRange(HyperRange R) {
  switch (R) {
  case HyperRange::Positive:
    return "positive";
  case HyperRange::NonNegative:
    return "non-negative";
  case HyperRange::Unit:
    return "in [0, 1)";
  case HyperRange::Flag:
    return "true or false";
  }
  return "";
}

} // namespace adj
