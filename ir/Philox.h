//===- Philox.h - Philox-4x32-10 and the dropout mask, in plain C++ -*- C++
//-*-//
///
/// The counter-based generator of the `dropout` op: Philox-4x32-10 (Salmon,
/// Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC
/// 2011; the generator of Random123, JAX and PyTorch's CUDA dropout). A
/// block of four 32-bit words is a pure function of a 128-bit counter and a
/// 64-bit key, so any element can be drawn alone, by any thread, in any
/// order. This scalar reference is what codegen/Dropout.cpp vectorises and
/// what the tests check it against (and against Random123's known-answer
/// vectors). The dropout layout, with i the row-major element index:
///
///   key     = (seed, id)                    seed: the i32 operand's bits
///   counter = (i / 4 mod 2^32, i / 4 >> 32, step, 0)
///   word    = block[i % 4]
///   keep    = (word >> 8) * 2^-24 >= p,  i.e. (word >> 8) >= ceil(p 2^24)
///
/// step is the float operand rounded toward zero to an integer (saturating,
/// NaN to 0) and taken modulo 2^32; id is the op's attribute. A kept element
/// is x * (1 / (1 - p)) with 1 - p and the quotient rounded to x's type; a
/// dropped one is x * 0.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_PHILOX_H
#define ADJ_IR_PHILOX_H

#include <array>
#include <cmath>
#include <cstdint>

namespace adj::philox {

/// The round multipliers and the Weyl key increments (Random123's
/// PHILOX_M4x32_0/1 and PHILOX_W32_0/1).
constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;
constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
constexpr unsigned kRounds = 10;

using Block = std::array<uint32_t, 4>;
using Key = std::array<uint32_t, 2>;

/// Philox-4x32-10 of counter \p C under key \p K.
inline Block philox4x32(Block C, Key K) {
  for (unsigned R = 0; R < kRounds; ++R) {
    if (R) {
      K[0] += kW0;
      K[1] += kW1;
    }
    uint64_t P0 = uint64_t(kM0) * C[0], P1 = uint64_t(kM1) * C[2];
    C = {uint32_t(P1 >> 32) ^ C[1] ^ K[0], uint32_t(P1),
         uint32_t(P0 >> 32) ^ C[3] ^ K[1], uint32_t(P0)};
  }
  return C;
}

/// The integer step of a float `step` operand: toward zero, saturating to
/// int64 (NaN to 0, as llvm.fptosi.sat), modulo 2^32.
inline uint32_t stepWord(double Step) {
  if (std::isnan(Step))
    return 0;
  if (Step >= 9223372036854775807.0)
    return uint32_t(INT64_MAX);
  if (Step <= -9223372036854775808.0)
    return uint32_t(INT64_MIN);
  return uint32_t(uint64_t(int64_t(Step)));
}

/// The random word of element \p I of dropout op \p Id at \p Step.
inline uint32_t dropoutWord(uint32_t Seed, uint32_t Id, uint32_t Step,
                            uint64_t I) {
  uint64_t Blk = I / 4;
  return philox4x32({uint32_t(Blk), uint32_t(Blk >> 32), Step, 0},
                    {Seed, Id})[I % 4];
}

/// ceil(p * 2^24): element kept iff (word >> 8) >= this (0 <= p < 1).
inline uint32_t dropoutThreshold(double P) {
  return uint32_t(std::ceil(P * 16777216.0));
}

/// Whether element \p I is kept (see the file comment).
inline bool dropoutKeep(uint32_t Seed, uint32_t Id, uint32_t Step, uint64_t I,
                        double P) {
  return (dropoutWord(Seed, Id, Step, I) >> 8) >= dropoutThreshold(P);
}

/// The scale of kept elements in element type \p T (float or double):
/// 1 / (1 - p) with 1 - p rounded to T first, as PyTorch's
/// `noise.div_(1 - p)`.
template <typename T> T dropoutScale(double P) { return T(1) / T(1 - P); }

} // namespace adj::philox

#endif
