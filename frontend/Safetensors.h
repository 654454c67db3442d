//===- Safetensors.h - A tensor's type in a safetensors file ----*- C++ -*-===//
///
/// What the `pretrained("file.safetensors", "name")` initialiser checks at
/// compile time: that the file is a safetensors file holding the tensor, and
/// its dtype and shape. Only the header is read; the runtime loads (and
/// validates) the values when it initialises the parameter.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_SAFETENSORS_H
#define ADJ_FRONTEND_SAFETENSORS_H

#include <cstdint>
#include <string>
#include <vector>

namespace adj {

struct SafetensorsEntry {
  std::string Name;
  std::string DType; ///< "F32", "I64", ...
  std::vector<int64_t> Shape;
};

/// Reads the header of the safetensors file \p Path into \p Out (in file
/// order); false with a message (without the path) in \p Err when the file
/// cannot be read or its header is malformed.
bool readSafetensorsHeader(const std::string &Path,
                           std::vector<SafetensorsEntry> &Out,
                           std::string &Err);

} // namespace adj

#endif
