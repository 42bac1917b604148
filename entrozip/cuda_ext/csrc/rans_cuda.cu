// The CUDA twin of the CPU rANS coder (rans/csrc/rans_cpu.hpp): same stream
// format, same bytes (docs/FORMAT.md, "rANS stream, version 1").
//
// One warp per chunk, lane j of the warp = lane j of the chunk (W <= 32 lanes;
// threads j >= W idle in ballots). The invariants of rans_core.hpp hold here:
// states in [L, 2^32) with L = 2^16, one 16-bit word per renormalisation, the
// encoder's division by a reciprocal exact for every 32-bit state.
//
//   decoder, per row: every lane decodes its symbol (independent table look-ups),
//     then the lanes below L take the next words in ascending lane order: a ballot
//     gives the mask, a popcount of the lower lanes each lane's word, read from a ring
//     in shared memory that cp.async fills segments ahead (WordRing). Nothing a row
//     needs from global memory is read in that row: a GPU issues in order, so a warp
//     that uses a load waits for it; contexts and raw float bytes are read a group of
//     rows ahead, the words segments ahead.
//   encoder, per row, rows last to first: the lanes at or above x_max flush a word
//     in descending lane order (the CPU appends lanes 31..0), then all step.
//     Words land in encoder order in scratch and are copied reversed.
//   escapes (indexed model): varints in symbol order; the decoder reads them in
//     lane order within a row (rare: a serial loop over the escaping lanes).
//
// Chunks are described by arrays (symbol begin, count, lanes, scratch offset), so
// one launch codes every chunk of many streams (the batch API).
#include <torch/extension.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cstdint>

#include "rans_core.hpp"  // EncSymbol, enc_step, dec_step, the escape rule: the CPU coder's own

namespace {

using ez::EncSymbol;
using ez::kStateLow;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kEscMaxBytes = 5;
constexpr int64_t kEscHeadroom = 10;  // bytes reserved before a chunk's escapes for varint(E)

// Status codes (per chunk): 0 ok, -1 symbol of zero probability, -2 index out of
// range, -3 corrupt chunk.

__device__ __forceinline__ bool get_varint(const uint8_t*& p, const uint8_t* end, uint64_t& v, int max_bytes) {
  v = 0;
  for (int b = 0; b < max_bytes; ++b) {
    if (p >= end) return false;
    const uint8_t byte = *p++;
    v |= uint64_t(byte & 0x7F) << (7 * b);
    if (!(byte & 0x80)) return true;
  }
  return false;
}

__device__ __forceinline__ int varint_len(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

__device__ __forceinline__ void put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = uint8_t(v) | 0x80;
    v >>= 7;
  }
  *p = uint8_t(v);
}

// ------------------------------------------------------------------ models on the device

struct StaticDev {
  const EncSymbol* enc;     // per symbol (freq 0: uncodable)
  const uint32_t* slot_fb;  // per slot: (freq - 1) | (slot - start) << 16
  const int32_t* slot_val;  // per slot: the value
  int64_t offset;
  int32_t alphabet;
  uint32_t precision;
  static constexpr bool kEscapes = false;

  // Encoder look-up of value v under context c (context(i), read ahead): 0 codable, -1 not;
  // no escapes.
  __device__ int lookup(int32_t, int32_t v, const EncSymbol*& e, uint64_t&) const {
    const int64_t k = int64_t(v) - offset;
    if (k < 0 || k >= alphabet || enc[k].freq == 0) return -1;
    e = enc + k;
    return 0;
  }
  __device__ void prepare_block(uint32_t*) {}  // tables stay in global memory (read through L1)
  // What coding symbol i needs besides its value and the state (nothing here); the kernels
  // read it rows ahead. kContext: whether it is a memory read at all.
  static constexpr bool kContext = false;
  __device__ int32_t context(int64_t) const { return 0; }
  // Decoder look-up: (freq, bias, k, is_escape) of a slot; k is the value.
  __device__ int decode(int32_t, uint32_t slot, uint32_t& fr, uint32_t& bias, int64_t& k, bool& esc) const {
    const uint32_t v = __ldg(slot_fb + slot);
    fr = (v & 0xFFFF) + 1;
    bias = v >> 16;
    k = __ldg(slot_val + slot);
    esc = false;
    return 0;
  }
  __device__ int64_t value(int32_t, int64_t k, uint64_t) const { return k; }
};

struct IndexedDev {
  const EncSymbol* enc;    // aligned with cdf
  const uint32_t* cdf;     // all rows, flattened
  const uint32_t* base;    // per row
  const int32_t* offsets;  // per row
  const uint32_t* maxv;    // per row: len - 2, the escape
  const uint16_t* bucket;  // per row 2^bucket_bits entries
  const int32_t* idx;      // per symbol
  int32_t rows;
  uint32_t precision, bucket_bits, bucket_shift;
  static constexpr bool kEscapes = true;

  __device__ int lookup(int32_t c, int32_t v, const EncSymbol*& e, uint64_t& raw) const {
    if (c < 0 || c >= rows) return -2;
    int64_t k = int64_t(v) - offsets[c];
    const int st = ez::escape_entry(k, maxv[c], raw) ? 1 : 0;
    e = enc + base[c] + k;
    return st;
  }
  __device__ void prepare_block(uint32_t*) {}
  // The symbol's CDF index: a global read independent of the state, issued rows ahead.
  static constexpr bool kContext = true;
  __device__ int32_t context(int64_t i) const { return __ldg(idx + i); }
  __device__ int decode(int32_t c, uint32_t slot, uint32_t& fr, uint32_t& bias, int64_t& k, bool& esc) const {
    if (c < 0 || c >= rows) return -2;
    const uint32_t* row = cdf + base[c];
    uint32_t j = bucket[(size_t(c) << bucket_bits) + (slot >> bucket_shift)];
    // The entry owning slot: from the bucket's first, four CDF values a step, loaded side by
    // side (one load latency where a scan of dependent loads would take one per entry; a
    // warp waits for its slowest lane, and wide tables span ~7 entries a bucket). The step
    // stops at the row's last value (2^precision > slot); the kernel's CDF array has four
    // entries of padding, so the loads past the last row stay inside it. Plain loads: the
    // tables may be global or shared (IndexedSharedDev).
    for (;;) {
      const uint32_t a = row[j + 1], b = row[j + 2], d = row[j + 3], e = row[j + 4];
      const uint32_t n = a > slot ? 0 : b > slot ? 1 : d > slot ? 2 : e > slot ? 3 : 4;
      j += n;
      if (n < 4) break;
    }
    bias = slot - row[j];
    fr = row[j + 1] - row[j];
    k = j;
    esc = j == maxv[c];
    return 0;
  }
  // The value of a decoded entry k (raw: the escape payload when k is the escape).
  __device__ int64_t value(int32_t c, int64_t k, uint64_t raw) const {
    return (uint32_t(k) == maxv[c] ? ez::unescape_entry(raw, k) : k) + offsets[c];
  }
};

// A static model whose decoder tables live in shared memory: one byte per slot (the
// symbol index; alphabets <= 256) and one word per symbol ((freq - 1) | start << 16).
// The global-table decoder does two 32-address gathers per row into a 2^precision x 8
// byte table (512 KB at precision 16: L2, not L1); here a row is one byte and one word
// of shared memory. Costs 2^precision + 4 x alphabet bytes of shared memory per block.
struct StaticSharedDev : StaticDev {
  const uint8_t* slot_sym;  // global, 2^precision
  const uint32_t* sym_fs;   // global, alphabet
  const uint8_t* s_sym = nullptr;
  const uint32_t* s_fs = nullptr;

  static int64_t shared_bytes(int64_t alphabet, int64_t precision) { return 4 * alphabet + (int64_t(1) << precision); }

  __device__ void prepare_block(uint32_t* smem) {  // every thread of the block, before any return
    uint32_t* fs = smem;
    uint8_t* sym = reinterpret_cast<uint8_t*>(smem + alphabet);
    for (int t = threadIdx.x; t < alphabet; t += blockDim.x) fs[t] = __ldg(sym_fs + t);
    const int slots = 1 << precision;
    if (slots % 16 == 0 && reinterpret_cast<uintptr_t>(slot_sym) % 16 == 0 && (4 * alphabet) % 16 == 0) {
      const uint4* src = reinterpret_cast<const uint4*>(slot_sym);  // 16 bytes a load: 256 threads copy 64 KB in 16 steps
      uint4* dst = reinterpret_cast<uint4*>(sym);
      for (int t = threadIdx.x; t < slots / 16; t += blockDim.x) dst[t] = __ldg(src + t);
    } else {
      for (int t = threadIdx.x; t < slots; t += blockDim.x) sym[t] = __ldg(slot_sym + t);
    }
    __syncthreads();
    s_fs = fs;
    s_sym = sym;
  }
  // Its tables inside a launch's packed ones (PlannedDev): p = the model's params row.
  __device__ void point_at(const int64_t* p, const uint8_t* slot_all, const uint32_t* word_all) {
    slot_sym = slot_all + p[0];
    sym_fs = word_all + p[1];
  }
  __device__ int decode(int32_t, uint32_t slot, uint32_t& fr, uint32_t& bias, int64_t& k, bool& esc) const {
    k = s_sym[slot];
    const uint32_t v = s_fs[k];
    fr = (v & 0xFFFF) + 1;
    bias = slot - (v >> 16);
    k += offset;
    esc = false;
    return 0;
  }
};

// A static model whose decoder table is one word per slot in shared memory (precision
// <= 12, alphabet <= 256): (freq - 1) | (slot - start) << 12 | symbol << 24. A row is one
// shared load where StaticSharedDev makes two dependent ones (slot -> symbol -> freq,
// start): a shorter chain per row. 4 x 2^precision bytes: 16 KB at precision 12.
struct StaticFusedSharedDev : StaticDev {
  const uint32_t* slot_entry;  // global, 2^precision
  const uint32_t* s_entry = nullptr;

  static int64_t shared_bytes(int64_t precision) { return int64_t(4) << precision; }

  __device__ void prepare_block(uint32_t* smem) {
    const int slots = 1 << precision;
    if (slots % 4 == 0 && reinterpret_cast<uintptr_t>(slot_entry) % 16 == 0) {
      const uint4* src = reinterpret_cast<const uint4*>(slot_entry);
      uint4* dst = reinterpret_cast<uint4*>(smem);
      for (int t = threadIdx.x; t < slots / 4; t += blockDim.x) dst[t] = __ldg(src + t);
    } else {
      for (int t = threadIdx.x; t < slots; t += blockDim.x) smem[t] = __ldg(slot_entry + t);
    }
    __syncthreads();
    s_entry = smem;
  }
  __device__ void point_at(const int64_t* p, const uint8_t*, const uint32_t* word_all) { slot_entry = word_all + p[5]; }
  __device__ int decode(int32_t, uint32_t slot, uint32_t& fr, uint32_t& bias, int64_t& k, bool& esc) const {
    const uint32_t e = s_entry[slot];
    fr = (e & 0xFFF) + 1;
    bias = (e >> 12) & 0xFFF;
    k = int64_t(e >> 24) + offset;
    esc = false;
    return 0;
  }
};

// Many static models in one launch (a transformer block's weights, each with its own
// table): thread block b decodes chunks [plan[b].first, plan[b].end) with model
// plan[b].model, whose tables it copies to shared memory as Base (StaticSharedDev or
// StaticFusedSharedDev) does. The host plans blocks so that a block never mixes models
// (codecs/weights/plan.py). params, per model: (slot table byte offset, symbol table
// word offset, alphabet, precision, value offset, fused table word offset) into the
// packed slot_all and word_all (the symbol tables, or the fused ones).
template <class Base>
struct PlannedDev : Base {
  const int32_t* plan;    // [B, 3]: first chunk, end chunk, model
  const int64_t* params;  // [T, 6]
  const uint8_t* slot_all;
  const uint32_t* word_all;

  __device__ void prepare_block(uint32_t* smem) {
    const int64_t* p = params + 6 * int64_t(plan[3 * blockIdx.x + 2]);
    this->point_at(p, slot_all, word_all);
    this->alphabet = int32_t(p[2]);
    this->precision = uint32_t(p[3]);
    this->offset = p[4];
    Base::prepare_block(smem);
  }
};

// An indexed model whose decoder tables live in shared memory: the CDF rows, the bucket
// index and the per-row base / offset / escape entries (CompressAI's 64 Gaussian tables at
// precision 16: ~142 KB, within a Hopper or Ampere block's opt-in limit). The global-table
// decoder's row chain is bucket gather -> CDF scan -> offsets, each an L1/L2 round trip.
// prepare_block copies the tables and points the model at the copies: decode and value are
// IndexedDev's own.
struct IndexedSharedDev : IndexedDev {
  int64_t cdf_total = 0;

  static int64_t shared_bytes(int64_t cdf_total, int64_t rows, int64_t bucket_bits) {
    return 4 * cdf_total + 12 * rows + 2 * (rows << bucket_bits);
  }

  __device__ void prepare_block(uint32_t* smem) {
    uint32_t* c = smem;
    uint32_t* b = c + cdf_total;
    int32_t* o = reinterpret_cast<int32_t*>(b + rows);
    uint32_t* mv = reinterpret_cast<uint32_t*>(o + rows);
    uint16_t* bk = reinterpret_cast<uint16_t*>(mv + rows);
    for (int64_t t = threadIdx.x; t < cdf_total; t += blockDim.x) c[t] = __ldg(cdf + t);
    for (int t = threadIdx.x; t < rows; t += blockDim.x) {
      b[t] = __ldg(base + t);
      o[t] = __ldg(offsets + t);
      mv[t] = __ldg(maxv + t);
    }
    const int64_t nb = int64_t(rows) << bucket_bits;
    for (int64_t t = threadIdx.x; t < nb; t += blockDim.x) bk[t] = __ldg(bucket + t);
    __syncthreads();
    cdf = c;
    base = b;
    offsets = o;
    maxv = mv;
    bucket = bk;
  }
};

// ------------------------------------------------------------------ decode

// Where decoded values go: as they are, or merged with a float's raw bits
// (codecs/weights/floats.py: the symbol byte is the exponent / high byte). A sink with
// kRaw reads input of its own per value (fetch(src)); the kernel issues those reads rows
// before the value is decoded, so that no row waits on memory (a GPU issues in order: an
// instruction that uses a load stalls its warp until the load is back).
template <class Out>
struct ValueSink {
  static constexpr bool kRaw = false;
  Out* out;
  __device__ uint32_t fetch(int64_t) const { return 0; }
  __device__ void operator()(int64_t i, uint32_t, int64_t v) const { out[i] = Out(v); }
};

// LAYOUT: 0 BF16, 1 F16, 2 F32, 3 F8, or -1: the runtime `layout` (one kernel for the rare
// ones; BF16, DFloat11's case, gets its own without the per-value switch).
template <int LAYOUT>
struct FloatMergeSink {
  static constexpr bool kRaw = true;
  const uint8_t* raw;  // RAW_BYTES per value
  uint8_t* out;        // WORD_BYTES per value, little endian
  int layout;
  __device__ int kind() const { return LAYOUT >= 0 ? LAYOUT : layout; }
  // src: the value's place in raw; i (below): its place in out (they differ when a launch
  // decodes a subset of a tensor's chunks, or several tensors packed at aligned offsets)
  __device__ uint32_t fetch(int64_t src) const {
    if (kind() == 2)
      return uint32_t(__ldg(raw + 3 * src)) | uint32_t(__ldg(raw + 3 * src + 1)) << 8 |
             uint32_t(__ldg(raw + 3 * src + 2)) << 16;
    return kind() == 3 ? 0u : uint32_t(__ldg(raw + src));
  }
  __device__ void operator()(int64_t i, uint32_t r, int64_t v) const {
    const uint32_t s = uint32_t(v) & 0xFF;
    const int k = kind();
    if (k == 0)
      reinterpret_cast<uint16_t*>(out)[i] = uint16_t(((r & 0x80) << 8) | (s << 7) | (r & 0x7F));
    else if (k == 1)
      reinterpret_cast<uint16_t*>(out)[i] = uint16_t((s << 8) | r);
    else if (k == 2)
      reinterpret_cast<uint32_t*>(out)[i] = ((r >> 23) << 31) | (s << 23) | (r & 0x7FFFFF);
    else
      out[i] = uint8_t(s);
  }
};

// A warp's read-ahead of its chunk's 16-bit words, in shared memory: a ring of kSegs
// segments of 256 bytes over the chunk's bytes (from `words` aligned down to 16). The warp
// copies each segment with cp.async (global -> shared, no register waits for it) three
// segments before it reads it; entering segment s it reuses the slot of segment s - 1
// and waits until s + 1 has landed, which it copied ~2 segments (dozens of rows) ago.
// A row takes at most 32 words (64 bytes < 256), so its words lie in segments s and s + 1.
// Bytes past the chunk's end read as 0 (the copies zero-fill them; the CPU decoder too).
struct WordRing {
  static constexpr int kSegBytes = 256, kSegs = 4, kBytes = kSegBytes * kSegs;
  uint8_t* buf;           // shared, kBytes, 16-aligned
  const uint8_t* abase;   // global: `words` aligned down to 16; segment t starts at abase + 256 t
  const uint8_t* end;     // global: the chunk's end
  uint32_t pos;           // byte position of the next word from abase, modulo 2^32 (ring index: & kBytes - 1)
  uint32_t roff;          // words - abase (0..15)
  int64_t seg = 0;        // the segment pos is in (as of the last refill)
  uint32_t mark;          // pos >> 8 as of the last refill

  __device__ void copy(int64_t t, int lane) {  // segment t into its slot, lanes 0..15, 16 bytes each
    if (lane < kSegBytes / 16) {
      const uint8_t* src = abase + kSegBytes * t + 16 * lane;
      const int64_t left = end - src;
      const uint32_t n = left <= 0 ? 0u : left >= 16 ? 16u : uint32_t(left);
      const uint32_t dst = uint32_t(__cvta_generic_to_shared(buf + ((kSegBytes * t + 16 * lane) & (kBytes - 1))));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(n ? src : abase), "r"(n)
                   : "memory");
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
  }
  __device__ void ready() {  // every segment but the last two copied has landed, for every lane
    asm volatile("cp.async.wait_group %0;" ::"n"(kSegs - 2) : "memory");
    __syncwarp();
  }
  __device__ void start(uint8_t* ring, const uint8_t* words, const uint8_t* chunk_end, int lane) {
    buf = ring;
    abase = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(words) & ~uintptr_t(15));
    end = chunk_end;
    roff = uint32_t(words - abase);
    pos = roff;
    mark = 0;
    for (int t = 0; t < kSegs; ++t) copy(t, lane);
    ready();
  }
  // The j-th word from pos (j < 32).
  __device__ uint32_t word(int j) const {
    const uint32_t b = pos + 2 * uint32_t(j);
    return uint32_t(buf[b & (kBytes - 1)]) | uint32_t(buf[(b + 1) & (kBytes - 1)]) << 8;
  }
  __device__ void take(int n) { pos += 2 * uint32_t(n); }  // n words taken (warp-uniform)
  // After every row (a row takes < 256 bytes, so at most one segment was entered since the
  // last call): entering segment seg + 1 frees its predecessor's slot. Kept apart from take()
  // so that the row itself stays one branch-free stretch of code.
  __device__ void refill(int lane) {
    if ((pos >> 8) != mark) {
      mark = pos >> 8;
      ++seg;
      __syncwarp();  // every lane's reads of the old segment are done
      copy(seg + kSegs - 1, lane);
      ready();
    }
  }
  __device__ int64_t consumed() const { return kSegBytes * seg + (pos & (kSegBytes - 1)) - roff; }
};

// One chunk's decoder state for one warp (lane = chunk lane): the state x, the word ring,
// the escape payloads, the error code.
template <class Model, class Sink>
struct ChunkDecoder {
  int64_t chunk, begin, src0, wlen;
  int32_t count;
  int W, rows, used;
  uint32_t x;
  int rc;
  const uint8_t* esc;
  const uint8_t* esc_end;
  WordRing ring;

  // Parses the chunk's header and loads the lane states; false (status written) if corrupt.
  __device__ bool start(int64_t c, const uint8_t* data, const int64_t* chunk_begin_byte,
                        const int64_t* chunk_end_byte, const int64_t* sym_begin, const int32_t* sym_count,
                        const int32_t* chunk_lanes, const int64_t* src_begin, uint8_t* ring_mem, int lane,
                        int32_t* status) {
    chunk = c;
    const uint8_t* p = data + chunk_begin_byte[c];
    const uint8_t* end = data + chunk_end_byte[c];
    begin = sym_begin[c];
    src0 = src_begin[c];
    count = sym_count[c];
    W = chunk_lanes[c];
    rows = (count + W - 1) / W;
    rc = 0;
    uint64_t esc_len = 0;
    if (!get_varint(p, end, esc_len, 9) || esc_len > uint64_t(end - p)) rc = -3;
    esc = p;
    esc_end = p + (rc ? 0 : esc_len);
    p = esc_end;
    used = min(W, count);
    if (!rc && (end - p < 4 * used || ((end - p - 4 * used) & 1))) rc = -3;
    if (rc) {
      if (lane == 0) status[c] = rc;
      return false;
    }
    x = 0;
    if (lane < used)
      x = uint32_t(p[4 * lane]) | uint32_t(p[4 * lane + 1]) << 8 | uint32_t(p[4 * lane + 2]) << 16 |
          uint32_t(p[4 * lane + 3]) << 24;
    const uint8_t* words = p + 4 * used;
    wlen = end - words;
    ring.start(ring_mem, words, end, lane);
    return true;
  }

  // One row: every lane decodes its symbol, then the lanes below L refill. `valid` is a
  // constant in the full-row loops (every lane holds a symbol), so the compiler drops the
  // lane tests there. ctx and raw_in: the row's context and sink input, read ahead.
  __device__ void row(const Model& m, const Sink& out, const int64_t local, const bool valid, const int32_t ctx,
                      const uint32_t raw_in, const int lane) {
    const int64_t i = begin + local;
    uint32_t fr = 1, bias = 0;
    int64_t k = 0;
    bool is_esc = false;
    if (valid) {
      const int lrc = m.decode(ctx, x & ((1u << m.precision) - 1), fr, bias, k, is_esc);
      if (lrc) rc = lrc;
      x = ez::dec_step(x, fr, bias, m.precision);
    }
    uint64_t raw = 0;
    if (Model::kEscapes) {  // escape payloads in lane order
      unsigned em = __ballot_sync(kFull, valid && is_esc && !rc);
      while (em) {
        const int l = __ffs(em) - 1;
        if (lane == l) {
          if (!get_varint(esc, esc_end, raw, kEscMaxBytes) || raw >= (uint64_t(1) << 34)) rc = -3;
        }
        const uint64_t pos = __shfl_sync(kFull, reinterpret_cast<uint64_t>(esc), l);
        esc = reinterpret_cast<const uint8_t*>(pos);
        em &= em - 1;
      }
    }
    if (valid && !rc) {
      const int64_t v = m.value(ctx, k, raw);
      // Only an escape can leave int32: a static symbol is an entry of its table, and the
      // model keeps offset + alphabet within int32 (StaticModel), so static rows skip the test.
      if (Model::kEscapes && (v < INT32_MIN || v > INT32_MAX)) rc = -3;
      out(i, raw_in, v);
    }
    // Lanes below L take the next words in lane order. Branch-free: every lane reads the
    // word it would take (the ring holds it) and only the needy keep it. The caller calls
    // ring.refill after the row.
    const bool need = valid && x < kStateLow;
    const unsigned nm = __ballot_sync(kFull, need);
    const uint32_t w = ring.word(__popc(nm & ((1u << lane) - 1)));
    if (need) x = (x << 16) | w;
    ring.take(__popc(nm));
  }

  // A row whose context and sink input are read now (the last row, chunks of fewer lanes).
  __device__ void plain_row(const Model& m, const Sink& out, const int r, const int lane) {
    const int64_t local = int64_t(r) * W + lane;
    const bool valid = lane < W && local < count;
    row(m, out, local, valid, valid ? m.context(begin + local) : 0, valid ? out.fetch(src0 + local) : 0u, lane);
    ring.refill(lane);
  }

  // Every word and escape byte consumed, every lane back at L: anything else is corruption.
  // A bad index (-2) is the caller's error and is named as such.
  __device__ void finish(const int lane, int32_t* status) const {
    const bool bad_state = lane < used && x != kStateLow;
    const int worst = __reduce_min_sync(kFull, rc);
    const bool any_bad_index = __any_sync(kFull, rc == -2);
    const bool any_bad_state = __any_sync(kFull, bad_state);
    if (lane == 0)
      status[chunk] =
          any_bad_index ? -2 : (worst || any_bad_state || ring.consumed() != wlen || esc != esc_end) ? -3 : 0;
  }
};

// Warp w of the grid decodes chunk w; with a block plan, warp w of block b decodes chunk
// plan[b].first + w, below plan[b].end (the blocks of one model: PlannedDev). The chunk's
// full rows go in groups of kAhead rows, each group's contexts and sink inputs read while
// the group before it decodes (models and sinks that read nothing compile this away); the
// last row, and chunks of fewer lanes, follow row by row.
template <class Model, class Sink>
__global__ void decode_chunks(Model m, const uint8_t* __restrict__ data, const int64_t* __restrict__ chunk_begin_byte,
                              const int64_t* __restrict__ chunk_end_byte, const int64_t* __restrict__ sym_begin,
                              const int32_t* __restrict__ sym_count, const int32_t* __restrict__ chunk_lanes,
                              const int64_t* __restrict__ src_begin, int64_t num_chunks,
                              const int32_t* __restrict__ block_plan, Sink out, int32_t* __restrict__ status,
                              int32_t ring_at) {
  extern __shared__ __align__(16) uint32_t smem[];
  m.prepare_block(smem);  // the model's tables, from byte 0; each warp's word ring from ring_at
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t chunk = block_plan ? int64_t(block_plan[3 * blockIdx.x]) + warp
                                   : (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t chunk_end = block_plan ? min(int64_t(block_plan[3 * blockIdx.x + 1]), num_chunks) : num_chunks;
  ChunkDecoder<Model, Sink> d;
  // whole warps exit together (blockDim % 32 == 0)
  if (chunk >= chunk_end ||
      !d.start(chunk, data, chunk_begin_byte, chunk_end_byte, sym_begin, sym_count, chunk_lanes, src_begin,
               reinterpret_cast<uint8_t*>(smem) + ring_at + int64_t(WordRing::kBytes) * warp, lane, status))
    return;
  const int full = d.W == 32 ? d.count / 32 : 0;  // full rows; r * 32 + lane < count: int32
  constexpr int kAhead = 8;
  constexpr bool kReads = Model::kContext || Sink::kRaw;
  int32_t ctx[kAhead], ctx_next[kAhead];
  uint32_t raw[kAhead], raw_next[kAhead];
  auto read_group = [&](const int r0, int32_t* c, uint32_t* w) {
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const bool in = kReads && r0 + k < full;
      const int64_t local = (r0 + k) * 32 + lane;
      c[k] = Model::kContext && in ? m.context(d.begin + local) : 0;
      w[k] = Sink::kRaw && in ? out.fetch(d.src0 + local) : 0u;
    }
  };
  int r = 0;
  if (full > 0) {
    read_group(0, ctx, raw);
    for (; r + kAhead <= full; r += kAhead) {
      read_group(r + kAhead, ctx_next, raw_next);
#pragma unroll
      for (int k = 0; k < kAhead; ++k) {
        d.row(m, out, (r + k) * 32 + lane, true, ctx[k], raw[k], lane);
        d.ring.refill(lane);
      }
#pragma unroll
      for (int k = 0; k < kAhead; ++k) {
        ctx[k] = ctx_next[k];
        raw[k] = raw_next[k];
      }
    }
#pragma unroll
    for (int k = 0; k < kAhead - 1; ++k)  // the last full rows, fewer than a group (read above)
      if (r < full) {
        d.row(m, out, r * 32 + lane, true, ctx[k], raw[k], lane);
        d.ring.refill(lane);
        ++r;
      }
  }
  for (; r < d.rows; ++r) d.plain_row(m, out, r, lane);
  d.finish(lane, status);
}

// ------------------------------------------------------------------ encode

// Scratch slot of a chunk (offset `slot`): [10 headroom][escapes <= 5 count][states 4W]
// [words, decoder order, <= count + 1][words, encoder order, <= count + 1].
template <class Model, class Sym>
__global__ void encode_chunks(Model m, const Sym* __restrict__ sym, const int64_t* __restrict__ sym_begin,
                              const int32_t* __restrict__ sym_count, const int32_t* __restrict__ chunk_lanes,
                              const int64_t* __restrict__ slot, int64_t num_chunks, uint8_t* __restrict__ scratch,
                              int64_t* __restrict__ chunk_start, int64_t* __restrict__ chunk_size,
                              int32_t* __restrict__ status) {
  const int64_t chunk = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (chunk >= num_chunks) return;
  const int64_t begin = sym_begin[chunk];
  const int32_t count = sym_count[chunk];
  const int W = chunk_lanes[chunk];
  const int rows = (count + W - 1) / W;
  const int used = min(W, count);
  uint8_t* base = scratch + slot[chunk];
  uint8_t* esc = base + kEscHeadroom;
  int rc = 0;
  // pass 1: escape payloads, symbol order (rows ascending, lanes ascending)
  int64_t esc_bytes = 0;
  if (Model::kEscapes) {
    for (int r = 0; r < rows; ++r) {
      const int64_t local = int64_t(r) * W + lane;
      const bool valid = lane < W && local < count;
      int len = 0;
      uint64_t raw = 0;
      if (valid) {
        const EncSymbol* e;
        const int st = m.lookup(m.context(begin + local), int32_t(sym[begin + local]), e, raw);
        if (st < 0) rc = st;
        if (st == 1) len = varint_len(raw);
      }
      int incl = len;  // inclusive scan of the varint lengths over the warp
      for (int d = 1; d < 32; d <<= 1) {
        const int t = __shfl_up_sync(kFull, incl, d);
        if (lane >= d) incl += t;
      }
      if (len) put_varint(esc + esc_bytes + incl - len, raw);
      esc_bytes += __shfl_sync(kFull, incl, 31);
    }
  }
  uint8_t* states = esc + esc_bytes;
  uint8_t* words_dec = states + 4 * used;
  uint8_t* wenc = words_dec + 2 * (int64_t(count) + 1);  // encoder-order words, byte addressed
  // pass 2: the rANS encoder, rows last to first. A row's look-ups (table entry) do not
  // depend on the state: row r-1's are read while row r codes. Symbols and contexts are read
  // a group of kAhead rows ahead, so that no row waits on memory (see the sinks above).
  uint32_t x = kStateLow;
  int64_t nw = 0;
  auto look = [&](const bool in, const int32_t v, const int32_t c, EncSymbol& es) -> bool {
    if (!in) return false;
    const EncSymbol* e;
    uint64_t raw;
    const int st = m.lookup(c, v, e, raw);
    if (st < 0) {
      rc = st;
      return false;
    }
    es = *e;
    return true;
  };
  auto in_chunk = [&](const int r) { return r >= 0 && lane < W && int64_t(r) * W + lane < count; };
  constexpr int kAhead = 8;
  int32_t v[kAhead], c[kAhead], v_next[kAhead], c_next[kAhead];
  auto read_group = [&](const int top, int32_t* vs, int32_t* cs) {  // rows top, top - 1, ...
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const bool in = in_chunk(top - k);
      const int64_t i = begin + int64_t(top - k) * W + lane;
      vs[k] = in ? int32_t(sym[i]) : 0;
      cs[k] = Model::kContext && in ? m.context(i) : 0;
    }
  };
  read_group(rows - 1, v, c);
  EncSymbol next{};
  bool has_next = look(in_chunk(rows - 1), v[0], c[0], next);
  for (int top = rows - 1; top >= 0; top -= kAhead) {
    read_group(top - kAhead, v_next, c_next);
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const int r = top - k;
      if (r < 0) break;  // warp-uniform
      const EncSymbol cur = next;
      const bool has = has_next;
      has_next = k + 1 < kAhead ? look(in_chunk(r - 1), v[k + 1], c[k + 1], next)
                                : look(in_chunk(r - 1), v_next[0], c_next[0], next);
      const bool flush = has && x >= cur.x_max;
      const unsigned fm = __ballot_sync(kFull, flush);
      if (flush) {  // lanes W-1 .. 0 append in that order: my place = flushing lanes above me
        const int64_t at = nw + __popc(fm & ~((2u << lane) - 1));
        wenc[2 * at] = uint8_t(x);
        wenc[2 * at + 1] = uint8_t(x >> 8);
        x >>= 16;
      }
      nw += __popc(fm);
      if (has) x = ez::enc_step(x, cur);
    }
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      v[k] = v_next[k];
      c[k] = c_next[k];
    }
  }
  const int worst = __reduce_min_sync(kFull, rc);
  if (lane < used) {
    states[4 * lane] = uint8_t(x);
    states[4 * lane + 1] = uint8_t(x >> 8);
    states[4 * lane + 2] = uint8_t(x >> 16);
    states[4 * lane + 3] = uint8_t(x >> 24);
  }
  __syncwarp();  // the words other lanes wrote are read back below
#pragma unroll 4
  for (int64_t t = lane; t < nw; t += 32) {  // decoder order = encoder order reversed
    words_dec[2 * t] = wenc[2 * (nw - 1 - t)];
    words_dec[2 * t + 1] = wenc[2 * (nw - 1 - t) + 1];
  }
  if (lane == 0) {
    uint64_t E = uint64_t(esc_bytes);
    int vl = 1;
    while (E >= 0x80) {
      E >>= 7;
      ++vl;
    }
    put_varint(esc - vl, uint64_t(esc_bytes));
    chunk_start[chunk] = slot[chunk] + kEscHeadroom - vl;
    chunk_size[chunk] = vl + esc_bytes + 4 * used + 2 * nw;
    status[chunk] = worst;
  }
}

// Copy every chunk's bytes to its place in the output (one block per chunk).
__global__ void gather_chunks(const uint8_t* __restrict__ scratch, const int64_t* __restrict__ chunk_start,
                              const int64_t* __restrict__ chunk_size, const int64_t* __restrict__ dest,
                              uint8_t* __restrict__ out) {
  const int64_t c = blockIdx.x;
  const uint8_t* src = scratch + chunk_start[c];
  uint8_t* dst = out + dest[c];
  for (int64_t t = threadIdx.x; t < chunk_size[c]; t += blockDim.x) dst[t] = src[t];
}

// ------------------------------------------------------------------ host side

// The largest dynamic shared memory a block of this device may opt in to.
int64_t max_shared_per_block() {
  int dev = 0, v = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return v;
}

int block_threads(int64_t table_bytes) { return table_bytes > 96 * 1024 ? 512 : 256; }
int64_t ring_bytes(int threads) { return int64_t(WordRing::kBytes) * (threads / 32); }
// Whether a decoder whose tables take table_bytes of shared memory fits a block, rings included.
bool fits_shared(int64_t table_bytes) {
  return (table_bytes + 15) / 16 * 16 + ring_bytes(block_threads(table_bytes)) <= max_shared_per_block();
}

void check_cuda(const torch::Tensor& t, const char* name, at::ScalarType type) {
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == type, name, " has the wrong dtype");
}

int blocks_for(int64_t chunks) { return int((chunks * 32 + 255) / 256); }

StaticDev static_model(const torch::Tensor& enc, const torch::Tensor& slot_fb, const torch::Tensor& slot_val,
                       int64_t offset, int64_t precision) {
  StaticDev m;
  m.enc = reinterpret_cast<const EncSymbol*>(enc.data_ptr<uint8_t>());
  m.slot_fb = slot_fb.numel() ? reinterpret_cast<const uint32_t*>(slot_fb.data_ptr<int32_t>()) : nullptr;
  m.slot_val = slot_val.numel() ? slot_val.data_ptr<int32_t>() : nullptr;
  m.offset = offset;
  m.alphabet = int32_t(enc.numel() / sizeof(EncSymbol));
  m.precision = uint32_t(precision);
  return m;
}

IndexedDev indexed_model(const torch::Tensor& enc, const torch::Tensor& cdf, const torch::Tensor& base,
                         const torch::Tensor& offsets, const torch::Tensor& maxv, const torch::Tensor& bucket,
                         const torch::Tensor& idx, int64_t precision, int64_t bucket_bits) {
  IndexedDev m;
  m.enc = reinterpret_cast<const EncSymbol*>(enc.data_ptr<uint8_t>());
  m.cdf = reinterpret_cast<const uint32_t*>(cdf.data_ptr<int32_t>());
  m.base = reinterpret_cast<const uint32_t*>(base.data_ptr<int32_t>());
  m.offsets = offsets.data_ptr<int32_t>();
  m.maxv = reinterpret_cast<const uint32_t*>(maxv.data_ptr<int32_t>());
  m.bucket = reinterpret_cast<const uint16_t*>(bucket.data_ptr<int16_t>());
  m.idx = idx.data_ptr<int32_t>();
  m.rows = int32_t(base.numel());
  m.precision = uint32_t(precision);
  m.bucket_bits = uint32_t(bucket_bits);
  m.bucket_shift = uint32_t(precision - bucket_bits);
  return m;
}

// chunks: int64 [C, 5] = (symbol begin, symbol count, lanes, byte begin, byte end) for decode,
// (symbol begin, symbol count, lanes, scratch slot, 0) for encode; a decode may add a sixth
// column, the chunk's first value in the float decoder's raw bytes (default: symbol begin).
struct Chunks {
  torch::Tensor begin, count, lanes, a, b, src;
  explicit Chunks(const torch::Tensor& c) {
    TORCH_CHECK(c.is_cuda() && c.dim() == 2 && (c.size(1) == 5 || c.size(1) == 6) &&
                    c.scalar_type() == torch::kInt64,
                "chunks must be a CUDA int64 tensor of shape [C, 5] or [C, 6]");
    begin = c.select(1, 0).contiguous();
    count = c.select(1, 1).to(torch::kInt32).contiguous();
    lanes = c.select(1, 2).to(torch::kInt32).contiguous();
    a = c.select(1, 3).contiguous();
    b = c.select(1, 4).contiguous();
    src = c.size(1) == 6 ? c.select(1, 5).contiguous() : begin;
  }
};

// One decode launch: `shared` bytes of model tables per block, then each warp's word ring
// (dynamic shared memory, opted in above 48 KB). Blocks of 256 threads (8 chunks), or 512
// when a block carries large shared tables (more warps share one copy: occupancy is then
// bounded by shared memory, not registers). With a block plan ([B, 3] int32,
// `plan_threads` threads a block) the grid is the plan's.
template <class Model, class Sink>
void run_decode(const Model& m, int64_t shared, const torch::Tensor& data, const Chunks& ch, int64_t C, Sink sink,
                const torch::Tensor& status, const int32_t* plan = nullptr, int64_t plan_blocks = 0,
                int plan_threads = 0) {
  auto kernel = decode_chunks<Model, Sink>;
  const int threads = plan ? plan_threads : block_threads(shared);
  const int64_t ring_at = (shared + 15) / 16 * 16;
  const int64_t total = ring_at + ring_bytes(threads);
  TORCH_CHECK(total <= max_shared_per_block(), "the decoder's tables do not fit a block's shared memory");
  if (total > 48 * 1024)
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(total)));
  const int64_t blocks = plan ? plan_blocks : (C * 32 + threads - 1) / threads;
  if (blocks == 0) return;
  kernel<<<int(blocks), threads, size_t(total), c10::cuda::getCurrentCUDAStream()>>>(
      m, data.data_ptr<uint8_t>(), ch.a.data_ptr<int64_t>(), ch.b.data_ptr<int64_t>(), ch.begin.data_ptr<int64_t>(),
      ch.count.data_ptr<int32_t>(), ch.lanes.data_ptr<int32_t>(), ch.src.data_ptr<int64_t>(), C, plan, sink,
      status.data_ptr<int32_t>(), int32_t(ring_at));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <class Model>
std::vector<torch::Tensor> launch_decode(const Model& m, int64_t shared, const torch::Tensor& data,
                                         const torch::Tensor& chunks, int64_t n, bool as_u8) {
  Chunks ch(chunks);
  const int64_t C = chunks.size(0);
  auto opts = data.options();
  torch::Tensor out = torch::empty({n}, opts.dtype(as_u8 ? torch::kUInt8 : torch::kInt32));
  torch::Tensor status = torch::zeros({C}, opts.dtype(torch::kInt32));
  if (C == 0) return {out, status};
  if (as_u8)
    run_decode(m, shared, data, ch, C, ValueSink<uint8_t>{out.data_ptr<uint8_t>()}, status);
  else
    run_decode(m, shared, data, ch, C, ValueSink<int32_t>{out.data_ptr<int32_t>()}, status);
  return {out, status};
}


// Returns (scratch, start, size, status); the caller places chunks with gather.
template <class Model>
std::vector<torch::Tensor> launch_encode(const Model& m, const torch::Tensor& sym, const torch::Tensor& chunks,
                                         int64_t scratch_bytes) {
  Chunks ch(chunks);
  const int64_t C = chunks.size(0);
  auto opts = sym.options();
  torch::Tensor scratch = torch::empty({scratch_bytes}, opts.dtype(torch::kUInt8));
  torch::Tensor start = torch::zeros({C}, opts.dtype(torch::kInt64));
  torch::Tensor size = torch::zeros({C}, opts.dtype(torch::kInt64));
  torch::Tensor status = torch::zeros({C}, opts.dtype(torch::kInt32));
  if (C) {
    auto launch = [&](auto* symbols) {
      encode_chunks<<<blocks_for(C), 256, 0, c10::cuda::getCurrentCUDAStream()>>>(
          m, symbols, ch.begin.data_ptr<int64_t>(), ch.count.data_ptr<int32_t>(), ch.lanes.data_ptr<int32_t>(),
          ch.a.data_ptr<int64_t>(), C, scratch.data_ptr<uint8_t>(), start.data_ptr<int64_t>(),
          size.data_ptr<int64_t>(), status.data_ptr<int32_t>());
    };
    if (sym.scalar_type() == torch::kUInt8)  // byte symbols (exponents) are read as they are
      launch(sym.data_ptr<uint8_t>());
    else
      launch(sym.data_ptr<int32_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {scratch, start, size, status};
}

}  // namespace

// ------------------------------------------------------------------ bindings

// shared: decode with the tables in shared memory (StaticSharedDev; needs slot_sym, one
// byte per slot, i.e. an alphabet <= 256, and the shared memory to fit), else from global.
bool use_shared(bool shared, const torch::Tensor& slot_sym, int64_t alphabet, int64_t precision) {
  return shared && slot_sym.numel() == (int64_t(1) << precision) && alphabet <= 256 &&
         fits_shared(StaticSharedDev::shared_bytes(alphabet, precision));
}

// fused: one word per slot (StaticFusedSharedDev), given for precision <= 12 (else empty).
bool use_fused(bool shared, const torch::Tensor& slot_entry, int64_t precision) {
  return shared && precision <= 12 && slot_entry.numel() == (int64_t(1) << precision) &&
         fits_shared(StaticFusedSharedDev::shared_bytes(precision));
}

StaticFusedSharedDev fused_model(const StaticDev& base, const torch::Tensor& slot_entry) {
  check_cuda(slot_entry, "slot_entry", torch::kInt32);
  StaticFusedSharedDev m;
  static_cast<StaticDev&>(m) = base;
  m.slot_entry = reinterpret_cast<const uint32_t*>(slot_entry.data_ptr<int32_t>());
  return m;
}

StaticSharedDev shared_model(const StaticDev& base, const torch::Tensor& slot_sym, const torch::Tensor& sym_fs) {
  check_cuda(slot_sym, "slot_sym", torch::kUInt8);
  check_cuda(sym_fs, "sym_fs", torch::kInt32);
  TORCH_CHECK(sym_fs.numel() == base.alphabet, "sym_fs must hold one entry per symbol");
  StaticSharedDev m;
  static_cast<StaticDev&>(m) = base;
  m.slot_sym = slot_sym.data_ptr<uint8_t>();
  m.sym_fs = reinterpret_cast<const uint32_t*>(sym_fs.data_ptr<int32_t>());
  return m;
}

std::vector<torch::Tensor> decode_static(torch::Tensor data, torch::Tensor chunks, int64_t n, torch::Tensor enc,
                            torch::Tensor slot_fb, torch::Tensor slot_val, torch::Tensor slot_sym,
                            torch::Tensor sym_fs, torch::Tensor slot_entry, int64_t offset, int64_t precision,
                            bool as_u8, bool shared) {
  check_cuda(data, "data", torch::kUInt8);
  const StaticDev m = static_model(enc, slot_fb, slot_val, offset, precision);
  if (use_fused(shared, slot_entry, precision))
    return launch_decode(fused_model(m, slot_entry), StaticFusedSharedDev::shared_bytes(precision), data, chunks, n,
                         as_u8);
  if (use_shared(shared, slot_sym, m.alphabet, precision))
    return launch_decode(shared_model(m, slot_sym, sym_fs), StaticSharedDev::shared_bytes(m.alphabet, precision),
                         data, chunks, n, as_u8);
  return launch_decode(m, 0, data, chunks, n, as_u8);
}

std::vector<torch::Tensor> decode_indexed(torch::Tensor data, torch::Tensor chunks, int64_t n, torch::Tensor enc,
                             torch::Tensor cdf, torch::Tensor base, torch::Tensor offsets, torch::Tensor maxv,
                             torch::Tensor bucket, torch::Tensor idx, int64_t precision, int64_t bucket_bits,
                             bool shared) {
  check_cuda(data, "data", torch::kUInt8);
  check_cuda(idx, "indexes", torch::kInt32);
  const IndexedDev m = indexed_model(enc, cdf, base, offsets, maxv, bucket, idx, precision, bucket_bits);
  const int64_t bytes = IndexedSharedDev::shared_bytes(cdf.numel(), base.numel(), bucket_bits);
  if (shared && fits_shared(bytes)) {
    IndexedSharedDev sm;
    static_cast<IndexedDev&>(sm) = m;
    sm.cdf_total = cdf.numel();
    return launch_decode(sm, bytes, data, chunks, n, false);
  }
  return launch_decode(m, 0, data, chunks, n, false);
}

// fn(sink): BF16 (DFloat11) with its own kernel, the other layouts with the runtime one.
template <class Fn>
void with_float_sink(int64_t layout, const torch::Tensor& raw, const torch::Tensor& out, Fn fn) {
  if (layout == 0)
    fn(FloatMergeSink<0>{raw.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(), 0});
  else
    fn(FloatMergeSink<-1>{raw.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(), int(layout)});
}

// Decode a static stream of float symbol bytes fused with their raw bits into `out`
// (the tensor's little-endian bytes): one pass, no intermediate symbol array.
torch::Tensor decode_float(torch::Tensor data, torch::Tensor chunks, torch::Tensor enc, torch::Tensor slot_fb,
                           torch::Tensor slot_val, torch::Tensor slot_sym, torch::Tensor sym_fs,
                           torch::Tensor slot_entry, int64_t offset, int64_t precision, int64_t layout,
                           torch::Tensor raw, torch::Tensor out, bool shared) {
  check_cuda(data, "data", torch::kUInt8);
  check_cuda(raw, "raw", torch::kUInt8);
  check_cuda(out, "out", torch::kUInt8);
  TORCH_CHECK(layout >= 0 && layout <= 3, "float layout must be 0..3");
  Chunks ch(chunks);
  const int64_t C = chunks.size(0);
  torch::Tensor status = torch::zeros({C}, data.options().dtype(torch::kInt32));
  if (C) {
    const StaticDev m = static_model(enc, slot_fb, slot_val, offset, precision);
    if (use_fused(shared, slot_entry, precision))
      with_float_sink(layout, raw, out, [&](auto sink) {
        run_decode(fused_model(m, slot_entry), StaticFusedSharedDev::shared_bytes(precision), data, ch, C, sink,
                   status);
      });
    else if (use_shared(shared, slot_sym, m.alphabet, precision))
      with_float_sink(layout, raw, out, [&](auto sink) {
        run_decode(shared_model(m, slot_sym, sym_fs), StaticSharedDev::shared_bytes(m.alphabet, precision), data,
                   ch, C, sink, status);
      });
    else  // tables in global memory: the slow path, one kernel for every layout
      run_decode(m, 0, data, ch, C, FloatMergeSink<-1>{raw.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(), int(layout)},
                 status);
  }
  return status;
}

// Decode many static float streams in one launch (codecs/weights/gpu.py plans it): chunks
// [C, 6] (output value, count, lanes, byte begin, byte end, raw value), plan [B, 3] int32
// (first chunk, end chunk, model) with warps_per_block chunks at most per block, params
// [T, 6] int64 per model into the packed tables slot_all (uint8) / fs_all (int32), or,
// when entry_all (int32) is not empty, into its fused one-word-per-slot tables. Every
// model's tables fit `shared` bytes. Writes the per-chunk codes into `status` (int32 [C])
// and returns without waiting: the caller decides when to look.
void decode_float_plan(torch::Tensor data, torch::Tensor chunks, torch::Tensor plan, torch::Tensor params,
                       torch::Tensor slot_all, torch::Tensor fs_all, torch::Tensor entry_all, int64_t shared,
                       int64_t warps_per_block, int64_t layout, torch::Tensor raw, torch::Tensor out,
                       torch::Tensor status) {
  check_cuda(data, "data", torch::kUInt8);
  check_cuda(raw, "raw", torch::kUInt8);
  check_cuda(out, "out", torch::kUInt8);
  check_cuda(plan, "plan", torch::kInt32);
  check_cuda(params, "params", torch::kInt64);
  check_cuda(slot_all, "slot tables", torch::kUInt8);
  check_cuda(fs_all, "symbol tables", torch::kInt32);
  check_cuda(status, "status", torch::kInt32);
  TORCH_CHECK(layout >= 0 && layout <= 3, "float layout must be 0..3");
  TORCH_CHECK(plan.dim() == 2 && plan.size(1) == 3, "plan must be [B, 3]");
  TORCH_CHECK(params.dim() == 2 && params.size(1) == 6, "params must be [T, 6]");
  check_cuda(entry_all, "fused tables", torch::kInt32);
  TORCH_CHECK(warps_per_block >= 1 && warps_per_block <= 32, "warps_per_block must be 1..32");
  TORCH_CHECK(shared > 0 && (shared + 15) / 16 * 16 + ring_bytes(int(32 * warps_per_block)) <= max_shared_per_block(),
              "the tables do not fit a block's shared memory");
  Chunks ch(chunks);
  const int64_t C = chunks.size(0);
  TORCH_CHECK(status.numel() == C, "status must hold one entry per chunk");
  if (!C) return;
  auto launch = [&](auto m, const torch::Tensor& word_all) {
    m.plan = plan.data_ptr<int32_t>();
    m.params = params.data_ptr<int64_t>();
    m.slot_all = slot_all.data_ptr<uint8_t>();
    m.word_all = reinterpret_cast<const uint32_t*>(word_all.data_ptr<int32_t>());
    m.enc = nullptr;
    m.slot_fb = nullptr;
    m.slot_val = nullptr;
    with_float_sink(layout, raw, out, [&](auto sink) {
      run_decode(m, shared, data, ch, C, sink, status, m.plan, plan.size(0), int(32 * warps_per_block));
    });
  };
  if (entry_all.numel())  // every model at precision <= 12: one word per slot
    launch(PlannedDev<StaticFusedSharedDev>{}, entry_all);
  else
    launch(PlannedDev<StaticSharedDev>{}, fs_all);
}

std::vector<torch::Tensor> encode_static(torch::Tensor sym, torch::Tensor chunks, int64_t scratch_bytes,
                                         torch::Tensor enc, int64_t offset, int64_t precision) {
  check_cuda(sym, "symbols", sym.scalar_type() == torch::kUInt8 ? torch::kUInt8 : torch::kInt32);
  auto none = torch::empty({0}, sym.options());
  return launch_encode(static_model(enc, none, none, offset, precision), sym, chunks, scratch_bytes);
}

std::vector<torch::Tensor> encode_indexed(torch::Tensor sym, torch::Tensor chunks, int64_t scratch_bytes,
                                          torch::Tensor enc, torch::Tensor cdf, torch::Tensor base,
                                          torch::Tensor offsets, torch::Tensor maxv, torch::Tensor bucket,
                                          torch::Tensor idx, int64_t precision, int64_t bucket_bits) {
  check_cuda(sym, "symbols", torch::kInt32);
  check_cuda(idx, "indexes", torch::kInt32);
  return launch_encode(indexed_model(enc, cdf, base, offsets, maxv, bucket, idx, precision, bucket_bits), sym,
                       chunks, scratch_bytes);
}

void gather(torch::Tensor scratch, torch::Tensor start, torch::Tensor size, torch::Tensor dest, torch::Tensor out) {
  check_cuda(scratch, "scratch", torch::kUInt8);
  check_cuda(out, "out", torch::kUInt8);
  for (const torch::Tensor* t : {&start, &size, &dest}) check_cuda(*t, "chunk offsets", torch::kInt64);
  const int64_t C = start.numel();
  if (!C) return;
  gather_chunks<<<int(C), 256, 0, c10::cuda::getCurrentCUDAStream()>>>(
      scratch.data_ptr<uint8_t>(), start.data_ptr<int64_t>(), size.data_ptr<int64_t>(), dest.data_ptr<int64_t>(),
      out.data_ptr<uint8_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("decode_static", &decode_static);
  mod.def("decode_indexed", &decode_indexed);
  mod.def("decode_float", &decode_float);
  mod.def("decode_float_plan", &decode_float_plan);
  mod.def("encode_static", &encode_static);
  mod.def("encode_indexed", &encode_indexed);
  mod.def("gather", &gather);
  mod.attr("ENC_SYMBOL_BYTES") = int64_t(sizeof(EncSymbol));
}
