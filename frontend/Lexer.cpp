//===- Lexer.cpp - Tokens of the model language ---------------------------===//
///
/// A single pass over the bytes with one character of lookahead for the
/// two-character operators (`**`, `<=`, `>=`, `==`, `!=`). Numbers are
/// digits with an optional fraction and exponent; a number without either is
/// an integer. Strings are double-quoted with the escapes \" \\ \n \t.
///
//===----------------------------------------------------------------------===//
#include "frontend/Lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>
#include <map>

namespace adj {

std::string tokName(Tok K) {
  switch (K) {
  case Tok::Eof:
    return "end of file";
  case Tok::Newline:
    return "end of line";
  case Tok::Error:
    return "an invalid token";
  case Tok::Ident:
    return "a name";
  case Tok::Number:
    return "a number";
  case Tok::String:
    return "a string";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::LBracket:
    return "'['";
  case Tok::RBracket:
    return "']'";
  case Tok::LBrace:
    return "'{'";
  case Tok::RBrace:
    return "'}'";
  case Tok::Comma:
    return "','";
  case Tok::Colon:
    return "':'";
  case Tok::Assign:
    return "'='";
  case Tok::Plus:
    return "'+'";
  case Tok::Minus:
    return "'-'";
  case Tok::Star:
    return "'*'";
  case Tok::Slash:
    return "'/'";
  case Tok::At:
    return "'@'";
  case Tok::StarStar:
    return "'**'";
  case Tok::Less:
    return "'<'";
  case Tok::LessEq:
    return "'<='";
  case Tok::Greater:
    return "'>'";
  case Tok::GreaterEq:
    return "'>='";
  case Tok::EqEq:
    return "'=='";
  case Tok::NotEq:
    return "'!='";
  case Tok::KwModel:
    return "'model'";
  case Tok::KwInput:
    return "'input'";
  case Tok::KwParam:
    return "'param'";
  case Tok::KwBuffer:
    return "'buffer'";
  case Tok::KwDef:
    return "'def'";
  case Tok::KwReturn:
    return "'return'";
  case Tok::KwLoss:
    return "'loss'";
  case Tok::KwMetric:
    return "'metric'";
  case Tok::KwTrain:
    return "'train'";
  case Tok::KwData:
    return "'data'";
  case Tok::KwFrozen:
    return "'frozen'";
  case Tok::KwTrue:
    return "'true'";
  case Tok::KwFalse:
    return "'false'";
  }
  return "?";
}

namespace {

class Lexer {
public:
  Lexer(const std::string &File, const std::string &Src)
      : File(File), Src(Src) {}

  std::vector<Token> run() {
    while (skipSpaceAndComments())
      lexToken();
    Token Eof;
    Eof.Kind = Tok::Eof;
    Eof.L = here();
    // A file ending in a newline reports end-of-file errors on its last line.
    if (!Toks.empty() && Toks.back().Kind == Tok::Newline)
      Eof.L = Toks.back().L;
    Toks.push_back(Eof);
    return std::move(Toks);
  }

private:
  Loc here() const { return Loc{File, Line, unsigned(Pos - LineStart + 1)}; }
  char peekChar(size_t Ahead = 0) const {
    return Pos + Ahead < Src.size() ? Src[Pos + Ahead] : '\0';
  }

  /// Skips blanks and comments; false at the end of the input.
  bool skipSpaceAndComments() {
    while (Pos < Src.size()) {
      char C = Src[Pos];
      if (C == ' ' || C == '\t' || C == '\r') {
        ++Pos;
      } else if (C == '#') {
        while (Pos < Src.size() && Src[Pos] != '\n')
          ++Pos;
      } else {
        return true;
      }
    }
    return false;
  }

  void push(Tok K, Loc L, std::string Text) {
    Token T;
    T.Kind = K;
    T.L = std::move(L);
    T.Text = std::move(Text);
    Toks.push_back(std::move(T));
  }

  void lexToken() {
    Loc L = here();
    char C = Src[Pos];
    if (C == '\n') {
      push(Tok::Newline, L, "\n");
      ++Pos;
      ++Line;
      LineStart = Pos;
      return;
    }
    if (std::isalpha((unsigned char)C) || C == '_')
      return lexName(L);
    if (std::isdigit((unsigned char)C) ||
        (C == '.' && std::isdigit((unsigned char)peekChar(1))))
      return lexNumber(L);
    if (C == '"')
      return lexString(L);
    static const std::map<std::string, Tok> Puncts = {
        {"**", Tok::StarStar}, {"<=", Tok::LessEq},  {">=", Tok::GreaterEq},
        {"==", Tok::EqEq},     {"!=", Tok::NotEq},   {"(", Tok::LParen},
        {")", Tok::RParen},    {"[", Tok::LBracket}, {"]", Tok::RBracket},
        {"{", Tok::LBrace},    {"}", Tok::RBrace},   {",", Tok::Comma},
        {":", Tok::Colon},     {"=", Tok::Assign},   {"+", Tok::Plus},
        {"-", Tok::Minus},     {"*", Tok::Star},     {"/", Tok::Slash},
        {"@", Tok::At},        {"<", Tok::Less},     {">", Tok::Greater}};
    for (size_t Len : {2, 1}) {
      auto It = Puncts.find(Src.substr(Pos, Len));
      if (It == Puncts.end())
        continue;
      Pos += Len;
      return push(It->second, L, It->first);
    }
    std::string Shown = std::isprint((unsigned char)C)
                            ? std::string(1, C)
                            : fmt::format("\\x{:02x}", (unsigned char)C);
    ++Pos;
    push(Tok::Error, L, fmt::format("unexpected character '{}'", Shown));
  }

  void lexName(const Loc &L) {
    size_t Begin = Pos;
    // A '.' followed by a letter or '_' continues the name, so that names
    // can be PyTorch's state_dict keys (`bn1.running_mean`, `fc.weight`).
    auto NameChar = [&](size_t At) {
      unsigned char C = At < Src.size() ? Src[At] : 0;
      unsigned char D = At + 1 < Src.size() ? Src[At + 1] : 0;
      return std::isalnum(C) || C == '_' ||
             (C == '.' && (std::isalpha(D) || D == '_'));
    };
    while (NameChar(Pos))
      ++Pos;
    static const std::map<std::string, Tok> Keywords = {
        {"model", Tok::KwModel},   {"input", Tok::KwInput},
        {"param", Tok::KwParam},   {"def", Tok::KwDef},
        {"return", Tok::KwReturn}, {"loss", Tok::KwLoss},
        {"metric", Tok::KwMetric}, {"train", Tok::KwTrain},
        {"data", Tok::KwData},     {"frozen", Tok::KwFrozen},
        {"true", Tok::KwTrue},     {"false", Tok::KwFalse},
        {"buffer", Tok::KwBuffer}};
    std::string Text = Src.substr(Begin, Pos - Begin);
    auto It = Keywords.find(Text);
    push(It == Keywords.end() ? Tok::Ident : It->second, L, Text);
  }

  void lexNumber(const Loc &L) {
    size_t Begin = Pos;
    bool IsInt = true;
    auto digits = [&] {
      size_t Start = Pos;
      while (std::isdigit((unsigned char)peekChar()))
        ++Pos;
      return Pos > Start;
    };
    digits();
    if (peekChar() == '.') {
      IsInt = false;
      ++Pos;
      digits();
    }
    bool Bad = false;
    if (peekChar() == 'e' || peekChar() == 'E') {
      IsInt = false;
      ++Pos;
      if (peekChar() == '+' || peekChar() == '-')
        ++Pos;
      Bad = !digits();
    }
    std::string Text = Src.substr(Begin, Pos - Begin);
    if (Bad) {
      return push(Tok::Error, L, fmt::format("malformed number '{}'", Text));
    }
    errno = 0;
    double V = std::strtod(Text.c_str(), nullptr);
    if (IsInt && (errno == ERANGE || V > 9.0e15)) {
      return push(Tok::Error, L,
                  fmt::format("integer '{}' is too large", Text));
    }
    push(Tok::Number, L, Text);
    Toks.back().Num = V;
    Toks.back().IsInt = IsInt;
  }

  void lexString(const Loc &L) {
    ++Pos; // opening quote
    std::string Value;
    while (true) {
      char C = peekChar();
      if (Pos >= Src.size() || C == '\n') {
        return push(Tok::Error, L, "unterminated string");
      }
      ++Pos;
      if (C == '"')
        break;
      if (C != '\\') {
        Value += C;
        continue;
      }
      Loc EscLoc = here();
      --EscLoc.Col;
      char E = peekChar();
      if (Pos >= Src.size() || E == '\n') {
        return push(Tok::Error, L, "unterminated string");
      }
      ++Pos;
      if (E == '"' || E == '\\')
        Value += E;
      else if (E == 'n')
        Value += '\n';
      else if (E == 't')
        Value += '\t';
      else {
        // Skip the rest of the string so that it yields a single error.
        while (Pos < Src.size() && Src[Pos] != '"' && Src[Pos] != '\n')
          ++Pos;
        if (peekChar() == '"')
          ++Pos;
        return push(Tok::Error, EscLoc,
                    fmt::format("unknown escape sequence '\\{}'", E));
      }
    }
    push(Tok::String, L, Value);
  }

  const std::string &File;
  const std::string &Src;
  std::vector<Token> Toks;
  size_t Pos = 0, LineStart = 0;
  unsigned Line = 1;
};

} // namespace

std::vector<Token> lex(const std::string &File, const std::string &Src) {
  return Lexer(File, Src).run();
}

} // namespace adj
