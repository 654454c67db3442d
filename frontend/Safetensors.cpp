//===- Safetensors.cpp - A tensor's type in a safetensors file ------------===//
///
/// The header is an 8-byte little-endian length N and N bytes of JSON
/// mapping names to {"dtype", "shape", "data_offsets"} (and "__metadata__").
/// Entries are returned in the order of their data offsets, the order the
/// writer laid them out in.
///
//===----------------------------------------------------------------------===//
#include "frontend/Safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace adj {

bool readSafetensorsHeader(const std::string &Path,
                           std::vector<SafetensorsEntry> &Out,
                           std::string &Err) {
  std::ifstream In(Path, std::ios::binary);
  if (!In) {
    Err = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  unsigned char Len[8];
  if (!In.read(reinterpret_cast<char *>(Len), 8)) {
    Err = "not a safetensors file (shorter than 8 bytes)";
    return false;
  }
  uint64_t N = 0;
  for (int I = 7; I >= 0; --I)
    N = N << 8 | Len[I];
  std::string Text(N <= 100'000'000 ? size_t(N) : 0, '\0');
  if (N > 100'000'000 || !In.read(Text.data(), std::streamsize(N))) {
    Err = "not a safetensors file (bad header length)";
    return false;
  }
  nlohmann::json H = nlohmann::json::parse(Text, nullptr, false);
  if (!H.is_object()) {
    Err = "not a safetensors file (the header is no JSON object)";
    return false;
  }
  std::vector<std::pair<uint64_t, SafetensorsEntry>> Sorted;
  for (const auto &[Key, V] : H.items()) {
    if (Key == "__metadata__")
      continue;
    SafetensorsEntry E;
    E.Name = Key;
    if (!V.is_object() || !V.contains("dtype") || !V["dtype"].is_string() ||
        !V.contains("shape") || !V["shape"].is_array() ||
        !V.contains("data_offsets") || !V["data_offsets"].is_array() ||
        V["data_offsets"].empty() ||
        !V["data_offsets"][0].is_number_unsigned()) {
      Err = "malformed entry for tensor '" + Key + "'";
      return false;
    }
    E.DType = V["dtype"].get<std::string>();
    for (const auto &D : V["shape"]) {
      if (!D.is_number_unsigned()) {
        Err = "malformed shape of tensor '" + Key + "'";
        return false;
      }
      E.Shape.push_back(int64_t(D.get<uint64_t>()));
    }
    Sorted.push_back({V["data_offsets"][0].get<uint64_t>(), std::move(E)});
  }
  std::stable_sort(
      Sorted.begin(), Sorted.end(),
      [](const auto &A, const auto &B) { return A.first < B.first; });
  for (auto &[Offset, E] : Sorted)
    Out.push_back(std::move(E));
  return true;
}

} // namespace adj
