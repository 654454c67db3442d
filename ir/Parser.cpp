//===- Parser.cpp - Reading the IR's text form ----------------------------===//
///
/// A hand-written lexer and recursive-descent parser over the grammar
///
///   module   ::= function*
///   function ::= 'func' '@' id '(' args? ')' '->' '(' types? ')' '{'
///                op* 'return' (id '=' value (',' id '=' value)*)? '}'
///   arg      ::= value ':' type '{' role (',' 'frozen')? '}'
///   op       ::= value '=' mnemonic (value (',' value)*)? attrs? ':' type loc?
///   attrs    ::= '{' id '=' attr (',' id '=' attr)* '}'
///   type     ::= dtype '[' (dim (',' dim)*)? ']'     dim ::= int | id
///   loc      ::= 'loc' '(' (string ':' int ':' int (',' 'grad')? | 'grad') ')'
///
/// Identifiers may contain '.', so `%opt.m.w1` and `grad.w1` are names.
/// Every error is reported once with its line and column; the parse stops.
///
/// An operand naming a value not defined yet gets a placeholder; when the
/// function's ops are read, placeholders are replaced by the values defined
/// later (so that the verifier can report the use before its definition),
/// and a name never defined is an error at its first use.
///
//===----------------------------------------------------------------------===//
#include "ir/Parser.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <unordered_map>

namespace adj {

namespace {

enum class Tok {
  Eof,
  Id,
  Int,
  Float,
  String,
  Value,
  Global,
  Punct,
  Arrow,
  Bad
};

struct Token {
  Tok Kind = Tok::Eof;
  std::string Text;
  unsigned Line = 1, Col = 1;
};

class Lexer {
public:
  Lexer(const std::string &T) : Text(T) {}

  Token next() {
    skipSpace();
    Token T;
    T.Line = Line;
    T.Col = Col;
    if (Pos >= Text.size())
      return T;
    char C = Text[Pos];
    auto IsId = [](char X) {
      return std::isalnum((unsigned char)X) || X == '_' || X == '.';
    };
    if (C == '%' || C == '@') {
      advance();
      size_t S = Pos;
      while (Pos < Text.size() && IsId(Text[Pos]))
        advance();
      T.Kind = C == '%' ? Tok::Value : Tok::Global;
      T.Text = Text.substr(S, Pos - S);
      if (T.Text.empty()) {
        T.Kind = Tok::Bad;
        T.Text = std::string(1, C);
      }
      return T;
    }
    if (C == '"') {
      advance();
      std::string S;
      while (Pos < Text.size() && Text[Pos] != '"' && Text[Pos] != '\n') {
        if (Text[Pos] == '\\' && Pos + 1 < Text.size())
          advance();
        S += Text[Pos];
        advance();
      }
      if (Pos >= Text.size() || Text[Pos] != '"') {
        T.Kind = Tok::Bad;
        T.Text = "unterminated string";
        return T;
      }
      advance();
      T.Kind = Tok::String;
      T.Text = S;
      return T;
    }
    if (C == '-' && Pos + 1 < Text.size() && Text[Pos + 1] == '>') {
      advance();
      advance();
      T.Kind = Tok::Arrow;
      T.Text = "->";
      return T;
    }
    if (std::isdigit((unsigned char)C) || C == '-' || C == '+') {
      size_t S = Pos;
      advance();
      bool IsFloat = false;
      while (Pos < Text.size()) {
        char D = Text[Pos];
        if (std::isdigit((unsigned char)D)) {
          advance();
        } else if (D == '.' || D == 'e' || D == 'E') {
          IsFloat = true;
          advance();
          if ((D == 'e' || D == 'E') && Pos < Text.size() &&
              (Text[Pos] == '-' || Text[Pos] == '+'))
            advance();
        } else {
          break;
        }
      }
      T.Text = Text.substr(S, Pos - S);
      // -inf, inf and nan print as words.
      if ((T.Text == "-" || T.Text == "+") && Pos < Text.size() &&
          std::isalpha((unsigned char)Text[Pos])) {
        while (Pos < Text.size() && std::isalpha((unsigned char)Text[Pos]))
          advance();
        T.Text = Text.substr(S, Pos - S);
        T.Kind = Tok::Float;
        return T;
      }
      T.Kind = IsFloat ? Tok::Float : Tok::Int;
      if (T.Text == "-" || T.Text == "+")
        T.Kind = Tok::Bad;
      return T;
    }
    if (std::isalpha((unsigned char)C) || C == '_') {
      size_t S = Pos;
      while (Pos < Text.size() && IsId(Text[Pos]))
        advance();
      T.Kind = Tok::Id;
      T.Text = Text.substr(S, Pos - S);
      return T;
    }
    if (std::string("(){}[],:=").find(C) != std::string::npos) {
      advance();
      T.Kind = Tok::Punct;
      T.Text = std::string(1, C);
      return T;
    }
    advance();
    T.Kind = Tok::Bad;
    T.Text = std::isprint((unsigned char)C)
                 ? fmt::format("unexpected character '{}'", C)
                 : fmt::format("unexpected byte 0x{:02x}", (unsigned char)C);
    return T;
  }

private:
  void advance() {
    if (Text[Pos] == '\n') {
      ++Line;
      Col = 1;
    } else {
      ++Col;
    }
    ++Pos;
  }
  void skipSpace() {
    while (Pos < Text.size()) {
      char C = Text[Pos];
      if (C == '/' && Pos + 1 < Text.size() && Text[Pos + 1] == '/') {
        while (Pos < Text.size() && Text[Pos] != '\n')
          advance();
      } else if (std::isspace((unsigned char)C)) {
        advance();
      } else {
        break;
      }
    }
  }
  const std::string &Text;
  size_t Pos = 0;
  unsigned Line = 1, Col = 1;
};

class Parser {
public:
  Parser(const std::string &File, const std::string &Text, SourceMap *Map)
      : File(File), Lex(Text), Map(Map) {
    Cur = Lex.next();
  }

  std::unique_ptr<Module> parse(ParseError &E) {
    auto M = std::make_unique<Module>();
    Mod = M.get();
    while (Cur.Kind != Tok::Eof && !Failed)
      parseFunction(*M);
    if (Failed) {
      E = Err;
      return nullptr;
    }
    if (!SawBatch)
      M->BatchDim = "N";
    return M;
  }

private:
  std::string File;
  Lexer Lex;
  Token Cur;
  bool Failed = false;
  ParseError Err;
  Module *Mod = nullptr;
  bool SawBatch = false;
  SourceMap *Map;
  /// Values defined so far in the current function, by name.
  std::unordered_map<std::string, Value *> Values;
  /// Names used before their definition: a placeholder and the first use.
  struct Forward {
    std::unique_ptr<Value> Placeholder;
    Loc FirstUse;
  };
  std::unordered_map<std::string, Forward> Pending;

  Loc here() const { return Loc{File, Cur.Line, Cur.Col, false}; }

  bool errorAt(const Loc &L, const std::string &Msg) {
    if (!Failed) {
      Failed = true;
      Err = {L, Msg};
    }
    return false;
  }
  bool error(const std::string &Msg) { return errorAt(here(), Msg); }

  void define(const std::string &Name, Value *V, const Loc &L) {
    Values[Name] = V;
    if (!Map)
      return;
    Map->Values[V] = L;
    Map->Names[V] = Name;
  }

  /// Replaces the placeholders of \p F by the values defined later; an error
  /// at the earliest use of a name that was never defined.
  bool resolveForwardUses(Function &F) {
    const Forward *Undefined = nullptr;
    std::string UndefinedName;
    std::unordered_map<const Value *, Value *> Real;
    for (auto &[Name, Fw] : Pending) {
      auto It = Values.find(Name);
      if (It != Values.end()) {
        Real[Fw.Placeholder.get()] = It->second;
        continue;
      }
      const Loc &U = Fw.FirstUse;
      if (!Undefined || U.Line < Undefined->FirstUse.Line ||
          (U.Line == Undefined->FirstUse.Line &&
           U.Col < Undefined->FirstUse.Col)) {
        Undefined = &Fw;
        UndefinedName = Name;
      }
    }
    if (Undefined)
      return errorAt(
          Undefined->FirstUse,
          fmt::format("use of undefined value '%{}'", UndefinedName));
    for (auto &O : F.Ops)
      for (Value *&V : O->Operands)
        if (auto It = Real.find(V); It != Real.end())
          V = It->second;
    Pending.clear();
    return true;
  }

  std::string describe(const Token &T) const {
    switch (T.Kind) {
    case Tok::Eof:
      return "end of file";
    case Tok::Bad:
      return T.Text;
    case Tok::Value:
      return "'%" + T.Text + "'";
    case Tok::Global:
      return "'@" + T.Text + "'";
    case Tok::String:
      return "a string";
    default:
      return "'" + T.Text + "'";
    }
  }

  bool expected(const std::string &What) {
    if (Cur.Kind == Tok::Bad)
      return error(Cur.Text);
    return error(fmt::format("expected {}, got {}", What, describe(Cur)));
  }

  bool isPunct(const char *P) const {
    return Cur.Kind == Tok::Punct && Cur.Text == P;
  }
  bool isId(const char *W) const {
    return Cur.Kind == Tok::Id && Cur.Text == W;
  }
  void next() { Cur = Lex.next(); }
  bool expectPunct(const char *P) {
    if (!isPunct(P))
      return expected(fmt::format("'{}'", P));
    next();
    return true;
  }

  bool parseInt(int64_t &Out) {
    if (Cur.Kind != Tok::Int)
      return expected("an integer");
    errno = 0;
    char *End = nullptr;
    long long V = std::strtoll(Cur.Text.c_str(), &End, 10);
    if (errno == ERANGE || *End)
      return error(fmt::format("integer '{}' is out of range", Cur.Text));
    Out = V;
    next();
    return true;
  }

  bool parseType(TensorType &T) {
    if (Cur.Kind != Tok::Id)
      return expected("a type");
    if (Cur.Text == "f32")
      T.Elt = DType::F32;
    else if (Cur.Text == "f64")
      T.Elt = DType::F64;
    else if (Cur.Text == "i32")
      T.Elt = DType::I32;
    else
      return error(fmt::format("unknown element type '{}'", Cur.Text));
    next();
    if (!expectPunct("["))
      return false;
    T.Dims.clear();
    while (!isPunct("]")) {
      if (!T.Dims.empty() && !expectPunct(","))
        return false;
      if (Cur.Kind == Tok::Id) {
        if (SawBatch && Cur.Text != Mod->BatchDim)
          return error(fmt::format("symbolic dim '{}' conflicts with '{}'",
                                   Cur.Text, Mod->BatchDim));
        SawBatch = true;
        Mod->BatchDim = Cur.Text;
        T.Dims.push_back(kBatch);
        next();
        continue;
      }
      int64_t D = 0;
      Loc At = here();
      if (Cur.Kind != Tok::Int)
        return expected("a dimension");
      if (!parseInt(D))
        return false;
      if (D < 0)
        return errorAt(At, "dimensions must not be negative");
      T.Dims.push_back(D);
    }
    next();
    return true;
  }

  bool parseAttr(Attr &A) {
    if (Cur.Kind == Tok::Int) {
      int64_t V = 0;
      if (!parseInt(V))
        return false;
      A = V;
      return true;
    }
    if (Cur.Kind == Tok::Float) {
      const std::string &S = Cur.Text;
      double V;
      if (S == "inf" || S == "+inf")
        V = HUGE_VAL;
      else if (S == "-inf")
        V = -HUGE_VAL;
      else if (S == "nan" || S == "-nan" || S == "+nan")
        V = std::nan("");
      else {
        char *End = nullptr;
        V = std::strtod(S.c_str(), &End);
        if (*End)
          return error(fmt::format("bad number '{}'", S));
      }
      A = V;
      next();
      return true;
    }
    if (Cur.Kind == Tok::Id && (Cur.Text == "inf" || Cur.Text == "nan")) {
      A = Cur.Text == "inf" ? HUGE_VAL : std::nan("");
      next();
      return true;
    }
    if (isId("true") || isId("false")) {
      A = Cur.Text == "true";
      next();
      return true;
    }
    if (Cur.Kind == Tok::String) {
      A = Cur.Text;
      next();
      return true;
    }
    if (isPunct("[")) {
      next();
      std::vector<int64_t> L;
      while (!isPunct("]")) {
        if (!L.empty() && !expectPunct(","))
          return false;
        int64_t V;
        if (!parseInt(V))
          return false;
        L.push_back(V);
      }
      next();
      A = std::move(L);
      return true;
    }
    return expected("an attribute value");
  }

  bool parseLoc(Loc &L) {
    next(); // 'loc'
    if (!expectPunct("("))
      return false;
    if (isId("grad")) {
      next();
      L.Grad = true;
      return expectPunct(")");
    }
    if (Cur.Kind != Tok::String)
      return expected("a file name");
    L.File = Cur.Text;
    next();
    int64_t Line, Col;
    if (!expectPunct(":"))
      return false;
    Loc At = here();
    if (!parseInt(Line) || !expectPunct(":") || !parseInt(Col))
      return false;
    if (Line <= 0 || Col <= 0 || Line > UINT32_MAX || Col > UINT32_MAX)
      return errorAt(At, "bad line or column in location");
    L.Line = Line;
    L.Col = Col;
    if (isPunct(",")) {
      next();
      if (!isId("grad"))
        return expected("'grad'");
      next();
      L.Grad = true;
    }
    return expectPunct(")");
  }

  /// A value operand; with \p AllowForward, a name not defined yet gets a
  /// placeholder (see resolveForwardUses).
  Value *useValue(bool AllowForward) {
    if (Cur.Kind != Tok::Value) {
      expected("a value");
      return nullptr;
    }
    Value *V = nullptr;
    if (auto It = Values.find(Cur.Text); It != Values.end()) {
      V = It->second;
    } else if (!AllowForward) {
      error(fmt::format("use of undefined value '%{}'", Cur.Text));
      return nullptr;
    } else {
      Forward &Fw = Pending[Cur.Text];
      if (!Fw.Placeholder) {
        Fw.Placeholder = std::make_unique<Value>();
        Fw.FirstUse = here();
      }
      V = Fw.Placeholder.get();
    }
    next();
    return V;
  }

  bool parseOp(Function &F) {
    std::string Name = Cur.Text;
    Loc At = here();
    if (Values.count(Name))
      return error(fmt::format("redefinition of value '%{}'", Name));
    next();
    if (!expectPunct("="))
      return false;
    if (Cur.Kind != Tok::Id)
      return expected("an op name");
    auto Kind = opKindByName(Cur.Text);
    if (!Kind)
      return error(fmt::format("unknown op '{}'", Cur.Text));
    next();
    auto O = std::make_unique<Op>();
    O->Kind = *Kind;
    O->Result.Def = O.get();
    while (Cur.Kind == Tok::Value) {
      if (!O->Operands.empty())
        return expected("','");
      while (true) {
        Value *V = useValue(/*AllowForward=*/true);
        if (!V)
          return false;
        O->Operands.push_back(V);
        if (!isPunct(","))
          break;
        next();
      }
    }
    int Arity = opInfo(*Kind).Arity;
    if (Arity >= 0 && O->Operands.size() != size_t(Arity))
      return error(fmt::format("'{}' expects {} operand{}, got {}",
                               opInfo(*Kind).Mnemonic, Arity,
                               Arity == 1 ? "" : "s", O->Operands.size()));
    if (isPunct("{")) {
      next();
      while (!isPunct("}")) {
        if (!O->Attributes.empty() && !expectPunct(","))
          return false;
        if (Cur.Kind != Tok::Id)
          return expected("an attribute name");
        std::string AName = Cur.Text;
        if (O->Attributes.count(AName))
          return error(fmt::format("attribute '{}' is given twice", AName));
        next();
        Attr A;
        if (!expectPunct("=") || !parseAttr(A))
          return false;
        O->Attributes[AName] = std::move(A);
      }
      next();
    }
    if (!expectPunct(":") || !parseType(O->Result.Type))
      return false;
    if (isId("loc") && !parseLoc(O->Location))
      return false;
    define(Name, &O->Result, At);
    F.Ops.push_back(std::move(O));
    return true;
  }

  bool parseFunction(Module &M) {
    if (!isId("func"))
      return expected("'func'");
    next();
    if (Cur.Kind != Tok::Global)
      return expected("a function name like '@forward'");
    if (M.function(Cur.Text))
      return error(fmt::format("redefinition of function '@{}'", Cur.Text));
    Function &F = *M.addFunction(Cur.Text);
    if (Map)
      Map->Functions[&F] = here();
    Values.clear();
    Pending.clear();
    next();
    if (!expectPunct("("))
      return false;
    while (!isPunct(")")) {
      if (!F.Args.empty() && !expectPunct(","))
        return false;
      if (Cur.Kind != Tok::Value)
        return expected("an argument");
      std::string Name = Cur.Text;
      Loc At = here();
      if (Values.count(Name))
        return error(fmt::format("redefinition of value '%{}'", Name));
      next();
      TensorType T;
      if (!expectPunct(":") || !parseType(T) || !expectPunct("{"))
        return false;
      ArgRole R;
      if (isId("input"))
        R = ArgRole::Input;
      else if (isId("param"))
        R = ArgRole::Param;
      else if (isId("state"))
        R = ArgRole::State;
      else if (isId("hyper"))
        R = ArgRole::Hyper;
      else if (isId("buffer"))
        R = ArgRole::Buffer;
      else
        return expected("an argument role (input, param, buffer, state, "
                        "hyper)");
      next();
      bool Frozen = false;
      if (isPunct(",")) {
        next();
        if (!isId("frozen"))
          return expected("'frozen'");
        next();
        Frozen = true;
      }
      if (!expectPunct("}"))
        return false;
      define(Name, F.addArg(Name, T, R, Frozen), At);
    }
    next();
    std::vector<TensorType> ResultTypes;
    if (Cur.Kind != Tok::Arrow)
      return expected("'->'");
    next();
    if (!expectPunct("("))
      return false;
    while (!isPunct(")")) {
      if (!ResultTypes.empty() && !expectPunct(","))
        return false;
      TensorType T;
      if (!parseType(T))
        return false;
      ResultTypes.push_back(T);
    }
    next();
    if (!expectPunct("{"))
      return false;
    while (Cur.Kind == Tok::Value)
      if (!parseOp(F))
        return false;
    if (!isId("return"))
      return expected("an op or 'return'");
    if (!resolveForwardUses(F))
      return false;
    Token Ret = Cur;
    next();
    while (Cur.Kind == Tok::Id) {
      std::string RName = Cur.Text;
      if (Map)
        Map->Results[&F].push_back(here());
      next();
      if (!expectPunct("="))
        return false;
      Value *V = useValue(/*AllowForward=*/false);
      if (!V)
        return false;
      F.Results.push_back({RName, V});
      if (!isPunct(","))
        break;
      next();
    }
    if (!expectPunct("}"))
      return false;
    if (ResultTypes.size() != F.Results.size()) {
      Err = {Loc{File, Ret.Line, Ret.Col, false},
             fmt::format("@{} declares {} results but returns {}", F.Name,
                         ResultTypes.size(), F.Results.size())};
      Failed = true;
      return false;
    }
    for (size_t I = 0; I < ResultTypes.size(); ++I)
      if (ResultTypes[I] != F.Results[I].V->Type) {
        Err = {Loc{File, Ret.Line, Ret.Col, false},
               fmt::format("result '{}' has type {} but @{} declares {}",
                           F.Results[I].Name,
                           F.Results[I].V->Type.str(M.BatchDim), F.Name,
                           ResultTypes[I].str(M.BatchDim))};
        Failed = true;
        return false;
      }
    return true;
  }
};

} // namespace

std::unique_ptr<Module> parseModule(const std::string &File,
                                    const std::string &Text, ParseError &Err,
                                    SourceMap *Map) {
  Parser P(File, Text, Map);
  return P.parse(Err);
}

} // namespace adj
