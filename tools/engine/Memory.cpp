//===- Memory.cpp - Parameter sizes against the machine's memory ----------===//
///
/// Sums the bytes of each parameter (elements times the element size, with
/// overflow checks) and compares them with sysconf's physical memory; see
/// Memory.h.
///
//===----------------------------------------------------------------------===//
#include "tools/engine/Memory.h"

#include "runtime/adjoint_rt.h"

#include <fmt/format.h>

namespace adj {

uint64_t physicalMemoryBytes() { return adj_rt_physical_memory(); }

std::string groupDigits(uint64_t V) {
  std::string S = std::to_string(V), Out;
  for (size_t I = 0; I < S.size(); ++I) {
    if (I && (S.size() - I) % 3 == 0)
      Out += ',';
    Out += S[I];
  }
  return Out;
}

/// The bytes of \p P's values; false when they overflow 64 bits.
static bool paramBytes(const ParamSpec &P, bool F64, uint64_t &Bytes) {
  Bytes = F64 ? 8 : dtypeBytes(P.Type.Elt);
  for (int64_t D : P.Type.Dims) {
    if (D < 0)
      continue; // no batch dim in a parameter; nothing to size
    if (__builtin_mul_overflow(Bytes, uint64_t(D), &Bytes))
      return false;
  }
  return true;
}

bool checkParamMemory(const ModelSpec &Spec, DiagEngine &Diags, bool F64) {
  uint64_t Memory = physicalMemoryBytes();
  if (Memory == 0)
    return true;
  std::string Of =
      fmt::format("the {} bytes of this machine's memory", groupDigits(Memory));
  const char *As = F64 ? " as f64 (the gradient check)" : "";
  uint64_t Total = 0;
  const ParamSpec *Largest = nullptr;
  uint64_t LargestBytes = 0;
  bool Ok = true, TotalOverflows = false;
  for (const ParamSpec &P : Spec.Params) {
    std::string What = fmt::format(
        "{} '{}' {}", P.Buffer ? "buffer" : "parameter", P.Name, P.Type.str());
    uint64_t Bytes;
    if (!paramBytes(P, F64, Bytes)) {
      Diags.error(P.L, fmt::format("{} needs more than 2^64 bytes{}, more "
                                   "than {}",
                                   What, As, Of));
      Ok = false;
      continue;
    }
    if (Bytes > Memory) {
      Diags.error(P.L, fmt::format("{} needs {} bytes{}, more than {}", What,
                                   groupDigits(Bytes), As, Of));
      Ok = false;
      continue;
    }
    if (__builtin_add_overflow(Total, Bytes, &Total))
      TotalOverflows = true;
    if (!Largest || Bytes > LargestBytes) {
      Largest = &P;
      LargestBytes = Bytes;
    }
  }
  if (Ok && Largest && (TotalOverflows || Total > Memory)) {
    Diags.error(Largest->L,
                fmt::format("the parameters need {} bytes together{} (the "
                            "largest, '{}', declared here), more than {}",
                            TotalOverflows ? std::string("more than 2^64")
                                           : groupDigits(Total),
                            As, Largest->Name, Of));
    Ok = false;
  }
  return Ok;
}

} // namespace adj
