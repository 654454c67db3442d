//===- Error.cpp - The runtime's error messages ---------------------------===//
///
/// \file
/// Every entry point reports a user error by storing a message in a
/// thread-local string and returning non-zero; adj_rt_last_error() reads it.
/// Messages follow the project's diagnostics style: lowercase, no trailing
/// period, and the file they are about in quotes at the front.
///
/// Names that come from files (paths, safetensors tensor names and metadata,
/// CSV cells and column names, NPY headers) never reach a terminal raw:
/// escapeText writes control characters and invalid UTF-8 as \xNN, as the
/// frontend's diagnostics do (frontend/Diagnostics.cpp; the layering keeps
/// the runtime from including it, tests/unit/EscapeTextTest.cpp checks that
/// the two agree). quoted() escapes the path it quotes, and fail() escapes
/// what any message still holds (keeping its own line breaks).
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cstdarg>
#include <cstdio>

namespace adj::rt {

static thread_local std::string LastError;

std::string format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list copy;
  va_copy(copy, ap);
  int len = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out;
  if (len > 0) {
    out.resize(size_t(len) + 1);
    std::vsnprintf(&out[0], out.size(), fmt, ap);
    out.resize(size_t(len));
  }
  va_end(ap);
  return out;
}

int fail(std::string msg) {
  LastError = escapeText(msg, /*keepNewlines=*/true);
  return 1;
}

std::string quoted(const char *s) {
  return "'" + escapeText(s ? s : "(null)") + "'";
}

/// The length of the valid UTF-8 sequence of a printable character at s[i]
/// (a tab, and a newline with `keepNewlines`, count as printable), or 0.
static size_t printableLength(const std::string &s, size_t i,
                              bool keepNewlines) {
  unsigned char c = s[i];
  size_t n = c < 0x80         ? 1
             : (c >> 5) == 6  ? 2
             : (c >> 4) == 14 ? 3
             : (c >> 3) == 30 ? 4
                              : 0;
  if (n == 0 || i + n > s.size())
    return 0;
  uint32_t code = n == 1 ? c : c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char t = s[i + k];
    if ((t >> 6) != 2)
      return 0;
    code = code << 6 | (t & 0x3F);
  }
  static const uint32_t Min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < Min[n] || code > 0x10FFFF || (code >= 0xD800 && code < 0xE000))
    return 0;
  if (code < 0x20 ? code != '\t' && !(keepNewlines && code == '\n')
                  : code == 0x7F || (code >= 0x80 && code < 0xA0))
    return 0; // a control character
  return n;
}

std::string escapeText(const std::string &s, bool keepNewlines) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (size_t n = printableLength(s, i, keepNewlines)) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    static const char Hex[] = "0123456789abcdef";
    unsigned char c = s[i++];
    out += "\\x";
    out += Hex[c >> 4];
    out += Hex[c & 15];
  }
  return out;
}

} // namespace adj::rt

extern "C" const char *adj_rt_last_error(void) {
  return adj::rt::LastError.c_str();
}
