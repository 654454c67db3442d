//===- Checkpoint.h - Reading and writing safetensors files ---------------===//
///
/// \file
/// The checkpoint format of the design: safetensors. writeCheckpoint()
/// writes one atomically; CheckpointFile reads one into memory and validates
/// all of it before anything is used, so that a loader can check names and
/// shapes against the model and only then copy.
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_CHECKPOINT_H
#define ADJOINT_RUNTIME_CHECKPOINT_H

#include "runtime/Internal.h"

#include <nlohmann/json_fwd.hpp>

#include <map>

namespace adj::rt {

/// A tensor to write, its data in memory.
struct TensorRef {
  std::string Name;
  adj_rt_dtype DType = ADJ_RT_F32;
  std::vector<int64_t> Shape;
  const void *Data = nullptr;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

/// Writes `tensors` in order after a header holding `metadata`.
int writeCheckpoint(const char *path, const std::vector<TensorRef> &tensors,
                    const Metadata &metadata);

/// "[784, 128]".
std::string shapeString(const std::vector<int64_t> &shape);

/// A safetensors file, validated and held in memory.
class CheckpointFile {
public:
  struct Entry {
    std::string Name;
    std::string DType; ///< "F32", "BF16", ...
    std::vector<int64_t> Shape;
    uint64_t Begin = 0, End = 0; ///< in the data section
  };

  /// Reads `path` and checks its structure: header size, UTF-8 JSON object
  /// without duplicate keys, string metadata, known dtypes, shapes that fit
  /// their byte ranges, and byte ranges that tile the data section exactly.
  int read(const char *path);
  /// "'path'".
  const std::string &name() const { return Name; }
  const std::vector<Entry> &entries() const { return Entries; }
  const Entry *find(const std::string &tensor) const;
  const std::map<std::string, std::string> &metadata() const { return Meta; }
  /// Fails unless `e` has the shape `dims` and a dtype loadable as `dtype`
  /// (F32 and F64 convert into each other), naming the tensor.
  int check(const Entry &e, adj_rt_dtype dtype, int rank,
            const int64_t *dims) const;
  /// Copies the values of a check()ed entry into `dst` as `dtype`.
  void copy(const Entry &e, adj_rt_dtype dtype, void *dst) const;

private:
  int parseHeader(const std::string &text, uint64_t dataBytes);
  int parseEntry(const std::string &key, const nlohmann::json &value,
                 uint64_t dataBytes);
  int checkLayout(uint64_t dataBytes);

  std::string Name;
  std::vector<Entry> Entries;
  std::map<std::string, std::string> Meta;
  std::unique_ptr<void, FreeDeleter> Data;
};

} // namespace adj::rt

#endif // ADJOINT_RUNTIME_CHECKPOINT_H
