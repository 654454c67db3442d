//===- AST.h - The parsed model file ----------------------------*- C++ -*-===//
///
/// The AST is deliberately flat: one Expr struct tagged by kind and one Stmt
/// struct tagged by kind, each holding the fields its kinds use. Every node
/// keeps the location diagnostics and IR ops point at: a name's or call's
/// first character, a unary or binary operator, a list's `[`.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_AST_H
#define ADJ_FRONTEND_AST_H

#include "ir/IR.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace adj {

enum class ExprKind {
  Number,
  Bool,
  String,
  Name,
  List,
  Neg,
  Binary,
  Call,
  Tuple ///< `return u, v` of a block def: its values in Args.
};

enum class BinOp { Add, Sub, Mul, Div, MatMul, Pow, Lt, Le, Gt, Ge, Eq, Ne };
/// `+`, `@`, `<=`, …
const char *binOpSpelling(BinOp Op);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct KeywordArg {
  std::string Name;
  Loc L;
  ExprPtr Value;
};

struct Expr {
  ExprKind Kind;
  Loc L;
  double Num = 0;     ///< Number.
  bool IsInt = false; ///< Number written without '.' or exponent.
  bool BoolVal = false;
  std::string Text; ///< Name, String value, Call callee.
  BinOp Op = BinOp::Add;
  std::vector<ExprPtr>
      Args; ///< Neg: 1, Binary: 2, List, Tuple: items, Call: positional.
  std::vector<KeywordArg> Keywords; ///< Call: `key = value` arguments.
  /// Nesting of the tree, which the parser bounds: the height, except that
  /// the left operand of a binary operator that is itself one (the chain
  /// `a + b + c`) counts no level. Walks over an expression follow such a
  /// chain in a loop (leftSpine) and recurse only into real nesting.
  unsigned Depth = 1;

  Expr(ExprKind K, Loc L) : Kind(K), L(std::move(L)) {}
  /// Frees the tree without recursing along chains.
  ~Expr();
  Expr(const Expr &) = delete;
  Expr &operator=(const Expr &) = delete;
};

/// The binary operators of the chain rooted at \p E, innermost (leftmost)
/// first: for `a + b - c`, [`a + b`, `(a + b) - c`]; empty when \p E is not
/// a binary operator. The chain's first operand is the first one's Args[0].
std::vector<const Expr *> leftSpine(const Expr &E);

/// Evaluates a constant numeric expression (numbers, unary minus, + - * / **);
/// nullopt if \p E is anything else.
std::optional<double> evalConst(const Expr &E);
/// Folds a binary operator on two numbers; nullopt for @ and comparisons.
std::optional<double> foldBinary(BinOp Op, double A, double B);

struct DimExpr {
  int64_t Size = 0;
  std::string Sym; ///< Non-empty: the symbolic batch dim.
  Loc L;
};

struct TypeExpr {
  DType Elt = DType::F32;
  std::vector<DimExpr> Dims;
  Loc L;
};

enum class StmtKind {
  Model,
  Input,
  Param,
  Def,
  Bind,
  Loss,
  Metric,
  Output, ///< `output NAME`: what predictions return (Value: the name).
  Train,
  Data
};

/// A line of a train { } block (`Key = Value`) or data { } block
/// (`Key Key2 = Value`, i.e. split, input, source).
struct Entry {
  std::string Key, Key2;
  Loc KeyLoc, Key2Loc;
  ExprPtr Value;
};

struct Param {
  std::string Name;
  Loc L;
};

struct Stmt {
  StmtKind Kind;
  Loc L;            ///< The first token.
  std::string Name; ///< Model, Input, Param, Def, Bind, Metric.
  Loc NameLoc;
  TypeExpr Type; ///< Input, Param.
  ExprPtr Value; ///< Param initialiser, Bind, Loss, Metric, Def result.
  bool Frozen = false;
  ExprPtr LrMult;            ///< Param: `lr_mult = X` after the initialiser.
  bool Buffer = false;       ///< Param: declared with `buffer`.
  std::vector<Param> Params; ///< Def.
  std::vector<Stmt> Body;    ///< Def: bindings before `return`.
  /// Bind: the names of `u, v = f(x)` (empty when one name is bound).
  std::vector<Param> Targets;
  bool Block = false;         ///< Def written with { }.
  std::vector<Entry> Entries; ///< Train, Data.

  Stmt(StmtKind K, Loc L) : Kind(K), L(std::move(L)) {}
};

struct ModelAST {
  std::string File;
  std::vector<Stmt> Stmts;
};

/// The indented text dump behind `adjc --emit=ast`.
std::string dumpModelAST(const ModelAST &M);

} // namespace adj

#endif
