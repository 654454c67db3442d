//===- LexerTest.cpp - Tokens of the model language -----------------------===//
#include "frontend/Lexer.h"

#include <gtest/gtest.h>

using namespace adj;

namespace {

std::vector<Tok> kinds(const std::string &Src) {
  std::vector<Tok> K;
  for (const Token &T : lex("t.adj", Src))
    K.push_back(T.Kind);
  return K;
}

TEST(Lexer, Punctuation) {
  EXPECT_EQ(kinds("( ) [ ] { } , : = + - * / @ ** < <= > >= == !="),
            (std::vector<Tok>{
                Tok::LParen, Tok::RParen,  Tok::LBracket,  Tok::RBracket,
                Tok::LBrace, Tok::RBrace,  Tok::Comma,     Tok::Colon,
                Tok::Assign, Tok::Plus,    Tok::Minus,     Tok::Star,
                Tok::Slash,  Tok::At,      Tok::StarStar,  Tok::Less,
                Tok::LessEq, Tok::Greater, Tok::GreaterEq, Tok::EqEq,
                Tok::NotEq,  Tok::Eof}));
  // Two-character operators win over their first character.
  EXPECT_EQ(kinds("a**b<=c"),
            (std::vector<Tok>{Tok::Ident, Tok::StarStar, Tok::Ident,
                              Tok::LessEq, Tok::Ident, Tok::Eof}));
}

TEST(Lexer, KeywordsAndNames) {
  EXPECT_EQ(
      kinds("model input param def return loss metric train data "
            "frozen true false"),
      (std::vector<Tok>{Tok::KwModel, Tok::KwInput, Tok::KwParam, Tok::KwDef,
                        Tok::KwReturn, Tok::KwLoss, Tok::KwMetric, Tok::KwTrain,
                        Tok::KwData, Tok::KwFrozen, Tok::KwTrue, Tok::KwFalse,
                        Tok::Eof}));
  auto T = lex("t.adj", "w1 _x models f32");
  ASSERT_EQ(T.size(), 5u);
  for (int I = 0; I < 4; ++I)
    EXPECT_EQ(T[I].Kind, Tok::Ident);
  EXPECT_EQ(T[0].Text, "w1");
  EXPECT_EQ(T[1].Text, "_x");
  EXPECT_EQ(T[2].Text, "models");
}

TEST(Lexer, Numbers) {
  auto T = lex("t.adj", "784 0.001 1e-3 2.5E+2 .5 3.");
  ASSERT_EQ(T.size(), 7u);
  EXPECT_TRUE(T[0].IsInt);
  EXPECT_EQ(T[0].Num, 784);
  EXPECT_FALSE(T[1].IsInt);
  EXPECT_DOUBLE_EQ(T[1].Num, 0.001);
  EXPECT_FALSE(T[2].IsInt);
  EXPECT_DOUBLE_EQ(T[2].Num, 1e-3);
  EXPECT_DOUBLE_EQ(T[3].Num, 250);
  EXPECT_DOUBLE_EQ(T[4].Num, 0.5);
  EXPECT_DOUBLE_EQ(T[5].Num, 3);
  EXPECT_FALSE(T[5].IsInt);
  for (int I = 0; I < 6; ++I)
    EXPECT_EQ(T[I].Kind, Tok::Number);
}

TEST(Lexer, Strings) {
  auto T = lex("t.adj", R"("a\"b\\c\n\t" "")");
  ASSERT_EQ(T.size(), 3u);
  EXPECT_EQ(T[0].Kind, Tok::String);
  EXPECT_EQ(T[0].Text, "a\"b\\c\n\t");
  EXPECT_EQ(T[1].Kind, Tok::String);
  EXPECT_EQ(T[1].Text, "");
}

TEST(Lexer, CommentsNewlinesAndLocations) {
  auto T = lex("t.adj", "# header\nh = x  # trailing\n\n  y\n");
  std::vector<Tok> K;
  for (const Token &Tk : T)
    K.push_back(Tk.Kind);
  EXPECT_EQ(K, (std::vector<Tok>{Tok::Newline, Tok::Ident, Tok::Assign,
                                 Tok::Ident, Tok::Newline, Tok::Newline,
                                 Tok::Ident, Tok::Newline, Tok::Eof}));
  EXPECT_EQ(T[1].L.Line, 2u);
  EXPECT_EQ(T[1].L.Col, 1u);
  EXPECT_EQ(T[3].L.Col, 5u);
  EXPECT_EQ(T[4].L.Col, 18u); // the newline after the comment
  EXPECT_EQ(T[6].L.Line, 4u);
  EXPECT_EQ(T[6].L.Col, 3u);
  EXPECT_EQ(T[6].L.File, "t.adj");
  // End of file after a final newline sits on the last line.
  EXPECT_EQ(T[8].L.Line, 4u);
}

TEST(Lexer, NewlinesInsideBracketsAreTokensToo) {
  // The parser, not the lexer, ignores newlines inside ( ) and [ ].
  EXPECT_EQ(
      kinds("f(a,\nb)"),
      (std::vector<Tok>{Tok::Ident, Tok::LParen, Tok::Ident, Tok::Comma,
                        Tok::Newline, Tok::Ident, Tok::RParen, Tok::Eof}));
}

TEST(Lexer, ErrorsBecomeErrorTokens) {
  struct Case {
    const char *Src;
    const char *Msg;
    unsigned Col;
  } Cases[] = {
      {"a $ b", "unexpected character '$'", 3},
      {"x = \"abc", "unterminated string", 5},
      {"x = \"a\\qb\"", "unknown escape sequence '\\q'", 7},
      {"1.5e", "malformed number '1.5e'", 1},
      {"99999999999999999999", "integer '99999999999999999999' is too large",
       1},
      {"!", "unexpected character '!'", 1},
  };
  for (const Case &C : Cases) {
    auto T = lex("t.adj", C.Src);
    const Token *E = nullptr;
    for (const Token &Tk : T)
      if (Tk.Kind == Tok::Error && !E)
        E = &Tk;
    ASSERT_NE(E, nullptr) << C.Src;
    EXPECT_EQ(E->Text, C.Msg) << C.Src;
    EXPECT_EQ(E->L.Col, C.Col) << C.Src;
  }
  // Lexing goes on after an error.
  EXPECT_EQ(kinds("a $ b"),
            (std::vector<Tok>{Tok::Ident, Tok::Error, Tok::Ident, Tok::Eof}));
}

} // namespace
