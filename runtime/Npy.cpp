//===- Npy.cpp - The NumPy .npy data loader -------------------------------===//
///
/// \file
/// Loads .npy files (format versions 1-3), plain or gzipped: the magic
/// "\x93NUMPY", a version, a little-endian header length, a Python dict
/// literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (60000,
/// 784), } and the row-major payload. Only the three keys are read, with a
/// small scanner rather than a Python parser; Fortran-ordered arrays, object
/// and structured dtypes are rejected with a message naming the file.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cctype>
#include <cstring>

using namespace adj::rt;

namespace {

/// The value text after `'key':` in the header dict, or npos.
size_t findKey(const std::string &h, const char *key) {
  for (char q : {'\'', '"'}) {
    std::string k = std::string(1, q) + key + q;
    size_t at = h.find(k);
    if (at == std::string::npos)
      continue;
    at = h.find(':', at + k.size());
    if (at == std::string::npos)
      return at;
    at++;
    while (at < h.size() && std::isspace((unsigned char)h[at]))
      at++;
    return at;
  }
  return std::string::npos;
}

bool parseDescr(const std::string &d, ElemType &t, bool &bigEndian) {
  if (d.size() != 3)
    return false;
  if (d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '=')
    return false;
  bigEndian = d[0] == '>';
  std::string code = d.substr(1);
  static const struct {
    const char *Code;
    ElemType Type;
  } Types[] = {{"u1", ElemType::U8},  {"b1", ElemType::U8},
               {"i1", ElemType::I8},  {"i2", ElemType::I16},
               {"i4", ElemType::I32}, {"i8", ElemType::I64},
               {"f4", ElemType::F32}, {"f8", ElemType::F64}};
  for (const auto &e : Types)
    if (code == e.Code) {
      t = e.Type;
      return true;
    }
  return false;
}

/// Parses the header dict into the element type, byte order and shape.
int parseHeader(const std::string &name, const std::string &h, ElemType &t,
                bool &bigEndian, adj_rt_tensor &out) {
  size_t at = findKey(h, "descr");
  if (at == std::string::npos || at >= h.size() ||
      (h[at] != '\'' && h[at] != '"'))
    return fail(name + ": invalid npy header (no 'descr')");
  size_t end = h.find(h[at], at + 1);
  if (end == std::string::npos)
    return fail(name + ": invalid npy header (unterminated 'descr')");
  std::string descr = h.substr(at + 1, end - at - 1);
  if (!parseDescr(descr, t, bigEndian))
    return fail(format("%s: unsupported npy dtype '%s'", name.c_str(),
                       escapeText(descr).c_str()));

  at = findKey(h, "fortran_order");
  if (at == std::string::npos)
    return fail(name + ": invalid npy header (no 'fortran_order')");
  if (h.compare(at, 4, "True") == 0)
    return fail(name + ": Fortran-ordered arrays are not supported (save "
                       "with numpy.ascontiguousarray)");

  at = findKey(h, "shape");
  if (at == std::string::npos || at >= h.size() || h[at] != '(')
    return fail(name + ": invalid npy header (no 'shape')");
  out.rank = 0;
  for (++at; at < h.size() && h[at] != ')';) {
    char c = h[at];
    if (std::isspace((unsigned char)c) || c == ',') {
      ++at;
      continue;
    }
    if (!std::isdigit((unsigned char)c))
      return fail(name + ": invalid npy header (bad 'shape')");
    int64_t v = 0;
    for (; at < h.size() && std::isdigit((unsigned char)h[at]); ++at)
      if (!checkedMul(v, 10, v) || __builtin_add_overflow(v, h[at] - '0', &v))
        return fail(name + ": dimensions too large");
    if (out.rank == 8)
      return fail(name + ": too many dimensions (at most 8)");
    out.dims[out.rank++] = v;
  }
  if (at >= h.size())
    return fail(name + ": invalid npy header (bad 'shape')");
  if (out.rank == 0)
    return fail(name + ": array has no dimensions");
  return 0;
}

} // namespace

extern "C" int adj_rt_load_npy(const char *path, adj_rt_dtype dtype,
                               double scale, adj_rt_tensor *out) {
  if (!path || !out)
    return fail("adj_rt_load_npy: null argument");
  out->data = nullptr;
  FileReader file;
  if (file.open(path))
    return 1;
  const std::string &name = file.name();
  if (checkDestination(name, dtype, scale))
    return 1;

  unsigned char pre[12];
  int64_t got = file.read(pre, 10);
  if (got < 0)
    return 1;
  if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    return fail(name + ": not an npy file (bad magic)");
  int major = pre[6];
  if (major < 1 || major > 3)
    return fail(format("%s: unsupported npy version %d", name.c_str(), major));
  int64_t headerLen = pre[8] | pre[9] << 8;
  if (major >= 2) {
    if (file.read(pre + 10, 2) != 2)
      return fail(name + ": truncated header");
    headerLen |= int64_t(pre[10]) << 16 | int64_t(pre[11]) << 24;
  }
  if (headerLen > (1 << 20))
    return fail(name + ": invalid npy header (too long)");
  std::string header(size_t(headerLen), '\0');
  if (file.read(&header[0], headerLen) != headerLen)
    return fail(name + ": truncated header");

  ElemType src = ElemType::U8;
  bool bigEndian = false;
  if (parseHeader(name, header, src, bigEndian, *out))
    return 1;
  if (dtype == ADJ_RT_I32 && (src == ElemType::F32 || src == ElemType::F64))
    return fail(name + ": cannot load floating-point data as i32");
  int64_t rawBytes;
  std::vector<unsigned char> raw;
  if (sizeOf(name, *out, src, dtype, rawBytes) ||
      file.readPayload(rawBytes, raw))
    return 1;
  if (dtype == ADJ_RT_I32 && src == ElemType::I64) {
    // Narrowing must not wrap a bad label into a valid one.
    for (int64_t i = 0; i < rawBytes; i += 8) {
      int64_t v;
      unsigned char b[8];
      for (int k = 0; k < 8; ++k)
        b[k] = raw[size_t(i) + (bigEndian ? 7 - k : k)];
      std::memcpy(&v, b, 8);
      if (v < INT32_MIN || v > INT32_MAX)
        return fail(format("%s: value %lld at index %lld does not fit in i32",
                           name.c_str(), (long long)v, (long long)(i / 8)));
    }
  }
  return finishTensor(name, raw, src, bigEndian, dtype, scale, *out);
}
