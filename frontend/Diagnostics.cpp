//===- Diagnostics.cpp - file:line:col errors with a caret ----------------===//
///
/// Prints each diagnostic as `file:line:col: kind: message`, then the source
/// line it points into and a caret under the column. Tabs before the column
/// are copied into the caret line so that the caret lines up in a terminal.
/// A location without a line prints `file: kind: message`, and one without a
/// file just `kind: message`. Only errors are counted; past ErrorLimit
/// errors in one file the rest are not shown. Messages, file names and
/// source lines are shown with escapeText(), never as raw bytes.
///
//===----------------------------------------------------------------------===//
#include "frontend/Diagnostics.h"

#include <fmt/format.h>

namespace adj {

void DiagEngine::addSource(const std::string &File, const std::string &Text) {
  Sources[File] = Text;
}

void DiagEngine::error(const Loc &L, const std::string &Msg) {
  ++Errors;
  unsigned &N = FileErrors[L.File];
  Silenced = ++N > ErrorLimit;
  if (N == ErrorLimit + 1)
    OS << (L.File.empty() ? std::string() : escapeText(L.File) + ": ")
       << "error: too many errors emitted, stopping now\n";
  if (!Silenced)
    emit(L, "error", Msg);
}

void DiagEngine::warning(const Loc &L, const std::string &Msg) {
  // The model is lowered once per mode: a warning is shown once.
  if (!Warned.insert(fmt::format("{}:{}:{}:{}", L.File, L.Line, L.Col, Msg))
           .second)
    return;
  if (FileErrors[L.File] <= ErrorLimit)
    emit(L, "warning", Msg);
}

void DiagEngine::note(const Loc &L, const std::string &Msg) {
  if (!Silenced)
    emit(L, "note", Msg);
}

/// The length of the valid UTF-8 sequence of a printable character at
/// \p S[I], or 0.
static size_t utf8Length(const std::string &S, size_t I) {
  unsigned char C = S[I];
  size_t N = C < 0x80         ? 1
             : (C >> 5) == 6  ? 2
             : (C >> 4) == 14 ? 3
             : (C >> 3) == 30 ? 4
                              : 0;
  if (N == 0 || I + N > S.size())
    return 0;
  uint32_t Code = N == 1 ? C : C & (0x7F >> N);
  for (size_t K = 1; K < N; ++K) {
    unsigned char T = S[I + K];
    if ((T >> 6) != 2)
      return 0;
    Code = Code << 6 | (T & 0x3F);
  }
  static const uint32_t Min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (Code < Min[N] || Code > 0x10FFFF || (Code >= 0xD800 && Code < 0xE000))
    return 0;
  if (Code < 0x20 ? Code != '\t'
                  : Code == 0x7F || (Code >= 0x80 && Code < 0xA0))
    return 0; // a control character
  return N;
}

std::string escapeText(const std::string &S) {
  std::string Out;
  for (size_t I = 0; I < S.size();) {
    if (size_t N = utf8Length(S, I)) {
      Out.append(S, I, N);
      I += N;
      continue;
    }
    Out += fmt::format("\\x{:02x}", (unsigned char)S[I]);
    ++I;
  }
  return Out;
}

/// The text of line \p Line (1-based) of \p Text, without its newline.
static std::string sourceLine(const std::string &Text, unsigned Line) {
  size_t Begin = 0;
  for (unsigned I = 1; I < Line; ++I) {
    Begin = Text.find('\n', Begin);
    if (Begin == std::string::npos)
      return "";
    ++Begin;
  }
  size_t End = Text.find('\n', Begin);
  std::string S =
      Text.substr(Begin, End == std::string::npos ? End : End - Begin);
  if (!S.empty() && S.back() == '\r')
    S.pop_back();
  return S;
}

void DiagEngine::emit(const Loc &L, const char *Kind,
                      const std::string &RawMsg) {
  std::string Msg = escapeText(RawMsg), File = escapeText(L.File);
  if (L.File.empty()) {
    OS << fmt::format("{}: {}\n", Kind, Msg);
    return;
  }
  if (!L.known()) {
    OS << fmt::format("{}: {}: {}\n", File, Kind, Msg);
    return;
  }
  OS << fmt::format("{}:{}:{}: {}: {}\n", File, L.Line, L.Col, Kind, Msg);
  auto It = Sources.find(L.File);
  if (It == Sources.end())
    return;
  // The line escaped as the message is; the caret under the escaped column
  // (one space per character, four per escaped byte).
  std::string Line = sourceLine(It->second, L.Line), Shown, Caret;
  for (size_t I = 0; I < Line.size();) {
    size_t N = utf8Length(Line, I);
    std::string Piece = N ? Line.substr(I, N)
                          : fmt::format("\\x{:02x}", (unsigned char)Line[I]);
    if (I + 1 < L.Col)
      Caret += Piece == "\t" ? std::string("\t")
                             : std::string(N ? 1 : Piece.size(), ' ');
    Shown += Piece;
    I += N ? N : 1;
  }
  for (size_t I = Line.size(); I + 1 < L.Col; ++I)
    Caret += ' ';
  OS << Shown << '\n' << Caret << "^\n";
}

} // namespace adj
