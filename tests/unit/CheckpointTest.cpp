//===- CheckpointTest.cpp - Tests of safetensors checkpoints --------------===//
///
/// \file
/// adj_rt_save_checkpoint and adj_rt_load_checkpoint: the round trip, the
/// layout the safetensors format fixes, a corpus of malformed files (each
/// rejected with a message naming the file, and the tensor where there is
/// one, without writing to the destination buffers), and atomic writes: a
/// failed write or a writer killed with SIGKILL mid-write leaves the old
/// checkpoint byte for byte.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

using adj::test::TempDir;

using adj::test::readFile;

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    s += char(v >> (8 * i));
  return s;
}

/// A safetensors file: the header's length, the header, the data.
std::string safetensors(const std::string &header, const std::string &data) {
  return le64(header.size()) + header + data;
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

const int64_t TwoByThree[] = {2, 3};
const int64_t Three[] = {3};

//===--- Round trip -------------------------------------------------------===//

TEST(CheckpointFormat, RoundTripsTensorsAndMetadata) {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  float w[6] = {1, -2, 3.5f, 4, 5, 6e-8f};
  double v[3] = {0.1, -0.2, 1e30};
  int32_t n = -7;
  adj_rt_named_tensor t[] = {{"w", ADJ_RT_F32, 2, TwoByThree, w},
                             {"opt.m.w", ADJ_RT_F64, 1, Three, v},
                             {"count", ADJ_RT_I32, 0, nullptr, &n}};
  const char *meta[] = {"format", "adjoint-1", "note", "caf\xC3\xA9 \"q\""};
  ASSERT_EQ(adj_rt_save_checkpoint(path.c_str(), 3, t, 2, meta), 0)
      << adj_rt_last_error();

  // The layout: 8-byte little-endian length, a space-padded JSON header of
  // a multiple of 8 bytes, the tensors' bytes in order.
  std::string bytes = readFile(path);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i)
    len = len << 8 | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ(len % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + len + 24 + 24 + 4);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, len));
  EXPECT_EQ(h["__metadata__"]["format"], "adjoint-1");
  EXPECT_EQ(h["__metadata__"]["note"], "caf\xC3\xA9 \"q\"");
  EXPECT_EQ(h["w"]["dtype"], "F32");
  EXPECT_EQ(h["w"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(h["w"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(h["opt.m.w"]["dtype"], "F64");
  EXPECT_EQ(h["opt.m.w"]["data_offsets"], nlohmann::json({24, 48}));
  EXPECT_EQ(h["count"]["dtype"], "I32");
  EXPECT_EQ(h["count"]["shape"], nlohmann::json::array());
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + len, w, 24), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + len + 24, v, 24), 0);

  // Back, in any order; F32 and F64 convert into each other.
  double w64[6];
  float v32[3];
  int32_t n2 = 0;
  adj_rt_named_tensor back[] = {{"count", ADJ_RT_I32, 0, nullptr, &n2},
                                {"opt.m.w", ADJ_RT_F32, 1, Three, v32},
                                {"w", ADJ_RT_F64, 2, TwoByThree, w64}};
  ASSERT_EQ(adj_rt_load_checkpoint(path.c_str(), 3, back), 0)
      << adj_rt_last_error();
  EXPECT_EQ(n2, -7);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(w64[i], double(w[i]));
  EXPECT_EQ(v32[0], 0.1f);
  EXPECT_EQ(v32[1], -0.2f);
  EXPECT_EQ(v32[2], 1e30f);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(CheckpointFormat, RejectsNonFiniteValues) {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  float w[6] = {1, 2, 3, 4, NAN, -INFINITY};
  double v[3] = {0.1, -1e300, 1};
  adj_rt_named_tensor t[] = {{"w", ADJ_RT_F32, 2, TwoByThree, w},
                             {"v", ADJ_RT_F64, 1, Three, v}};
  ASSERT_EQ(adj_rt_save_checkpoint(path.c_str(), 2, t, 0, nullptr), 0);
  float w2[6] = {};
  double v64[3] = {};
  float v32[3] = {};
  adj_rt_named_tensor back[] = {{"w", ADJ_RT_F32, 2, TwoByThree, w2},
                                {"v", ADJ_RT_F64, 1, Three, v64}};
  EXPECT_EQ(adj_rt_load_checkpoint(path.c_str(), 2, back), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + path +
                "': tensor 'w': value nan at index 4 is not a finite number");
  EXPECT_EQ(w2[0], 0) << "nothing is copied";
  // Finite in the file, but not as f32.
  w[4] = w[5] = 0;
  ASSERT_EQ(adj_rt_save_checkpoint(path.c_str(), 2, t, 0, nullptr), 0);
  ASSERT_EQ(adj_rt_load_checkpoint(path.c_str(), 2, back), 0)
      << adj_rt_last_error();
  back[1] = {"v", ADJ_RT_F32, 1, Three, v32};
  EXPECT_EQ(adj_rt_load_checkpoint(path.c_str(), 2, back), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + path +
                "': tensor 'v': value -1e+300 at index 1 overflows f32");
}

TEST(CheckpointFormat, RejectsBadArguments) {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  float w[6] = {};
  adj_rt_named_tensor twice[] = {{"w", ADJ_RT_F32, 2, TwoByThree, w},
                                 {"w", ADJ_RT_F32, 2, TwoByThree, w}};
  EXPECT_EQ(adj_rt_save_checkpoint(path.c_str(), 2, twice, 0, nullptr), 1);
  EXPECT_TRUE(contains(adj_rt_last_error(), "repeated")) << adj_rt_last_error();
  adj_rt_named_tensor reserved[] = {
      {"__metadata__", ADJ_RT_F32, 0, nullptr, w}};
  EXPECT_EQ(adj_rt_save_checkpoint(path.c_str(), 1, reserved, 0, nullptr), 1);
  EXPECT_FALSE(fs::exists(path));

  std::string missing = dir.file("no/such/dir/ck.safetensors");
  EXPECT_EQ(adj_rt_save_checkpoint(missing.c_str(), 1, twice, 0, nullptr), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + missing +
                "': cannot write checkpoint: No such file or directory");
}

//===--- Malformed files --------------------------------------------------===//

/// The model the corpus is loaded into: w f32[2, 3] and b f32[3].
struct Target {
  float W[6], B[3];
  adj_rt_named_tensor T[2] = {{"w", ADJ_RT_F32, 2, TwoByThree, W},
                              {"b", ADJ_RT_F32, 1, Three, B}};
  Target() {
    std::fill(std::begin(W), std::end(W), 42.0f);
    std::fill(std::begin(B), std::end(B), 42.0f);
  }
  bool untouched() const {
    for (float v : W)
      if (v != 42.0f)
        return false;
    for (float v : B)
      if (v != 42.0f)
        return false;
    return true;
  }
};

/// A header entry.
std::string entry(const std::string &name, const std::string &dtype,
                  const std::string &shape, uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(end) + "]}";
}

const std::string W = entry("w", "F32", "[2,3]", 0, 24);
const std::string B = entry("b", "F32", "[3]", 24, 36);
const std::string Data36(36, '\x01');

TEST(CheckpointFormat, LoadsTheBaseOfTheCorpus) {
  TempDir dir;
  std::string path = dir.file("ok.safetensors");
  writeFile(path, safetensors("{" + W + "," + B + "}", Data36));
  Target t;
  ASSERT_EQ(adj_rt_load_checkpoint(path.c_str(), 2, t.T), 0)
      << adj_rt_last_error();
  EXPECT_FALSE(t.untouched());
}

TEST(CheckpointFormat, RejectsMalformedFiles) {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  std::string header = "{" + W + "," + B + "}";
  struct Case {
    const char *What;
    std::string Bytes;
    std::string Message; ///< after "'path': "
  };
  std::vector<Case> cases = {
      {"empty", "",
       "not a safetensors file (0 bytes, shorter than the 8-byte header "
       "length)"},
      {"truncated length", std::string("\x10\0\0", 3),
       "not a safetensors file (3 bytes, shorter than the 8-byte header "
       "length)"},
      {"length past the end", le64(header.size() + 37) + header + Data36,
       "header length " + std::to_string(header.size() + 37) +
           " exceeds the file size (" + std::to_string(8 + header.size() + 36) +
           " bytes)"},
      {"huge length", le64(uint64_t(1) << 40) + header,
       "header length 1099511627776 exceeds the limit of 100000000 bytes"},
      {"length 2^64-1", le64(~uint64_t(0)) + header,
       "header length 18446744073709551615 exceeds the limit of 100000000 "
       "bytes"},
      {"truncated data", safetensors(header, Data36.substr(0, 30)),
       "tensor 'b' data_offsets [24, 36] are out of bounds (the data section "
       "has 30 bytes)"},
      {"not json", safetensors("not json", ""),
       "header is not valid JSON: parse error at line 1, column 2"},
      {"truncated json", safetensors(header.substr(0, 20), ""),
       "header is not valid JSON"},
      {"json array", safetensors("[1,2]", ""), "header is not a JSON object"},
      {"bad utf-8", safetensors("{\"w\xFF\":1}", ""),
       "header is not valid UTF-8"},
      {"overlong utf-8", safetensors("{\"\xC0\xAF\":1}", ""),
       "header is not valid UTF-8"},
      {"duplicate key", safetensors("{" + W + "," + W + "," + B + "}", Data36),
       "header has the key 'w' twice"},
      {"unknown dtype",
       safetensors("{" + entry("w", "Q4", "[2,3]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' has an unknown dtype 'Q4'"},
      {"shape and bytes disagree",
       safetensors("{" + entry("w", "F32", "[2,4]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' of shape [2, 4] and dtype F32 needs 32 bytes, but "
       "data_offsets [0, 24] hold 24"},
      {"shape overflows",
       safetensors(
           "{" +
               entry("w", "F32", "[4294967296,4294967296,4294967296]", 0, 24) +
               "," + B + "}",
           Data36),
       "tensor 'w' has a shape too large to address"},
      {"negative dim",
       safetensors("{" + entry("w", "F32", "[-2,3]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' has an invalid shape (not a list of non-negative "
       "integers)"},
      {"float dim",
       safetensors("{" + entry("w", "F32", "[2.0,3]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' has an invalid shape"},
      {"offsets reversed",
       safetensors("{" + entry("w", "F32", "[2,3]", 24, 0) + "," + B + "}",
                   Data36),
       "tensor 'w' has invalid data_offsets (expected [begin, end] with "
       "begin <= end)"},
      {"no offsets",
       safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]}," + B + "}",
                   Data36),
       "tensor 'w' has invalid data_offsets"},
      {"unknown field",
       safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                   "\"data_offsets\":[0,24],\"x\":1}," +
                       B + "}",
                   Data36),
       "tensor 'w' has an unknown field 'x'"},
      {"entry not an object", safetensors("{\"w\":[1]," + B + "}", Data36),
       "tensor 'w' is not described by a JSON object"},
      {"overlapping",
       safetensors("{" + W + "," + entry("b", "F32", "[3]", 20, 32) + "}",
                   Data36.substr(0, 32)),
       "tensor 'b' overlaps tensor 'w'"},
      {"gap",
       safetensors("{" + W + "," + entry("b", "F32", "[3]", 28, 40) + "}",
                   Data36 + "1234"),
       "4 unused bytes before tensor 'b' (data offsets must be contiguous)"},
      {"gap at the start",
       safetensors("{" + entry("w", "F32", "[2,3]", 4, 28) + "," +
                       entry("b", "F32", "[3]", 28, 40) + "}",
                   Data36 + "1234"),
       "4 unused bytes before tensor 'w'"},
      {"out of bounds",
       safetensors("{" + W + "," + entry("b", "F32", "[3]", 1000, 1012) + "}",
                   Data36),
       "tensor 'b' data_offsets [1000, 1012] are out of bounds (the data "
       "section has 36 bytes)"},
      {"trailing bytes", safetensors(header, Data36 + "xy"),
       "2 unused bytes after the last tensor"},
      {"metadata not strings",
       safetensors("{\"__metadata__\":{\"step\":3}," + W + "," + B + "}",
                   Data36),
       "__metadata__ value 'step' is not a string"},
      {"metadata not an object",
       safetensors("{\"__metadata__\":[]," + W + "," + B + "}", Data36),
       "__metadata__ is not an object"},
      {"missing tensor", safetensors("{" + W + "}", Data36.substr(0, 24)),
       "no tensor 'b'"},
      {"wrong shape",
       safetensors("{" + entry("w", "F32", "[3,2]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' has shape [3, 2], the model expects [2, 3]"},
      {"wrong dtype",
       safetensors("{" + entry("w", "I32", "[2,3]", 0, 24) + "," + B + "}",
                   Data36),
       "tensor 'w' has dtype I32, the model expects F32"},
      {"half floats",
       safetensors("{" + entry("w", "BF16", "[2,3]", 0, 12) + "," +
                       entry("b", "F32", "[3]", 12, 24) + "}",
                   Data36.substr(0, 24)),
       "tensor 'w' has dtype BF16, the model expects F32"},
      {"extra tensor",
       safetensors("{" + W + "," + B + "," + entry("c", "F32", "[1]", 36, 40) +
                       "}",
                   Data36 + "abcd"),
       "unknown tensor 'c'"},
  };
  for (const Case &c : cases) {
    writeFile(path, c.Bytes);
    Target t;
    EXPECT_EQ(adj_rt_load_checkpoint(path.c_str(), 2, t.T), 1) << c.What;
    std::string error = adj_rt_last_error();
    std::string expected = "'" + path + "': " + c.Message;
    EXPECT_EQ(error.substr(0, expected.size()), expected) << c.What;
    EXPECT_TRUE(t.untouched()) << c.What;
  }

  Target t;
  std::string missing = dir.file("missing.safetensors");
  EXPECT_EQ(adj_rt_load_checkpoint(missing.c_str(), 2, t.T), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + missing + "': cannot open: No such file or directory");
  EXPECT_EQ(adj_rt_load_checkpoint(dir.path().c_str(), 2, t.T), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + dir.path() + "': cannot open: Is a directory");
}

//===--- Atomic writes ----------------------------------------------------===//

/// Saves a checkpoint of one f32 tensor of `count` values `fill`.
int saveFilled(const std::string &path, int64_t count, float fill) {
  std::vector<float> v(size_t(count), fill);
  adj_rt_named_tensor t = {"w", ADJ_RT_F32, 1, &count, v.data()};
  return adj_rt_save_checkpoint(path.c_str(), 1, &t, 0, nullptr);
}

TEST(CheckpointAtomic, AFailedWriteLeavesTheOldFile) {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  ASSERT_EQ(saveFilled(path, 16, 1), 0) << adj_rt_last_error();
  std::string old = readFile(path);

  // In a child limited to 1 MB files, saving 4 MB fails in the middle of
  // writing the temporary file.
  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &limit);
    int status = saveFilled(path, 1 << 20, 2);
    bool named =
        contains(adj_rt_last_error(), "'" + path +
                                          "': cannot write checkpoint: File "
                                          "too large");
    _exit(status == 1 && named ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(readFile(path), old);
  EXPECT_EQ(dir.entries(), 1u); // the temporary file is gone
}

TEST(CheckpointAtomic, AWriterKilledMidWriteLeavesTheOldFile) {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  ASSERT_EQ(saveFilled(path, 16, 1), 0) << adj_rt_last_error();
  std::string old = readFile(path);

  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0)
    _exit(saveFilled(path, int64_t(1) << 26, 2)); // 256 MB
  // Kill the child with SIGKILL as soon as its temporary file has data.
  bool sawTemporary = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!sawTemporary && std::chrono::steady_clock::now() < deadline) {
    for (const auto &e : fs::directory_iterator(dir.path())) {
      std::error_code ec;
      if (e.path().string() != path && fs::file_size(e.path(), ec) > 0 && !ec)
        sawTemporary = true;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid)
      break;
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::string now = readFile(path);
  ASSERT_TRUE(sawTemporary) << "the writer finished before it was killed";
  bool leftTemporary = dir.entries() == 2;
  if (leftTemporary) { // killed before the rename: the old file, intact
    EXPECT_EQ(now, old);
  } else { // renamed just before the kill: the complete new file
    int64_t count = int64_t(1) << 26;
    std::vector<float> v(static_cast<size_t>(count));
    adj_rt_named_tensor t = {"w", ADJ_RT_F32, 1, &count, v.data()};
    EXPECT_EQ(adj_rt_load_checkpoint(path.c_str(), 1, &t), 0)
        << adj_rt_last_error();
    EXPECT_EQ(v.back(), 2.0f);
    return;
  }
  // The old checkpoint still loads.
  std::vector<float> v(16);
  int64_t n = 16;
  adj_rt_named_tensor t = {"w", ADJ_RT_F32, 1, &n, v.data()};
  ASSERT_EQ(adj_rt_load_checkpoint(path.c_str(), 1, &t), 0)
      << adj_rt_last_error();
  EXPECT_EQ(v[15], 1.0f);
}

} // namespace
