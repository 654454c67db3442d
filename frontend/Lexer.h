//===- Lexer.h - Tokens of the model language -------------------*- C++ -*-===//
///
/// Splits a model file into tokens: names, keywords, numbers, strings,
/// punctuation and newlines. Newlines end statements, so every one is a
/// token; the parser ignores those inside ( ) and [ ]. Comments run from `#`
/// to the end of the line. Lines and columns are 1-based; columns count bytes.
/// A bad character, number or string becomes an Error token whose text is
/// the message; the parser reports it when it reaches the token, so that
/// all errors come out in source order.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_LEXER_H
#define ADJ_FRONTEND_LEXER_H

#include "ir/IR.h"

#include <string>
#include <vector>

namespace adj {

enum class Tok {
  Eof,
  Newline,
  Error,
  Ident,
  Number,
  String,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Assign,
  Plus,
  Minus,
  Star,
  Slash,
  At,
  StarStar,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  EqEq,
  NotEq,
  KwModel,
  KwInput,
  KwParam,
  KwBuffer,
  KwDef,
  KwReturn,
  KwLoss,
  KwMetric,
  KwTrain,
  KwData,
  KwFrozen,
  KwTrue,
  KwFalse,
};

/// How a token kind is written, for messages and dumps: `')'`, `'model'`,
/// `a name`, `end of line`.
std::string tokName(Tok K);

struct Token {
  Tok Kind = Tok::Eof;
  std::string Text; ///< Spelling; strings: the value; errors: the message.
  double Num = 0;   ///< Numbers.
  bool IsInt = false;
  Loc L;
};

/// Lexes \p Src (named \p File); always ends with an Eof token.
std::vector<Token> lex(const std::string &File, const std::string &Src);

} // namespace adj

#endif
