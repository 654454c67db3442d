//===- Init.cpp - Random numbers and parameter initialisers ---------------===//
///
/// \file
/// The runtime's one random number generator, xoshiro256** seeded through
/// splitmix64 (Blackman and Vigna), and the parameter initialisers of the
/// model language with PyTorch's semantics:
///
///   glorot_uniform  U(-a, a), a = sqrt(6 / (fan_in + fan_out))
///   glorot_normal   N(0, std), std = sqrt(2 / (fan_in + fan_out))
///   he_uniform      U(-a, a), a = sqrt(6 / fan_in)
///   he_normal       N(0, std), std = sqrt(2 / fan_in)
///   kaiming_uniform U(-a, a), a = 1 / sqrt(fan_in)  (also uniform_fan_in)
///
/// Normals come from the Box-Muller transform. Everything is a pure function
/// of the seed, so a run is reproducible on every machine.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cmath>
#include <cstring>

namespace adj::rt {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Rng::Rng(uint64_t seed) {
  for (uint64_t &s : S) {
    seed += 0x9E3779B97F4A7C15ull;
    s = mix64(seed);
  }
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next() {
  uint64_t result = rotl(S[1] * 5, 7) * 9;
  uint64_t t = S[1] << 17;
  S[2] ^= S[0];
  S[3] ^= S[1];
  S[1] ^= S[2];
  S[0] ^= S[3];
  S[2] ^= t;
  S[3] = rotl(S[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t bound) {
  // Lemire's nearly divisionless method.
  __uint128_t m = __uint128_t(next()) * bound;
  uint64_t low = uint64_t(m);
  if (low < bound) {
    uint64_t threshold = -bound % bound;
    while (low < threshold) {
      m = __uint128_t(next()) * bound;
      low = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

double Rng::normal() {
  if (HasSpare) {
    HasSpare = false;
    return Spare;
  }
  double u1 = 1.0 - uniform(); // (0, 1]: log(u1) is finite
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  double theta = 2.0 * M_PI * u2;
  Spare = r * std::sin(theta);
  HasSpare = true;
  return r * std::cos(theta);
}

std::string Rng::state() const {
  std::string out = format("%016llx%016llx%016llx%016llx",
                           (unsigned long long)S[0], (unsigned long long)S[1],
                           (unsigned long long)S[2], (unsigned long long)S[3]);
  if (HasSpare) {
    uint64_t bits;
    std::memcpy(&bits, &Spare, 8);
    out += format(":%016llx", (unsigned long long)bits);
  }
  return out;
}

/// Parses exactly 16 hex digits at `p`.
static bool parseHex64(const char *p, uint64_t &out) {
  out = 0;
  for (int i = 0; i < 16; ++i) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return false;
    out = out << 4 | uint64_t(d);
  }
  return true;
}

bool Rng::setState(const std::string &text) {
  if (text.size() != 64 && (text.size() != 81 || text[64] != ':'))
    return false;
  uint64_t s[4], spare = 0;
  for (int i = 0; i < 4; ++i)
    if (!parseHex64(text.c_str() + 16 * i, s[i]))
      return false;
  if (text.size() == 81 && !parseHex64(text.c_str() + 65, spare))
    return false;
  if ((s[0] | s[1] | s[2] | s[3]) == 0) // xoshiro's one invalid state
    return false;
  std::memcpy(S, s, sizeof(S));
  HasSpare = text.size() == 81;
  std::memcpy(&Spare, &spare, 8);
  return true;
}

/// Weights are [in, out] (y = x @ w), so dims[0] is fan_in and dims[1]
/// fan_out. Higher ranks generalise this as [in, k1, ..., kr, out] (e.g.
/// convolution kernels [in_channels, kh, kw, out_channels]): with the
/// receptive field rf = prod(dims[1:-1]), fan_in = prod(dims[:-1]) = in * rf
/// and fan_out = dims[-1] * rf, as PyTorch computes them for its
/// [out, in, kh, kw] layout. A vector has fan_in = fan_out = dims[0] and a
/// scalar 1.
void computeFans(int rank, const int64_t *dims, int64_t &fanIn,
                 int64_t &fanOut) {
  if (rank <= 0) {
    fanIn = fanOut = 1;
    return;
  }
  if (rank == 1) {
    fanIn = fanOut = dims[0];
    return;
  }
  int64_t field = 1;
  for (int i = 1; i < rank - 1; ++i)
    field *= dims[i];
  fanIn = dims[0] * field;
  fanOut = dims[rank - 1] * field;
}

} // namespace adj::rt

using namespace adj::rt;

extern "C" void adj_rt_fans(int rank, const int64_t *dims, int64_t *fan_in,
                            int64_t *fan_out) {
  int64_t in, out;
  computeFans(rank, dims, in, out);
  *fan_in = in;
  *fan_out = out;
}

template <typename T, typename Gen>
static void fillWith(void *data, int64_t count, Gen gen) {
  T *p = static_cast<T *>(data);
  for (int64_t i = 0; i < count; ++i)
    p[i] = T(gen());
}

template <typename T>
static void fill(T *data, int64_t count, adj_rt_init init, double a, double b,
                 int64_t fanIn, int64_t fanOut, uint64_t seed) {
  Rng rng(seed);
  auto uniformIn = [&](double lo, double hi) {
    fillWith<T>(data, count, [&] { return lo + (hi - lo) * rng.uniform(); });
  };
  auto normalWith = [&](double mean, double std) {
    fillWith<T>(data, count, [&] { return mean + std * rng.normal(); });
  };
  // Guard the divisions against empty shapes (count is then 0 anyway).
  double in = double(fanIn > 0 ? fanIn : 1);
  double sum = double(fanIn + fanOut > 0 ? fanIn + fanOut : 1);
  switch (init) {
  case ADJ_RT_INIT_ZEROS:
    return fillWith<T>(data, count, [] { return 0.0; });
  case ADJ_RT_INIT_ONES:
    return fillWith<T>(data, count, [] { return 1.0; });
  case ADJ_RT_INIT_CONSTANT:
    return fillWith<T>(data, count, [&] { return a; });
  case ADJ_RT_INIT_NORMAL:
    return normalWith(a, b);
  case ADJ_RT_INIT_UNIFORM:
    return uniformIn(a, b);
  case ADJ_RT_INIT_GLOROT_UNIFORM: {
    double bound = std::sqrt(6.0 / sum);
    return uniformIn(-bound, bound);
  }
  case ADJ_RT_INIT_GLOROT_NORMAL:
    return normalWith(0, std::sqrt(2.0 / sum));
  case ADJ_RT_INIT_HE_NORMAL:
    return normalWith(0, std::sqrt(2.0 / in));
  case ADJ_RT_INIT_HE_UNIFORM: {
    double bound = std::sqrt(6.0 / in);
    return uniformIn(-bound, bound);
  }
  case ADJ_RT_INIT_KAIMING_UNIFORM:
  case ADJ_RT_INIT_UNIFORM_FAN_IN: {
    double bound = 1.0 / std::sqrt(in);
    return uniformIn(-bound, bound);
  }
  case ADJ_RT_INIT_PRETRAINED: // loaded from its file by initParams
    break;
  }
  fillWith<T>(data, count, [] { return 0.0; });
}

extern "C" void adj_rt_init_fill(void *data, int is_f64, int64_t count,
                                 adj_rt_init init, double a, double b,
                                 int64_t fan_in, int64_t fan_out,
                                 uint64_t seed) {
  if (!data || count <= 0)
    return;
  if (is_f64)
    return fill(static_cast<double *>(data), count, init, a, b, fan_in, fan_out,
                seed);
  fill(static_cast<float *>(data), count, init, a, b, fan_in, fan_out, seed);
}
