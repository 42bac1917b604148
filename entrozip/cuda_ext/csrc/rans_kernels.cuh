// The CUDA coder's device code: models, sinks, the word ring, the decode and encode
// kernels (rans_cuda.cu binds them for torch; tests/cuda_emu compiles this same file for a
// CPU with an emulated warp). No torch, no host code here.
#pragma once
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
//     Words are written from the top of the chunk's scratch slot down, so they land
//     in decoder order; gather_chunks then places every chunk in the output.
//   escapes (indexed model): varints in symbol order; the decoder reads them in
//     lane order within a row (rare: a serial loop over the escaping lanes).
//
// Chunks are described by arrays (symbol begin, count, lanes, scratch offset), so
// one launch codes every chunk of many streams (the batch API).
#include <cstddef>
#include <cstdint>

#include "rans_core.hpp"  // EncSymbol, enc_step, dec_step, the escape rule: the CPU coder's own

namespace {

// The few hardware operations the kernels use beyond the warp intrinsics, as functions so
// that tests/cuda_emu can compile this file for a CPU (EZ_WARP_EMULATION: its warp_emu.hpp
// provides them and the intrinsics).
#ifndef EZ_WARP_EMULATION
// The block's dynamic shared memory (16-aligned).
__device__ __forceinline__ uint32_t* dynamic_shared() {
  extern __shared__ __align__(16) uint32_t ez_smem[];
  return ez_smem;
}
// cp.async of 16 bytes global -> shared, of which the first n (0..16) come from src and the
// rest are zero-filled; committed as a group, waited for with cp_async_wait<N>: every group
// but the N newest has landed (for this thread's copies).
__device__ __forceinline__ void cp_async16(void* shared_dst, const void* src, uint32_t n) {
  const uint32_t dst = uint32_t(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
#endif

using ez::EncSymbol;
using ez::kStateLow;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kEscMaxBytes = 5;
constexpr int64_t kEscHeadroom = 10;  // bytes reserved before a chunk's escapes for varint(E)
// The encoder loads an EncSymbol as two 16-byte words (encode_chunks: entry)
static_assert(sizeof(EncSymbol) == 32 && offsetof(EncSymbol, rcp_lo) == 8 && offsetof(EncSymbol, rcp_shift) == 16 &&
              offsetof(EncSymbol, freq) == 24 && offsetof(EncSymbol, cmpl_freq) == 28);

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

// n values from global memory into the block's shared memory, every thread of the block
// taking a share: 16 bytes a load where both ends are 16-aligned and n fills whole loads
// (256 threads copy a 64 KB table in 16 steps), else one value a load. The caller syncs.
template <class T>
__device__ __forceinline__ void copy_to_block(T* dst, const T* __restrict__ src, int n) {
  constexpr int kPer = 16 / sizeof(T);
  if (n % kPer == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
    const uint4* s16 = reinterpret_cast<const uint4*>(src);
    uint4* d16 = reinterpret_cast<uint4*>(dst);
    for (int t = threadIdx.x; t < n / kPer; t += blockDim.x) d16[t] = __ldg(s16 + t);
  } else {
    for (int t = threadIdx.x; t < n; t += blockDim.x) dst[t] = __ldg(src + t);
  }
}

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
  // The encoder row loop's look-up, branch-free: an entry that is always safe to load (the
  // first one for a value outside the alphabet) and st = 0, or -1 for a value the model
  // cannot code (outside the alphabet, or of frequency 0: `codable` on the loaded entry).
  // 32-bit: the model keeps offset + alphabet within int32 (StaticModel), so v - offset
  // taken modulo 2^32 lies below alphabet exactly when v is in the alphabet.
  __device__ const EncSymbol* enc_entry(int32_t, int32_t v, int& st) const {
    const uint32_t k = uint32_t(v) - uint32_t(offset);
    const bool in = k < uint32_t(alphabet);
    st = in ? 0 : -1;
    return enc + (in ? k : 0u);
  }
  __device__ static bool codable(const EncSymbol& e) { return e.freq != 0; }
  static constexpr int kEncodeBlocks = 4;  // encoder blocks an SM holds (encode_chunks)
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
  __device__ int64_t value(int32_t, int64_t k) const { return k; }
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
  // As StaticDev::enc_entry: -2 for an index outside the rows (row 0 read instead); an
  // escaped value takes its row's escape entry (pass 1 wrote its payload).
  __device__ const EncSymbol* enc_entry(int32_t c, int32_t v, int& st) const {
    const bool in = c >= 0 && c < rows;
    const int32_t r = in ? c : 0;
    int64_t k = int64_t(v) - offsets[r];
    uint64_t raw;
    ez::escape_entry(k, maxv[r], raw);
    st = in ? 0 : -2;
    return enc + base[r] + k;
  }
  __device__ static bool codable(const EncSymbol&) { return true; }
  static constexpr int kEncodeBlocks = 2;
  __device__ void prepare_block(uint32_t*) {}
  // The symbol's CDF index: a global read independent of the state, issued rows ahead.
  static constexpr bool kContext = true;
  __device__ int32_t context(int64_t i) const { return __ldg(idx + i); }
  __device__ int decode(int32_t c, uint32_t slot, uint32_t& fr, uint32_t& bias, int64_t& k, bool& esc) const {
    if (c < 0 || c >= rows) return -2;
    const uint32_t* row = cdf + base[c];
    // The entry owning slot lies in [lo, end): from the entry owning its bucket's first slot
    // to the one owning the next bucket's (the row's escape, its last entry, for the last
    // bucket). A 5-ary search narrows it: four CDF values a step, loaded side by side, about
    // a fifth of the candidates apart, keep the part between the last at or below slot and
    // the first above it. A warp waits for its slowest lane, and a wide table (a large
    // scale: thousands of entries of a few slots) spans up to 256 entries a bucket: on the
    // GPU bench's workload (CompressAI's tables, values at their scales) a warp-row took 8.4
    // four-entry steps scanning linearly, 2.1 this way (max 64 -> 4); on a Kodak latent 1.0
    // and 0.35 (a lane whose bucket lies in one entry needs no step). Invariant: row[lo] <=
    // slot < row[end]; every probe is below end <= the escape entry + 1, inside the row.
    // Plain loads: the tables may be global or shared (IndexedSharedDev).
    const uint32_t b = slot >> bucket_shift;
    const size_t at = (size_t(c) << bucket_bits) + b;
    uint32_t lo = bucket[at];
    uint32_t end = (b + 1 < (1u << bucket_bits) ? uint32_t(bucket[at + 1]) : maxv[c]) + 1;
    while (end - lo > 1) {
      const uint32_t d = max(1u, ((end - lo) * 0x3334u) >> 16), last = end - 1;  // d ~ (end - lo) / 5
      const uint32_t q1 = min(last, lo + d), q2 = min(last, lo + 2 * d), q3 = min(last, lo + 3 * d),
                     q4 = min(last, lo + 4 * d);
      const bool p1 = row[q1] <= slot, p2 = row[q2] <= slot, p3 = row[q3] <= slot, p4 = row[q4] <= slot;
      lo = p4 ? q4 : p3 ? q3 : p2 ? q2 : p1 ? q1 : lo;  // row[] rises: p1..p4 hold for a prefix
      end = !p1 ? q1 : !p2 ? q2 : !p3 ? q3 : !p4 ? q4 : end;
    }
    const uint32_t j = lo;
    bias = slot - row[j];
    fr = row[j + 1] - row[j];
    k = j;
    esc = j == maxv[c];
    return 0;
  }
  // The value of a decoded entry k, and of the escape entry k with its payload raw.
  __device__ int64_t value(int32_t c, int64_t k) const { return k + offsets[c]; }
  __device__ int64_t escape_value(int32_t c, int64_t k, uint64_t raw) const {
    return ez::unescape_entry(raw, k) + offsets[c];
  }
};

// A static model whose decoder tables live in shared memory: one byte per slot (the
// symbol index; alphabets <= 256) and a (freq, start) pair per symbol, unpacked from the
// global (freq - 1) | start << 16 word as it is copied in, so that a row spends no
// instructions unpacking it. The global-table decoder does two 32-address gathers per row
// into a 2^precision x 8 byte table (512 KB at precision 16: L2, not L1); here a row is one
// byte and one 8-byte pair of shared memory. Costs 2^precision + 8 x alphabet bytes of
// shared memory per block (codecs/weights/plan.py sizes its blocks the same way).
struct StaticSharedDev : StaticDev {
  const uint8_t* slot_sym;  // global, 2^precision
  const uint32_t* sym_fs;   // global, alphabet
  const uint8_t* s_sym = nullptr;
  const uint2* s_fs = nullptr;  // shared: (freq, start) per symbol

  static int64_t shared_bytes(int64_t alphabet, int64_t precision) { return 8 * alphabet + (int64_t(1) << precision); }

  __device__ void prepare_block(uint32_t* smem) {  // every thread of the block, before any return
    uint2* fs = reinterpret_cast<uint2*>(smem);
    uint8_t* sym = reinterpret_cast<uint8_t*>(fs + alphabet);
    for (int t = threadIdx.x; t < alphabet; t += blockDim.x) {
      const uint32_t v = __ldg(sym_fs + t);
      fs[t] = make_uint2((v & 0xFFFF) + 1, v >> 16);
    }
    copy_to_block(sym, slot_sym, 1 << precision);
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
    const uint2 v = s_fs[k];
    fr = v.x;
    bias = slot - v.y;
    k += offset;
    esc = false;
    return 0;
  }
};

// A static model whose decoder table is one word per slot in shared memory (precision
// <= 12, alphabet <= 256): (freq - 1) | (slot - start) << 12 | symbol << 24. A row is one
// shared load where StaticSharedDev makes two dependent ones (slot -> symbol -> freq,
// start): a shorter chain per row. 4 x 2^precision bytes: 16 KB at precision 12.
// Not the default: once StaticSharedDev unpacked its (freq, start) pairs, an H200 measured
// that one faster (precision 12: 582 vs 514 GB/s; its 6 KB of tables leave room for more
// blocks an SM); ENTROZIP_RANS_FUSED=1 (rans/cuda.py) still selects this one.
struct StaticFusedSharedDev : StaticDev {
  const uint32_t* slot_entry;  // global, 2^precision
  const uint32_t* s_entry = nullptr;

  static int64_t shared_bytes(int64_t precision) { return int64_t(4) << precision; }

  __device__ void prepare_block(uint32_t* smem) {
    copy_to_block(smem, slot_entry, 1 << precision);
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
    copy_to_block(c, cdf, int(cdf_total));  // a shared-memory table: far below 2^31 values
    for (int t = threadIdx.x; t < rows; t += blockDim.x) {
      b[t] = __ldg(base + t);
      o[t] = __ldg(offsets + t);
      mv[t] = __ldg(maxv + t);
    }
    copy_to_block(bk, bucket, rows << bucket_bits);
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
    if (k == 0) {  // sign r.7, exponent s, mantissa r.0-6: one select of r twice over and v << 7
      const uint32_t rr = r * 0x101u, vv = uint32_t(v) << 7;
      reinterpret_cast<uint16_t*>(out)[i] = uint16_t((rr & 0x807Fu) | (vv & ~0x807Fu));
    } else if (k == 1)
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
//
// Reading a word costs a row few instructions: the ring is followed by a mirror of the
// first kMirror bytes of slot 0 (copied with that slot's segment, in the same cp.async
// group), so that the 32 lanes read their words from one base without wrapping each
// address; and every read is two aligned 16-bit loads and a byte permute, whatever the
// parity of the chunk's word offset (fixed per chunk: the permute's selector).
struct WordRing {
  static constexpr int kSegBytes = 256, kSegs = 4, kRingBytes = kSegBytes * kSegs;
  // A row reads from (pos & ~1) mod kRingBytes up to 2 x 31 + 4 bytes on.
  static constexpr int kMirror = 64, kBytes = kRingBytes + kMirror;
  uint8_t* buf;           // shared, kBytes, 16-aligned
  const uint8_t* abase;   // global: `words` aligned down to 16; segment t starts at abase + 256 t
  const uint8_t* end;     // global: the chunk's end
  uint32_t pos;           // byte position of the next word from abase, modulo 2^32 (ring index: & kRingBytes - 1)
  uint32_t roff;          // words - abase (0..15); pos has its parity throughout
  uint32_t sel;           // __byte_perm selector of a word from the two 16-bit loads around it
  int64_t seg = 0;        // the segment pos is in (as of the last refill)
  uint32_t mark;          // pos >> 8 as of the last refill

  // Segment t into its slot: lanes 0..15, 16 bytes each; with slot 0, lanes 16..19 also
  // copy its first kMirror bytes behind the ring.
  __device__ void copy(int64_t t, int lane) {
    const bool mirror = lane >= 16 && lane < 16 + kMirror / 16 && (t & (kSegs - 1)) == 0;
    if (lane < kSegBytes / 16 || mirror) {
      const int l = lane & 15;
      const uint8_t* src = abase + kSegBytes * t + 16 * l;
      const int64_t left = end - src;
      const uint32_t n = left <= 0 ? 0u : left >= 16 ? 16u : uint32_t(left);
      const uint32_t at = mirror ? kRingBytes + 16 * l : (kSegBytes * t + 16 * l) & (kRingBytes - 1);
      cp_async16(buf + at, n ? src : abase, n);
    }
    cp_async_commit();
  }
  __device__ void ready() {  // every segment but the last two copied has landed, for every lane
    cp_async_wait<kSegs - 2>();
    __syncwarp();
  }
  __device__ void start(uint8_t* ring, const uint8_t* words, const uint8_t* chunk_end, int lane) {
    buf = ring;
    abase = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(words) & ~uintptr_t(15));
    end = chunk_end;
    roff = uint32_t(words - abase);
    pos = roff;
    // bytes (lo0, lo1, hi0, hi1) of the loads at pos & ~1: an even pos takes lo0 lo1, an odd lo1 hi0
    sel = (roff & 1) ? 0x2241u : 0x2210u;
    mark = 0;
    for (int t = 0; t < kSegs; ++t) copy(t, lane);
    ready();
  }
  // The j-th word from pos (j < 32).
  __device__ uint32_t word(int j) const {
    const uint8_t* p = buf + (pos & (kRingBytes - 2)) + 2 * j;  // even; at most 1022 + 62 + 2 < kBytes - 1
    const uint32_t lo = *reinterpret_cast<const uint16_t*>(p), hi = *reinterpret_cast<const uint16_t*>(p + 2);
    return __byte_perm(lo, hi, sel);
  }
  __device__ void take(int n) { pos += 2 * uint32_t(n); }  // n words taken (warp-uniform)
  // Rows that may run between two refills: a row takes at most 64 bytes, so kRowsPerRefill
  // rows from a position in segment s read only inside s and s + 1 (both landed) and enter
  // at most one new segment.
  static constexpr int kRowsPerRefill = kSegBytes / 64;
  // After at most kRowsPerRefill rows: entering segment seg + 1 frees its predecessor's slot.
  // Kept apart from take() so that a row stays one branch-free stretch of code, and called
  // once per kRowsPerRefill rows in the group loop (it costs a row ~5 instructions).
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
    int64_t k = 0, v = 0;
    bool is_esc = false;
    if (valid) {
      const int lrc = m.decode(ctx, x & ((1u << m.precision) - 1), fr, bias, k, is_esc);
      if (lrc)
        rc = lrc;
      else
        v = m.value(ctx, k);
      x = ez::dec_step(x, fr, bias, m.precision);
    }
    if constexpr (!Model::kEscapes)  // a static value is ready: stored before the refill
      if (valid && !rc) out(i, raw_in, v);
    // Lanes below L take the next words in lane order; with escapes, before them: the next
    // row waits for x, not for the escape check's ballot and branch or the row's loads that
    // the value needs (they overlap the ring's latencies instead). Branch-free: every lane
    // reads the word it would take (the ring holds it) and only the needy keep it. The caller
    // calls ring.refill after the row.
    const bool need = valid && x < kStateLow;
    const unsigned nm = __ballot_sync(kFull, need);
    const uint32_t w = ring.word(__popc(nm & ((1u << lane) - 1)));
    if (need) x = __byte_perm(w, x, 0x5410);  // (x << 16) | w: x's low bytes over the word's
    ring.take(__popc(nm));
    if constexpr (Model::kEscapes) {  // escape payloads in lane order, and the escaped values
      unsigned em = __ballot_sync(kFull, valid && is_esc && !rc);
      while (em) {
        const int l = __ffs(em) - 1;
        if (lane == l) {
          uint64_t raw = 0;
          if (!get_varint(esc, esc_end, raw, kEscMaxBytes) || raw >= (uint64_t(1) << 34))
            rc = -3;
          else
            v = m.escape_value(ctx, k, raw);
        }
        const uint64_t pos = __shfl_sync(kFull, reinterpret_cast<uint64_t>(esc), l);
        esc = reinterpret_cast<const uint8_t*>(pos);
        em &= em - 1;
      }
      // An escape, or an entry of a row whose offset lies near the limit, can leave int32; a
      // static symbol cannot (the model keeps offset + alphabet within int32: StaticModel).
      if (valid && !rc && (v < INT32_MIN || v > INT32_MAX)) rc = -3;
      if (valid && !rc) out(i, raw_in, v);
    }
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
  uint32_t* smem = dynamic_shared();
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
  constexpr int kAhead = 8;  // a multiple of WordRing::kRowsPerRefill: a group ends with a refill
  static_assert(kAhead % WordRing::kRowsPerRefill == 0);
  constexpr bool kReads = Model::kContext || Sink::kRaw;
  int32_t ctx[kAhead], ctx_next[kAhead];
  uint32_t raw[kAhead], raw_next[kAhead];
  // checked: whether rows past `full` may be among them (a literal at every call: the
  // group loop's reads carry no bounds test)
  auto read_group = [&](const int r0, int32_t* c, uint32_t* w, const bool checked) {
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const bool in = kReads && (!checked || r0 + k < full);
      const int64_t local = (r0 + k) * 32 + lane;
      c[k] = Model::kContext && in ? m.context(d.begin + local) : 0;
      w[k] = Sink::kRaw && in ? out.fetch(d.src0 + local) : 0u;
    }
  };
  auto group = [&](const int r0) {  // kAhead full rows, then the next group's reads become current
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      d.row(m, out, (r0 + k) * 32 + lane, true, ctx[k], raw[k], lane);
      if (k % WordRing::kRowsPerRefill == WordRing::kRowsPerRefill - 1) d.ring.refill(lane);
    }
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      ctx[k] = ctx_next[k];
      raw[k] = raw_next[k];
    }
  };
  int r = 0;
  if (full > 0) {
    read_group(0, ctx, raw, true);
    for (; r + 2 * kAhead <= full; r += kAhead) {  // the group after this one is whole too
      read_group(r + kAhead, ctx_next, raw_next, false);
      group(r);
    }
    if (r + kAhead <= full) {  // the last whole group; the rows after it may be fewer
      read_group(r + kAhead, ctx_next, raw_next, true);
      group(r);
      r += kAhead;
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

// Encoder blocks: 256 threads (8 chunks), registers capped so that Model::kEncodeBlocks
// blocks fit an SM (warps hide the row loop's latencies): 4 (64 registers) for a static
// model, whose row loop wants ~72 uncapped and spills nothing in it at 64; 2 (no cap in
// effect: ~90) for an indexed one, whose row loop spills at 64 and at 80
// (scripts/kernel_report.py).
constexpr int kEncodeThreads = 256;

// Where a chunk's words end in its scratch slot (base): above the varint headroom, the
// escapes' room (indexed models) and the states, room for count + 1 words, on an even
// address. The host sizes slots to hold this plus 8 bytes (encode_batch: slot_bytes).
template <class Model>
__device__ __forceinline__ uint16_t* slot_words_end(uint8_t* base, int32_t count, int W) {
  const int64_t room = kEscHeadroom + (Model::kEscapes ? int64_t(kEscMaxBytes) * (int64_t(count) + 1) : 0) + 4 * W +
                       2 * (int64_t(count) + 1) + 1;
  uint8_t* const end = base + room;  // rounded down to even by pointer arithmetic (keeps it global to the compiler)
  return reinterpret_cast<uint16_t*>(end - (reinterpret_cast<uintptr_t>(end) & 1));
}

// Scratch slot of a chunk (offset `slot`): [10 headroom][escapes, <= 5 (count + 1) bytes,
// indexed models only][4W][words, <= count + 1, ending at a fixed place: slot_words_end].
// The encoder meets its words last to first, so it writes them from that end down, in
// decoder order already; its states then go just below the first word, the escapes below
// them (moved up from where pass 1 wrote them), varint(E) below those: the chunk's bytes
// come out contiguous in one pass, for gather_chunks to place.
template <class Model, class Sym>
__global__ void __launch_bounds__(kEncodeThreads, Model::kEncodeBlocks) encode_chunks(Model m, const Sym* __restrict__ sym, const int64_t* __restrict__ sym_begin,
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
  // words, 16 bits each on even addresses: the k-th word the encoder emits lands at
  // wend[-1 - k]; wnext: where the next one goes (room for count + 1 below wend)
  uint16_t* const wend = slot_words_end<Model>(base, count, W);
  uint16_t* wnext = wend - 1;
  // pass 2: the rANS encoder, rows last to first. A full-width chunk's (W = 32) full rows go
  // in groups of kAhead: each group's symbols (and contexts) are read while the group before
  // it codes, each row's table entry is loaded while the row before it codes (it does not
  // depend on the state), and no lane needs a bounds test; the other rows (the partial last
  // row, chunks of fewer lanes) go one at a time first. Symbol i = begin + r * W + lane.
  uint32_t x = kStateLow;
  const int64_t first = begin + lane;  // this lane's symbol of row 0
  const Sym* const lane_sym = sym + first;
  // The row's entry (always a loadable one: two 16-byte loads through the read-only cache;
  // the tables are torch allocations, 16-aligned); a lane that codes a symbol the model
  // cannot code sets rc. x_max <= 2^32, so x >= x_max is x > x_max - 1 in 32 bits: the entry
  // carries x_max - 1 (the state stays a 32-bit value all along).
  auto entry = [&](const bool has, const int32_t v, const int32_t c) -> EncSymbol {
    int st;
    const uint4* at = reinterpret_cast<const uint4*>(m.enc_entry(c, v, st));
    const uint4 a = __ldg(at), b = __ldg(at + 1);
    EncSymbol e;
    e.x_max = a.x - 1u;  // x_max - 1: a.y is 1 only for x_max = 2^32 (a.x = 0)
    e.rcp_lo = a.z;
    e.rcp_hi = a.w;
    e.rcp_shift = b.x;
    e.start = b.y;
    e.freq = b.z;
    e.cmpl_freq = b.w;
    if (has && !st && !Model::codable(e)) st = -1;
    if (has && st) rc = st;
    return e;
  };
  // One row: the lanes at or above x_max flush a word, in descending lane order (the CPU
  // appends lanes W-1 .. 0: my place = the flushing lanes above me), then every lane steps.
  const unsigned above = ~((2u << lane) - 1);  // the lanes above mine
  auto code = [&](const bool has, const EncSymbol& e) {
    const bool flush = has && x > uint32_t(e.x_max);  // e.x_max holds x_max - 1 (entry)
    const unsigned fm = __ballot_sync(kFull, flush);
    if (flush) {
      wnext[-__popc(fm & above)] = uint16_t(x);
      x >>= 16;
    }
    wnext -= __popc(fm);
    if (has) x = ez::enc_step(x, e);
  };
  const int full = W == 32 ? count / 32 : 0;  // rows coded in groups
  for (int r = rows - 1; r >= full; --r) {
    const bool in = lane < W && r * W + lane < count;
    const int32_t v = in ? int32_t(lane_sym[r * W]) : 0;
    const int32_t c = Model::kContext && in ? m.context(first + r * W) : 0;
    code(in, entry(in, v, c));
  }
  constexpr int kAhead = 8;
  int32_t v[kAhead], c[kAhead], v_next[kAhead], c_next[kAhead];
  // rows top, top - 1, ..., top - kAhead + 1 (32 symbols a row); checked: whether some
  // may lie below row 0 (a literal at every call: the group loop's reads carry no test)
  auto read_group = [&](const int top, int32_t* vs, int32_t* cs, const bool checked) {
    const Sym* p = lane_sym + top * 32;
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const bool in = !checked || top - k >= 0;
      vs[k] = in ? int32_t(p[-32 * k]) : 0;
      cs[k] = Model::kContext && in ? m.context(first + (top - k) * 32) : 0;
    }
  };
  // kAhead full rows from top down; the entry of row top was loaded before (e), each row
  // loads the next one's; the next group's symbols (read ahead) become current.
  EncSymbol e{};
  auto group = [&](const int top) {
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      const EncSymbol cur = e;
      if (k + 1 < kAhead)
        e = entry(true, v[k + 1], c[k + 1]);
      else if (top - kAhead >= 0)
        e = entry(true, v_next[0], c_next[0]);
      code(true, cur);
    }
#pragma unroll
    for (int k = 0; k < kAhead; ++k) {
      v[k] = v_next[k];
      c[k] = c_next[k];
    }
  };
  int r = full - 1;
  if (r >= 0) {
    read_group(r, v, c, true);
    e = entry(true, v[0], c[0]);
    for (; r - 2 * kAhead + 1 >= 0; r -= kAhead) {  // the group below this one is whole too
      read_group(r - kAhead, v_next, c_next, false);
      group(r);
    }
    if (r - kAhead + 1 >= 0) {  // the last whole group; fewer rows may follow
      read_group(r - kAhead, v_next, c_next, true);
      group(r);
      r -= kAhead;
    }
#pragma unroll
    for (int k = 0; k < kAhead - 1; ++k)  // the last rows, fewer than a group (read above)
      if (r >= 0) {
        const EncSymbol cur = e;
        if (r >= 1) e = entry(true, v[k + 1], c[k + 1]);
        code(true, cur);
        --r;
      }
  }
  const int worst = __reduce_min_sync(kFull, rc);
  const int32_t nw = int32_t(wend - 1 - wnext);
  uint8_t* const words = reinterpret_cast<uint8_t*>(wnext + 1);
  uint8_t* const states = words - 4 * used;
  uint8_t* const esc_at = states - esc_bytes;  // >= esc: the slot leaves 5 (count + 1) + 4W below wend's lowest word
  if (lane < used) {
    states[4 * lane] = uint8_t(x);
    states[4 * lane + 1] = uint8_t(x >> 8);
    states[4 * lane + 2] = uint8_t(x >> 16);
    states[4 * lane + 3] = uint8_t(x >> 24);
  }
  // escapes up to esc_at (a memmove upwards: 32 bytes a step from the top, each step read
  // in full before it is written, so no step overwrites bytes still to be read)
  for (int64_t top = esc_bytes; top > 0; top -= 32) {
    const int64_t i = top - 32 + lane;
    const uint8_t b = i >= 0 ? esc[i] : 0;
    __syncwarp();
    if (i >= 0) esc_at[i] = b;
    __syncwarp();
  }
  if (lane == 0) {
    const int vl = varint_len(uint64_t(esc_bytes));
    put_varint(esc_at - vl, uint64_t(esc_bytes));
    chunk_start[chunk] = slot[chunk] + ((esc_at - vl) - base);
    chunk_size[chunk] = vl + esc_bytes + 4 * used + 2 * int64_t(nw);
    status[chunk] = worst;
  }
}

// Every chunk's bytes to its place in the output, and its entry of its stream's chunk index
// (one block per chunk). ends: the running sum of the chunk sizes (so ends[c] - size[c]
// payload bytes come before chunk c); place[c] = (header bytes of the streams up to and
// including c's: with the payload before it, c's offset; f, the first chunk of c's stream;
// e, how far before f's offset c's index entry goes, 0 for a stream's last chunk, which has
// none). Four bytes a thread: aligned stores, the source's bytes pieced together from two
// aligned loads (a chunk's source may be read up to 4 bytes past its end: the slot's slack).
__global__ void gather_chunks(const uint8_t* __restrict__ scratch, const int64_t* __restrict__ chunk_start,
                              const int64_t* __restrict__ chunk_size, const int64_t* __restrict__ ends,
                              const int64_t* __restrict__ place, uint8_t* __restrict__ out) {
  const int64_t c = blockIdx.x;
  const int64_t n = chunk_size[c];
  const uint8_t* src = scratch + chunk_start[c];
  uint8_t* dst = out + (ends[c] - n) + place[3 * c];
  if (threadIdx.x == 0 && place[3 * c + 2] > 0) {  // the chunk index: u32 little-endian sizes
    const int64_t f = place[3 * c + 1];
    uint8_t* at = out + (ends[f] - chunk_size[f]) + place[3 * f] - place[3 * c + 2];
    for (int b = 0; b < 4; ++b) at[b] = uint8_t(uint64_t(n) >> (8 * b));
  }
  const int64_t lead = (4 - int64_t(reinterpret_cast<uintptr_t>(dst) & 3)) & 3;  // bytes before dst is 4-aligned
  const int64_t head = lead < n ? lead : n;
  if (threadIdx.x < head) dst[threadIdx.x] = src[threadIdx.x];
  const int64_t words = (n - head) / 4;
  const uint8_t* s = src + head;
  const uint32_t* s4 = reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(s) & ~uintptr_t(3));
  const uint32_t shift = uint32_t(reinterpret_cast<uintptr_t>(s) & 3) * 8;
  uint32_t* d4 = reinterpret_cast<uint32_t*>(dst + head);
  for (int64_t t = threadIdx.x; t < words; t += blockDim.x) {
    const uint64_t pair = __ldg(s4 + t) | (shift ? uint64_t(__ldg(s4 + t + 1)) << 32 : 0);
    d4[t] = uint32_t(pair >> shift);
  }
  for (int64_t t = head + 4 * words + threadIdx.x; t < n; t += blockDim.x) dst[t] = src[t];
}

// ------------------------------------------------------------------ size estimate

// The encoder's size estimate, which sizes chunks (rans/stream.py: auto_layout), in one pass:
// over the sampled symbols i = 0, stride, 2 stride, ... (samples of them) the sum of their
// Q8 costs and the least and greatest "key" met, written as one (sum, min, max) int64
// triple a warp for the caller to reduce (integer sums: the same total in any order).
//   static:  key = v - offset; cost[key] (a key outside [0, alphabet) costs 0 here: the
//            caller rejects the stream by its min and max);
//   indexed: key = the context c; the CPU encoder's estimate of symbol v under c (an
//            escape costs its table entry plus 8 bits a varint byte), cost 0 for a c
//            outside [0, rows), rejected likewise.
// `threads`: how many threads the launch has (a grid-stride loop).
__device__ __forceinline__ void put_partial(int64_t sum, int64_t lo, int64_t hi, int64_t* partial) {
  const int lane = threadIdx.x % 32;
  for (int d = 16; d >= 1; d >>= 1) {
    const int64_t s2 = __shfl_sync(kFull, sum, lane ^ d), l2 = __shfl_sync(kFull, lo, lane ^ d),
                  h2 = __shfl_sync(kFull, hi, lane ^ d);
    sum += s2;
    lo = l2 < lo ? l2 : lo;
    hi = h2 > hi ? h2 : hi;
  }
  if (lane == 0) {
    int64_t* p = partial + 3 * ((int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32);
    p[0] = sum;
    p[1] = lo;
    p[2] = hi;
  }
}

template <class Sym>
__global__ void estimate_static_cost(const Sym* __restrict__ sym, int64_t samples, int64_t stride,
                                     const int32_t* __restrict__ cost, int64_t alphabet, int64_t offset,
                                     int64_t threads, int64_t* __restrict__ partial) {
  int64_t sum = 0, lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < samples; i += threads) {
    const int64_t k = int64_t(sym[i * stride]) - offset;
    lo = k < lo ? k : lo;
    hi = k > hi ? k : hi;
    if (k >= 0 && k < alphabet) sum += __ldg(cost + k);
  }
  put_partial(sum, lo, hi, partial);
}

__global__ void estimate_indexed_cost(const int32_t* __restrict__ sym, const int32_t* __restrict__ idx,
                                      int64_t samples, int64_t stride, const int64_t* __restrict__ cost,
                                      const int32_t* __restrict__ base, const int32_t* __restrict__ offsets,
                                      const int32_t* __restrict__ maxv, int64_t rows, int64_t threads,
                                      int64_t* __restrict__ partial) {
  int64_t sum = 0, lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < samples; i += threads) {
    const int64_t c = idx[i * stride];
    lo = c < lo ? c : lo;
    hi = c > hi ? c : hi;
    if (c < 0 || c >= rows) continue;
    const int64_t mv = maxv[c], k = int64_t(sym[i * stride]) - offsets[c];
    const bool escape = k < 0 || k >= mv;
    sum += __ldg(cost + base[c] + (escape ? mv : k));
    if (escape) sum += int64_t(varint_len(uint64_t(k < 0 ? -2 * k - 1 : 2 * (k - mv)))) * 8 * 256;
  }
  put_partial(sum, lo, hi, partial);
}

// ------------------------------------------------------------------ launch shapes

// Decoder blocks: 256 threads (8 chunks), or 512 when a block carries large shared tables
// (more warps share one copy: occupancy is then bounded by shared memory, not registers).
inline int block_threads(int64_t table_bytes) { return table_bytes > 96 * 1024 ? 512 : 256; }
inline int64_t ring_bytes(int threads) { return int64_t(WordRing::kBytes) * (threads / 32); }
inline int blocks_for(int64_t chunks) { return int((chunks * 32 + 255) / 256); }

}  // namespace
