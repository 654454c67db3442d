//===- Builtins.cpp - The builtin table and the argument binder -----------===//
///
/// The table mirrors the builtins of the model language (docs/language.md).
/// Arguments bind like Python's: positional ones first, then `key = value`
/// ones by parameter name; each parameter at most once.
///
//===----------------------------------------------------------------------===//
#include "frontend/Builtins.h"

#include <fmt/format.h>
#include <unordered_map>

namespace adj {

static const std::vector<Builtin> &builtins() {
  using K = BuiltinKind;
  using O = OpKind;
  static const std::vector<Builtin> Table = {
      {"exp", K::Unary, O::Exp, {"x"}, 1},
      {"log", K::Unary, O::Log, {"x"}, 1},
      {"sqrt", K::Unary, O::Sqrt, {"x"}, 1},
      {"rsqrt", K::Unary, O::Rsqrt, {"x"}, 1},
      {"abs", K::Unary, O::Abs, {"x"}, 1},
      {"sin", K::Unary, O::Sin, {"x"}, 1},
      {"cos", K::Unary, O::Cos, {"x"}, 1},
      {"tanh", K::Unary, O::Tanh, {"x"}, 1},
      {"sigmoid", K::Unary, O::Sigmoid, {"x"}, 1},
      {"relu", K::Unary, O::Relu, {"x"}, 1},
      {"gelu", K::Unary, O::Gelu, {"x"}, 1},
      {"softplus", K::Unary, O::Softplus, {"x"}, 1},
      {"swish", K::Unary, O::Swish, {"x"}, 1},
      {"leaky_relu", K::UnaryAlpha, O::LeakyRelu, {"x", "alpha"}, 1, 0.01},
      {"elu", K::UnaryAlpha, O::Elu, {"x", "alpha"}, 1, 1.0},
      {"maximum", K::Binary, O::Maximum, {"a", "b"}, 2},
      {"minimum", K::Binary, O::Minimum, {"a", "b"}, 2},
      {"pow", K::Binary, O::Pow, {"a", "b"}, 2},
      {"matmul", K::Binary, O::MatMul, {"a", "b"}, 2},
      {"where", K::Where, O::Constant, {"cond", "a", "b"}, 3},
      {"clamp", K::Clamp, O::Constant, {"x", "lo", "hi"}, 3},
      {"sum", K::Reduce, O::ReduceSum, {"x", "axis", "keepdims"}, 1},
      {"mean", K::Reduce, O::ReduceMean, {"x", "axis", "keepdims"}, 1},
      {"max", K::Reduce, O::ReduceMax, {"x", "axis", "keepdims"}, 1},
      {"min", K::Reduce, O::ReduceMin, {"x", "axis", "keepdims"}, 1},
      {"logsumexp", K::LogSumExp, O::Constant, {"x", "axis", "keepdims"}, 1},
      {"reshape", K::Reshape, O::Reshape, {"x", "shape"}, 2},
      {"transpose", K::Transpose, O::Transpose, {"x", "perm"}, 1},
      {"broadcast_to", K::BroadcastTo, O::BroadcastTo, {"x", "shape"}, 2},
      {"slice", K::Slice, O::Slice, {"x", "axis", "start", "end"}, 4},
      {"concat", K::Concat, O::Concat, {"xs", "axis"}, 1},
      {"stack", K::Stack, O::Concat, {"xs", "axis"}, 1},
      {"softmax", K::Softmax, O::Softmax, {"x", "axis"}, 1},
      {"log_softmax", K::Softmax, O::LogSoftmax, {"x", "axis"}, 1},
      {"cross_entropy",
       K::CrossEntropy,
       O::CrossEntropy,
       {"logits", "labels", "label_smoothing"},
       2,
       0.0},
      {"nll", K::Nll, O::CrossEntropy, {"logp", "labels"}, 2},
      {"mse", K::Mse, O::Constant, {"pred", "target"}, 2},
      {"l1", K::L1, O::Constant, {"pred", "target"}, 2},
      {"huber", K::Huber, O::Constant, {"pred", "target", "delta"}, 2, 1.0},
      {"bce_with_logits",
       K::BceWithLogits,
       O::Constant,
       {"logits", "targets"},
       2},
      {"accuracy", K::Accuracy, O::Accuracy, {"logits", "labels"}, 2},
      {"argmax", K::ArgMax, O::ArgMax, {"x", "axis"}, 1},
  };
  return Table;
}

const Builtin *findBuiltin(const std::string &Name) {
  static const std::unordered_map<std::string, const Builtin *> ByName = [] {
    std::unordered_map<std::string, const Builtin *> M;
    for (const Builtin &B : builtins())
      M[B.Name] = &B;
    return M;
  }();
  auto It = ByName.find(Name);
  return It == ByName.end() ? nullptr : It->second;
}

std::optional<std::vector<const Expr *>>
bindArgs(const Expr &Call, const std::vector<std::string> &Params,
         unsigned Required, DiagEngine &Diags) {
  size_t Got = Call.Args.size() + Call.Keywords.size();
  if (Call.Args.size() > Params.size() || Got < Required) {
    std::string Want = Required == Params.size()
                           ? std::to_string(Required)
                           : fmt::format("{} to {}", Required, Params.size());
    Diags.error(Call.L,
                fmt::format("'{}' expects {} argument{}, got {}", Call.Text,
                            Want, Want == "1" ? "" : "s", Got));
    return std::nullopt;
  }
  std::vector<const Expr *> Out(Params.size());
  for (size_t I = 0; I < Call.Args.size(); ++I)
    Out[I] = Call.Args[I].get();
  for (const KeywordArg &K : Call.Keywords) {
    size_t I = 0;
    while (I < Params.size() && Params[I] != K.Name)
      ++I;
    if (I == Params.size()) {
      Diags.error(K.L, fmt::format("unknown keyword argument '{}' for '{}'",
                                   K.Name, Call.Text));
      return std::nullopt;
    }
    if (Out[I]) {
      Diags.error(K.L, fmt::format("argument '{}' of '{}' is given twice",
                                   K.Name, Call.Text));
      return std::nullopt;
    }
    Out[I] = K.Value.get();
  }
  for (unsigned I = 0; I < Required; ++I) {
    if (!Out[I]) {
      Diags.error(Call.L, fmt::format("missing argument '{}' for '{}'",
                                      Params[I], Call.Text));
      return std::nullopt;
    }
  }
  return Out;
}

} // namespace adj
