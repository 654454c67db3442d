//===- Parser.cpp - Recursive-descent parser of model files ---------------===//
///
/// One function per grammar rule. Statements end at a newline; inside ( )
/// and [ ] (tracked by `Nesting`) newlines are skipped. Expressions follow
/// Python's precedence, loosest first:
///
///   comparison  <  + -  <  * / @  <  unary -  <  ** (right-assoc)  <  call
///
/// so `-x ** 2` is `-(x ** 2)` and `2 ** -1` is allowed. On an error the
/// current statement is dropped: parsing resumes at the start of the next
/// line (or at the line the error was found on, when it begins a new
/// statement, as after an unclosed parenthesis). An Error token from the
/// lexer is reported, with its own message, when parsing reaches or skips
/// it.
///
//===----------------------------------------------------------------------===//
#include "frontend/Parser.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <set>

namespace adj {
namespace {

class Parser {
public:
  Parser(const std::vector<Token> &Toks, DiagEngine &Diags)
      : Toks(Toks), Diags(Diags) {}

  bool parseFile(ModelAST &M) {
    unsigned Before = Diags.errorCount();
    while (true) {
      skipNewlines();
      if (at(Tok::Eof))
        break;
      size_t Start = Pos;
      if (!parseStatement(M.Stmts))
        recover(Start, /*InBlock=*/false);
    }
    return Diags.errorCount() == Before;
  }

private:
  //===--- Tokens ---------------------------------------------------------===//

  const Token &peek() {
    if (Nesting > 0)
      skipNewlines();
    return Toks[Pos];
  }
  const Token &peekNext() {
    size_t I = Pos + 1;
    while (I + 1 < Toks.size() && Nesting > 0 && Toks[I].Kind == Tok::Newline)
      ++I;
    return Toks[std::min(I, Toks.size() - 1)];
  }
  bool at(Tok K) { return peek().Kind == K; }
  Token next() {
    Token T = peek();
    if (T.Kind != Tok::Eof)
      ++Pos;
    return T;
  }
  bool accept(Tok K) {
    if (!at(K))
      return false;
    next();
    return true;
  }
  void skipNewlines() {
    while (Toks[Pos].Kind == Tok::Newline)
      ++Pos;
  }
  bool atLineStart() const {
    return Pos > 0 && Toks[Pos - 1].Kind == Tok::Newline;
  }

  /// Reports the lexer's message for the Error token at \p I, once.
  void lexError(size_t I) {
    if (Toks[I].Kind == Tok::Error && LexErrors.insert(I).second)
      Diags.error(Toks[I].L, Toks[I].Text);
  }

  /// Reports \p Msg at the current token, or the lexer's message when it is
  /// an Error token. When newlines inside brackets were skipped to reach the
  /// token, the error points at the end of the line the construct started
  /// on.
  void error(const std::string &Msg) {
    const Token &T = peek();
    if (T.Kind == Tok::Error)
      return lexError(Pos);
    size_t I = Pos;
    while (I > 0 && Toks[I - 1].Kind == Tok::Newline)
      --I;
    Diags.error(Nesting > 0 && I != Pos ? Toks[I].L : T.L, Msg);
  }
  bool expect(Tok K, const std::string &Msg) {
    if (accept(K))
      return true;
    error(Msg);
    return false;
  }
  bool open(Tok K, const std::string &Msg) {
    if (!expect(K, Msg))
      return false;
    ++Nesting;
    return true;
  }
  bool close(Tok K, const std::string &Msg) {
    if (!expect(K, Msg))
      return false;
    --Nesting;
    return true;
  }

  /// Skips the rest of a statement that failed to parse.
  void recover(size_t Start, bool InBlock) {
    Nesting = 0;
    if (Pos != Start && atLineStart())
      return;
    while (!at(Tok::Newline) && !at(Tok::Eof) && !(InBlock && at(Tok::RBrace)))
      lexError(Pos++);
  }

  bool expectEnd(bool InBlock) {
    if (accept(Tok::Newline) || at(Tok::Eof) || (InBlock && at(Tok::RBrace)))
      return true;
    error("expected end of line");
    return false;
  }

  static bool isStatementKeyword(Tok K) {
    switch (K) {
    case Tok::KwModel:
    case Tok::KwInput:
    case Tok::KwParam:
    case Tok::KwBuffer:
    case Tok::KwDef:
    case Tok::KwLoss:
    case Tok::KwMetric:
    case Tok::KwTrain:
    case Tok::KwData:
      return true;
    default:
      return false;
    }
  }

  bool parseName(std::string &Name, Loc &L, const std::string &Msg) {
    if (!at(Tok::Ident)) {
      error(Msg);
      return false;
    }
    Token T = next();
    Name = T.Text;
    L = T.L;
    return true;
  }

  //===--- Statements -----------------------------------------------------===//

  bool parseStatement(std::vector<Stmt> &Out) {
    Loc L = peek().L;
    switch (peek().Kind) {
    case Tok::KwModel: {
      next();
      Stmt S(StmtKind::Model, L);
      if (!parseName(S.Name, S.NameLoc, "expected a model name after 'model'"))
        return false;
      Out.push_back(std::move(S));
      return expectEnd(false);
    }
    case Tok::KwInput:
    case Tok::KwParam:
    case Tok::KwBuffer:
      return parseDecl(Out);
    case Tok::KwDef:
      return parseDef(Out);
    case Tok::KwLoss: {
      next();
      Stmt S(StmtKind::Loss, L);
      if (!(S.Value = parseExpr()))
        return false;
      Out.push_back(std::move(S));
      return expectEnd(false);
    }
    case Tok::KwMetric: {
      next();
      Stmt S(StmtKind::Metric, L);
      if (!parseName(S.Name, S.NameLoc,
                     "expected a metric name after 'metric'") ||
          !expect(Tok::Assign, "expected '=' after the metric name") ||
          !(S.Value = parseExpr()))
        return false;
      Out.push_back(std::move(S));
      return expectEnd(false);
    }
    case Tok::KwTrain:
    case Tok::KwData:
      return parseBlock(Out);
    case Tok::Ident:
      // `output NAME`; `output` stays usable as a name (`output = ...`).
      if (peek().Text == "output" && peekNext().Kind == Tok::Ident)
        return parseOutput(Out);
      return parseBinding(Out, /*InBlock=*/false);
    default:
      error("expected a statement");
      return false;
    }
  }

  /// `output NAME`.
  bool parseOutput(std::vector<Stmt> &Out) {
    Stmt S(StmtKind::Output, next().L);
    Token Name = next();
    S.Value = std::make_unique<Expr>(ExprKind::Name, Name.L);
    S.Value->Text = Name.Text;
    Out.push_back(std::move(S));
    return expectEnd(false);
  }

  /// `input NAME : TYPE`, `param NAME : TYPE = INIT [frozen]` and
  /// `buffer NAME : TYPE = INIT` (a Param statement marked Buffer).
  bool parseDecl(std::vector<Stmt> &Out) {
    bool IsInput = at(Tok::KwInput);
    bool IsBuffer = at(Tok::KwBuffer);
    const char *What = IsInput ? "input" : IsBuffer ? "buffer" : "param";
    Stmt S(IsInput ? StmtKind::Input : StmtKind::Param, next().L);
    S.Buffer = IsBuffer;
    if (!parseName(S.Name, S.NameLoc,
                   fmt::format("expected {} {} name after '{}'",
                               IsInput ? "an" : "a", What, What)) ||
        !expect(Tok::Colon,
                fmt::format("expected ':' after the {} name", What)) ||
        !parseType(S.Type))
      return false;
    if (!IsInput) {
      if (!expect(Tok::Assign,
                  fmt::format("expected '=' and an initialiser after the "
                              "{} type",
                              What)) ||
          !(S.Value = parseExpr()))
        return false;
      S.Frozen = accept(Tok::KwFrozen);
      if (at(Tok::Ident) && peek().Text == "lr_mult") {
        next();
        if (!expect(Tok::Assign, "expected '=' after 'lr_mult'") ||
            !(S.LrMult = parseExpr()))
          return false;
      }
    }
    Out.push_back(std::move(S));
    return expectEnd(false);
  }

  /// `f32[N, 784]`, `i32[N]`, `f32[]`.
  bool parseType(TypeExpr &T) {
    if (!at(Tok::Ident)) {
      error("expected a type such as f32[N, 784]");
      return false;
    }
    const Token &D = peek();
    if (D.Text == "f32")
      T.Elt = DType::F32;
    else if (D.Text == "f64")
      T.Elt = DType::F64;
    else if (D.Text == "i32")
      T.Elt = DType::I32;
    else {
      error(
          fmt::format("unknown dtype '{}'; expected f32, f64 or i32", D.Text));
      return false;
    }
    T.L = next().L;
    if (!open(Tok::LBracket, "expected '[' after the dtype"))
      return false;
    if (!at(Tok::RBracket)) {
      do {
        DimExpr Dim;
        Dim.L = peek().L;
        if (at(Tok::Number) && peek().IsInt) {
          Dim.Size = int64_t(peek().Num);
        } else if (at(Tok::Ident)) {
          Dim.Sym = peek().Text;
        } else {
          error(at(Tok::Number) ? "expected an integer dimension"
                                : "expected a dimension");
          return false;
        }
        next();
        T.Dims.push_back(std::move(Dim));
      } while (accept(Tok::Comma));
    }
    return close(Tok::RBracket, "expected ']' after the dimensions");
  }

  /// `name = expr`, or `u, v = f(x)` binding the values a function returns.
  bool parseBinding(std::vector<Stmt> &Out, bool InBlock) {
    Stmt S(StmtKind::Bind, peek().L);
    Token Name = next();
    S.Name = Name.Text;
    S.NameLoc = Name.L;
    if (at(Tok::Comma)) {
      S.Targets.push_back({Name.Text, Name.L});
      while (accept(Tok::Comma)) {
        Param P;
        if (!parseName(P.Name, P.L, "expected a name after ','"))
          return false;
        S.Targets.push_back(std::move(P));
      }
    }
    if (!expect(Tok::Assign,
                fmt::format("expected '=' after '{}'",
                            S.Targets.empty() ? Name.Text
                                              : S.Targets.back().Name)) ||
        !(S.Value = parseExpr()))
      return false;
    Out.push_back(std::move(S));
    return expectEnd(InBlock);
  }

  /// `def f(a, b) = expr` or `def f(a) { bindings  return expr [, expr] }`.
  bool parseDef(std::vector<Stmt> &Out) {
    Stmt S(StmtKind::Def, next().L);
    if (!parseName(S.Name, S.NameLoc, "expected a function name after 'def'") ||
        !open(Tok::LParen, "expected '(' after the function name"))
      return false;
    if (!at(Tok::RParen)) {
      do {
        Param P;
        if (!parseName(P.Name, P.L, "expected a parameter name"))
          return false;
        S.Params.push_back(std::move(P));
      } while (accept(Tok::Comma));
    }
    if (!close(Tok::RParen, "expected ')' after the parameters"))
      return false;
    if (accept(Tok::Assign)) {
      if (!(S.Value = parseExpr()))
        return false;
      Out.push_back(std::move(S));
      return expectEnd(false);
    }
    if (!expect(Tok::LBrace, "expected '=' or '{' after the parameters"))
      return false;
    S.Block = true;
    bool Ok = true;
    while (true) {
      skipNewlines();
      if (accept(Tok::KwReturn)) {
        if (!(S.Value = parseReturn()))
          return false;
        skipNewlines();
        if (!expect(Tok::RBrace, "expected '}' after the return value"))
          return false;
        break;
      }
      if (at(Tok::RBrace)) {
        error("expected 'return' before '}'");
        next();
        return false;
      }
      if (at(Tok::Eof) || isStatementKeyword(peek().Kind)) {
        error("expected 'return' and '}' to end the function body");
        return false;
      }
      size_t Start = Pos;
      if (at(Tok::Ident) && parseBinding(S.Body, /*InBlock=*/true))
        continue;
      if (Pos == Start)
        error("expected a binding or 'return'");
      Ok = false;
      recover(Start, /*InBlock=*/true);
    }
    if (!Ok)
      return false;
    Out.push_back(std::move(S));
    return expectEnd(false);
  }

  /// `return expr` or `return u, v` (a Tuple of the values).
  ExprPtr parseReturn() {
    ExprPtr First = parseExpr();
    if (!First || !at(Tok::Comma))
      return First;
    auto T = std::make_unique<Expr>(ExprKind::Tuple, First->L);
    T->Args.push_back(std::move(First));
    while (accept(Tok::Comma)) {
      ExprPtr E = parseExpr();
      if (!E)
        return nullptr;
      T->Args.push_back(std::move(E));
    }
    return bounded(std::move(T));
  }

  /// `train { key = value ... }` and `data { split input = source ... }`.
  bool parseBlock(std::vector<Stmt> &Out) {
    bool IsTrain = at(Tok::KwTrain);
    const char *What = IsTrain ? "train" : "data";
    Stmt S(IsTrain ? StmtKind::Train : StmtKind::Data, next().L);
    if (!expect(Tok::LBrace, fmt::format("expected '{{' after '{}'", What)))
      return false;
    bool Ok = true;
    while (true) {
      skipNewlines();
      if (accept(Tok::RBrace))
        break;
      bool IsSplit = !IsTrain && at(Tok::KwTrain);
      if (at(Tok::Eof) || (isStatementKeyword(peek().Kind) && !IsSplit)) {
        error(fmt::format("expected '}}' to close the {} block", What));
        return false;
      }
      size_t Start = Pos;
      if (!parseEntry(S.Entries, IsTrain)) {
        Ok = false;
        recover(Start, /*InBlock=*/true);
      }
    }
    if (!Ok)
      return false;
    Out.push_back(std::move(S));
    return expectEnd(false);
  }

  bool parseEntry(std::vector<Entry> &Out, bool IsTrain) {
    Entry E;
    if (IsTrain) {
      if (!parseName(E.Key, E.KeyLoc,
                     "expected a setting name such as 'batch'"))
        return false;
    } else {
      if (!at(Tok::KwTrain) && !at(Tok::Ident)) {
        error("expected 'train' or 'test'");
        return false;
      }
      Token Split = next();
      E.Key = Split.Text;
      E.KeyLoc = Split.L;
      if (!parseName(E.Key2, E.Key2Loc,
                     fmt::format("expected an input name after '{}'", E.Key)))
        return false;
    }
    if (!expect(Tok::Assign, fmt::format("expected '=' after '{}'",
                                         IsTrain ? E.Key : E.Key2)))
      return false;
    if (IsTrain && at(Tok::LBrace) ? !(E.Value = parseDict())
                                   : !(E.Value = parseExpr()))
      return false;
    Out.push_back(std::move(E));
    return expectEnd(/*InBlock=*/true);
  }

  /// `{"conv*": 0.1, "fc*": 2}` (a train setting's value): a List of
  /// two-element Tuples, key then value.
  ExprPtr parseDict() {
    auto D = std::make_unique<Expr>(ExprKind::List, next().L);
    ++Nesting; // newlines inside { } are ignored, as inside [ ]
    while (!at(Tok::RBrace)) {
      auto Pair = std::make_unique<Expr>(ExprKind::Tuple, peek().L);
      ExprPtr Key = parseExpr();
      if (!Key || !expect(Tok::Colon, "expected ':' after the key"))
        return --Nesting, nullptr;
      ExprPtr Value = parseExpr();
      if (!Value)
        return --Nesting, nullptr;
      Pair->Args.push_back(std::move(Key));
      Pair->Args.push_back(std::move(Value));
      D->Args.push_back(bounded(std::move(Pair)));
      if (!accept(Tok::Comma))
        break;
    }
    --Nesting;
    if (!expect(Tok::RBrace, "expected '}' to close the dictionary"))
      return nullptr;
    return bounded(std::move(D));
  }

  //===--- Expressions ----------------------------------------------------===//

  /// Bounds the nesting of expression trees (and so the recursion of every
  /// later walk over them, which follows binary chains in a loop): a
  /// pathological file gets an error, not a stack overflow. Binary chains
  /// are parsed in a loop and may be of any length.
  static constexpr unsigned MaxDepth = 256;

  ExprPtr bounded(ExprPtr E) {
    for (const ExprPtr &A : E->Args) {
      // The left operand of a chain `a + b + c` is no deeper nesting.
      bool Chain = E->Kind == ExprKind::Binary && &A == &E->Args[0] &&
                   A->Kind == ExprKind::Binary;
      E->Depth = std::max(E->Depth, A->Depth + (Chain ? 0 : 1));
    }
    for (const KeywordArg &K : E->Keywords)
      E->Depth = std::max(E->Depth, K.Value->Depth + 1);
    if (E->Depth <= MaxDepth)
      return E;
    Diags.error(E->L, "expression is nested too deeply");
    return nullptr;
  }

  ExprPtr binary(BinOp Op, const Loc &L, ExprPtr A, ExprPtr B) {
    auto E = std::make_unique<Expr>(ExprKind::Binary, L);
    E->Op = Op;
    E->Args.push_back(std::move(A));
    E->Args.push_back(std::move(B));
    return bounded(std::move(E));
  }

  ExprPtr parseExpr() {
    ExprPtr L = parseArith();
    if (!L)
      return nullptr;
    auto cmpOp = [&]() -> std::optional<BinOp> {
      switch (peek().Kind) {
      case Tok::Less:
        return BinOp::Lt;
      case Tok::LessEq:
        return BinOp::Le;
      case Tok::Greater:
        return BinOp::Gt;
      case Tok::GreaterEq:
        return BinOp::Ge;
      case Tok::EqEq:
        return BinOp::Eq;
      case Tok::NotEq:
        return BinOp::Ne;
      default:
        return std::nullopt;
      }
    };
    auto Op = cmpOp();
    if (!Op)
      return L;
    Loc OpLoc = next().L;
    ExprPtr R = parseArith();
    if (!R)
      return nullptr;
    if (cmpOp()) {
      error("comparisons cannot be chained");
      return nullptr;
    }
    return binary(*Op, OpLoc, std::move(L), std::move(R));
  }

  ExprPtr parseArith() {
    ExprPtr L = parseTerm();
    while (L && (at(Tok::Plus) || at(Tok::Minus))) {
      Token Op = next();
      ExprPtr R = parseTerm();
      if (!R)
        return nullptr;
      L = binary(Op.Kind == Tok::Plus ? BinOp::Add : BinOp::Sub, Op.L,
                 std::move(L), std::move(R));
    }
    return L;
  }

  ExprPtr parseTerm() {
    ExprPtr L = parseUnary();
    while (L && (at(Tok::Star) || at(Tok::Slash) || at(Tok::At))) {
      Token Op = next();
      ExprPtr R = parseUnary();
      if (!R)
        return nullptr;
      BinOp B = Op.Kind == Tok::Star    ? BinOp::Mul
                : Op.Kind == Tok::Slash ? BinOp::Div
                                        : BinOp::MatMul;
      L = binary(B, Op.L, std::move(L), std::move(R));
    }
    return L;
  }

  /// Every level of nesting — parentheses, brackets, calls, unary minus —
  /// passes through here, so this bounds the parser's recursion.
  ExprPtr parseUnary() {
    if (Recursion >= MaxDepth) {
      error("expression is nested too deeply");
      return nullptr;
    }
    ++Recursion;
    ExprPtr E = parseUnaryImpl();
    --Recursion;
    return E;
  }

  ExprPtr parseUnaryImpl() {
    if (!at(Tok::Minus))
      return parsePower();
    auto E = std::make_unique<Expr>(ExprKind::Neg, next().L);
    ExprPtr X = parseUnary();
    if (!X)
      return nullptr;
    E->Args.push_back(std::move(X));
    return bounded(std::move(E));
  }

  ExprPtr parsePower() {
    ExprPtr Base = parsePrimary();
    if (!Base || !at(Tok::StarStar))
      return Base;
    Loc OpLoc = next().L;
    ExprPtr Exp = parseUnary();
    if (!Exp)
      return nullptr;
    return binary(BinOp::Pow, OpLoc, std::move(Base), std::move(Exp));
  }

  ExprPtr parsePrimary() {
    const Token &T = peek();
    switch (T.Kind) {
    case Tok::Number: {
      if (!(std::fabs(T.Num) <= std::numeric_limits<float>::max()))
        Diags.warning(T.L, fmt::format("number '{}' is out of the range of "
                                       "f32 and becomes inf",
                                       T.Text));
      auto E = std::make_unique<Expr>(ExprKind::Number, T.L);
      E->Num = T.Num;
      E->IsInt = T.IsInt;
      next();
      return E;
    }
    case Tok::String: {
      auto E = std::make_unique<Expr>(ExprKind::String, T.L);
      E->Text = T.Text;
      next();
      return E;
    }
    case Tok::KwTrue:
    case Tok::KwFalse: {
      auto E = std::make_unique<Expr>(ExprKind::Bool, T.L);
      E->BoolVal = T.Kind == Tok::KwTrue;
      next();
      return E;
    }
    case Tok::Ident: {
      Token Name = next();
      if (at(Tok::LParen))
        return parseCall(Name);
      auto E = std::make_unique<Expr>(ExprKind::Name, Name.L);
      E->Text = Name.Text;
      return E;
    }
    case Tok::LParen: {
      next();
      ++Nesting;
      ExprPtr E = parseExpr();
      if (!E || !close(Tok::RParen, "expected ')' after the expression"))
        return nullptr;
      return E;
    }
    case Tok::LBracket: {
      auto E = std::make_unique<Expr>(ExprKind::List, next().L);
      ++Nesting;
      while (!at(Tok::RBracket)) {
        ExprPtr Item = parseExpr();
        if (!Item)
          return nullptr;
        E->Args.push_back(std::move(Item));
        if (!accept(Tok::Comma))
          break;
      }
      if (!close(Tok::RBracket, "expected ']' after the list"))
        return nullptr;
      return bounded(std::move(E));
    }
    default:
      error("expected an expression");
      return nullptr;
    }
  }

  ExprPtr parseCall(const Token &Name) {
    auto E = std::make_unique<Expr>(ExprKind::Call, Name.L);
    E->Text = Name.Text;
    next(); // '('
    ++Nesting;
    while (!at(Tok::RParen)) {
      if (at(Tok::Ident) && peekNext().Kind == Tok::Assign) {
        KeywordArg K;
        Token Key = next();
        next(); // '='
        K.Name = Key.Text;
        K.L = Key.L;
        if (!(K.Value = parseExpr()))
          return nullptr;
        E->Keywords.push_back(std::move(K));
      } else {
        if (!E->Keywords.empty()) {
          error("positional argument after keyword argument");
          return nullptr;
        }
        ExprPtr A = parseExpr();
        if (!A)
          return nullptr;
        E->Args.push_back(std::move(A));
      }
      if (!accept(Tok::Comma))
        break;
    }
    if (!close(Tok::RParen, "expected ')' after arguments"))
      return nullptr;
    return bounded(std::move(E));
  }

  const std::vector<Token> &Toks;
  DiagEngine &Diags;
  size_t Pos = 0;
  int Nesting = 0;
  unsigned Recursion = 0;
  std::set<size_t> LexErrors;
};

} // namespace

bool parseModel(const std::vector<Token> &Toks, DiagEngine &Diags,
                ModelAST &Out) {
  return Parser(Toks, Diags).parseFile(Out);
}

} // namespace adj
