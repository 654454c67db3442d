//===- Tensor.cpp - Aligned buffers and element conversion ----------------===//
///
/// \file
/// Host memory for the runtime: 64-byte aligned allocations whose size is
/// rounded up to a multiple of 64 (as aligned_alloc requires, and so that
/// vector code may read whole cache lines), overflow-checked size arithmetic,
/// and the conversion of the element types found in data files (IDX, NPY) to
/// the f32 / f64 / i32 tensors the compiled code consumes.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sys/mman.h>

namespace adj::rt {

size_t dtypeSize(adj_rt_dtype t) { return t == ADJ_RT_F64 ? 8 : 4; }

const char *dtypeName(adj_rt_dtype t) {
  switch (t) {
  case ADJ_RT_F32:
    return "f32";
  case ADJ_RT_F64:
    return "f64";
  case ADJ_RT_I32:
    return "i32";
  }
  return "?";
}

void *alignedAlloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes)
    return nullptr;
  return std::aligned_alloc(64, rounded ? rounded : 64);
}

bool AlignedBuffer::allocate(size_t bytes) {
  Ptr.reset(alignedAlloc(bytes));
  Size = Ptr ? bytes : 0;
  if (Ptr)
    std::memset(Ptr.get(), 0, bytes);
  return Ptr != nullptr;
}

bool checkedMul(int64_t a, int64_t b, int64_t &out) {
  if (a < 0 || b < 0)
    return false;
  return !__builtin_mul_overflow(a, b, &out);
}

size_t elemTypeSize(ElemType t) {
  switch (t) {
  case ElemType::U8:
  case ElemType::I8:
    return 1;
  case ElemType::I16:
    return 2;
  case ElemType::I32:
  case ElemType::F32:
    return 4;
  case ElemType::I64:
  case ElemType::F64:
    return 8;
  }
  return 1;
}

/// Reads `N` bytes at `p` as an unsigned integer of the given byte order.
template <unsigned N>
static uint64_t loadBits(const unsigned char *p, bool be) {
  uint64_t v = 0;
  for (unsigned i = 0; i < N; ++i)
    v |= uint64_t(p[be ? N - 1 - i : i]) << (8 * i);
  return v;
}

template <typename T>
static T loadAs(const unsigned char *p, ElemType src, bool be) {
  switch (src) {
  case ElemType::U8:
    return T(p[0]);
  case ElemType::I8:
    return T(int8_t(p[0]));
  case ElemType::I16:
    return T(int16_t(loadBits<2>(p, be)));
  case ElemType::I32:
    return T(int32_t(loadBits<4>(p, be)));
  case ElemType::I64:
    return T(int64_t(loadBits<8>(p, be)));
  case ElemType::F32: {
    uint32_t bits = uint32_t(loadBits<4>(p, be));
    float f;
    std::memcpy(&f, &bits, 4);
    return T(f);
  }
  case ElemType::F64: {
    uint64_t bits = loadBits<8>(p, be);
    double d;
    std::memcpy(&d, &bits, 8);
    return T(d);
  }
  }
  return T(0);
}

/// out[i] = T(load(element i) * scale), or T(load(element i)) when scale is
/// 1: the conversion of every source type, in double as the source's value
/// is exact in it.
template <typename T, typename Load>
static void convertWith(const unsigned char *raw, size_t step, int64_t count,
                        double scale, T *out, Load load) {
  if (scale == 1) {
    for (int64_t i = 0; i < count; ++i)
      out[i] = T(load(raw + size_t(i) * step));
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    out[i] = T(load(raw + size_t(i) * step) * scale);
}

/// Bytes (IDX images, the common case) get a loop of their own, which the
/// compiler vectorises: the same arithmetic as loadAs<double>'s (a byte is
/// exact in double), about 8x faster than switching on the type per
/// element, which took ~25 ms of MNIST's time to the first step.
template <typename T>
static void convertLoop(const unsigned char *raw, ElemType src, bool be,
                        int64_t count, double scale, T *out) {
  if (src == ElemType::U8)
    return convertWith(raw, 1, count, scale, out,
                       [](const unsigned char *p) { return double(p[0]); });
  convertWith(
      raw, elemTypeSize(src), count, scale, out,
      [src, be](const unsigned char *p) { return loadAs<double>(p, src, be); });
}

void convertElements(const unsigned char *raw, ElemType src, bool bigEndian,
                     int64_t count, adj_rt_dtype dst, double scale, void *out) {
  switch (dst) {
  case ADJ_RT_F32:
    return convertLoop(raw, src, bigEndian, count, scale,
                       static_cast<float *>(out));
  case ADJ_RT_F64:
    return convertLoop(raw, src, bigEndian, count, scale,
                       static_cast<double *>(out));
  case ADJ_RT_I32: {
    auto *o = static_cast<int32_t *>(out);
    size_t step = elemTypeSize(src);
    for (int64_t i = 0; i < count; ++i)
      o[i] = loadAs<int32_t>(raw + size_t(i) * step, src, bigEndian);
    return;
  }
  }
}

int checkDestination(const std::string &name, adj_rt_dtype dtype,
                     double scale) {
  if (dtype != ADJ_RT_F32 && dtype != ADJ_RT_F64 && dtype != ADJ_RT_I32)
    return fail(name + ": unsupported destination type");
  if (!std::isfinite(scale))
    return fail(format("%s: scale %g is not finite", name.c_str(), scale));
  if (dtype == ADJ_RT_I32 && scale != 1)
    return fail(format("%s: cannot scale integer data (scale = %g)",
                       name.c_str(), scale));
  return 0;
}

/// Whether converting \p src values, times \p scale (finite), into \p dtype
/// can give NaN or an infinity: float sources can; integers only when the
/// largest magnitude of their type times |scale| (computed in double, as
/// convertWith does) overflows \p dtype.
static bool mayBeNonFinite(ElemType src, adj_rt_dtype dtype, double scale) {
  if (src == ElemType::F32 || src == ElemType::F64)
    return true;
  // The largest magnitudes of U8, I8, I16, I32 and I64 (ElemType's order).
  static const double MaxAbs[] = {255, 128, 32768, 2147483648.0,
                                  9223372036854775808.0};
  static_assert(int(ElemType::U8) == 0 && int(ElemType::I64) == 4);
  double limit = dtype == ADJ_RT_F32 ? double(FLT_MAX) : DBL_MAX;
  return !(MaxAbs[int(src)] * std::fabs(scale) < limit);
}

/// Asks for transparent huge pages for the 2 MiB-aligned part of a large
/// buffer about to be written (the converted MNIST images are 31 MB): one
/// fault per 2 MiB instead of per 4 KiB. A hint: nothing when refused.
static void hugePagesFor(void *data, size_t bytes) {
  constexpr uintptr_t Huge = uintptr_t(2) << 20;
  if (bytes < 2 * Huge)
    return;
  uintptr_t begin = (uintptr_t(data) + Huge - 1) & ~(Huge - 1);
  uintptr_t end = (uintptr_t(data) + bytes) & ~(Huge - 1);
  if (end > begin)
    madvise(reinterpret_cast<void *>(begin), end - begin, MADV_HUGEPAGE);
}

int finishTensor(const std::string &name, const std::vector<unsigned char> &raw,
                 ElemType src, bool bigEndian, adj_rt_dtype dtype, double scale,
                 adj_rt_tensor &out) {
  int64_t count = 1;
  for (int i = 0; i < out.rank; ++i)
    count *= out.dims[i]; // checked by sizeOf()
  void *data = alignedAlloc(size_t(count) * dtypeSize(dtype));
  if (!data)
    return fail(name + ": out of memory");
  hugePagesFor(data, size_t(count) * dtypeSize(dtype));
  convertElements(raw.data(), src, bigEndian, count, dtype, scale, data);
  // NaN and infinity, in the file or made by the conversion (1e39 as f32).
  struct Source {
    const unsigned char *Raw;
    ElemType Src;
    bool BigEndian;
  } at{raw.data(), src, bigEndian};
  auto rawValue = [](const void *ctx, int64_t i) {
    const auto &s = *static_cast<const Source *>(ctx);
    return loadAs<double>(s.Raw + size_t(i) * elemTypeSize(s.Src), s.Src,
                          s.BigEndian);
  };
  if (dtype != ADJ_RT_I32 && mayBeNonFinite(src, dtype, scale) &&
      checkFiniteValues(name, data, dtype, count, rawValue, &at, scale)) {
    std::free(data);
    return 1;
  }
  out.dtype = dtype;
  out.data = data;
  return 0;
}

int sizeOf(const std::string &name, const adj_rt_tensor &t, ElemType src,
           adj_rt_dtype dtype, int64_t &rawBytes) {
  int64_t count = 1, outBytes;
  for (int i = 0; i < t.rank; ++i)
    if (!checkedMul(count, t.dims[i], count))
      return fail(name + ": dimensions too large");
  if (!checkedMul(count, int64_t(elemTypeSize(src)), rawBytes) ||
      !checkedMul(count, int64_t(dtypeSize(dtype)), outBytes) ||
      rawBytes > MaxTensorBytes || outBytes > MaxTensorBytes)
    return fail(format("%s: data too large (%lld elements)", name.c_str(),
                       (long long)count));
  return 0;
}

} // namespace adj::rt

extern "C" void adj_rt_tensor_free(adj_rt_tensor *t) {
  if (!t)
    return;
  std::free(t->data);
  t->data = nullptr;
}
