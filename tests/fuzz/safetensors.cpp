//===- safetensors.cpp - Fuzzing the safetensors readers ------------------===//
///
/// libFuzzer target: the input is a safetensors file. Both readers see it:
/// the frontend's header reader (pretrained(...) at compile time) and the
/// runtime's validating reader (checkpoints, --init-from), which then
/// checks and copies every entry it accepted, as F32 and as F64.
///
//===----------------------------------------------------------------------===//
#include "frontend/Safetensors.h"
#include "FuzzInput.h"
#include "runtime/Checkpoint.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string Path = adj::fuzz::writeInput("fuzz.safetensors", Data, Size);
  std::vector<adj::SafetensorsEntry> Header;
  std::string Err;
  adj::readSafetensorsHeader(Path, Header, Err);

  adj::rt::CheckpointFile File;
  if (File.read(Path.c_str()))
    return 0;
  for (const adj::rt::CheckpointFile::Entry &E : File.entries()) {
    for (adj_rt_dtype T : {ADJ_RT_F32, ADJ_RT_F64, ADJ_RT_I32}) {
      if (File.check(E, T, int(E.Shape.size()), E.Shape.data()))
        continue;
      // check() accepted the shape, so its element count fits the entry.
      size_t Count = 1;
      for (int64_t D : E.Shape)
        Count *= size_t(D);
      std::vector<double> Buf(Count ? Count : 1);
      File.copy(E, T, Buf.data());
    }
  }
  return 0;
}
