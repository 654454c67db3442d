//===- Builtins.h - The model language's builtin functions ------*- C++ -*-===//
///
/// One table of builtins: name, how it lowers (one op, or a composite of
/// ops so that autodiff needs no extra rule), its parameter names and how
/// many are required. Sema checks calls against it; Lower emits the ops.
/// Also the argument binder shared by builtins, user functions,
/// initialisers, optimizers and data sources.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_BUILTINS_H
#define ADJ_FRONTEND_BUILTINS_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

#include <optional>
#include <string>
#include <vector>

namespace adj {

enum class BuiltinKind {
  Unary,  ///< Op(x, float attributes of Ops.def...)
  Binary, ///< Op(a, b), numbers allowed on either side
  Where,
  Clamp,
  Reduce, ///< Op(x) with `axes`, `keepdims`
  LogSumExp,
  Reshape,
  Transpose,
  BroadcastTo,
  Slice,
  Concat,  ///< concat([a, b, ...], axis)
  Stack,   ///< concat of the operands with a new axis
  Softmax, ///< Op(x) with `axis`
  CrossEntropy,
  Nll,
  Mse,
  L1,
  Huber,
  BceWithLogits,
  Accuracy,
  ArgMax,
  Conv2d, ///< conv2d(x, w, b, stride, padding, dilation, groups)
  // Builtins that differ between training and evaluation (LowerModes.cpp).
  BatchNorm, ///< batch_norm(x, gamma, beta, mean, var, momentum, eps)
  Dropout,   ///< dropout(x, p)
  Pool2d,    ///< max_pool2d / avg_pool2d(x, kernel, stride, padding)
  // Model language v2 (LowerLayers.cpp).
  Fill,    ///< zeros(shape), ones(shape), full(shape, value)
  Flatten, ///< flatten(x): [N, d1, d2, ...] -> [N, d1*d2*...]
  Linear,  ///< linear(x, w, b) = x @ transpose(w) + b
  Conv1d,  ///< conv1d(x, w, b, ...) as a conv2d of height 1
  LayerNorm,
  // Sequences (LowerScan.cpp).
  Scan, ///< scan(f, init, xs, axis): f names a def
  Rnn,  ///< rnn(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity)
  Lstm, ///< lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
  Gru,  ///< gru(x, h0, w_ih, w_hh, b_ih, b_hh)
  // Token ids (LowerTokens.cpp).
  Embedding, ///< embedding(table, ids)
  OneHot,    ///< one_hot(ids, classes)
  Select,    ///< select(x, axis, index) = reshape(slice(...)), axis dropped
};

struct Builtin {
  const char *Name;
  BuiltinKind Kind;
  OpKind Op; ///< The op of one-op kinds.
  std::vector<std::string> Params;
  unsigned Required;
  double Default = 0; ///< Default of the float parameter, if any.
};

const Builtin *findBuiltin(const std::string &Name);
/// Every builtin's name (for completion and documentation checks).
std::vector<std::string> builtinNames();

/// Matches the arguments of \p Call to \p Params, the first \p Required of
/// them required. Returns one expression per parameter (null when not
/// given), or nullopt after reporting an arity or keyword error.
std::optional<std::vector<const Expr *>>
bindArgs(const Expr &Call, const std::vector<std::string> &Params,
         unsigned Required, DiagEngine &Diags);

} // namespace adj

#endif
