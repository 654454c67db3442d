//===- Error.cpp - The runtime's error messages ---------------------------===//
///
/// \file
/// Every entry point reports a user error by storing a message in a
/// thread-local string and returning non-zero; adj_rt_last_error() reads it.
/// Messages follow the project's diagnostics style: lowercase, no trailing
/// period, and the file they are about in quotes at the front.
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
  LastError = std::move(msg);
  return 1;
}

std::string quoted(const char *s) {
  return "'" + std::string(s ? s : "(null)") + "'";
}

} // namespace adj::rt

extern "C" const char *adj_rt_last_error(void) {
  return adj::rt::LastError.c_str();
}
