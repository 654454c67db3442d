//===- Checkpoint.cpp - Safetensors checkpoints ---------------------------===//
///
/// \file
/// A safetensors file is an 8-byte little-endian header length N, N bytes
/// of JSON, then the data section. The JSON object maps each tensor name to
/// {"dtype": "F32", "shape": [784, 128], "data_offsets": [begin, end]}
/// (offsets into the data section) and may hold "__metadata__", a map of
/// strings. The writer pads the header with spaces to a multiple of 8 bytes
/// and lays the tensors out in order.
///
/// The reader trusts nothing and checks everything before any tensor is
/// used: N against a 100 MB cap and the file size, the header as UTF-8 and
/// as a JSON object without duplicate keys, every entry's fields, its dtype
/// against the known ones, its shape's element count times the dtype size
/// (overflow-checked) against its byte range, and the byte ranges, sorted,
/// against the data section: starting at 0, each beginning where the last
/// ended (no gap, no overlap) and the last ending at its end.
///
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints are written from little-endian memory");

using nlohmann::json;

namespace adj::rt {

/// The largest header accepted, as the safetensors library does.
constexpr uint64_t MaxHeaderBytes = 100'000'000;

/// The safetensors dtypes and their element sizes.
static int dtypeBytes(const std::string &name) {
  static const std::pair<const char *, int> Known[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  for (const auto &[n, bytes] : Known)
    if (name == n)
      return bytes;
  return 0;
}

static const char *safetensorsName(adj_rt_dtype t) {
  switch (t) {
  case ADJ_RT_F32:
    return "F32";
  case ADJ_RT_F64:
    return "F64";
  case ADJ_RT_I32:
    return "I32";
  }
  return "?";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

//===--- Writing ----------------------------------------------------------===//

int writeCheckpoint(const char *path, const std::vector<TensorRef> &tensors,
                    const Metadata &metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto &[key, value] : metadata)
    meta[key] = value;
  if (!metadata.empty())
    header["__metadata__"] = meta;
  std::vector<Piece> pieces(1 + tensors.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef &t = tensors[i];
    int64_t count = 1;
    for (int64_t d : t.Shape)
      if (!checkedMul(count, d, count))
        return fail(format("internal error: tensor '%s' has an invalid shape",
                           t.Name.c_str()));
    uint64_t bytes = uint64_t(count) * dtypeSize(t.DType);
    header[t.Name] = {{"dtype", safetensorsName(t.DType)},
                      {"shape", t.Shape},
                      {"data_offsets", {offset, offset + bytes}}};
    pieces[i + 1] = {t.Data, size_t(bytes)};
    offset += bytes;
  }
  std::string text = header.dump(-1, ' ', /*ensure_ascii=*/false,
                                 json::error_handler_t::replace);
  text.resize((text.size() + 7) / 8 * 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  std::vector<Piece> all = {{length, 8}, {text.data(), text.size()}};
  all.insert(all.end(), pieces.begin() + 1, pieces.end());
  return writeFileAtomically(path, "checkpoint", all);
}

//===--- Reading ----------------------------------------------------------===//

/// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
/// points past U+10FFFF).
static bool validUtf8(const std::string &s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    size_t len = c < 0x80         ? 1
                 : (c >> 5) == 6  ? 2
                 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4
                                  : 0;
    if (!len || i + len > n)
      return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    static const uint32_t Min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < Min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/// Reads exactly `len` bytes at `offset`.
static bool readAt(int fd, void *buf, uint64_t len, uint64_t offset) {
  auto *p = static_cast<char *>(buf);
  while (len > 0) {
    ssize_t n = ::pread(fd, p, std::min<uint64_t>(len, uint64_t(1) << 30),
                        off_t(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= uint64_t(n);
    offset += uint64_t(n);
  }
  return true;
}

namespace {
/// Closes a file descriptor on scope exit.
struct FdCloser {
  int Fd;
  ~FdCloser() {
    if (Fd >= 0)
      ::close(Fd);
  }
};
} // namespace

int CheckpointFile::read(const char *path) {
  Name = quoted(path);
  Entries.clear();
  Meta.clear();
  Data.reset();
  int fd = ::open(path ? path : "", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(Name + ": cannot open: " + std::strerror(errno));
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return fail(Name + ": cannot read: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    return fail(Name + ": cannot open: " + std::strerror(EISDIR));
  uint64_t size = uint64_t(st.st_size);
  if (size < 8)
    return fail(format("%s: not a safetensors file (%llu bytes, shorter "
                       "than the 8-byte header length)",
                       Name.c_str(), (unsigned long long)size));
  unsigned char length[8];
  if (!readAt(fd, length, 8, 0))
    return fail(Name + ": cannot read: " + std::strerror(errno));
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = headerBytes << 8 | length[i];
  if (headerBytes > MaxHeaderBytes)
    return fail(format("%s: header length %llu exceeds the limit of %llu "
                       "bytes",
                       Name.c_str(), (unsigned long long)headerBytes,
                       (unsigned long long)MaxHeaderBytes));
  if (headerBytes > size - 8)
    return fail(format("%s: header length %llu exceeds the file size (%llu "
                       "bytes)",
                       Name.c_str(), (unsigned long long)headerBytes,
                       (unsigned long long)size));
  std::string text(size_t(headerBytes), '\0');
  if (!readAt(fd, &text[0], headerBytes, 8))
    return fail(Name + ": cannot read: " + std::strerror(errno));
  uint64_t dataBytes = size - 8 - headerBytes;
  if (parseHeader(text, dataBytes) || checkLayout(dataBytes))
    return 1;
  Data.reset(alignedAlloc(size_t(dataBytes)));
  if (!Data)
    return fail(Name + ": out of memory");
  errno = 0;
  if (!readAt(fd, Data.get(), dataBytes, 8 + headerBytes))
    return fail(Name + ": cannot read the data: " +
                (errno ? std::strerror(errno) : "file shrank"));
  return 0;
}

int CheckpointFile::parseHeader(const std::string &text, uint64_t dataBytes) {
  if (!validUtf8(text))
    return fail(Name + ": header is not valid UTF-8");
  // Duplicate keys would make the file mean two things; nlohmann keeps the
  // last silently, so track the keys of every open object.
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  auto noDuplicates = [&](int, json::parse_event_t event, json &parsed) {
    if (event == json::parse_event_t::object_start)
      open.emplace_back();
    else if (event == json::parse_event_t::object_end && !open.empty())
      open.pop_back();
    else if (event == json::parse_event_t::key && !open.empty() &&
             !open.back().insert(parsed.get<std::string>()).second &&
             duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text, noDuplicates);
  } catch (const json::exception &e) {
    std::string what = e.what();
    size_t bracket = what.find("] ");
    if (bracket != std::string::npos)
      what = what.substr(bracket + 2);
    return fail(Name + ": header is not valid JSON: " + what);
  }
  if (!duplicate.empty())
    return fail(format("%s: header has the key '%s' twice", Name.c_str(),
                       escapeText(duplicate).c_str()));
  if (!header.is_object())
    return fail(Name + ": header is not a JSON object");
  for (const auto &[key, value] : header.items()) {
    if (key != "__metadata__") {
      if (parseEntry(key, value, dataBytes))
        return 1;
      continue;
    }
    if (!value.is_object())
      return fail(Name + ": __metadata__ is not an object");
    for (const auto &[k, v] : value.items()) {
      if (!v.is_string())
        return fail(format("%s: __metadata__ value '%s' is not a string",
                           Name.c_str(), escapeText(k).c_str()));
      Meta[k] = v.get<std::string>();
    }
  }
  return 0;
}

/// A non-negative integer JSON value.
static bool asUInt(const json &v, uint64_t &out) {
  if (!v.is_number_unsigned())
    return false;
  out = v.get<uint64_t>();
  return true;
}

int CheckpointFile::parseEntry(const std::string &key, const json &value,
                               uint64_t dataBytes) {
  std::string shown = escapeText(key); // names from the file, for messages
  const char *n = shown.c_str();
  auto bad = [&](const char *problem) {
    return fail(format("%s: tensor '%s' %s", Name.c_str(), n, problem));
  };
  if (!value.is_object())
    return bad("is not described by a JSON object");
  for (const auto &[field, v] : value.items())
    if (field != "dtype" && field != "shape" && field != "data_offsets")
      return fail(format("%s: tensor '%s' has an unknown field '%s'",
                         Name.c_str(), n, escapeText(field).c_str()));
  Entry e;
  e.Name = key;
  if (!value.contains("dtype") || !value["dtype"].is_string())
    return bad("has no dtype");
  e.DType = value["dtype"].get<std::string>();
  int elemBytes = dtypeBytes(e.DType);
  if (!elemBytes)
    return fail(format("%s: tensor '%s' has an unknown dtype '%s'",
                       Name.c_str(), n, escapeText(e.DType).c_str()));
  if (!value.contains("shape") || !value["shape"].is_array())
    return bad("has no shape");
  uint64_t count = 1;
  for (const json &d : value["shape"]) {
    uint64_t dim;
    if (!asUInt(d, dim) || dim > uint64_t(INT64_MAX))
      return bad("has an invalid shape (not a list of non-negative "
                 "integers)");
    e.Shape.push_back(int64_t(dim));
    if (__builtin_mul_overflow(count, dim, &count))
      return bad("has a shape too large to address");
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(count, uint64_t(elemBytes), &bytes))
    return bad("has a shape too large to address");
  const json *offsets =
      value.contains("data_offsets") ? &value["data_offsets"] : nullptr;
  if (!offsets || !offsets->is_array() || offsets->size() != 2 ||
      !asUInt((*offsets)[0], e.Begin) || !asUInt((*offsets)[1], e.End) ||
      e.Begin > e.End)
    return bad("has invalid data_offsets (expected [begin, end] with "
               "begin <= end)");
  if (e.End > dataBytes)
    return fail(format("%s: tensor '%s' data_offsets [%llu, %llu] are out "
                       "of bounds (the data section has %llu bytes)",
                       Name.c_str(), n, (unsigned long long)e.Begin,
                       (unsigned long long)e.End,
                       (unsigned long long)dataBytes));
  if (e.End - e.Begin != bytes)
    return fail(format("%s: tensor '%s' of shape %s and dtype %s needs %llu "
                       "bytes, but data_offsets [%llu, %llu] hold %llu",
                       Name.c_str(), n, shapeString(e.Shape).c_str(),
                       escapeText(e.DType).c_str(), (unsigned long long)bytes,
                       (unsigned long long)e.Begin, (unsigned long long)e.End,
                       (unsigned long long)(e.End - e.Begin)));
  Entries.push_back(std::move(e));
  return 0;
}

int CheckpointFile::checkLayout(uint64_t dataBytes) {
  std::vector<const Entry *> sorted;
  for (const Entry &e : Entries)
    sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry *a, const Entry *b) {
    return a->Begin != b->Begin ? a->Begin < b->Begin : a->End < b->End;
  });
  uint64_t expected = 0;
  const Entry *last = nullptr;
  for (const Entry *e : sorted) {
    if (e->Begin < expected)
      return fail(format("%s: tensor '%s' overlaps tensor '%s'", Name.c_str(),
                         escapeText(e->Name).c_str(),
                         escapeText(last->Name).c_str()));
    if (e->Begin > expected)
      return fail(format("%s: %llu unused bytes before tensor '%s' (data "
                         "offsets must be contiguous)",
                         Name.c_str(),
                         (unsigned long long)(e->Begin - expected),
                         escapeText(e->Name).c_str()));
    expected = e->End;
    last = e;
  }
  if (expected != dataBytes)
    return fail(format("%s: %llu unused bytes after the last tensor",
                       Name.c_str(),
                       (unsigned long long)(dataBytes - expected)));
  return 0;
}

const CheckpointFile::Entry *
CheckpointFile::find(const std::string &tensor) const {
  for (const Entry &e : Entries)
    if (e.Name == tensor)
      return &e;
  return nullptr;
}

int CheckpointFile::check(const Entry &e, adj_rt_dtype dtype, int rank,
                          const int64_t *dims) const {
  std::vector<int64_t> expected(dims, dims + rank);
  if (e.Shape != expected)
    return fail(format("%s: tensor '%s' has shape %s, the model expects %s",
                       Name.c_str(), escapeText(e.Name).c_str(),
                       shapeString(e.Shape).c_str(),
                       shapeString(expected).c_str()));
  bool isFloat = e.DType == "F32" || e.DType == "F64";
  bool ok = dtype == ADJ_RT_I32 ? e.DType == "I32" : isFloat;
  if (!ok)
    return fail(format("%s: tensor '%s' has dtype %s, the model expects %s",
                       Name.c_str(), escapeText(e.Name).c_str(),
                       escapeText(e.DType).c_str(), safetensorsName(dtype)));
  if (!isFloat)
    return 0;
  // NaN and infinity, and F64 values that overflow an f32 tensor.
  const auto *src = static_cast<const unsigned char *>(Data.get()) + e.Begin;
  adj_rt_dtype stored = e.DType == "F32" ? ADJ_RT_F32 : ADJ_RT_F64;
  int64_t count = int64_t(e.End - e.Begin) / int64_t(dtypeSize(stored));
  std::string what =
      format("%s: tensor '%s'", Name.c_str(), escapeText(e.Name).c_str());
  if (checkFiniteValues(what, src, stored, count))
    return 1;
  if (stored == ADJ_RT_F64 && dtype == ADJ_RT_F32)
    for (int64_t i = 0; i < count; ++i) {
      double d;
      std::memcpy(&d, src + 8 * size_t(i), 8);
      if (std::fabs(d) > double(FLT_MAX))
        return fail(format("%s: value %g at index %lld overflows f32",
                           what.c_str(), d, (long long)i));
    }
  return 0;
}

void CheckpointFile::copy(const Entry &e, adj_rt_dtype dtype, void *dst) const {
  const auto *src = static_cast<const unsigned char *>(Data.get()) + e.Begin;
  size_t bytes = size_t(e.End - e.Begin);
  if (e.DType == safetensorsName(dtype)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (e.DType == "F32") { // into f64
    for (size_t i = 0; i < bytes / 4; ++i) {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      static_cast<double *>(dst)[i] = f;
    }
    return;
  }
  for (size_t i = 0; i < bytes / 8; ++i) { // F64 into f32
    double d;
    std::memcpy(&d, src + 8 * i, 8);
    static_cast<float *>(dst)[i] = float(d);
  }
}

} // namespace adj::rt

//===--- The C ABI --------------------------------------------------------===//

using namespace adj::rt;

static int checkTensors(const char *what, int count,
                        const adj_rt_named_tensor *tensors) {
  if (count < 0 || (count && !tensors))
    return fail(format("%s: invalid tensor list", what));
  std::set<std::string> names;
  for (int i = 0; i < count; ++i) {
    const adj_rt_named_tensor &t = tensors[i];
    if (!t.name || !*t.name || std::strcmp(t.name, "__metadata__") == 0 ||
        !names.insert(t.name).second)
      return fail(format("%s: tensor %d has no name, a reserved or a "
                         "repeated one",
                         what, i));
    if (t.rank < 0 || t.rank > 8 || (t.rank && !t.dims) || !t.data ||
        (t.dtype != ADJ_RT_F32 && t.dtype != ADJ_RT_F64 &&
         t.dtype != ADJ_RT_I32))
      return fail(format("%s: tensor '%s' has an invalid type or no data", what,
                         t.name));
    int64_t n = 1;
    for (int k = 0; k < t.rank; ++k)
      if (!checkedMul(n, t.dims[k], n) || n > MaxTensorBytes)
        return fail(
            format("%s: tensor '%s' has an invalid shape", what, t.name));
  }
  return 0;
}

extern "C" int adj_rt_save_checkpoint(const char *path, int num_tensors,
                                      const adj_rt_named_tensor *tensors,
                                      int num_metadata,
                                      const char *const *metadata) {
  if (!path || checkTensors("adj_rt_save_checkpoint", num_tensors, tensors))
    return path ? 1 : fail("adj_rt_save_checkpoint: no path");
  if (num_metadata < 0 || (num_metadata && !metadata))
    return fail("adj_rt_save_checkpoint: invalid metadata");
  std::vector<TensorRef> refs;
  for (int i = 0; i < num_tensors; ++i) {
    const adj_rt_named_tensor &t = tensors[i];
    refs.push_back({t.name, t.dtype,
                    std::vector<int64_t>(t.dims, t.dims + t.rank), t.data});
  }
  Metadata meta;
  for (int i = 0; i < num_metadata; ++i) {
    if (!metadata[2 * i] || !metadata[2 * i + 1])
      return fail("adj_rt_save_checkpoint: null metadata string");
    meta.push_back({metadata[2 * i], metadata[2 * i + 1]});
  }
  return writeCheckpoint(path, refs, meta);
}

extern "C" int adj_rt_load_checkpoint(const char *path, int num_tensors,
                                      const adj_rt_named_tensor *tensors) {
  if (checkTensors("adj_rt_load_checkpoint", num_tensors, tensors))
    return 1;
  CheckpointFile file;
  if (file.read(path))
    return 1;
  std::vector<const CheckpointFile::Entry *> found;
  for (int i = 0; i < num_tensors; ++i) {
    const adj_rt_named_tensor &t = tensors[i];
    const CheckpointFile::Entry *e = file.find(t.name);
    if (!e)
      return fail(format("%s: no tensor '%s'", file.name().c_str(), t.name));
    if (file.check(*e, t.dtype, t.rank, t.dims))
      return 1;
    found.push_back(e);
  }
  for (const CheckpointFile::Entry &e : file.entries())
    if (std::find(found.begin(), found.end(), &e) == found.end())
      return fail(format("%s: unknown tensor '%s'", file.name().c_str(),
                         escapeText(e.Name).c_str()));
  for (int i = 0; i < num_tensors; ++i)
    file.copy(*found[size_t(i)], tensors[i].dtype, tensors[i].data);
  return 0;
}
