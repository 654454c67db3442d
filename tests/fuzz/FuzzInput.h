//===- FuzzInput.h - Fuzz inputs as files -----------------------*- C++ -*-===//
///
/// The readers under test take file paths, so each fuzz input is written to
/// an in-memory file (memfd_create) and read back through its
/// /proc/self/fd/N path: a file on disk would make the disk, not the
/// reader, the bottleneck. tempDir() is an empty private directory (removed
/// at exit) for what resolves paths relative to the input.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_FUZZ_FUZZINPUT_H
#define ADJ_TESTS_FUZZ_FUZZINPUT_H

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace adj::fuzz {

/// The process's empty temporary directory, created on first use.
inline const std::string &tempDir() {
  static const std::string Dir = [] {
    std::string T =
        (std::filesystem::temp_directory_path() / "adj-fuzz-XXXXXX").string();
    if (!mkdtemp(T.data()))
      std::abort();
    static std::string Remove = T;
    std::atexit([] { std::filesystem::remove_all(Remove); });
    return T;
  }();
  return Dir;
}

/// Makes \p Size bytes at \p Data the contents of the in-memory file \p Name
/// (one per name and process) and returns a path that opens it.
inline std::string writeInput(const std::string &Name, const uint8_t *Data,
                              size_t Size) {
  static std::map<std::string, int> Files;
  int &Fd = Files[Name];
  if (!Fd && (Fd = memfd_create(Name.c_str(), 0)) < 0)
    std::abort();
  if (ftruncate(Fd, 0) != 0)
    std::abort();
  for (size_t Done = 0; Done < Size;) {
    ssize_t N = pwrite(Fd, Data + Done, Size - Done, off_t(Done));
    if (N <= 0)
      std::abort();
    Done += size_t(N);
  }
  return "/proc/self/fd/" + std::to_string(Fd);
}

} // namespace adj::fuzz

#endif
