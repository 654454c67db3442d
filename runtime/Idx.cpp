//===- Idx.cpp - The IDX data loader --------------------------------------===//
///
/// \file
/// Loads IDX files (the MNIST format), plain or gzipped. An IDX file is a
/// 4-byte magic number — two zero bytes, an element type code (0x08 u8,
/// 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64) and the number of
/// dimensions — then one big-endian u32 per dimension, then the elements,
/// big-endian, row-major. The loader trusts nothing: the dimension product
/// is overflow-checked and capped and the payload must have exactly the
/// declared size.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

using namespace adj::rt;

static bool elemTypeOfCode(unsigned code, ElemType &t) {
  switch (code) {
  case 0x08:
    t = ElemType::U8;
    return true;
  case 0x09:
    t = ElemType::I8;
    return true;
  case 0x0B:
    t = ElemType::I16;
    return true;
  case 0x0C:
    t = ElemType::I32;
    return true;
  case 0x0D:
    t = ElemType::F32;
    return true;
  case 0x0E:
    t = ElemType::F64;
    return true;
  }
  return false;
}

extern "C" int adj_rt_load_idx(const char *path, adj_rt_dtype dtype,
                               double scale, adj_rt_tensor *out) {
  if (!path || !out)
    return fail("adj_rt_load_idx: null argument");
  out->data = nullptr;
  FileReader file;
  if (file.open(path))
    return 1;
  const std::string &name = file.name();
  if (checkDestination(name, dtype, scale))
    return 1;

  unsigned char magic[4];
  int64_t got = file.read(magic, 4);
  if (got < 0)
    return 1;
  if (got < 4)
    return fail(name + ": not an IDX file (file too short)");
  ElemType src = ElemType::U8;
  if (magic[0] != 0 || magic[1] != 0 || !elemTypeOfCode(magic[2], src))
    return fail(format("%s: not an IDX file (bad magic 0x%02x%02x%02x%02x)",
                       name.c_str(), magic[0], magic[1], magic[2], magic[3]));
  int rank = magic[3];
  if (rank == 0)
    return fail(name + ": IDX file has no dimensions");
  if (rank > 8)
    return fail(
        format("%s: too many dimensions (%d, at most 8)", name.c_str(), rank));
  if (dtype == ADJ_RT_I32 && (src == ElemType::F32 || src == ElemType::F64))
    return fail(name + ": cannot load floating-point data as i32");

  unsigned char dimBytes[32];
  got = file.read(dimBytes, 4 * rank);
  if (got < 0)
    return 1;
  if (got < 4 * rank)
    return fail(name + ": truncated header");
  out->rank = rank;
  for (int i = 0; i < rank; ++i) {
    const unsigned char *p = dimBytes + 4 * i;
    out->dims[i] = int64_t(p[0]) << 24 | int64_t(p[1]) << 16 |
                   int64_t(p[2]) << 8 | int64_t(p[3]);
  }
  int64_t rawBytes;
  std::vector<unsigned char> raw;
  if (sizeOf(name, *out, src, dtype, rawBytes) ||
      file.readPayload(rawBytes, raw))
    return 1;
  return finishTensor(name, raw, src, /*bigEndian=*/true, dtype, scale, *out);
}
