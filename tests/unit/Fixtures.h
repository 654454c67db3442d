//===- Fixtures.h - The PyTorch reference fixtures of the tests -*- C++ -*-===//
///
/// tests/fixtures/*.json, written by scripts/torch_fixtures.py from PyTorch
/// in float64 and committed, so that the tests compare with PyTorch without
/// needing it. torchFixture("conv2d.json") parses a file once per test
/// binary; a missing or malformed file gives a discarded (non-object) value,
/// which the tests assert against with the file's name.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_FIXTURES_H
#define ADJ_TESTS_FIXTURES_H

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace adj::test {

inline const nlohmann::json &torchFixture(const std::string &File) {
  static std::map<std::string, nlohmann::json> Cache;
  auto It = Cache.find(File);
  if (It == Cache.end()) {
    std::ifstream In(ADJ_SOURCE_DIR "/tests/fixtures/" + File);
    It = Cache
             .emplace(File, nlohmann::json::parse(In, nullptr,
                                                  /*allow_exceptions=*/false))
             .first;
  }
  return It->second;
}

} // namespace adj::test

#endif
