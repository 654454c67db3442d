//===- EscapeTextTest.cpp - The runtime never echoes raw bytes of a file --===//
///
/// \file
/// The runtime's escapeText (runtime/Error.cpp) must escape exactly as the
/// frontend's (frontend/Diagnostics.cpp) does: control characters and invalid
/// UTF-8 as \xNN, printable UTF-8 and tabs kept. The layering keeps the two
/// layers from sharing one function, so this test compares them on chosen
/// and on random byte strings. Then the runtime's messages that name things
/// from files: a path, a CSV cell and column names, a safetensors tensor
/// name and metadata value (tests/lit/run/escaped-names.test loads such a
/// checkpoint through adjc).
///
//===----------------------------------------------------------------------===//

#include "frontend/Diagnostics.h"
#include "runtime/Internal.h"
#include "runtime/adjoint_rt.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;

namespace {

/// True when \p S holds no control character but tab and newline, and is
/// valid UTF-8 (what a terminal may safely be sent).
bool printable(const std::string &S) {
  return adj::rt::escapeText(S, /*keepNewlines=*/true) == S;
}

TEST(EscapeText, RuntimeAgreesWithTheFrontend) {
  const std::string Cases[] = {
      "",
      "plain ascii",
      "tab\tkept",
      "new\nline",
      std::string("nul\0byte", 8),
      "\x1b[31mred\x1b[0m",
      "bell\a cr\r del\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", // é € 😀
      "\xc2\x85 \xc2\x9f",                         // C1 controls
      "\xff\xfe lone \x80 continuation",
      "\xc3 truncated",
      "\xe2\x82 truncated",
      "\xc0\xaf overlong",
      "\xed\xa0\x80 surrogate",
      "\xf4\x90\x80\x80 beyond U+10FFFF",
  };
  for (const std::string &S : Cases)
    EXPECT_EQ(adj::rt::escapeText(S), adj::escapeText(S)) << S;
  std::mt19937 R(15);
  for (int I = 0; I < 20000; ++I) {
    std::string S(R() % 12, '\0');
    for (char &C : S) // bias towards the interesting bytes
      C = char(R() % 3 ? 0x80 + R() % 0x80 : R() % 0x100);
    std::string Got = adj::rt::escapeText(S);
    ASSERT_EQ(Got, adj::escapeText(S));
    ASSERT_TRUE(printable(Got)) << Got;
    ASSERT_EQ(Got.find('\n'), std::string::npos);
  }
}

TEST(EscapeText, Examples) {
  EXPECT_EQ(adj::rt::escapeText("w\x1b\xff\n"), "w\\x1b\\xff\\x0a");
  EXPECT_EQ(adj::rt::escapeText("w\x1b\n", /*keepNewlines=*/true), "w\\x1b\n");
  EXPECT_EQ(adj::rt::quoted("a\x01\xc3\xa9.csv"), "'a\\x01\xc3\xa9.csv'");
}

class EscapedMessages : public testing::Test {
protected:
  EscapedMessages() {
    std::string Tmpl =
        (fs::temp_directory_path() / "adj-escape-XXXXXX").string();
    Dir = mkdtemp(&Tmpl[0]);
  }
  ~EscapedMessages() override { fs::remove_all(Dir); }
  std::string write(const std::string &Name, const std::string &Bytes) {
    std::string P = Dir + "/" + Name;
    std::ofstream(P, std::ios::binary) << Bytes;
    return P;
  }
  std::string Dir;
};

TEST_F(EscapedMessages, MissingFileWithRawBytesInItsPath) {
  adj_rt_tensor T{};
  std::string P = Dir + "/no\x1b[2Jsuch\xff.npy";
  ASSERT_NE(adj_rt_load_npy(P.c_str(), ADJ_RT_F32, 1, &T), 0);
  std::string E = adj_rt_last_error();
  EXPECT_NE(E.find("no\\x1b[2Jsuch\\xff.npy"), std::string::npos) << E;
  EXPECT_TRUE(printable(E)) << E;
}

TEST_F(EscapedMessages, CsvCellAndColumnNames) {
  adj_rt_tensor T{};
  std::string P = write("cells.csv", "a,b\n1,2\n3,\x1b]0;x\x07\xfe\n");
  ASSERT_NE(adj_rt_load_csv(P.c_str(), ADJ_RT_F32, 1, nullptr, -1, &T), 0);
  std::string E = adj_rt_last_error();
  EXPECT_NE(E.find("row 3, column 2: '\\x1b]0;x\\x07\\xfe' is not a number"),
            std::string::npos)
      << E;
  EXPECT_TRUE(printable(E)) << E;
  P = write("cols.csv", "a\x9b,b\x01\n1,2\n");
  ASSERT_NE(adj_rt_load_csv(P.c_str(), ADJ_RT_F32, 1, "c", 1, &T), 0);
  E = adj_rt_last_error();
  EXPECT_NE(E.find("(columns: a\\x9b, b\\x01)"), std::string::npos) << E;
}

/// A safetensors file holding one F32 scalar tensor named \p Name, with
/// metadata model = \p Model.
std::string safetensors(const std::string &Name, const std::string &Model) {
  std::string Header = "{\"__metadata__\":{\"model\":\"" + Model + "\"},\"" +
                       Name +
                       "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":"
                       "[0,4]}}";
  while (Header.size() % 8)
    Header += ' ';
  std::string Out(8, '\0');
  uint64_t N = Header.size();
  for (int I = 0; I < 8; ++I)
    Out[I] = char(N >> (8 * I));
  return Out + Header + std::string(4, '\0');
}

TEST_F(EscapedMessages, SafetensorsTensorNameWithRawBytes) {
  // JSON escapes (\u001b, \u0007) the parser turns into raw control bytes.
  std::string P =
      write("bad.safetensors", safetensors("w\\u001b[31m\\u0007", "m\\u0000"));
  float X = 0;
  int64_t Dims[1] = {0};
  adj_rt_named_tensor T = {"v", ADJ_RT_F32, 0, Dims, &X};
  ASSERT_NE(adj_rt_load_checkpoint(P.c_str(), 1, &T), 0);
  std::string E = adj_rt_last_error();
  EXPECT_NE(E.find("no tensor 'v'"), std::string::npos) << E;
  T.name = "w\x1b[31m\x07"; // the name as the file holds it
  ASSERT_EQ(adj_rt_load_checkpoint(P.c_str(), 1, &T), 0) << adj_rt_last_error();
  // The model wants "w": the file's tensor is unknown, named escaped.
  adj_rt_named_tensor Two[2] = {{"w", ADJ_RT_F32, 0, Dims, &X},
                                {"w\x1b[31m\x07", ADJ_RT_F32, 0, Dims, &X}};
  ASSERT_EQ(adj_rt_save_checkpoint(P.c_str(), 2, Two, 0, nullptr), 0)
      << adj_rt_last_error();
  ASSERT_NE(adj_rt_load_checkpoint(P.c_str(), 1, Two), 0);
  E = adj_rt_last_error();
  EXPECT_NE(E.find("unknown tensor 'w\\x1b[31m\\x07'"), std::string::npos) << E;
  EXPECT_TRUE(printable(E)) << E;
  // Raw invalid UTF-8 in the header: refused, the message printable.
  P = write("raw.safetensors", safetensors("w\xff\xfe", "m"));
  ASSERT_NE(adj_rt_load_checkpoint(P.c_str(), 1, &T), 0);
  E = adj_rt_last_error();
  EXPECT_NE(E.find("header is not valid UTF-8"), std::string::npos) << E;
  EXPECT_TRUE(printable(E)) << E;
}

} // namespace
