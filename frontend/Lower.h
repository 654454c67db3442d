//===- Lower.h - From a checked AST to the forward function -----*- C++ -*-===//
///
/// The second checking pass, which emits IR as it goes: every expression is
/// lowered to ops of `forward` through adj::Builder, so that the op table's
/// shape rules check shapes and dtypes, and each op gets the source location
/// of its expression. User functions are inlined at every call. Numbers stay
/// numbers (constant-folded) until an op needs them as tensors; then they
/// become scalar constants of the other operand's float type.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_LOWER_H
#define ADJ_FRONTEND_LOWER_H

#include "frontend/Builtins.h"
#include "frontend/Sema.h"

#include <set>

namespace adj {

struct Conv2dGeometry;

/// Lowers \p AST (checked by Sema into \p Info) into Spec.M, and records
/// label constraints; false after reporting errors.
bool lowerModel(const ModelAST &AST, const SemaInfo &Info, DiagEngine &Diags,
                ModelSpec &Spec);

class Lowerer {
public:
  Lowerer(const ModelAST &AST, const SemaInfo &Info, DiagEngine &Diags,
          ModelSpec &Spec)
      : AST(AST), Info(Info), Diags(Diags), Spec(Spec) {}
  bool run();

private:
  /// Lowers the model into a new function \p Name of Spec.M in the current
  /// mode (Training).
  bool lowerFunction(const std::string &Name);
  /// Lowers @predict into Spec.Predict (left null when the output has no
  /// batch dim first and was not written with `output`).
  bool lowerPredict();
  /// Sets Output from `output NAME` or OutputValue (the loss's first
  /// argument), reporting a written output that is no per-sample tensor.
  void findOutput();

  /// A lowered expression: a tensor, or (V null) a number not yet given a
  /// dtype. L is where it was written, for messages about it.
  struct Operand {
    Operand(Value *V = nullptr, double Num = 0, Loc L = {})
        : V(V), Num(Num), L(std::move(L)) {}
    Value *V;
    double Num;
    Loc L;
    /// The values of a function that returns several (`return u, v`).
    std::vector<Operand> Parts;
    bool isNum() const { return !V && Parts.empty(); }
    bool isTuple() const { return !Parts.empty(); }
  };
  using Lowered = std::optional<Operand>;
  /// A name's value; nullopt when lowering it failed (uses stay silent).
  struct Sym {
    Lowered Val;
    bool Decl = false; ///< An input or param, visible inside functions.
  };

  // Lower.cpp
  /// Lowers \p E to one tensor or number; a tuple is an error.
  Lowered expr(const Expr &E);
  /// Lowers \p E, which may also be a tuple (a call of a function that
  /// returns several values, or a `return u, v`).
  Lowered exprOrTuple(const Expr &E);
  /// Lowers binding \p S into \p Scope (`h = ...` or `u, v = f(x)`); false
  /// after an error, with the names bound to nothing (poisoned).
  bool bind(const Stmt &S, std::map<std::string, Sym> &Scope);
  Lowered name(const Expr &E);
  Lowered binaryExpr(const Expr &Chain);
  /// One binary operator \p E applied to its lowered operands.
  Lowered binaryOp(const Expr &E, const Operand &A, const Operand &Bo);
  Lowered call(const Expr &E);
  Lowered inlineDef(const Stmt &Def, const Expr &Call);
  /// Binds \p Def's statements in \p Scope (its parameters bound) and
  /// lowers its value, for \p Call.
  Lowered defBody(const Stmt &Def, std::map<std::string, Sym> &Scope,
                  const Expr &Call);
  /// The value of a loss or metric: a float scalar.
  Value *result(const Lowered &R, const std::string &What);
  /// Emits an op at \p L; null after reporting the shape rule's error, or
  /// silently when an operand is null (it failed before).
  Value *emit(OpKind K, std::vector<Value *> Operands, Attrs A, const Loc &L);
  /// The tensor of \p O, making a number a scalar constant of type \p T.
  Value *tensor(const Operand &O, DType T = DType::F32);
  bool requireFloat(Value *V, const Loc &L);
  /// A binary elementwise op (or matmul); numbers take the other side's
  /// float type.
  Value *binary(OpKind K, const Operand &A, const Operand &B, const Loc &L);
  void error(const Loc &L, const std::string &Msg);
  std::string str(const TensorType &T) const { return T.str(Info.Batch); }

  // LowerBuiltins.cpp
  Lowered builtin(const Builtin &B, const Expr &Call);
  /// Lowers \p E to a tensor (numbers become f32 scalars).
  Value *tensorArg(const Expr &E, bool NeedFloat = true);
  std::optional<double> numberArg(const Expr *E, double Default);
  std::optional<int64_t> intArg(const Expr &E);
  std::optional<bool> boolArg(const Expr *E, bool Default);
  /// A list of ints (or one int); the batch dim's name gives kBatch when
  /// \p IsShape, and other dims must be positive.
  std::optional<std::vector<int64_t>> intListArg(const Expr &E, bool IsShape);
  std::optional<int64_t> axisArg(const Expr *E, const TensorType &T,
                                 const Loc &L);
  std::optional<std::vector<int64_t>> axesArg(const Expr *E,
                                              const TensorType &T);
  Value *reduce(OpKind K, Value *X, const std::vector<int64_t> &Axes,
                bool KeepDims, const Loc &L);
  /// log(sum(exp(X))) over \p Axes, keeping the reduced dims.
  Value *logSumExp(Value *X, const std::vector<int64_t> &Axes, const Loc &L);
  /// slice(x, axis, start, end): Python-style negative bounds.
  Value *slice(const std::vector<const Expr *> &Args, const Loc &L);
  /// concat([...], axis) and stack([...], axis).
  Value *concat(const Builtin &B, const std::vector<const Expr *> &Args,
                const Loc &L);
  /// conv2d(x, w, b, stride, padding, dilation, groups): one conv2d op,
  /// plus the bias reshaped to [O, 1, 1] and added.
  Value *conv2d(const std::vector<const Expr *> &Args, const Loc &L);
  /// conv2d's or a pool's stride, dilation, kernel or explicit padding: an
  /// integer or [h, w], each at least \p Min; [Default, Default] when absent.
  std::optional<std::vector<int64_t>> pairArg(const Expr *E, const char *Name,
                                              int64_t Default, int64_t Min);
  /// conv2d's `padding` into \p G (whose stride and dilation are set): an
  /// integer or [h, w] (symmetric), "valid" (none) or "same" (stride 1).
  bool convPadding(const Expr *P, const TensorType &W, Conv2dGeometry &G);
  /// max_pool2d / avg_pool2d(x, kernel, stride, padding): one op; kernel,
  /// stride and padding an integer or [h, w], stride defaulting to kernel.
  Value *pool2d(const Builtin &B, const std::vector<const Expr *> &Args,
                const Loc &L);
  /// Checks conv1d's or conv2d's channels, groups and kernel against the
  /// input, naming the operands as written (\p Args: x, w).
  bool checkConv(const char *Op, const std::vector<const Expr *> &Args,
                 const TensorType &X, const TensorType &W,
                 const Conv2dGeometry &G, const Loc &L);
  /// conv1d's and conv2d's stride, dilation and groups into \p G.
  bool convGeometry(const std::vector<const Expr *> &Args, unsigned Spatial,
                    Conv2dGeometry &G);
  /// conv1d/conv2d's bias: [O] added as [O, 1(, 1)] to \p Y.
  /// (\p FanIn: the weight's, for a bias initialised by uniform_fan_in.)
  Value *convBias(const char *Op, Value *Y, const Expr *BiasE, int64_t O,
                  unsigned Spatial, int64_t FanIn, const Loc &L);

  // LowerLayers.cpp: the builtins of model language v2.
  Value *fill(const Builtin &B, const std::vector<const Expr *> &Args,
              const Loc &L);
  Value *flatten(const std::vector<const Expr *> &Args, const Loc &L);
  Value *linear(const std::vector<const Expr *> &Args, const Loc &L);
  Value *conv1d(const std::vector<const Expr *> &Args, const Loc &L);
  Value *layerNorm(const Builtin &B, const std::vector<const Expr *> &Args,
                   const Loc &L);
  /// How `Expr` is written, for messages: its name, else \p Param.
  static std::string operandName(const Expr *E, const char *Param);
  /// Records the fans a weight's use implies (its first use counts), and
  /// the fan-in a bias used with it gets.
  void noteWeight(Value *W, int64_t FanIn, int64_t FanOut, const Loc &L);
  void noteBias(Value *B, int64_t FanIn);
  /// Sets the fans of Spec.Params from their uses (after lowering); false
  /// after reporting a uniform_fan_in without a fan-in.
  bool resolveFans();

  // LowerTokens.cpp: token ids.
  /// embedding(table, ids): a float table [V, D] and i32 ids.
  Value *embedding(const std::vector<const Expr *> &Args, const Loc &L);
  /// one_hot(ids, classes).
  Value *oneHot(const std::vector<const Expr *> &Args, const Loc &L);
  /// select(x, axis, index): negative axis and index from the end.
  Value *select(const std::vector<const Expr *> &Args, const Loc &L);
  /// Records that the values of \p Ids must lie in [0, \p Bound) when they
  /// are an input's (possibly reshaped), so that the data is checked when
  /// it is loaded; \p What names the op reading them ("embedding").
  void addIdRange(Value *Ids, int64_t Bound, const char *What, const Loc &L);

  Value *pointwiseLoss(const Builtin &B, const std::vector<const Expr *> &Args,
                       const Loc &L);
  void addLabels(Value *Labels, Value *Logits, const Loc &L);

  // LowerScan.cpp: scan and the recurrent layers.
  /// scan(f, init, xs, axis): f lowered once into a body function.
  Lowered scan(const Expr &Call);
  /// The tensors of scan's `init` or `xs`: one tensor or a list of them.
  bool scanOperands(const Expr *E, const char *What, std::vector<Value *> &Out);
  /// The common length of \p Xs along \p Axis (normalised here), which
  /// must be a static dim; nullopt after an error.
  std::optional<int64_t> scanLength(const std::vector<Value *> &Xs,
                                    int64_t &Axis, const Loc &L);
  /// A new, empty body function named after the model function and
  /// \p Base, placed before the model function.
  Function *newBody(const std::string &Base);
  /// One scan op per carry of \p Body over \p Xs; a tuple for several.
  Lowered emitScanOps(Function &Body, const std::vector<Value *> &Init,
                      const std::vector<Value *> &Xs,
                      const std::vector<Value *> &Captures, int64_t Axis,
                      int64_t Len, const Loc &L);
  /// rnn / lstm / gru(x, h0[, c0], w_ih, w_hh, b_ih, b_hh): the input
  /// projection of every step in one matmul, then a scan over a body
  /// holding the recurrent matmul and the gate math; every hidden state.
  Lowered recurrent(const Builtin &Bi, const Expr &Call);
  /// Whether \p V has dims \p Want; else reports it, naming the layout.
  bool checkRecurrentShape(const char *Layer, const Expr *E, Value *V,
                           const std::vector<int64_t> &Want,
                           const char *Layout);
  /// Inside a scan body: \p V (a value of the model function) as the
  /// body's argument that captures it (added on first use); outside, V.
  Value *capture(Value *V);
  Value *captureAt(Value *V, size_t Depth);
  /// The model function's value a captured argument stands for, else V.
  Value *origin(Value *V) const;
  /// A body being lowered: its function, the model values it captured
  /// (Local) and, in order, what its scan passes for them (Outer).
  struct ScanFrame {
    Function *Body;
    std::map<Value *, Value *> Local;
    std::vector<Value *> Outer;
  };
  std::vector<ScanFrame> ScanFrames;
  std::map<const Value *, Value *> Origin;
  Function *ModelF = nullptr; ///< The function lowered (not a body).

  // LowerModes.cpp: the builtins that differ between training and
  // evaluation.
  /// batch_norm(x, gamma, beta, mean, var, momentum, eps).
  Value *batchNorm(const std::vector<const Expr *> &Args, const Loc &L);
  /// dropout(x, p): x in evaluation, the dropout op in training.
  Value *dropout(const std::vector<const Expr *> &Args, const Loc &L);
  /// The buffer argument named by \p E (batch norm's running statistics).
  Value *bufferArg(const Expr &E, const char *What);
  /// The hyperparameter argument \p Name of F, added on first use.
  Value *hyperArg(const std::string &Name, DType T);

  /// A buffer's next value in the training-mode function, and the call
  /// that computes it.
  struct BufferUpdate {
    Value *V;
    Loc L;
  };
  bool Training = false;   ///< Lowering @forward_train.
  bool Predicting = false; ///< Lowering @predict.
  std::string OutputName;  ///< The result name of @predict.
  Lowered OutputValue;     ///< The loss's first argument, in @predict.
  Value *Output = nullptr;
  bool ModeDependent = false; ///< The model calls batch_norm or dropout.
  int64_t NextDropoutId = 0;  ///< The `id` of the next dropout op.
  std::map<std::string, BufferUpdate> BufferUpdates;

  const ModelAST &AST;
  const SemaInfo &Info;
  DiagEngine &Diags;
  ModelSpec &Spec;
  Function *F = nullptr;
  std::unique_ptr<Builder> B;
  std::map<std::string, Sym> Globals;
  std::map<std::string, Sym> *Locals = nullptr; ///< Inside an inlined call.
  std::vector<const Expr *> CallStack;
  std::set<std::string> Reported;
  /// Fans implied by each parameter's first use as a weight, and the fan-in
  /// of the weight each bias is first used with.
  std::map<std::string, std::pair<int64_t, int64_t>> WeightFans;
  std::map<std::string, int64_t> BiasFanIn;
};

} // namespace adj

#endif
