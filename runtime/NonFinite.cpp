//===- NonFinite.cpp - Finding NaN and infinity ---------------------------===//
///
/// \file
/// Scans for non-finite values: the loaders reject a data file or a
/// checkpoint holding one (naming the file, what it is loaded as and the
/// flat index of the first), and the training loop checks its parameters
/// and optimizer state with the same scan (see Anomaly.cpp). The scan reads
/// a float's exponent bits, so it vectorises and costs about a memcpy.
/// Also adj_rt_check_values, which a checked step calls after every op.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace adj::rt {

thread_local std::string LoadContext;

/// Element i of `p` as raw bits (memcpy: `p` need not be aligned, as in a
/// safetensors file).
template <typename Bits> static Bits bitsAt(const unsigned char *p, int64_t i) {
  Bits b;
  std::memcpy(&b, p + size_t(i) * sizeof(Bits), sizeof(Bits));
  return b;
}

/// Index of the first element whose exponent bits are all ones, in blocks
/// whose inner loop has no early exit (so that it vectorises).
template <typename Bits>
static int64_t firstAllOnes(const void *data, int64_t count, Bits mask) {
  const auto *p = static_cast<const unsigned char *>(data);
  constexpr int64_t Block = 1024;
  for (int64_t start = 0; start < count; start += Block) {
    int64_t end = std::min(count, start + Block);
    Bits any = 0;
    for (int64_t i = start; i < end; ++i)
      any |= Bits((bitsAt<Bits>(p, i) & mask) == mask);
    if (!any)
      continue;
    for (int64_t i = start; i < end; ++i)
      if ((bitsAt<Bits>(p, i) & mask) == mask)
        return i;
  }
  return -1;
}

int64_t firstNonFinite(const void *data, adj_rt_dtype dtype, int64_t count) {
  if (!data || count <= 0)
    return -1;
  switch (dtype) {
  case ADJ_RT_F32:
    return firstAllOnes(data, count, uint32_t(0x7F800000u));
  case ADJ_RT_F64:
    return firstAllOnes(data, count, uint64_t(0x7FF0000000000000ull));
  case ADJ_RT_I32:
    return -1;
  }
  return -1;
}

std::string valueText(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  return format("%g", v);
}

int checkFiniteValues(const std::string &name, const void *data,
                      adj_rt_dtype dtype, int64_t count,
                      double (*raw)(const void *ctx, int64_t i),
                      const void *rawCtx, double scale) {
  int64_t at = firstNonFinite(data, dtype, count);
  if (at < 0)
    return 0;
  const auto *bytes = static_cast<const unsigned char *>(data);
  double v;
  if (dtype == ADJ_RT_F64) {
    v = 0;
    std::memcpy(&v, bytes + size_t(at) * 8, 8);
  } else {
    float f;
    std::memcpy(&f, bytes + size_t(at) * 4, 4);
    v = f;
  }
  double source = raw ? raw(rawCtx, at) : v;
  std::string context = LoadContext.empty() ? "" : " (" + LoadContext + ")";
  if (std::isfinite(source))
    return fail(
        format("%s: value %s at index %lld overflows %s%s%s", name.c_str(),
               valueText(source).c_str(), (long long)at, dtypeName(dtype),
               scale != 1 ? format(" when scaled by %g", scale).c_str() : "",
               context.c_str()));
  return fail(format("%s: value %s at index %lld is not a finite number%s",
                     name.c_str(), valueText(source).c_str(), (long long)at,
                     context.c_str()));
}

namespace {
struct CheckRecord {
  bool Found = false;
  int64_t Site = -1, Index = -1;
  double Value = 0;
};
thread_local CheckRecord LastCheck;
} // namespace

bool lastCheckFailure(int64_t &site, int64_t &index, double &value) {
  site = LastCheck.Site;
  index = LastCheck.Index;
  value = LastCheck.Value;
  return LastCheck.Found;
}

void clearCheckFailure() { LastCheck = CheckRecord(); }

bool Step::updatesFinite(std::string &slot, int64_t &index) const {
  for (const Update &u : Updates) {
    if (frozen(u.S))
      continue;
    int64_t at =
        firstNonFinite(Results[size_t(u.Result)], u.S->DType, u.S->Count);
    if (at >= 0) {
      slot = u.S->Name;
      index = at;
      return false;
    }
  }
  return true;
}

bool Step::inputsFinite(int64_t n, std::string &input, int64_t &index,
                        int64_t &perSample) const {
  for (const Input &in : Inputs) {
    int64_t at =
        firstNonFinite(in.Buf.data(), in.Data->DType, n * in.Data->PerSample);
    if (at >= 0) {
      input = in.Data->Name;
      index = at;
      perSample = in.Data->PerSample;
      return false;
    }
  }
  return true;
}

} // namespace adj::rt

extern "C" int32_t adj_rt_check_values(int64_t site, const void *data,
                                       int64_t count, int32_t dtype) {
  using namespace adj::rt;
  int64_t at = firstNonFinite(data, adj_rt_dtype(dtype), count);
  if (at < 0)
    return 0;
  double v = dtype == ADJ_RT_F64 ? static_cast<const double *>(data)[at]
                                 : static_cast<const float *>(data)[at];
  if (!LastCheck.Found)
    LastCheck = {true, site, at, v};
  return 1;
}
