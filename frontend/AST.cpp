//===- AST.cpp - Constant folding and the AST dump ------------------------===//
///
/// The dump prints one node per line, children indented by two spaces, each
/// with its `<line:col>`, so that `adjc --emit=ast` shows exactly how a file
/// was parsed (precedence, keyword arguments, where each node starts).
///
//===----------------------------------------------------------------------===//
#include "frontend/AST.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace adj {

const char *binOpSpelling(BinOp Op) {
  switch (Op) {
  case BinOp::Add:
    return "+";
  case BinOp::Sub:
    return "-";
  case BinOp::Mul:
    return "*";
  case BinOp::Div:
    return "/";
  case BinOp::MatMul:
    return "@";
  case BinOp::Pow:
    return "**";
  case BinOp::Lt:
    return "<";
  case BinOp::Le:
    return "<=";
  case BinOp::Gt:
    return ">";
  case BinOp::Ge:
    return ">=";
  case BinOp::Eq:
    return "==";
  case BinOp::Ne:
    return "!=";
  }
  return "?";
}

std::optional<double> foldBinary(BinOp Op, double A, double B) {
  switch (Op) {
  case BinOp::Add:
    return A + B;
  case BinOp::Sub:
    return A - B;
  case BinOp::Mul:
    return A * B;
  case BinOp::Div:
    return A / B;
  case BinOp::Pow:
    return std::pow(A, B);
  default:
    return std::nullopt;
  }
}

Expr::~Expr() {
  // Move the children of a chain out before they are destroyed, so that
  // destroying a chain of any length recurses only into real nesting.
  std::vector<ExprPtr> Chain;
  if (Kind == ExprKind::Binary && !Args.empty())
    for (ExprPtr *Left = &Args[0]; *Left && (*Left)->Kind == ExprKind::Binary &&
                                   !(*Left)->Args.empty();) {
      Chain.push_back(std::move(*Left));
      Left = &Chain.back()->Args[0];
    }
  // Chain's nodes now hold only a leaf or nothing in their Args[0]; they are
  // destroyed in order, each without a chain of its own.
}

std::vector<const Expr *> leftSpine(const Expr &E) {
  std::vector<const Expr *> Spine;
  for (const Expr *X = &E; X->Kind == ExprKind::Binary; X = X->Args[0].get())
    Spine.push_back(X);
  std::reverse(Spine.begin(), Spine.end());
  return Spine;
}

std::optional<double> evalConst(const Expr &E) {
  switch (E.Kind) {
  case ExprKind::Number:
    return E.Num;
  case ExprKind::Neg:
    if (auto V = evalConst(*E.Args[0]))
      return -*V;
    return std::nullopt;
  case ExprKind::Binary: {
    std::vector<const Expr *> Spine = leftSpine(E);
    auto A = evalConst(*Spine[0]->Args[0]);
    for (const Expr *Op : Spine) {
      auto B = evalConst(*Op->Args[1]);
      if (!A || !B)
        return std::nullopt;
      A = foldBinary(Op->Op, *A, *B);
    }
    return A;
  }
  default:
    return std::nullopt;
  }
}

namespace {

class Dumper {
public:
  std::string Out;
  /// Longer chains of binary operators print as a list (see expr).
  static constexpr size_t MaxTreeChain = 16;

  void stmt(const Stmt &S, unsigned Depth) {
    switch (S.Kind) {
    case StmtKind::Model:
      line(Depth, S.L, "Model {}", S.Name);
      return;
    case StmtKind::Input:
      line(Depth, S.L, "Input {} : {}", S.Name, type(S.Type));
      return;
    case StmtKind::Param:
      line(Depth, S.L, "{} {} : {}{}", S.Buffer ? "Buffer" : "Param", S.Name,
           type(S.Type), S.Frozen ? " frozen" : "");
      expr(*S.Value, Depth + 1);
      return;
    case StmtKind::Def: {
      std::vector<std::string> Names;
      for (const Param &P : S.Params)
        Names.push_back(P.Name);
      line(Depth, S.L, "Def {}({})", S.Name, fmt::join(Names, ", "));
      for (const Stmt &B : S.Body)
        stmt(B, Depth + 1);
      line(Depth + 1, S.Value->L, "Return");
      expr(*S.Value, Depth + 2);
      return;
    }
    case StmtKind::Bind: {
      std::vector<std::string> Names;
      for (const Param &P : S.Targets)
        Names.push_back(P.Name);
      line(Depth, S.L, "Bind {}",
           Names.empty() ? S.Name : fmt::format("{}", fmt::join(Names, ", ")));
      expr(*S.Value, Depth + 1);
      return;
    }
    case StmtKind::Loss:
      line(Depth, S.L, "Loss");
      expr(*S.Value, Depth + 1);
      return;
    case StmtKind::Metric:
      line(Depth, S.L, "Metric {}", S.Name);
      expr(*S.Value, Depth + 1);
      return;
    case StmtKind::Output:
      line(Depth, S.L, "Output {}", S.Value->Text);
      return;
    case StmtKind::Train:
    case StmtKind::Data:
      line(Depth, S.L, "{}", S.Kind == StmtKind::Train ? "Train" : "Data");
      for (const Entry &E : S.Entries) {
        if (S.Kind == StmtKind::Train)
          line(Depth + 1, E.KeyLoc, "Setting {}", E.Key);
        else
          line(Depth + 1, E.KeyLoc, "Source {} {}", E.Key, E.Key2);
        expr(*E.Value, Depth + 2);
      }
      return;
    }
  }

private:
  template <typename... Args>
  void line(unsigned Depth, const Loc &L, fmt::format_string<Args...> F,
            Args &&...A) {
    Out += std::string(2 * Depth, ' ');
    Out += fmt::format(F, std::forward<Args>(A)...);
    Out += fmt::format(" <{}:{}>\n", L.Line, L.Col);
  }

  static std::string type(const TypeExpr &T) {
    std::vector<std::string> Dims;
    for (const DimExpr &D : T.Dims)
      Dims.push_back(D.Sym.empty() ? std::to_string(D.Size) : D.Sym);
    return fmt::format("{}[{}]", dtypeName(T.Elt), fmt::join(Dims, ", "));
  }

  static std::string quote(const std::string &S) {
    std::string Q = "\"";
    for (char C : S) {
      if (C == '"' || C == '\\')
        Q += '\\';
      if (C == '\n')
        Q += "\\n";
      else if (C == '\t')
        Q += "\\t";
      else
        Q += C;
    }
    return Q + "\"";
  }

  void expr(const Expr &E, unsigned Depth) {
    switch (E.Kind) {
    case ExprKind::Number:
      if (E.IsInt)
        line(Depth, E.L, "Number {}", int64_t(E.Num));
      else
        line(Depth, E.L, "Number {}", E.Num);
      return;
    case ExprKind::Bool:
      line(Depth, E.L, "Bool {}", E.BoolVal ? "true" : "false");
      return;
    case ExprKind::String:
      line(Depth, E.L, "String {}", quote(E.Text));
      return;
    case ExprKind::Name:
      line(Depth, E.L, "Name {}", E.Text);
      return;
    case ExprKind::List:
      line(Depth, E.L, "List");
      break;
    case ExprKind::Neg:
      line(Depth, E.L, "Neg");
      break;
    case ExprKind::Binary: {
      std::vector<const Expr *> Spine = leftSpine(E);
      size_t N = Spine.size();
      if (N > MaxTreeChain) {
        // A long chain as a list, so that the dump grows with its length
        // (a tree indents each operator one level deeper).
        line(Depth, E.L, "Chain of {} operators, left to right", N);
        expr(*Spine[0]->Args[0], Depth + 1);
        for (const Expr *Op : Spine) {
          line(Depth + 1, Op->L, "Operator {}", binOpSpelling(Op->Op));
          expr(*Op->Args[1], Depth + 2);
        }
        return;
      }
      // Pre-order, as the recursion would print it, with a loop along the
      // chain: its operators top-down, then the first operand, then the
      // other operands bottom-up.
      for (size_t I = 0; I < N; ++I)
        line(Depth + unsigned(I), Spine[N - 1 - I]->L, "Binary {}",
             binOpSpelling(Spine[N - 1 - I]->Op));
      expr(*Spine[0]->Args[0], Depth + unsigned(N));
      for (size_t I = 0; I < N; ++I)
        expr(*Spine[I]->Args[1], Depth + unsigned(N - I));
      return;
    }
    case ExprKind::Call:
      line(Depth, E.L, "Call {}", E.Text);
      break;
    case ExprKind::Tuple:
      line(Depth, E.L, "Tuple");
      break;
    }
    for (const ExprPtr &A : E.Args)
      expr(*A, Depth + 1);
    for (const KeywordArg &K : E.Keywords) {
      line(Depth + 1, K.L, "Keyword {}", K.Name);
      expr(*K.Value, Depth + 2);
    }
  }
};

} // namespace

std::string dumpModelAST(const ModelAST &M) {
  Dumper D;
  for (const Stmt &S : M.Stmts)
    D.stmt(S, 0);
  return std::move(D.Out);
}

} // namespace adj
