//===- Text.cpp - The text data loader: a file's bytes in windows ---------===//
///
/// \file
/// Loads a file (plain or gzipped) as byte-level token ids, vocabulary
/// 0-255, for character-level language models. Of a file of L bytes, the
/// fraction [start, end) is the bytes [a, b) with a = floor(start * L) and
/// b = floor(end * L). It holds K = floor((b - a - 1) / seq) windows: one
/// byte is held back at the end so that every window has the byte after it
/// (a language model's target), which makes the count the same for offset 0
/// and offset 1. Window k is the bytes [a + k * seq + offset, ... + seq):
/// sample k of a [K, seq] tensor. With offset 0 and 1 the windows stay
/// inside [a, b); a larger offset may read on past b, to the end of the
/// file, and a window past the end of the file is an error.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <algorithm>
#include <cmath>

using namespace adj::rt;

/// Reads all of `file` into `bytes`, in chunks from 64 KiB doubling to 16
/// MiB (a small file does not pay for clearing a large buffer).
static int readAll(FileReader &file, std::vector<unsigned char> &bytes) {
  int64_t have = 0;
  for (int64_t want = int64_t(64) << 10;;
       want = std::min(want * 2, int64_t(16) << 20)) {
    if (have + want > MaxTensorBytes)
      return fail(file.name() + ": file too large for text data");
    bytes.resize(size_t(have + want));
    int64_t r = file.read(bytes.data() + have, want);
    if (r < 0)
      return 1;
    have += r;
    if (r < want)
      break;
  }
  bytes.resize(size_t(have));
  return 0;
}

extern "C" int adj_rt_load_text(const char *path, adj_rt_dtype dtype,
                                int64_t seq, int64_t offset, double start,
                                double end, adj_rt_tensor *out) {
  if (!path || !out)
    return fail("adj_rt_load_text: null argument");
  out->data = nullptr;
  FileReader file;
  if (file.open(path))
    return 1;
  const char *name = file.name().c_str();
  if (checkDestination(file.name(), dtype, 1))
    return 1;
  if (seq < 1 || offset < 0 || !(start >= 0 && start < end && end <= 1))
    return fail(format("%s: bad text window: seq = %lld, offset = %lld, "
                       "[start, end) = [%g, %g)",
                       name, (long long)seq, (long long)offset, start, end));
  std::vector<unsigned char> bytes;
  if (readAll(file, bytes))
    return 1;
  int64_t size = int64_t(bytes.size());
  auto at = [&](double f) { return int64_t(std::floor(f * double(size))); };
  int64_t a = at(start), b = end == 1 ? size : at(end);
  int64_t count = b - a > seq ? (b - a - 1) / seq : 0;
  if (count < 1)
    return fail(format("%s: shorter than one window: the fraction [%g, %g) "
                       "of its %lld bytes holds %lld, a window of seq = %lld "
                       "needs %lld (its bytes and the one after it)",
                       name, start, end, (long long)size, (long long)(b - a),
                       (long long)seq, (long long)(seq + 1)));
  int64_t last = a + count * seq + offset; // one past the last window
  if (last > size)
    return fail(format("%s: the last window at offset %lld ends at byte "
                       "%lld, past the end of the file (%lld bytes)",
                       name, (long long)offset, (long long)last,
                       (long long)size));
  out->rank = 2;
  out->dims[0] = count;
  out->dims[1] = seq;
  int64_t rawBytes;
  if (sizeOf(file.name(), *out, ElemType::U8, dtype, rawBytes))
    return 1;
  std::vector<unsigned char> raw(bytes.begin() + (a + offset),
                                 bytes.begin() + last);
  return finishTensor(file.name(), raw, ElemType::U8, false, dtype, 1, *out);
}
