// The CPU rANS coder without Python: tables, chunk encoder/decoder, threading.
// Included by the pybind11 module (rans_cpu.cpp) and by codecs that fuse their
// own work into chunk decoding (codecs/weights/csrc/float_split.cpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "rans_core.hpp"

namespace ez {

// Raised for streams that cannot be the output of the encoder with this model.
struct CorruptStream : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using u128 = unsigned __int128;

// ---------------------------------------------------------------- log table

// log2_fixed(f) for f in [1, 2^16 + 1], computed on first use of each f and kept
// (a full table costs ~15 ms; a model needs only the frequencies it holds).
// Only touched while the GIL is held (table construction), so no locking.
class Log2Table {
 public:
  uint64_t operator[](uint64_t f) {
    uint64_t& v = cache_[f];
    if (v == kUnset) v = log2_fixed(f);
    return v;
  }

 private:
  static constexpr uint64_t kUnset = ~uint64_t(0);
  std::vector<uint64_t> cache_ = std::vector<uint64_t>((1u << kMaxPrecision) + 2, kUnset);
};

inline Log2Table& log2_table() {
  static Log2Table table;
  return table;
}

// Cost of a symbol of frequency f at precision n, in 1/256 bits (Q8), rounded down.
inline uint64_t cost_q8(uint32_t f, uint32_t precision) {
  return ((uint64_t(precision) << kLog2FracBits) - log2_table()[f]) >> (kLog2FracBits - 8);
}

// ------------------------------------------------------- table quantisation

// Integer-only, deterministic quantisation of a histogram to frequencies summing
// to 2^precision that minimises sum_k counts[k] * -log2(freq[k] / 2^precision)
// (in Q48 fixed point). Every present symbol gets freq >= 1; absent ones get 0.
// Steps: proportional start, greedy fill by largest marginal gain, then exchanges
// (unit from the smallest marginal loss to the largest gain) while they pay.
// Ties go to the smaller symbol index. reference.quantize_counts is the same rule.
inline std::vector<uint32_t> quantize_counts_impl(const uint64_t* counts, size_t A, uint32_t precision) {
  if (precision < 1 || precision > kMaxPrecision) throw std::invalid_argument("precision must be in [1, 16]");
  const uint64_t M = uint64_t(1) << precision;
  auto& LOG = log2_table();
  u128 N = 0;
  uint64_t K = 0;
  for (size_t k = 0; k < A; ++k) {
    N += counts[k];
    K += counts[k] > 0;
  }
  if (K == 0) throw std::invalid_argument("histogram is empty: no symbol has a non-zero count");
  if (K > M)
    throw std::invalid_argument("alphabet of " + std::to_string(K) + " symbols does not fit precision " +
                                std::to_string(precision));
  std::vector<uint32_t> f(A, 0);
  const uint64_t R = M - K;
  uint64_t total = 0;
  for (size_t k = 0; k < A; ++k) {
    if (!counts[k]) continue;
    f[k] = uint32_t(1 + uint64_t(u128(counts[k]) * R / N));
    total += f[k];
  }
  struct Entry {
    u128 key;
    uint32_t k, f;
  };
  auto gain = [&](size_t k) { return u128(counts[k]) * (LOG[f[k] + 1] - LOG[f[k]]); };
  auto loss = [&](size_t k) { return u128(counts[k]) * (LOG[f[k]] - LOG[f[k] - 1]); };
  // max gain first, ties -> smaller k
  auto gain_less = [](const Entry& a, const Entry& b) { return a.key < b.key || (a.key == b.key && a.k > b.k); };
  // min loss first, ties -> smaller k
  auto loss_less = [](const Entry& a, const Entry& b) { return a.key > b.key || (a.key == b.key && a.k > b.k); };
  std::priority_queue<Entry, std::vector<Entry>, decltype(gain_less)> gains(gain_less);
  std::priority_queue<Entry, std::vector<Entry>, decltype(loss_less)> losses(loss_less);
  for (size_t k = 0; k < A; ++k)
    if (counts[k]) gains.push({gain(k), uint32_t(k), f[k]});
  for (; total < M; ++total) {
    Entry e = gains.top();
    gains.pop();
    ++f[e.k];
    gains.push({gain(e.k), e.k, f[e.k]});
  }
  for (size_t k = 0; k < A; ++k)
    if (counts[k] && f[k] >= 2) losses.push({loss(k), uint32_t(k), f[k]});
  while (true) {
    while (!gains.empty() && gains.top().f != f[gains.top().k]) gains.pop();
    while (!losses.empty() && losses.top().f != f[losses.top().k]) losses.pop();
    if (gains.empty() || losses.empty()) break;
    const Entry a = gains.top(), b = losses.top();
    if (a.k == b.k || !(a.key > b.key)) break;
    ++f[a.k];
    --f[b.k];
    gains.push({gain(a.k), a.k, f[a.k]});
    gains.push({gain(b.k), b.k, f[b.k]});
    losses.push({loss(a.k), a.k, f[a.k]});
    if (f[b.k] >= 2) losses.push({loss(b.k), b.k, f[b.k]});
  }
  return f;
}

// ------------------------------------------------------------- byte helpers

inline void put_u32(uint8_t* p, uint32_t v) {
  for (int b = 0; b < 4; ++b) p[b] = uint8_t(v >> (8 * b));
}
inline uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out.push_back(uint8_t(v));
}
// LEB128 with at most `max_bytes` bytes; false on truncation or overlong input.
inline bool get_varint(const uint8_t*& p, const uint8_t* end, uint64_t& v, int max_bytes) {
  v = 0;
  for (int b = 0; b < max_bytes; ++b) {
    if (p >= end) return false;
    uint8_t byte = *p++;
    v |= uint64_t(byte & 0x7F) << (7 * b);
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// Largest escape payload: zigzag of (value - offset) for int32 values and offsets < 2^34.
constexpr int kMaxEscapeVarintBytes = 5;

// ------------------------------------------------------------------ models

// One frequency table for every symbol. Symbol v codes as k = v - offset.
struct StaticTables {
  uint32_t precision;
  int64_t offset;
  std::vector<EncSymbol> enc;        // per symbol; freq == 0 marks an uncodable symbol
  std::vector<uint32_t> slot_fb;     // per slot (2^precision): (freq - 1) | (slot - start) << 16
  std::vector<int32_t> slot_value;   // per slot: the decoded value, offset + k
                                     // (both built by the first decode: encoders never need them)
  std::vector<uint64_t> cost;       // Q8 bits per symbol

  StaticTables(const uint32_t* freq, size_t A, uint32_t prec, int64_t off) : precision(prec), offset(off) {
    if (prec < 1 || prec > kMaxPrecision) throw std::invalid_argument("precision must be in [1, 16]");
    if (A == 0 || A > (size_t(1) << kMaxPrecision)) throw std::invalid_argument("alphabet size must be in [1, 65536]");
    uint64_t total = 0;
    for (size_t k = 0; k < A; ++k) total += freq[k];
    if (total != (uint64_t(1) << prec)) throw std::invalid_argument("frequencies must sum to 2^precision");
    enc.resize(A);
    cost.resize(A);
    for (uint32_t k = 0, start = 0; k < A; start += freq[k++]) {
      if (!freq[k]) continue;
      enc[k] = make_enc_symbol(start, freq[k], prec);
      cost[k] = cost_q8(freq[k], prec);
    }
  }

  // Called with the GIL held (from the decode bindings), so at most once at a time.
  void ensure_decode_tables() {
    if (!slot_fb.empty()) return;
    slot_fb.resize(size_t(1) << precision);
    slot_value.resize(size_t(1) << precision);
    for (uint32_t k = 0; k < enc.size(); ++k) {
      const EncSymbol& e = enc[k];
      for (uint32_t b = 0; b < e.freq; ++b) {
        slot_fb[e.start + b] = (e.freq - 1) | b << 16;
        slot_value[e.start + b] = int32_t(offset + int64_t(k));
      }
    }
  }

  // 0: codable; -1: value outside the alphabet or of zero probability.
  template <class Sym>
  struct Encoder {
    const StaticTables& t;
    const Sym* sym;
    int lookup(size_t i, const EncSymbol*& e, uint64_t&) const {
      const uint64_t k = uint64_t(int64_t(sym[i]) - t.offset);
      if (k >= t.enc.size() || !t.enc[k].freq) return -1;
      e = &t.enc[k];
      return 0;
    }
    uint64_t cost(size_t i) const {
      const EncSymbol* e;
      uint64_t raw;
      return lookup(i, e, raw) == 0 ? t.cost[size_t(e - t.enc.data())] : 0;
    }
  };
  // Writes values as Out (int32, or uint8 for alphabets inside [0, 255]).
  template <class OutT>
  struct Decoder {
    using Out = OutT;
    static constexpr bool kCanFail = false;  // every slot decodes; no escapes
    static constexpr bool kStatic = true;    // eligible for the AVX2 row decoder
    const uint32_t* fb;
    const int32_t* val;
    template <class Esc>
    int decode(size_t, uint32_t slot, uint32_t& fr, uint32_t& bias, Out& value, Esc&) const {
      const uint32_t v = fb[slot];
      fr = (v & 0xFFFF) + 1;
      bias = v >> 16;
      value = Out(val[slot]);
      return 0;
    }
  };
};

// A table of quantised CDFs (CompressAI semantics); each symbol carries an index.
// Row c has cdf_lengths[c] entries cdf[0] = 0 < ... < cdf[len-1] = 2^precision;
// coded indexes are 0 .. len-2, and index len-2 is the escape.
struct IndexedTables {
  static constexpr uint32_t kBucketBits = 8;
  uint32_t precision, bucket_bits, bucket_shift;
  std::vector<uint32_t> cdf;       // all rows, flattened
  std::vector<EncSymbol> enc;      // aligned with cdf
  std::vector<uint64_t> cost;      // Q8, aligned with cdf
  std::vector<uint16_t> bucket;    // per row 2^bucket_bits entries: first k whose range meets the bucket
  struct Row {
    uint32_t base;       // into cdf / enc / cost
    int32_t offset;
    uint32_t max_value;  // len - 2, the escape
  };
  std::vector<Row> rows;

  // cdfs: C rows of `width` entries; lengths and offsets: C entries each.
  IndexedTables(const int32_t* cdfs, size_t C, size_t width, const int32_t* lengths, const int32_t* offsets,
                uint32_t prec)
      : precision(prec) {
    if (prec < 1 || prec > kMaxPrecision) throw std::invalid_argument("precision must be in [1, 16]");
    if (C == 0) throw std::invalid_argument("cdfs must hold at least one row");
    bucket_bits = std::min(kBucketBits, prec);
    bucket_shift = prec - bucket_bits;
    const uint32_t M = 1u << prec;
    rows.resize(C);
    bucket.resize(C << bucket_bits);
    for (size_t c = 0; c < C; ++c) {
      const int32_t len = lengths[c];
      if (len < 2 || size_t(len) > width || len > int32_t(M) + 1)
        throw std::invalid_argument("cdf_lengths[" + std::to_string(c) + "] out of range");
      const int32_t* row = cdfs + c * width;
      if (row[0] != 0 || uint32_t(row[len - 1]) != M)
        throw std::invalid_argument("cdf row " + std::to_string(c) + " must start at 0 and end at 2^precision");
      rows[c] = {uint32_t(cdf.size()), offsets[c], uint32_t(len - 2)};
      for (int32_t k = 0; k < len; ++k) {
        if (k && row[k] <= row[k - 1])
          throw std::invalid_argument("cdf row " + std::to_string(c) + " must be strictly increasing");
        cdf.push_back(uint32_t(row[k]));
      }
    }
    enc.resize(cdf.size());
    cost.resize(cdf.size());
    for (size_t c = 0; c < C; ++c) {
      const uint32_t base = rows[c].base;
      const uint32_t* row = &cdf[base];
      for (uint32_t k = 0; k <= rows[c].max_value; ++k) {
        enc[base + k] = make_enc_symbol(row[k], row[k + 1] - row[k], prec);
        cost[base + k] = cost_q8(row[k + 1] - row[k], prec);
      }
      uint32_t k = 0;
      for (uint32_t b = 0; b < (1u << bucket_bits); ++b) {
        while (row[k + 1] <= (b << bucket_shift)) ++k;
        bucket[(c << bucket_bits) + b] = uint16_t(k);
      }
    }
  }

  // Escape payload: zigzag of the distance outside [0, len-2): below -> odd, above -> even.
  struct Encoder {
    const IndexedTables& t;
    const int32_t* sym;
    const int32_t* idx;
    // 0: in support; 1: escape (raw set); -2: index out of range.
    int lookup(size_t i, const EncSymbol*& e, uint64_t& raw) const {
      const uint32_t c = uint32_t(idx[i]);
      if (c >= t.rows.size()) return -2;
      const Row row = t.rows[c];
      int64_t k = int64_t(sym[i]) - row.offset;
      const int status = escape_entry(k, row.max_value, raw) ? 1 : 0;
      e = &t.enc[row.base + size_t(k)];
      return status;
    }
    uint64_t cost(size_t i) const {
      const EncSymbol* e;
      uint64_t raw = 0;
      int st = lookup(i, e, raw);
      if (st < 0) return 0;
      uint64_t bits = t.cost[size_t(e - t.enc.data())];
      if (st == 1) {
        int n = 1;
        while (raw >>= 7) ++n;
        bits += uint64_t(n) * 8 * 256;
      }
      return bits;
    }
  };
  struct Decoder {
    using Out = int32_t;
    static constexpr bool kCanFail = true;  // bad indexes, corrupt escapes
    static constexpr bool kStatic = false;
    const IndexedTables& t;
    const int32_t* idx;
    template <class Esc>
    int decode(size_t i, uint32_t slot, uint32_t& fr, uint32_t& bias, int32_t& value, Esc& esc) const {
      const uint32_t c = uint32_t(idx[i]);
      if (c >= t.rows.size()) return -2;
      const Row r = t.rows[c];
      const uint32_t* row = &t.cdf[r.base];
      uint32_t k = t.bucket[(size_t(c) << t.bucket_bits) + (slot >> t.bucket_shift)];
      while (row[k + 1] <= slot) ++k;
      bias = slot - row[k];
      fr = row[k + 1] - row[k];
      int64_t v = int64_t(k);
      if (k == r.max_value) {
        uint64_t raw;
        if (!esc.next(raw)) return -3;
        v = unescape_entry(raw, int64_t(k));
      }
      v += r.offset;
      if (v < INT32_MIN || v > INT32_MAX) return -3;
      value = int32_t(v);
      return 0;
    }
  };
};

// ------------------------------------------------------------ chunk coding

struct EscapeReader {
  const uint8_t* p;
  const uint8_t* end;
  bool next(uint64_t& raw) { return get_varint(p, end, raw, kMaxEscapeVarintBytes) && raw < (uint64_t(1) << 34); }
};

// Encode symbols [begin, begin+count) of the stream into one chunk:
//   varint escape_bytes | escape varints (symbol order) | u32 lane states | u16 words (decode order)
// Returns 0 or the first negative lookup status (bad_pos receives its position).
template <uint32_t W, class Enc>
int encode_chunk(const Enc& m, uint32_t precision, size_t begin, size_t count, std::vector<uint8_t>& out,
                 size_t& bad_pos) {
  uint32_t x[W];
  std::fill(x, x + W, kStateLow);
  std::vector<uint16_t> words(count + 1);  // at most one word per symbol (+1: the unconditional store)
  size_t nw = 0;
  std::vector<uint64_t> escapes;  // reverse symbol order
  // Rows last to first, lanes 31..0: words land back to front, so the decoder
  // reads each row's words in ascending lane order. Three passes per row keep the
  // table look-ups of the 32 lanes independent; only the cheap flush pass is serial.
  const EncSymbol* e[W];
  const size_t rows = (count + W - 1) / W;
  for (size_t r = rows; r-- > 0;) {
    const size_t row_begin = begin + r * W;
    const uint32_t lanes = uint32_t(std::min<size_t>(W, begin + count - row_begin));
    for (uint32_t j = lanes; j-- > 0;) {
      uint64_t raw = 0;
      if (const int st = m.lookup(row_begin + j, e[j], raw)) {
        if (st < 0) {
          bad_pos = row_begin + j;
          return st;
        }
        escapes.push_back(raw);
      }
    }
    for (uint32_t j = lanes; j-- > 0;) {  // branch-free flush: always store, advance when needed
      const uint32_t flush = x[j] >= e[j]->x_max;
      words[nw] = uint16_t(x[j]);
      nw += flush;
      x[j] = flush ? x[j] >> 16 : x[j];
    }
    for (uint32_t j = 0; j < lanes; ++j) x[j] = enc_step(x[j], *e[j]);
  }
  std::vector<uint8_t> esc;
  for (auto it = escapes.rbegin(); it != escapes.rend(); ++it) put_varint(esc, *it);
  out.clear();
  put_varint(out, esc.size());
  out.insert(out.end(), esc.begin(), esc.end());
  const uint32_t lanes_used = uint32_t(std::min<size_t>(W, count));
  size_t pos = out.size();
  out.resize(pos + 4 * lanes_used + 2 * nw);
  for (uint32_t j = 0; j < lanes_used; ++j, pos += 4) put_u32(&out[pos], x[j]);
  for (size_t w = nw; w-- > 0; pos += 2) {
    out[pos] = uint8_t(words[w]);
    out[pos + 1] = uint8_t(words[w] >> 8);
  }
  return 0;
}

// ------------------------------------------------------- AVX2 static rows
//
// The same arithmetic as decode_chunk, eight lanes per 256-bit register: gather
// the slot tables, update the states, then refill the lanes that fell below L
// from consecutive words in lane order (a permutation picked by the refill mask).
// Bytes in, symbols out are identical; tests run both paths (set_simd).

inline bool g_simd_enabled = true;

#if defined(__x86_64__)

inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  return has;
}

// kRefillPerm[m][j]: which of the next words lane j takes when mask m needs refills.
struct RefillPerm {
  alignas(32) uint32_t idx[256][8];
  RefillPerm() {
    for (uint32_t m = 0; m < 256; ++m)
      for (uint32_t j = 0, k = 0; j < 8; ++j) idx[m][j] = (m >> j & 1) ? k++ : 0;
  }
};
inline const RefillPerm kRefillPerm;

// Decodes full rows from `row` on while a row's worth of words (2W bytes) remains;
// returns the first row it did not decode. x and wpos are updated in place.
// Eight int32 values out as int32, or as their low bytes.
__attribute__((target("avx2"))) inline void store8(int32_t* o, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), v);
}
__attribute__((target("avx2"))) inline void store8(uint8_t* o, __m256i v) {
  const __m256i low_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                             0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i b = _mm256_shuffle_epi8(v, low_bytes);
  const __m128i packed = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(o), packed);
}

template <uint32_t W, class Out>
__attribute__((target("avx2,popcnt"))) size_t decode_rows_static_avx2(
    const uint32_t* fb, const int32_t* val, uint32_t precision, uint32_t* x, const uint8_t* words, size_t wlen,
    size_t& wpos, size_t row, size_t rows, Out* out) {
  constexpr uint32_t G = W / 8;
  __m256i state[G];
  for (uint32_t g = 0; g < G; ++g) state[g] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 8 * g));
  const __m256i mask = _mm256_set1_epi32(int((1u << precision) - 1));
  const __m256i low16 = _mm256_set1_epi32(0xFFFF);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i zero = _mm256_setzero_si256();
  const __m128i shift = _mm_cvtsi32_si128(int(precision));
  for (; row < rows && wpos + 2 * W <= wlen; ++row) {
    Out* o = out + row * W;
    for (uint32_t g = 0; g < G; ++g) {
      const __m256i slot = _mm256_and_si256(state[g], mask);
      const __m256i v = _mm256_i32gather_epi32(reinterpret_cast<const int*>(fb), slot, 4);
      store8(o + 8 * g, _mm256_i32gather_epi32(val, slot, 4));
      const __m256i freq = _mm256_add_epi32(_mm256_and_si256(v, low16), one);
      const __m256i bias = _mm256_srli_epi32(v, 16);
      state[g] = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srl_epi32(state[g], shift)), bias);
    }
    for (uint32_t g = 0; g < G; ++g) {  // refills in ascending lane order
      const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(state[g], 16), zero);
      const uint32_t m = uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(need)));
      const __m256i next = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words + wpos)));
      const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kRefillPerm.idx[m]));
      const __m256i refilled = _mm256_or_si256(_mm256_slli_epi32(state[g], 16), _mm256_permutevar8x32_epi32(next, perm));
      state[g] = _mm256_blendv_epi8(state[g], refilled, need);
      wpos += 2 * size_t(_mm_popcnt_u32(m));
    }
  }
  for (uint32_t g = 0; g < G; ++g) _mm256_storeu_si256(reinterpret_cast<__m256i*>(x + 8 * g), state[g]);
  return row;
}
#endif

// Decode one chunk; 0 on success, -2 bad index, -3 corrupt chunk.
template <uint32_t W, class Dec>
int decode_chunk(const Dec& m, uint32_t precision, const uint8_t* p, size_t len, size_t begin, size_t count,
                 typename Dec::Out* out) {
  const uint8_t* end = p + len;
  uint64_t esc_len;
  if (!get_varint(p, end, esc_len, 9) || esc_len > uint64_t(end - p)) return -3;
  EscapeReader esc{p, p + esc_len};
  p += esc_len;
  const uint32_t lanes_used = uint32_t(std::min<size_t>(W, count));
  if (uint64_t(end - p) < 4ull * lanes_used || (end - p - 4 * lanes_used) % 2) return -3;
  uint32_t x[W];
  for (uint32_t j = 0; j < lanes_used; ++j, p += 4) x[j] = get_u32(p);
  const uint8_t* words = p;
  const size_t wlen = size_t(end - p);
  size_t wpos = 0;
  static const uint8_t kZeros[2] = {0, 0};
  const uint32_t mask = (1u << precision) - 1;
  // Two passes per row: the independent table look-ups of all lanes, then the
  // refills, the only serial part (one shared word pointer), kept branch-free.
  auto lookups = [&](size_t row_begin, uint32_t lanes) -> int {
    for (uint32_t j = 0; j < lanes; ++j) {
      uint32_t fr, bias;
      const int rc = m.decode(row_begin + j, x[j] & mask, fr, bias, out[row_begin + j], esc);
      if constexpr (Dec::kCanFail)
        if (rc) return rc;
      x[j] = dec_step(x[j], fr, bias, precision);
    }
    return 0;
  };
  auto refill = [&](uint32_t lanes, bool checked) {
    for (uint32_t j = 0; j < lanes; ++j) {
      // Unchecked when a whole row's worth of words (32) remains; past the end a
      // checked refill reads zeros and the final check reports the corruption.
      const uint8_t* src = !checked || wpos + 2 <= wlen ? words + wpos : kZeros;
      const uint32_t word = uint32_t(src[0]) | uint32_t(src[1]) << 8;
      const uint32_t need = x[j] < kStateLow;
      x[j] = need ? (x[j] << 16) | word : x[j];
      wpos += 2 * need;
    }
  };
  const size_t full_rows = count / W;
  size_t r = 0;
#if defined(__x86_64__)
  if constexpr (Dec::kStatic && W >= 8) {
    if (g_simd_enabled && cpu_has_avx2() && full_rows)
      r = decode_rows_static_avx2<W>(m.fb, m.val, precision, x, words, wlen, wpos, 0, full_rows, out + begin);
  }
#endif
  for (; r < full_rows; ++r) {
    if (int rc = lookups(begin + r * W, W)) return rc;
    refill(W, wpos + 2 * W > wlen);
  }
  if (const uint32_t tail = uint32_t(count % W)) {
    if (int rc = lookups(begin + full_rows * W, tail)) return rc;
    refill(tail, true);
  }
  // The encoder started every lane at L and wrote nothing unused: anything else is corruption.
  if (wpos != wlen || esc.p != esc.end) return -3;
  for (uint32_t j = 0; j < lanes_used; ++j)
    if (x[j] != kStateLow) return -3;
  return 0;
}

// Run fn(chunk) for every chunk on up to `threads` threads (inline for one).
template <class Fn>
void for_each_chunk(size_t chunks, int threads, Fn fn) {
  const size_t workers = std::max<size_t>(1, std::min<size_t>(size_t(std::max(threads, 1)), chunks));
  if (workers == 1) {
    for (size_t c = 0; c < chunks; ++c) fn(c);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t t = 0; t < workers; ++t)
    pool.emplace_back([&] {
      for (size_t c; (c = next.fetch_add(1)) < chunks;) fn(c);
    });
  for (auto& th : pool) th.join();
}

// Calls f(std::integral_constant<uint32_t, W>) for the stream's lane count.
template <class F>
auto with_lanes(uint32_t lanes, F&& f) {
  switch (lanes) {
    case 1: return f(std::integral_constant<uint32_t, 1>{});
    case 2: return f(std::integral_constant<uint32_t, 2>{});
    case 4: return f(std::integral_constant<uint32_t, 4>{});
    case 8: return f(std::integral_constant<uint32_t, 8>{});
    case 16: return f(std::integral_constant<uint32_t, 16>{});
    case 32: return f(std::integral_constant<uint32_t, 32>{});
  }
  throw std::invalid_argument("lanes must be 1, 2, 4, 8, 16 or 32");
}

inline size_t num_chunks_for(size_t n, size_t chunk_symbols) { return n ? (n + chunk_symbols - 1) / chunk_symbols : 0; }

template <class Enc>
uint64_t estimate_cost(const Enc& m, size_t n, size_t stride, int threads) {
  constexpr size_t kBlock = size_t(1) << 16;  // a multiple of every stride used
  if (stride == 0 || kBlock % stride) throw std::invalid_argument("stride must divide 65536");
  const size_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<uint64_t> partial(blocks, 0);
  for_each_chunk(blocks, threads, [&](size_t b) {
    uint64_t sum = 0;
    for (size_t i = b * kBlock, end = std::min(n, i + kBlock); i < end; i += stride) sum += m.cost(i);
    partial[b] = sum;
  });
  uint64_t total = 0;
  for (uint64_t v : partial) total += v;
  return total;
}

}  // namespace ez
