// rANS core shared by the CPU backend (and, later, the CUDA kernels).
//
// Format invariants (docs/FORMAT.md, rANS stream v1):
//   * lane state x is a uint32 in [L, 2^32) with L = 2^16 between symbols;
//   * renormalisation moves exactly one 16-bit word (L = 2^16, word = 16 bits,
//     so one shift always brings x back below the encoder's x_max);
//   * probability precision n in [1, 16]: frequencies sum to M = 2^n.
// The arithmetic is pure 32/64/128-bit integer code, so every compiler and
// every device produces the same bytes. The CUDA kernels (cuda_ext/csrc) include
// this file: what both sides run is marked EZ_HD.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define EZ_HD __host__ __device__ __forceinline__
#else
#define EZ_HD inline
#endif

namespace ez {

constexpr uint32_t kMaxLanes = 32;          // a stream has W in {1,2,4,8,16,32} lanes; symbol i -> lane i % W
constexpr uint32_t kStateLow = 1u << 16;     // L
constexpr uint32_t kMaxPrecision = 16;
constexpr int kLog2FracBits = 48;            // fixed-point log2 used by the table builder

// What the encoder needs for one symbol of one model.
struct EncSymbol {
  uint64_t x_max;      // freq * 2^(32 - precision): states at or above it flush a word first
  uint32_t rcp_lo;     // rcp = ceil(2^(32+s) / freq) < 2^34 with s = ceil(log2 freq),
  uint32_t rcp_hi;     //   split as rcp_hi * 2^32 + rcp_lo so that 64-bit products suffice
  uint32_t rcp_shift;  // s; then x / freq == (x * rcp) >> (32 + s) exactly for every x < 2^32
  uint32_t start;      // cumulative frequency below the symbol
  uint32_t freq;       // >= 1
  uint32_t cmpl_freq;  // M - freq
};

inline EncSymbol make_enc_symbol(uint32_t start, uint32_t freq, uint32_t precision) {
  // Exactness of the reciprocal (Alverson): with k = 32 + s and rcp = (2^k + e) / freq,
  // 0 <= e < freq <= 2^s, the error term x*e / (freq*2^k) stays below 1/freq for every x < 2^32.
  uint32_t s = 0;
  while ((1ull << s) < freq) ++s;
  EncSymbol e;
  const uint64_t rcp = ((1ull << (32 + s)) + freq - 1) / freq;
  e.rcp_lo = uint32_t(rcp);
  e.rcp_hi = uint32_t(rcp >> 32);
  e.rcp_shift = s;
  e.start = start;
  e.freq = freq;
  e.cmpl_freq = (1u << precision) - freq;
  e.x_max = uint64_t(freq) << (32 - precision);
  return e;
}

// x -> floor(x / freq) * M + (x mod freq) + start, written without a division.
EZ_HD uint32_t enc_step(uint32_t x, const EncSymbol& e) {
  // (x * rcp) >> 32 = x * rcp_hi + ((x * rcp_lo) >> 32), all below 2^36
  const uint64_t prod_hi = uint64_t(x) * e.rcp_hi + ((uint64_t(x) * e.rcp_lo) >> 32);
  const uint32_t q = uint32_t(prod_hi >> e.rcp_shift);
  return x + e.start + q * e.cmpl_freq;  // wraps only in intermediate terms; the result is < 2^32
}

// Inverse of enc_step: `bias` = slot - start, where slot = x mod M lies in the symbol's range.
EZ_HD uint32_t dec_step(uint32_t x, uint32_t freq, uint32_t bias, uint32_t precision) {
  return freq * (x >> precision) + bias;
}

// Escapes of the indexed model: entry k = value - offset outside [0, max_value) is
// coded as the escape entry max_value plus `raw`, the zigzag of its distance
// (below the support -> odd, at or above it -> even). True when k was escaped.
EZ_HD bool escape_entry(int64_t& k, int64_t max_value, uint64_t& raw) {
  if (k < 0) {
    raw = uint64_t(-2 * k - 1);
  } else if (k >= max_value) {
    raw = uint64_t(2 * (k - max_value));
  } else {
    return false;
  }
  k = max_value;
  return true;
}

// The entry k (value - offset) an escape payload stands for.
EZ_HD int64_t unescape_entry(uint64_t raw, int64_t max_value) {
  return (raw & 1) ? -int64_t((raw + 1) >> 1) : max_value + int64_t(raw >> 1);
}

// floor-ish log2(v) in Q48, by repeated squaring of the mantissa in Q62. Deterministic
// integer code: the Python reference (reference.log2_fixed) computes the same bits.
inline uint64_t log2_fixed(uint64_t v) {
  int k = 63 - __builtin_clzll(v);
  uint64_t m = v << (62 - k);  // mantissa in [1, 2) as Q62 (v <= 2^17 keeps this exact)
  uint64_t result = uint64_t(k) << kLog2FracBits;
  for (int bit = kLog2FracBits - 1; bit >= 0; --bit) {
    m = uint64_t((static_cast<unsigned __int128>(m) * m) >> 62);
    if (m >= (uint64_t(2) << 62)) {
      m >>= 1;
      result |= uint64_t(1) << bit;
    }
  }
  return result;
}

}  // namespace ez
