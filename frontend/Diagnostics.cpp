//===- Diagnostics.cpp - file:line:col errors with a caret ----------------===//
///
/// Prints each diagnostic as `file:line:col: kind: message`, then the source
/// line it points into and a caret under the column. Tabs before the column
/// are copied into the caret line so that the caret lines up in a terminal.
/// A location without a line prints `file: kind: message`, and one without a
/// file just `kind: message`. Only errors are counted.
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
  emit(L, "error", Msg);
}

void DiagEngine::warning(const Loc &L, const std::string &Msg) {
  emit(L, "warning", Msg);
}

void DiagEngine::note(const Loc &L, const std::string &Msg) {
  emit(L, "note", Msg);
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

void DiagEngine::emit(const Loc &L, const char *Kind, const std::string &Msg) {
  if (L.File.empty()) {
    OS << fmt::format("{}: {}\n", Kind, Msg);
    return;
  }
  if (!L.known()) {
    OS << fmt::format("{}: {}: {}\n", L.File, Kind, Msg);
    return;
  }
  OS << fmt::format("{}:{}:{}: {}: {}\n", L.File, L.Line, L.Col, Kind, Msg);
  auto It = Sources.find(L.File);
  if (It == Sources.end())
    return;
  std::string Line = sourceLine(It->second, L.Line);
  std::string Caret;
  for (size_t I = 0; I + 1 < L.Col; ++I)
    Caret += I < Line.size() && Line[I] == '\t' ? '\t' : ' ';
  OS << Line << '\n' << Caret << "^\n";
}

} // namespace adj
