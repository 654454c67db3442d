//===- RuntimeTextTest.cpp - Tests of the text data loader ----------------===//
///
/// \file
/// adj_rt_load_text on files the test writes (plain and gzipped): the
/// window count floor((b - a - 1) / seq), the same for offsets 0 and 1;
/// every byte of every window for offsets 0, 1 and 3, with fractions
/// [start, end) of the file; bytes 128-255 as ids 128-255 (not negative);
/// f32 destinations; and each rejection with its message: a file shorter
/// than one window and the byte after it, a window past the end of the
/// file, bad windows, a missing file.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using adj::test::TempDir;
using adj::test::writeBytes;

/// The file's bytes 0, 1, ..., Size - 1 (mod 256).
std::vector<uint8_t> counting(int Size) {
  std::vector<uint8_t> B(Size);
  for (int I = 0; I < Size; ++I)
    B[I] = uint8_t(I);
  return B;
}

/// Loads `Path` as i32 windows; the tensor's values, or the error message
/// (as a one-element vector holding -1, message in `Error`).
std::vector<int32_t> load(const std::string &Path, int64_t Seq, int64_t Off,
                          double Start, double End, int64_t *Count,
                          std::string *Error = nullptr) {
  adj_rt_tensor T;
  if (adj_rt_load_text(Path.c_str(), ADJ_RT_I32, Seq, Off, Start, End, &T)) {
    if (Error)
      *Error = adj_rt_last_error();
    return {};
  }
  EXPECT_EQ(T.rank, 2);
  EXPECT_EQ(T.dims[1], Seq);
  *Count = T.dims[0];
  const auto *P = static_cast<const int32_t *>(T.data);
  std::vector<int32_t> V(P, P + T.dims[0] * T.dims[1]);
  adj_rt_tensor_free(&T);
  return V;
}

TEST(RuntimeText, WindowsOfEveryOffsetAndFraction) {
  TempDir Dir;
  for (bool Gz : {false, true}) {
    std::string Path = Dir.file(Gz ? "a.txt.gz" : "a.txt");
    writeBytes(Path, counting(300), Gz);
    struct Case {
      int64_t Seq, Off;
      double Start, End;
      int64_t A, Count; // first byte, windows
    } Cases[] = {
        {8, 0, 0, 1, 0, 37},         // floor(299 / 8)
        {8, 1, 0, 1, 0, 37},         // the same count one byte later
        {8, 3, 0, 1, 0, 37},         // the last window ends at byte 299
        {7, 0, 0.5, 1, 150, 21},     // floor(149 / 7)
        {7, 1, 0, 0.5, 0, 21},       // floor(149 / 7)
        {10, 0, 0.25, 0.75, 75, 14}, // floor(149 / 10)
        {299, 1, 0, 1, 0, 1},        // exactly one window and its next byte
    };
    for (const Case &C : Cases) {
      SCOPED_TRACE(testing::Message()
                   << "seq " << C.Seq << " offset " << C.Off << " [" << C.Start
                   << ", " << C.End << ")" << (Gz ? " gz" : ""));
      int64_t Count = 0;
      std::string Error;
      std::vector<int32_t> V =
          load(Path, C.Seq, C.Off, C.Start, C.End, &Count, &Error);
      ASSERT_EQ(Error, "");
      ASSERT_EQ(Count, C.Count);
      for (int64_t K = 0; K < Count; ++K)
        for (int64_t J = 0; J < C.Seq; ++J)
          ASSERT_EQ(V[K * C.Seq + J], (C.A + K * C.Seq + C.Off + J) % 256)
              << "window " << K << " byte " << J;
    }
  }
}

TEST(RuntimeText, HighBytesAndFloats) {
  TempDir Dir;
  std::string Path = Dir.file("b.txt");
  writeBytes(Path, {0xff, 0x80, 0x7f, 0x00, 'a'}, false);
  int64_t Count = 0;
  EXPECT_EQ(load(Path, 2, 0, 0, 1, &Count),
            (std::vector<int32_t>{255, 128, 127, 0}));
  adj_rt_tensor T;
  ASSERT_EQ(adj_rt_load_text(Path.c_str(), ADJ_RT_F32, 2, 1, 0, 1, &T), 0);
  const float *F = static_cast<const float *>(T.data);
  EXPECT_EQ(std::vector<float>(F, F + 4),
            (std::vector<float>{128, 127, 0, 'a'}));
  adj_rt_tensor_free(&T);
}

TEST(RuntimeText, Errors) {
  TempDir Dir;
  std::string Path = Dir.file("c.txt");
  writeBytes(Path, counting(20), false);
  std::string Q = "'" + Path + "'";
  auto error = [&](int64_t Seq, int64_t Off, double Start, double End) {
    int64_t Count;
    std::string E;
    load(Path, Seq, Off, Start, End, &Count, &E);
    return E;
  };
  EXPECT_EQ(error(20, 0, 0, 1),
            Q + ": shorter than one window: the fraction [0, 1) of its 20 "
                "bytes holds 20, a window of seq = 20 needs 21 (its bytes and "
                "the one after it)");
  EXPECT_EQ(error(8, 0, 0.6, 1),
            Q + ": shorter than one window: the fraction [0.6, 1) of its 20 "
                "bytes holds 8, a window of seq = 8 needs 9 (its bytes and "
                "the one after it)");
  EXPECT_EQ(error(6, 4, 0, 1),
            Q + ": the last window at offset 4 ends at byte 22, past the end "
                "of the file (20 bytes)");
  EXPECT_EQ(error(0, 0, 0, 1), Q + ": bad text window: seq = 0, offset = 0, "
                                   "[start, end) = [0, 1)");
  EXPECT_EQ(error(4, 0, 0.5, 0.5), Q + ": bad text window: seq = 4, offset = "
                                       "0, [start, end) = [0.5, 0.5)");
  int64_t Count;
  std::string E;
  load(Dir.file("missing.txt"), 4, 0, 0, 1, &Count, &E);
  EXPECT_EQ(E.rfind("'" + Dir.file("missing.txt") + "': cannot open: ", 0), 0u)
      << E;
}

} // namespace
