//===- RuntimeNpyTest.cpp - Tests of the .npy data loader -----------------===//
///
/// \file
/// adj_rt_load_npy on .npy files whose bytes the test builds itself (no
/// NumPy): every dtype the loader accepts (u1, b1, i1, i2, i4, i8, f4, f8)
/// in every byte order it accepts ('<', '>', '|', '='), format versions 1,
/// 2 and 3, plain and gzipped, with every value of every file checked when
/// loaded as f64, as scaled f32 and as i32; the header's accepted
/// spellings; and each rejection with its exact message.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using adj::test::TempDir;
using adj::test::writeBytes;

/// A .npy file: the magic, version `major`.0, the header length (2 bytes
/// little-endian in version 1, 4 in versions 2 and 3), the header text
/// padded with spaces and a newline so that the payload starts at a
/// multiple of `align` bytes, then the payload.
std::vector<uint8_t> npyFile(int major, const std::string &header,
                             const std::vector<uint8_t> &payload,
                             size_t align = 64) {
  size_t lenBytes = major == 1 ? 2 : 4;
  std::string h = header;
  while ((8 + lenBytes + h.size() + 1) % align)
    h += ' ';
  h += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  for (size_t i = 0; i < lenBytes; ++i)
    out.push_back(uint8_t(h.size() >> (8 * i)));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// The header dict NumPy writes.
std::string dict(const std::string &descr, const std::string &shape,
                 const char *fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }";
}

/// Appends the low `size` bytes of `bits` in the given byte order.
void put(std::vector<uint8_t> &out, uint64_t bits, int size, bool bigEndian) {
  for (int i = 0; i < size; ++i)
    out.push_back(uint8_t(bits >> (8 * (bigEndian ? size - 1 - i : i))));
}

/// A dtype the loader accepts and six values of it, chosen so that a wrong
/// byte order, width or signedness changes at least one of them.
struct Dtype {
  const char *Code; ///< the descr without its byte order, e.g. "i2"
  int Size;
  bool Float;
  std::vector<double> Values; ///< exactly representable in the dtype
};

const std::vector<Dtype> &dtypes() {
  static const std::vector<Dtype> D = {
      {"u1", 1, false, {0, 1, 127, 128, 200, 255}},
      {"b1", 1, false, {1, 0, 0, 1, 1, 0}},
      {"i1", 1, false, {-128, -1, 0, 1, 100, 127}},
      {"i2", 2, false, {-32768, -2, 258, 1, 0, 32767}},
      {"i4", 4, false, {-2147483648.0, -65536, 16909060, 1, 0, 2147483647}},
      // 0x0001020304050607 does not fit in i32; the others do.
      {"i8", 8, false, {-1, 283686952306183, -4294967296.0, 7, 0, 2147483647}},
      {"f4", 4, true, {1.5, -2.25, 0.1f, 3.4e38f, 1e-40f, -0.0}},
      {"f8", 8, true, {0.1, -1e300, 2.5, 1e-310, -7, 123456789.123}},
  };
  return D;
}

/// The payload of `d`'s values in the given byte order.
std::vector<uint8_t> encode(const Dtype &d, bool bigEndian) {
  std::vector<uint8_t> out;
  for (double v : d.Values) {
    uint64_t bits;
    if (d.Float && d.Size == 4) {
      float f = float(v);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      bits = b;
    } else if (d.Float) {
      std::memcpy(&bits, &v, 8);
    } else {
      bits = uint64_t(int64_t(v));
    }
    put(out, bits, d.Size, bigEndian);
  }
  return out;
}

std::string error(const std::string &path, const std::string &message) {
  return "'" + path + "': " + message;
}

/// Loads `path`; returns "" on success with `t` filled, else the error.
std::string load(const std::string &path, adj_rt_dtype dtype, double scale,
                 adj_rt_tensor &t) {
  if (adj_rt_load_npy(path.c_str(), dtype, scale, &t) == 0)
    return "";
  EXPECT_EQ(t.data, nullptr);
  return adj_rt_last_error();
}

/// Checks every value of the (2, 3) file at `path` holding `d`'s values,
/// loaded as f64, as f32 scaled by 0.5 and as i32.
void checkValues(const std::string &path, const Dtype &d) {
  adj_rt_tensor t;
  ASSERT_EQ(load(path, ADJ_RT_F64, 1, t), "");
  EXPECT_EQ(t.dtype, ADJ_RT_F64);
  ASSERT_EQ(t.rank, 2);
  EXPECT_EQ(t.dims[0], 2);
  EXPECT_EQ(t.dims[1], 3);
  const double *p64 = static_cast<const double *>(t.data);
  for (size_t i = 0; i < d.Values.size(); ++i)
    EXPECT_EQ(p64[i], d.Values[i]) << "f64 element " << i;
  adj_rt_tensor_free(&t);

  // A value that overflows f32 once scaled is an error, not an infinity.
  size_t huge = 0;
  while (huge < d.Values.size() && std::isfinite(float(d.Values[huge] * 0.5)))
    ++huge;
  if (huge < d.Values.size()) {
    char value[32];
    std::snprintf(value, sizeof value, "%g", d.Values[huge]);
    EXPECT_EQ(load(path, ADJ_RT_F32, 0.5, t),
              error(path, std::string("value ") + value + " at index " +
                              std::to_string(huge) +
                              " overflows f32 when scaled by 0.5"));
    return;
  }
  ASSERT_EQ(load(path, ADJ_RT_F32, 0.5, t), "");
  EXPECT_EQ(t.dtype, ADJ_RT_F32);
  ASSERT_EQ(t.rank, 2);
  const float *p32 = static_cast<const float *>(t.data);
  for (size_t i = 0; i < d.Values.size(); ++i)
    EXPECT_EQ(p32[i], float(d.Values[i] * 0.5)) << "f32 element " << i;
  adj_rt_tensor_free(&t);

  if (d.Float) {
    EXPECT_EQ(load(path, ADJ_RT_I32, 1, t),
              error(path, "cannot load floating-point data as i32"));
    return;
  }
  size_t bad = 0;
  while (bad < d.Values.size() && d.Values[bad] >= INT32_MIN &&
         d.Values[bad] <= INT32_MAX)
    ++bad;
  if (bad < d.Values.size()) {
    EXPECT_EQ(load(path, ADJ_RT_I32, 1, t),
              error(path, "value " + std::to_string(int64_t(d.Values[bad])) +
                              " at index " + std::to_string(bad) +
                              " does not fit in i32"));
    return;
  }
  ASSERT_EQ(load(path, ADJ_RT_I32, 1, t), "");
  EXPECT_EQ(t.dtype, ADJ_RT_I32);
  const int32_t *pi = static_cast<const int32_t *>(t.data);
  for (size_t i = 0; i < d.Values.size(); ++i)
    EXPECT_EQ(pi[i], int32_t(d.Values[i])) << "i32 element " << i;
  adj_rt_tensor_free(&t);
}

TEST(RuntimeNpy, LoadsEveryDtypeByteOrderAndVersion) {
  TempDir dir;
  for (const Dtype &d : dtypes()) {
    std::vector<std::string> orders = {"<", ">"};
    if (d.Size == 1)
      orders.push_back("|");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    orders.push_back("="); // native order: little-endian here
#endif
    for (const std::string &order : orders)
      for (int version = 1; version <= 3; ++version)
        for (bool gz : {false, true}) {
          std::string descr = order + d.Code;
          SCOPED_TRACE(testing::Message()
                       << "dtype '" << descr << "', version " << version
                       << (gz ? ", gzipped" : ""));
          std::string path = dir.file(std::string("a.npy") + (gz ? ".gz" : ""));
          writeBytes(
              path,
              npyFile(version, dict(descr, "(2, 3)"), encode(d, order == ">")),
              gz);
          checkValues(path, d);
        }
  }
}

TEST(RuntimeNpy, HonoursTheBigEndianFlag) {
  // The same bytes read as '<i2' and '>i2' give different values.
  TempDir dir;
  std::string path = dir.file("a.npy");
  std::vector<uint8_t> payload = {0x01, 0x02, 0xFF, 0xFE};
  adj_rt_tensor t;
  writeBytes(path, npyFile(1, dict("<i2", "(2,)"), payload), false);
  ASSERT_EQ(load(path, ADJ_RT_I32, 1, t), "");
  EXPECT_EQ(static_cast<int32_t *>(t.data)[0], 0x0201);
  EXPECT_EQ(static_cast<int32_t *>(t.data)[1], -257);
  adj_rt_tensor_free(&t);
  writeBytes(path, npyFile(1, dict(">i2", "(2,)"), payload), false);
  ASSERT_EQ(load(path, ADJ_RT_I32, 1, t), "");
  EXPECT_EQ(static_cast<int32_t *>(t.data)[0], 0x0102);
  EXPECT_EQ(static_cast<int32_t *>(t.data)[1], -2);
  adj_rt_tensor_free(&t);
}

TEST(RuntimeNpy, ReadsHeaderSpellings) {
  TempDir dir;
  std::string path = dir.file("a.npy");
  const Dtype &i4 = dtypes()[4];
  ASSERT_EQ(std::string(i4.Code), "i4");
  std::vector<uint8_t> payload = encode(i4, true);
  auto shapeOf = [&](const std::string &header, size_t align = 64) {
    writeBytes(path, npyFile(1, header, payload, align), false);
    adj_rt_tensor t;
    std::string e = load(path, ADJ_RT_F64, 1, t);
    if (!e.empty())
      return e;
    std::string s;
    for (int i = 0; i < t.rank; ++i)
      s += (i ? "x" : "") + std::to_string(t.dims[i]);
    const double *p = static_cast<const double *>(t.data);
    for (size_t i = 0; i < i4.Values.size(); ++i)
      EXPECT_EQ(p[i], i4.Values[i]) << header << ": element " << i;
    adj_rt_tensor_free(&t);
    return s;
  };
  EXPECT_EQ(shapeOf(dict(">i4", "(6,)")), "6");
  EXPECT_EQ(shapeOf(dict(">i4", "(1,2,3)")), "1x2x3");
  EXPECT_EQ(shapeOf(dict(">i4", "(1, 1, 1, 1, 1, 1, 1, 6)")),
            "1x1x1x1x1x1x1x6");
  // Old NumPy padded to 16 bytes; keys may come in any order and quoting.
  EXPECT_EQ(shapeOf(dict(">i4", "(3, 2)"), 16), "3x2");
  EXPECT_EQ(shapeOf("{'shape': (2, 3), 'fortran_order': False, 'descr': "
                    "'>i4'}"),
            "2x3");
  EXPECT_EQ(shapeOf("{\"descr\": \">i4\", \"fortran_order\": False, "
                    "\"shape\": (6,)}"),
            "6");
  // A one-element file of each dimension count.
  payload = encode(i4, true);
  payload.resize(4);
  writeBytes(path, npyFile(2, dict(">i4", "(1, 1)"), payload), false);
  adj_rt_tensor t;
  ASSERT_EQ(load(path, ADJ_RT_I32, 1, t), "");
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(static_cast<int32_t *>(t.data)[0], int32_t(i4.Values[0]));
  adj_rt_tensor_free(&t);
}

TEST(RuntimeNpy, RejectsWhatItDoesNotSupport) {
  TempDir dir;
  std::string path = dir.file("a.npy");
  std::vector<uint8_t> six(24, 0);
  auto errorFor = [&](const std::vector<uint8_t> &bytes,
                      adj_rt_dtype dtype = ADJ_RT_F32, double scale = 1) {
    writeBytes(path, bytes, false);
    adj_rt_tensor t;
    return load(path, dtype, scale, t);
  };
  auto headerError = [&](const std::string &header) {
    return errorFor(npyFile(1, header, six));
  };

  for (const char *descr :
       {"<u2", "<u4", "<u8", "<f2", "<c8", "<c16", "<f16", "|O", "|S3", "<U10",
        "<M8", "|V4", "f4", "!f4", "<b2", ">i16"})
    EXPECT_EQ(
        headerError(dict(descr, "(2, 3)")),
        error(path, std::string("unsupported npy dtype '") + descr + "'"));
  // A structured dtype's descr is a list, not a string.
  EXPECT_EQ(headerError("{'descr': [('a', '<f4')], 'fortran_order': False, "
                        "'shape': (2, 3), }"),
            error(path, "invalid npy header (no 'descr')"));
  EXPECT_EQ(headerError("{'fortran_order': False, 'shape': (2, 3), }"),
            error(path, "invalid npy header (no 'descr')"));
  EXPECT_EQ(headerError("{'descr': '<f4"),
            error(path, "invalid npy header (unterminated 'descr')"));
  EXPECT_EQ(headerError("{'descr': '<f4', 'shape': (2, 3), }"),
            error(path, "invalid npy header (no 'fortran_order')"));
  EXPECT_EQ(headerError(dict("<f4", "(2, 3)", "True")),
            error(path, "Fortran-ordered arrays are not supported (save with "
                        "numpy.ascontiguousarray)"));
  EXPECT_EQ(headerError("{'descr': '<f4', 'fortran_order': False, }"),
            error(path, "invalid npy header (no 'shape')"));
  EXPECT_EQ(headerError(dict("<f4", "[2, 3]")),
            error(path, "invalid npy header (no 'shape')"));
  EXPECT_EQ(headerError(dict("<f4", "(2, x)")),
            error(path, "invalid npy header (bad 'shape')"));
  EXPECT_EQ(headerError("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (2, 3"),
            error(path, "invalid npy header (bad 'shape')"));
  EXPECT_EQ(headerError(dict("<f4", "()")),
            error(path, "array has no dimensions"));
  EXPECT_EQ(headerError(dict("<f4", "(1, 1, 1, 1, 1, 1, 1, 1, 6)")),
            error(path, "too many dimensions (at most 8)"));
  EXPECT_EQ(headerError(dict("<f4", "(99999999999999999999,)")),
            error(path, "dimensions too large"));
  EXPECT_EQ(headerError(dict("<f4", "(4294967296, 4294967296)")),
            error(path, "dimensions too large"));
  EXPECT_EQ(headerError(dict("<f8", "(17179869184,)")),
            error(path, "data too large (17179869184 elements)"));

  // The preamble.
  std::vector<uint8_t> good = npyFile(1, dict("<f4", "(2, 3)"), six);
  std::vector<uint8_t> bytes = good;
  bytes[5] = 'X';
  EXPECT_EQ(errorFor(bytes), error(path, "not an npy file (bad magic)"));
  EXPECT_EQ(errorFor({0x93, 'N', 'U', 'M'}),
            error(path, "not an npy file (bad magic)"));
  for (uint8_t version : {0, 4}) {
    bytes = good;
    bytes[6] = version;
    EXPECT_EQ(errorFor(bytes), error(path, "unsupported npy version " +
                                               std::to_string(version)));
  }
  bytes = npyFile(2, dict("<f4", "(2, 3)"), six);
  bytes.resize(11);
  EXPECT_EQ(errorFor(bytes), error(path, "truncated header"));
  bytes = good;
  bytes.resize(40);
  EXPECT_EQ(errorFor(bytes), error(path, "truncated header"));
  bytes = npyFile(3, dict("<f4", "(2, 3)"), six);
  bytes[10] = 0x20; // a 2 MiB header
  EXPECT_EQ(errorFor(bytes), error(path, "invalid npy header (too long)"));

  // The payload.
  bytes = good;
  bytes.resize(bytes.size() - 4);
  EXPECT_EQ(errorFor(bytes),
            error(path, "truncated: expected 24 bytes of data, got 20"));
  bytes = good;
  bytes.push_back(0);
  EXPECT_EQ(errorFor(bytes),
            error(path, "trailing data after the 24 bytes the header "
                        "declares"));

  // The destination.
  EXPECT_EQ(errorFor(good, ADJ_RT_I32),
            error(path, "cannot load floating-point data as i32"));
  EXPECT_EQ(errorFor(npyFile(1, dict("<i4", "(2, 3)"), six), ADJ_RT_I32, 2),
            error(path, "cannot scale integer data (scale = 2)"));
  std::string missing = dir.file("missing.npy");
  adj_rt_tensor t;
  EXPECT_EQ(load(missing, ADJ_RT_F32, 1, t),
            error(missing, "cannot open: No such file or directory"));
}

TEST(RuntimeNpy, NarrowingToI32ChecksEveryValueInEitherByteOrder) {
  // 2^56 + 7 must not wrap to 7, nor -2^31 - 1 to 2^31 - 1.
  TempDir dir;
  std::string path = dir.file("a.npy");
  for (bool bigEndian : {false, true}) {
    SCOPED_TRACE(bigEndian ? "big-endian" : "little-endian");
    std::string descr = bigEndian ? ">i8" : "<i8";
    for (int64_t bad : {(int64_t(1) << 56) + 7, int64_t(INT32_MIN) - 1,
                        int64_t(INT32_MAX) + 1}) {
      std::vector<uint8_t> payload;
      put(payload, 3, 8, bigEndian);
      put(payload, uint64_t(bad), 8, bigEndian);
      writeBytes(path, npyFile(1, dict(descr, "(2,)"), payload), false);
      adj_rt_tensor t;
      EXPECT_EQ(load(path, ADJ_RT_I32, 1, t),
                error(path, "value " + std::to_string(bad) +
                                " at index 1 does not fit in i32"));
    }
  }
}

} // namespace
