//===- TestUtil.h - Helpers shared by the unit tests ------------*- C++ -*-===//
///
/// A temporary directory removed with its contents when the test ends, and
/// reading a whole file into a string.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_TESTUTIL_H
#define ADJ_TESTS_TESTUTIL_H

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

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

} // namespace adj::test

#endif
