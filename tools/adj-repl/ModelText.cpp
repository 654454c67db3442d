//===- ModelText.cpp - The REPL's model source and its edits --------------===//
///
/// Statements are found on the lexer's tokens: one starts at the first
/// token after a top-level newline and ends at the next newline outside
/// ( ), [ ] and { }. Its first tokens say what it is (`param NAME`,
/// `NAME =`, `train {`, ...). Edits work on whole lines: a replaced
/// statement's lines give way to the typed line; an inserted one gets a
/// line of its own. Blocks merge by entry key (`batch`, `train x`), each
/// entry's text taken verbatim from its line.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/ModelText.h"

#include "frontend/Lexer.h"

#include <algorithm>
#include <fmt/format.h>
#include <initializer_list>

namespace adj {

static std::vector<std::string> splitLines(const std::string &S) {
  std::vector<std::string> Lines;
  size_t Begin = 0;
  while (Begin < S.size()) {
    size_t End = S.find('\n', Begin);
    if (End == std::string::npos)
      End = S.size();
    Lines.push_back(S.substr(Begin, End - Begin));
    Begin = End + 1;
  }
  return Lines;
}

static std::string joinLines(const std::vector<std::string> &Lines) {
  std::string S;
  for (const std::string &L : Lines)
    S += L + "\n";
  return S;
}

static bool isOpen(Tok K) {
  return K == Tok::LParen || K == Tok::LBracket || K == Tok::LBrace;
}
static bool isClose(Tok K) {
  return K == Tok::RParen || K == Tok::RBracket || K == Tok::RBrace;
}

/// Classifies the statement starting at token \p I.
static void classify(const std::vector<Token> &T, size_t I, StmtSpan &S) {
  auto NameAt = [&](size_t J) {
    return J < T.size() && T[J].Kind == Tok::Ident ? T[J].Text : "";
  };
  S.Known = true;
  switch (T[I].Kind) {
  case Tok::KwModel:
    S.Kind = StmtKind::Model;
    S.Name = NameAt(I + 1);
    return;
  case Tok::KwInput:
    S.Kind = StmtKind::Input;
    S.Name = NameAt(I + 1);
    return;
  case Tok::KwParam:
  case Tok::KwBuffer:
    S.Kind = StmtKind::Param;
    S.Buffer = T[I].Kind == Tok::KwBuffer;
    S.Name = NameAt(I + 1);
    return;
  case Tok::KwDef:
    S.Kind = StmtKind::Def;
    S.Name = NameAt(I + 1);
    return;
  case Tok::KwLoss:
    S.Kind = StmtKind::Loss;
    return;
  case Tok::KwMetric:
    S.Kind = StmtKind::Metric;
    S.Name = NameAt(I + 1);
    return;
  case Tok::KwTrain:
    S.Kind = StmtKind::Train;
    return;
  case Tok::KwData:
    S.Kind = StmtKind::Data;
    return;
  case Tok::Ident:
    if (I + 1 < T.size() && T[I + 1].Kind == Tok::Assign) {
      S.Kind = StmtKind::Bind;
      S.Name = T[I].Text;
      return;
    }
    break;
  default:
    break;
  }
  S.Known = false;
}

std::vector<StmtSpan> splitStatements(const std::string &Source) {
  std::vector<Token> T = lex("", Source);
  std::vector<StmtSpan> Out;
  int Depth = 0;
  bool In = false;
  for (size_t I = 0; I < T.size() && T[I].Kind != Tok::Eof; ++I) {
    if (T[I].Kind == Tok::Newline && Depth == 0) {
      In = false;
      continue;
    }
    if (T[I].Kind == Tok::Newline)
      continue;
    if (!In) {
      Out.emplace_back();
      Out.back().First = T[I].L.Line - 1;
      classify(T, I, Out.back());
      In = true;
    }
    if (isOpen(T[I].Kind))
      ++Depth;
    else if (isClose(T[I].Kind) && Depth > 0)
      --Depth;
    Out.back().Last = T[I].L.Line - 1;
  }
  return Out;
}

std::vector<std::string> statementNames(const std::string &Source) {
  std::vector<std::string> Names;
  for (const StmtSpan &S : splitStatements(Source))
    if (S.Known && !S.Name.empty() && S.Kind != StmtKind::Model)
      Names.push_back(S.Name);
  return Names;
}

/// Drops a comment (outside a string) and trailing blanks.
static std::string stripComment(const std::string &S) {
  bool InString = false;
  size_t End = S.size();
  for (size_t I = 0; I < S.size(); ++I) {
    if (InString && S[I] == '\\') {
      ++I;
      continue;
    }
    if (S[I] == '"')
      InString = !InString;
    if (S[I] == '#' && !InString) {
      End = I;
      break;
    }
  }
  while (End > 0 && (S[End - 1] == ' ' || S[End - 1] == '\t'))
    --End;
  return S.substr(0, End);
}

/// The entries of the block statement in lines [First, Last] of \p Source as
/// (key, text) pairs: `batch = 16` has key "batch", `train x = idx(..)`
/// "train x".
static std::vector<std::pair<std::string, std::string>>
blockEntries(const std::string &Source, unsigned First, unsigned Last,
             bool TwoKeys) {
  std::vector<size_t> LineStart = {0};
  for (size_t I = 0; I < Source.size(); ++I)
    if (Source[I] == '\n')
      LineStart.push_back(I + 1);
  auto Offset = [&](const Loc &L) {
    return LineStart[L.Line - 1] + (L.Col - 1);
  };
  std::vector<Token> T = lex("", Source);
  std::vector<std::pair<std::string, std::string>> Entries;
  int Depth = 0;
  size_t Begin = std::string::npos;
  std::string Key;
  for (const Token &Tk : T) {
    if (Tk.Kind == Tok::Eof || Tk.L.Line - 1 > Last)
      break;
    if (Tk.L.Line - 1 < First)
      continue;
    bool Ends = (Tk.Kind == Tok::Newline && Depth == 1) ||
                (Tk.Kind == Tok::RBrace && Depth == 1);
    if (Ends && Begin != std::string::npos) {
      Entries.push_back(
          {Key, stripComment(Source.substr(Begin, Offset(Tk.L) - Begin))});
      Begin = std::string::npos;
    } else if (Depth == 1 && Tk.Kind != Tok::Newline) {
      if (Begin == std::string::npos) {
        Begin = Offset(Tk.L);
        Key = Tk.Text;
      } else if (TwoKeys && Key.find(' ') == std::string::npos &&
                 Tk.Kind == Tok::Ident) {
        Key += " " + Tk.Text;
      }
    }
    if (isOpen(Tk.Kind))
      ++Depth;
    else if (isClose(Tk.Kind) && Depth > 0)
      --Depth;
  }
  return Entries;
}

static bool isComputed(const StmtSpan &S) {
  return S.Known && (S.Kind == StmtKind::Bind || S.Kind == StmtKind::Loss ||
                     S.Kind == StmtKind::Metric);
}

/// Reorders the binding, loss and metric statements so that each comes after
/// the bindings it uses, keeping the order otherwise (a stable topological
/// sort); a cycle leaves the text as it is, for the frontend to report.
static std::string sortBindings(const std::string &Source) {
  std::vector<StmtSpan> Stmts = splitStatements(Source);
  std::vector<std::string> Lines = splitLines(Source);
  std::vector<const StmtSpan *> Slots;
  for (const StmtSpan &S : Stmts)
    if (isComputed(S))
      Slots.push_back(&S);
  std::vector<std::vector<size_t>> Deps(Slots.size());
  for (size_t K = 0; K < Slots.size(); ++K) {
    std::string Text;
    for (unsigned L = Slots[K]->First; L <= Slots[K]->Last; ++L)
      Text += Lines[L] + "\n";
    for (const Token &T : lex("", Text))
      for (size_t D = 0; D < Slots.size(); ++D)
        if (D != K && T.Kind == Tok::Ident && !Slots[D]->Name.empty() &&
            T.Text == Slots[D]->Name)
          Deps[K].push_back(D);
  }
  std::vector<size_t> Order;
  std::vector<bool> Done(Slots.size(), false);
  while (Order.size() < Slots.size()) {
    size_t Pick = Slots.size();
    for (size_t K = 0; K < Slots.size() && Pick == Slots.size(); ++K)
      if (!Done[K] && std::all_of(Deps[K].begin(), Deps[K].end(),
                                  [&](size_t D) { return Done[D]; }))
        Pick = K;
    if (Pick == Slots.size())
      return Source; // a cycle
    Done[Pick] = true;
    Order.push_back(Pick);
  }
  std::vector<std::string> Out;
  size_t Next = 0;
  for (unsigned L = 0; L < Lines.size(); ++L) {
    if (Next < Slots.size() && L == Slots[Next]->First) {
      const StmtSpan &From = *Slots[Order[Next]];
      for (unsigned J = From.First; J <= From.Last; ++J)
        Out.push_back(Lines[J]);
      L = Slots[Next++]->Last;
      continue;
    }
    Out.push_back(Lines[L]);
  }
  return joinLines(Out);
}

static const char *kindWord(StmtKind K) {
  switch (K) {
  case StmtKind::Model:
    return "model";
  case StmtKind::Input:
    return "input";
  case StmtKind::Param:
    return "param";
  case StmtKind::Def:
    return "def";
  case StmtKind::Bind:
    return "binding";
  case StmtKind::Loss:
    return "loss";
  case StmtKind::Metric:
    return "metric";
  case StmtKind::Output:
    return "output";
  case StmtKind::Train:
    return "train";
  case StmtKind::Data:
    return "data";
  }
  return "statement";
}

static Edit applyRaw(const std::string &Source, const StmtSpan &Span,
                     const std::string &Typed) {
  std::vector<StmtSpan> Stmts = splitStatements(Source);
  std::vector<std::string> Lines = splitLines(Source);
  std::string Kind = Span.Buffer ? "buffer" : kindWord(Span.Kind);
  std::string Label =
      Span.Name.empty() ? Kind : fmt::format("{} {}", Kind, Span.Name);
  Edit E;
  // The same statement: replace it (blocks: merge).
  for (const StmtSpan &S : Stmts) {
    bool Same = S.Known && S.Kind == Span.Kind &&
                (S.Name == Span.Name || S.Kind == StmtKind::Loss ||
                 S.Kind == StmtKind::Model || S.Kind == StmtKind::Output);
    if (!Same)
      continue;
    if (S.Kind == StmtKind::Train || S.Kind == StmtKind::Data) {
      bool Two = S.Kind == StmtKind::Data;
      auto Old = blockEntries(Source, S.First, S.Last, Two);
      auto New = blockEntries(Typed, 0, ~0u, Two);
      for (auto &[K, V] : New) {
        auto It = std::find_if(Old.begin(), Old.end(),
                               [&](auto &P) { return P.first == K; });
        if (It != Old.end())
          It->second = V;
        else
          Old.push_back({K, V});
      }
      std::vector<std::string> Block = {kindWord(S.Kind) + std::string(" {")};
      for (auto &[K, V] : Old)
        Block.push_back("  " + V);
      Block.push_back("}");
      Lines.erase(Lines.begin() + S.First, Lines.begin() + S.Last + 1);
      Lines.insert(Lines.begin() + S.First, Block.begin(), Block.end());
      E.Text = joinLines(Lines);
      E.What = fmt::format("updated the {} block", kindWord(S.Kind));
      return E;
    }
    Lines.erase(Lines.begin() + S.First, Lines.begin() + S.Last + 1);
    Lines.insert(Lines.begin() + S.First, Typed);
    E.Text = joinLines(Lines);
    E.Line = S.First + 1;
    E.What = "redefined " + Label;
    return E;
  }
  // A new statement: after the last of `After`, else before the first of
  // `Before`, else at the end (`AtTop`: the beginning).
  auto Place = [&](std::initializer_list<StmtKind> After,
                   std::initializer_list<StmtKind> Before, bool AtTop) {
    auto Is = [](const StmtSpan &S, std::initializer_list<StmtKind> Ks) {
      return S.Known && std::find(Ks.begin(), Ks.end(), S.Kind) != Ks.end();
    };
    for (auto It = Stmts.rbegin(); It != Stmts.rend(); ++It)
      if (Is(*It, After))
        return It->Last + 1;
    for (const StmtSpan &S : Stmts)
      if (Is(S, Before))
        return S.First;
    return AtTop ? 0u : unsigned(Lines.size());
  };
  using K = StmtKind;
  unsigned At = 0;
  switch (Span.Kind) {
  case K::Model:
    At = 0;
    break;
  case K::Input:
    At = Place({K::Input, K::Model}, {}, true);
    break;
  case K::Param:
    At = Place({K::Param, K::Input, K::Model}, {}, true);
    break;
  case K::Def:
    At = Place({K::Def}, {K::Bind, K::Loss, K::Metric, K::Train, K::Data},
               false);
    break;
  case K::Bind:
    At = Place({}, {K::Loss, K::Metric, K::Train, K::Data}, false);
    break;
  case K::Loss:
    At = Place({K::Bind}, {K::Metric, K::Train, K::Data}, false);
    break;
  case K::Metric:
  case K::Output:
    At = Place({K::Metric, K::Loss}, {K::Train, K::Data}, false);
    break;
  case K::Train:
  case K::Data:
    At = unsigned(Lines.size());
    break;
  }
  Lines.insert(Lines.begin() + At, Typed);
  E.Text = joinLines(Lines);
  E.Line = At + 1;
  E.What = "added " + Label;
  return E;
}

Edit applyStatement(const std::string &Source, const StmtSpan &Span,
                    const std::string &Typed) {
  Edit E = applyRaw(Source, Span, Typed);
  if (!isComputed(Span))
    return E;
  E.Text = sortBindings(E.Text);
  for (const StmtSpan &S : splitStatements(E.Text))
    if (S.Known && S.Kind == Span.Kind && S.Name == Span.Name)
      E.Line = S.First + 1;
  return E;
}

bool removeStatement(const std::string &Source, const std::string &Name,
                     std::string &Out, std::string &What) {
  std::vector<std::string> Lines = splitLines(Source);
  for (const StmtSpan &S : splitStatements(Source)) {
    if (!S.Known || S.Name != Name || S.Kind == StmtKind::Model)
      continue;
    Lines.erase(Lines.begin() + S.First, Lines.begin() + S.Last + 1);
    Out = joinLines(Lines);
    What = fmt::format("removed {} {}", kindWord(S.Kind), Name);
    return true;
  }
  return false;
}

} // namespace adj
