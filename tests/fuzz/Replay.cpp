//===- Replay.cpp - Running a fuzz target without libFuzzer ---------------===//
///
/// The main() of a fuzz target in builds without libFuzzer (g++): each
/// argument, a file or a directory of files, is read and passed to
/// LLVMFuzzerTestOneInput once; arguments starting with '-' (libFuzzer's
/// flags) are ignored. A finding crashes or aborts the process; otherwise
/// it prints how many inputs ran and exits 0.
///
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size);

namespace fs = std::filesystem;

static void runFile(const fs::path &P) {
  std::ifstream In(P, std::ios::binary);
  std::vector<uint8_t> Bytes((std::istreambuf_iterator<char>(In)),
                             std::istreambuf_iterator<char>());
  // Like libFuzzer: the target sees exactly the bytes, with no spare
  // capacity an overread could hit unnoticed.
  auto Copy = std::make_unique<uint8_t[]>(Bytes.size());
  std::copy(Bytes.begin(), Bytes.end(), Copy.get());
  LLVMFuzzerTestOneInput(Copy.get(), Bytes.size());
}

int main(int Argc, char **Argv) {
  int Count = 0;
  for (int I = 1; I < Argc; ++I) {
    if (Argv[I][0] == '-')
      continue;
    fs::path P(Argv[I]);
    std::vector<fs::path> Files;
    if (fs::is_directory(P)) {
      for (const fs::directory_entry &E : fs::directory_iterator(P))
        if (E.is_regular_file())
          Files.push_back(E.path());
      std::sort(Files.begin(), Files.end());
    } else {
      Files.push_back(P);
    }
    for (const fs::path &F : Files) {
      std::fprintf(stderr, "replay: %s\n", F.c_str());
      runFile(F);
      ++Count;
    }
  }
  std::printf("replayed %d input(s)\n", Count);
  return 0;
}
