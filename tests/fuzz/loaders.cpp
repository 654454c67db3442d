//===- loaders.cpp - Fuzzing the IDX, NPY, CSV and text loaders -----------===//
///
/// libFuzzer target. The input is a 6-byte configuration followed by the
/// file's bytes (gzipped or not, as the loaders accept both):
///   byte 0: the loader (IDX, NPY, CSV, text), byte 1: the dtype,
///   byte 2: CSV header mode (-1, 0, 1) and whether a column list follows,
///   bytes 3-5: text window length, offset and fraction of the file.
/// With the column flag, the file's bytes start with the column list up to
/// the first newline. Every accepted tensor is read in full, so that a
/// shape larger than the data shows up as an out-of-bounds read.
///
//===----------------------------------------------------------------------===//
#include "FuzzInput.h"
#include "runtime/adjoint_rt_io.h"

#include <cstdlib>
#include <cstring>
#include <string>

static double checksum(const adj_rt_tensor &T) {
  size_t Count = 1;
  for (int I = 0; I < T.rank; ++I)
    Count *= size_t(T.dims[I]);
  double Sum = 0;
  for (size_t I = 0; I < Count; ++I)
    Sum += T.dtype == ADJ_RT_I32   ? double(static_cast<int32_t *>(T.data)[I])
           : T.dtype == ADJ_RT_F32 ? double(static_cast<float *>(T.data)[I])
                                   : static_cast<double *>(T.data)[I];
  return Sum;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  if (Size < 6)
    return 0;
  int Loader = Data[0] % 4;
  adj_rt_dtype DType = adj_rt_dtype(Data[1] % 3);
  int Header = int(Data[2] % 3) - 1;
  bool HasColumns = Data[2] & 0x80;
  int64_t Seq = Data[3] % 33;
  int64_t Offset = Data[4] % 4;
  double Start = (Data[5] & 0xf) / 16.0, End = 1 - (Data[5] >> 4) / 32.0;
  Data += 6;
  Size -= 6;
  std::string Columns;
  if (Loader == 2 && HasColumns) {
    const void *NL = std::memchr(Data, '\n', Size);
    size_t Len = NL ? static_cast<const uint8_t *>(NL) - Data : Size;
    Columns.assign(reinterpret_cast<const char *>(Data), Len);
    Data += Len < Size ? Len + 1 : Len;
    Size -= Len < Size ? Len + 1 : Len;
  }
  std::string Path = adj::fuzz::writeInput("fuzz.data", Data, Size);
  adj_rt_tensor T{};
  int Rc = 1;
  switch (Loader) {
  case 0:
    Rc = adj_rt_load_idx(Path.c_str(), DType, 0.5, &T);
    break;
  case 1:
    Rc = adj_rt_load_npy(Path.c_str(), DType, 0.5, &T);
    break;
  case 2:
    Rc = adj_rt_load_csv(Path.c_str(), DType, 0.5,
                         HasColumns ? Columns.c_str() : nullptr, Header, &T);
    break;
  case 3:
    Rc = adj_rt_load_text(Path.c_str(), DType, Seq, Offset, Start, End, &T);
    break;
  }
  if (Rc == 0) {
    if (T.rank < 0 || T.rank > 8 || !T.data)
      std::abort();
    volatile double Sink = checksum(T);
    (void)Sink;
  }
  adj_rt_tensor_free(&T);
  return 0;
}
