//===- Builtins.cpp - The builtin table and the argument binder -----------===//
///
/// The table mirrors the builtins of the model language (docs/language.md);
/// the unary math builtins come from Ops.def.
/// Arguments bind like Python's: positional ones first, then `key = value`
/// ones by parameter name; each parameter at most once.
///
//===----------------------------------------------------------------------===//
#include "frontend/Builtins.h"

#include <fmt/format.h>
#include <unordered_map>

namespace adj {

/// A builtin per unary op of Ops.def that is not an operator: `name(x)`
/// and its float attributes as optional parameters (`leaky_relu(x, alpha)`),
/// defaulting to Ops.def's values.
static void addUnaryOps(std::vector<Builtin> &Table) {
  for (OpKind K : allOps()) {
    if (!hasProp(K, props::Unary) || hasProp(K, props::Syntax))
      continue;
    Builtin B{opInfo(K).Mnemonic, BuiltinKind::Unary, K, {"x"}, 1};
    for (const AttrSpec &S : opInfo(K).attrs())
      if (S.Kind == AttrKind::Float)
        B.Params.push_back(S.Name);
    Table.push_back(std::move(B));
  }
}

static const std::vector<Builtin> &builtins() {
  using K = BuiltinKind;
  using O = OpKind;
  static const std::vector<Builtin> Table = [] {
    std::vector<Builtin> T = {
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
        {"conv2d",
         K::Conv2d,
         O::Conv2d,
         {"x", "w", "b", "stride", "padding", "dilation", "groups"},
         2},
        {"batch_norm",
         K::BatchNorm,
         O::Constant,
         {"x", "gamma", "beta", "mean", "var", "momentum", "eps"},
         5},
        {"dropout", K::Dropout, O::Constant, {"x", "p"}, 2},
        {"max_pool2d",
         K::Pool2d,
         O::MaxPool2d,
         {"x", "kernel", "stride", "padding"},
         2},
        {"avg_pool2d",
         K::Pool2d,
         O::AvgPool2d,
         {"x", "kernel", "stride", "padding"},
         2},
        // Model language v2: tensor creation and layers.
        {"zeros", K::Fill, O::Constant, {"shape"}, 1, 0.0},
        {"ones", K::Fill, O::Constant, {"shape"}, 1, 1.0},
        {"full", K::Fill, O::Constant, {"shape", "value"}, 2},
        {"flatten", K::Flatten, O::Reshape, {"x"}, 1},
        {"linear", K::Linear, O::MatMul, {"x", "w", "b"}, 2},
        {"conv1d",
         K::Conv1d,
         O::Conv2d,
         {"x", "w", "b", "stride", "padding", "dilation", "groups"},
         2},
        {"layer_norm",
         K::LayerNorm,
         O::Constant,
         {"x", "gamma", "beta", "eps"},
         3,
         1e-5},
        // Sequences.
        {"scan", K::Scan, O::Scan, {"f", "init", "xs", "axis"}, 3},
        {"rnn",
         K::Rnn,
         O::Scan,
         {"x", "h0", "w_ih", "w_hh", "b_ih", "b_hh", "nonlinearity"},
         4},
        {"lstm",
         K::Lstm,
         O::Scan,
         {"x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"},
         5},
        {"gru",
         K::Gru,
         O::Scan,
         {"x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"},
         4},
        // Token ids.
        {"embedding", K::Embedding, O::Embedding, {"table", "ids"}, 2},
        {"one_hot", K::OneHot, O::OneHot, {"ids", "classes"}, 2},
        {"select", K::Select, O::Slice, {"x", "axis", "index"}, 3},
    };
    addUnaryOps(T);
    return T;
  }();
  return Table;
}

std::vector<std::string> builtinNames() {
  std::vector<std::string> Names;
  for (const Builtin &B : builtins())
    Names.push_back(B.Name);
  return Names;
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
