//===- TestUtil.h - Helpers shared by the unit tests ------------*- C++ -*-===//
///
/// A temporary directory removed with its contents when the test ends,
/// reading a whole file into a string, and writing bytes to a file (plain
/// or gzipped).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_TESTUTIL_H
#define ADJ_TESTS_TESTUTIL_H

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>
#include <zlib.h>

namespace adj::test {

class TempDir {
public:
  TempDir() {
    std::string Tmpl =
        (std::filesystem::temp_directory_path() / "adj-test-XXXXXX").string();
    Path = mkdtemp(&Tmpl[0]);
  }
  ~TempDir() { std::filesystem::remove_all(Path); }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  std::string file(const std::string &Name) const {
    return (std::filesystem::path(Path) / Name).string();
  }
  const std::string &path() const { return Path; }
  /// Number of directory entries in it.
  size_t entries() const {
    return size_t(std::distance(std::filesystem::directory_iterator(Path),
                                std::filesystem::directory_iterator()));
  }

private:
  std::string Path;
};

inline std::string readFile(const std::string &Path) {
  std::ifstream In(Path, std::ios::binary);
  std::stringstream S;
  S << In.rdbuf();
  return S.str();
}

/// Writes \p Bytes to \p Path, gzip-compressed when \p Gz.
inline void writeBytes(const std::string &Path,
                       const std::vector<uint8_t> &Bytes, bool Gz) {
  if (Gz) {
    gzFile F = gzopen(Path.c_str(), "wb");
    ASSERT_NE(F, nullptr);
    ASSERT_EQ(gzwrite(F, Bytes.data(), unsigned(Bytes.size())),
              int(Bytes.size()));
    ASSERT_EQ(gzclose(F), Z_OK);
    return;
  }
  std::ofstream Out(Path, std::ios::binary);
  Out.write(reinterpret_cast<const char *>(Bytes.data()),
            std::streamsize(Bytes.size()));
  ASSERT_TRUE(Out.good());
}

} // namespace adj::test

#endif
