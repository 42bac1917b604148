// Splitting floating-point weights into an entropy-coded symbol byte and raw bits.
//
//   layout  bytes  symbol (coded)                  raw bits (stored)
//   BF16    2      exponent (8 bits)               sign | 7-bit mantissa       -> 1 byte
//   F16     2      high byte: sign | exp5 | m2     low 8 mantissa bits          -> 1 byte
//   F32     4      exponent (8 bits)               sign | 23-bit mantissa       -> 3 bytes (LE)
//   F8      1      the whole byte (e4m3, e5m2)     nothing
//
// Every bit pattern (zeros, subnormals, infinities, every NaN payload) splits and
// merges back exactly: these are bit permutations. floats.py holds the numpy
// reference that the tests compare against.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "rans_cpu.hpp"  // the rANS chunk decoder, fused with merging in decode_merge

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

enum Layout { kBF16 = 0, kF16 = 1, kF32 = 2, kF8 = 3 };

size_t word_bytes(int layout) {
  switch (layout) {
    case kBF16:
    case kF16: return 2;
    case kF32: return 4;
    case kF8: return 1;
  }
  throw std::invalid_argument("unknown float layout");
}
size_t raw_bytes(int layout) { return layout == kF32 ? 3 : layout == kF8 ? 0 : 1; }

template <class T>
inline T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian hosts (x86-64, aarch64), as safetensors
  return v;
}

inline uint8_t symbol_of(int layout, const uint8_t* p) {
  switch (layout) {
    case kBF16: return uint8_t(load<uint16_t>(p) >> 7);
    case kF16: return p[1];
    case kF32: return uint8_t(load<uint32_t>(p) >> 23);
    default: return p[0];
  }
}

struct Buffer {
  const uint8_t* data;
  size_t size;
};
Buffer readable(const py::buffer& b) {
  py::buffer_info info = b.request();
  return {static_cast<const uint8_t*>(info.ptr), size_t(info.size * info.itemsize)};
}

// The BF16 loops on plain uint16 arrays, written so that compilers vectorise them;
// a buffer at an odd address (possible inside a hand-made file) takes the bytewise loop.
bool aligned2(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 1) == 0; }

void split_bf16(const uint8_t* __restrict src, uint8_t* __restrict sym, uint8_t* __restrict raw, size_t lo,
                size_t hi) {
  if (!aligned2(src)) {
    for (size_t i = lo; i < hi; ++i) {
      const uint16_t v = load<uint16_t>(src + 2 * i);
      sym[i] = uint8_t(v >> 7);
      raw[i] = uint8_t(((v >> 8) & 0x80) | (v & 0x7F));
    }
    return;
  }
  const uint16_t* __restrict v = reinterpret_cast<const uint16_t*>(src);
  for (size_t i = lo; i < hi; ++i) {
    sym[i] = uint8_t(v[i] >> 7);
    raw[i] = uint8_t(((v[i] >> 8) & 0x80) | (v[i] & 0x7F));
  }
}
void merge_bf16(const uint8_t* __restrict sym, const uint8_t* __restrict raw, uint8_t* __restrict dst, size_t lo,
                size_t hi) {
  if (!aligned2(dst)) {
    for (size_t i = lo; i < hi; ++i) {
      const uint16_t v = uint16_t((raw[i] & 0x80) << 8 | uint16_t(sym[i]) << 7 | (raw[i] & 0x7F));
      std::memcpy(dst + 2 * i, &v, 2);
    }
    return;
  }
  uint16_t* __restrict d = reinterpret_cast<uint16_t*>(dst);
  for (size_t i = lo; i < hi; ++i)
    d[i] = uint16_t((raw[i] & 0x80) << 8 | uint16_t(sym[i]) << 7 | (raw[i] & 0x7F));
}

// Values [lo, hi) of `p` split into symbol bytes `s` and raw bits `o`.
void split_range(int layout, const uint8_t* p, uint8_t* s, uint8_t* o, size_t lo, size_t hi) {
  switch (layout) {
    case kBF16:
      split_bf16(p, s, o, lo, hi);
      break;
    case kF16:
      for (size_t i = lo; i < hi; ++i) {
        o[i] = p[2 * i];
        s[i] = p[2 * i + 1];
      }
      break;
    case kF32:
      for (size_t i = lo; i < hi; ++i) {
        const uint32_t v = load<uint32_t>(p + 4 * i);
        const uint32_t keep = (v >> 31) << 23 | (v & 0x7FFFFF);
        s[i] = uint8_t(v >> 23);
        o[3 * i] = uint8_t(keep);
        o[3 * i + 1] = uint8_t(keep >> 8);
        o[3 * i + 2] = uint8_t(keep >> 16);
      }
      break;
    default:
      std::memcpy(s + lo, p + lo, hi - lo);
  }
}

// Values [lo, hi) rebuilt from symbol bytes and raw bits.
void merge_range(int layout, const uint8_t* s, const uint8_t* o, uint8_t* d, size_t lo, size_t hi) {
  switch (layout) {
    case kBF16:
      merge_bf16(s, o, d, lo, hi);
      break;
    case kF16:
      for (size_t i = lo; i < hi; ++i) {
        d[2 * i] = o[i];
        d[2 * i + 1] = s[i];
      }
      break;
    case kF32:
      for (size_t i = lo; i < hi; ++i) {
        const uint32_t keep = uint32_t(o[3 * i]) | uint32_t(o[3 * i + 1]) << 8 | uint32_t(o[3 * i + 2]) << 16;
        const uint32_t v = (keep >> 23) << 31 | uint32_t(s[i]) << 23 | (keep & 0x7FFFFF);
        std::memcpy(d + 4 * i, &v, 4);
      }
      break;
    default:
      std::memcpy(d + lo, s + lo, hi - lo);
  }
}

// fn(begin, end) over [0, n) cut into `threads` contiguous parts (inline for one).
template <class Fn>
void parallel_ranges(size_t n, int threads, Fn fn) {
  const size_t parts = std::max<size_t>(1, std::min<size_t>(size_t(std::max(threads, 1)), n / 65536 + 1));
  if (parts == 1) return fn(size_t(0), n);
  std::vector<std::thread> pool;
  for (size_t p = 0; p < parts; ++p) pool.emplace_back(fn, n * p / parts, n * (p + 1) / parts);
  for (auto& t : pool) t.join();
}

size_t count_of(int layout, size_t bytes) {
  const size_t w = word_bytes(layout);
  if (bytes % w) throw std::invalid_argument("buffer size is not a whole number of values");
  return bytes / w;
}

}  // namespace

PYBIND11_MODULE(_floats, mod) {
  mod.doc() = "entrozip weights: split floats into symbol bytes + raw bits, and merge them back";
  py::register_local_exception<ez::CorruptStream>(mod, "CorruptStreamError", PyExc_ValueError);

  // Decode a static rANS stream of symbol bytes and merge each chunk with its raw
  // bits while it is still in cache: no tensor-sized symbol buffer, one pass.
  // The stream's prefix and index were checked by entrozip.rans.check_stream.
  mod.def("decode_merge", [](int layout, py::array_t<uint32_t, py::array::c_style | py::array::forcecast> freqs,
                             uint32_t precision, int64_t offset, py::buffer payload,
                             py::array_t<uint64_t, py::array::c_style | py::array::forcecast> bounds, size_t n,
                             uint32_t lanes, size_t chunk_symbols, py::buffer raw, py::buffer dst, int threads) {
    using namespace ez;
    const size_t w = word_bytes(layout), r = raw_bytes(layout);
    if (offset < 0 || offset + int64_t(freqs.size()) > 256) throw std::invalid_argument("symbols must be bytes");
    const Buffer pb = readable(payload), rb = readable(raw);
    py::buffer_info di = dst.request(true);
    if (di.readonly || size_t(di.size * di.itemsize) != n * w) throw std::invalid_argument("bad destination buffer");
    if (rb.size != n * r) throw std::invalid_argument("raw bits do not match the symbol count");
    if (chunk_symbols == 0 || chunk_symbols % lanes) throw CorruptStream("chunk size is not a multiple of the lanes");
    const size_t chunks = num_chunks_for(n, chunk_symbols);
    const uint64_t* b = bounds.data();
    if (size_t(bounds.size()) != chunks + 1) throw std::invalid_argument("bounds must have chunks + 1 entries");
    for (size_t c = 0; c < chunks; ++c)
      if (b[c] > b[c + 1] || b[c + 1] > pb.size) throw CorruptStream("chunk index points outside the stream");
    StaticTables tables(freqs.data(), size_t(freqs.size()), precision, offset);
    tables.ensure_decode_tables();
    const StaticTables::Decoder<uint8_t> dec{tables.slot_fb.data(), tables.slot_value.data()};
    uint8_t* d = static_cast<uint8_t*>(di.ptr);
    std::vector<int> status(chunks, 0);
    {
      py::gil_scoped_release release;
      with_lanes(lanes, [&](auto W) {
        for_each_chunk(chunks, threads, [&](size_t c) {
          thread_local std::vector<uint8_t> scratch;
          const size_t begin = c * chunk_symbols, count = std::min(chunk_symbols, n - begin);
          scratch.resize(count);
          status[c] = decode_chunk<W>(dec, precision, pb.data + b[c], size_t(b[c + 1] - b[c]), 0, count,
                                      scratch.data());
          if (!status[c]) merge_range(layout, scratch.data(), rb.data + begin * r, d + begin * w, 0, count);
        });
      });
    }
    for (size_t c = 0; c < chunks; ++c)
      if (status[c])
        throw CorruptStream("chunk " + std::to_string(c) + " of " + std::to_string(chunks) + " is corrupt");
  });

  mod.def("histogram", [](int layout, py::buffer src) {
    const Buffer b = readable(src);
    const size_t n = count_of(layout, b.size), w = word_bytes(layout);
    py::array_t<uint64_t> out{256};
    uint64_t* h = out.mutable_data();
    {
      py::gil_scoped_release release;
      uint64_t part[4][256] = {};  // four histograms break the store-to-load chain on runs of one symbol
      size_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; ++u) ++part[u][symbol_of(layout, b.data + (i + u) * w)];
      for (; i < n; ++i) ++part[0][symbol_of(layout, b.data + i * w)];
      for (int k = 0; k < 256; ++k) h[k] = part[0][k] + part[1][k] + part[2][k] + part[3][k];
    }
    return out;
  });

  mod.def("split", [](int layout, py::buffer src, int threads) {
    const Buffer b = readable(src);
    const size_t n = count_of(layout, b.size), r = raw_bytes(layout);
    py::array_t<uint8_t> sym{py::ssize_t(n)}, raw{py::ssize_t(n * r)};
    uint8_t* s = sym.mutable_data();
    uint8_t* o = raw.mutable_data();
    {
      py::gil_scoped_release release;
      const uint8_t* p = b.data;
      parallel_ranges(n, threads, [&](size_t lo, size_t hi) { split_range(layout, p, s, o, lo, hi); });
    }
    return py::make_tuple(sym, raw);
  });

  mod.def("merge", [](int layout, py::array_t<uint8_t, py::array::c_style> sym, py::buffer raw, py::buffer dst,
                      int threads) {
    const size_t n = size_t(sym.size()), w = word_bytes(layout), r = raw_bytes(layout);
    const Buffer rb = readable(raw);
    py::buffer_info di = dst.request(true);
    if (di.readonly) throw std::invalid_argument("destination buffer is read-only");
    if (rb.size != n * r) throw std::invalid_argument("raw bits do not match the symbol count");
    if (size_t(di.size * di.itemsize) != n * w) throw std::invalid_argument("destination size does not match");
    const uint8_t* s = sym.data();
    const uint8_t* o = rb.data;
    uint8_t* d = static_cast<uint8_t*>(di.ptr);
    py::gil_scoped_release release;
    parallel_ranges(n, threads, [&](size_t lo, size_t hi) { merge_range(layout, s, o, d, lo, hi); });
  });
}
