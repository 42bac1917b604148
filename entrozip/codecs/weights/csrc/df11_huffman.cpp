// CPU coder of the official DFloat11 exponent streams (dfloat11 0.5.x).
//
// Format, as the official encoder writes it: exponents are Huffman-coded (codes
// of at most 32 bits) MSB-first into one byte stream per unit. Decoding uses
// hierarchical 256-entry look-up tables: luts[0] is indexed by the next 8 bits;
// an entry below 240 is the decoded exponent, an entry v >= 240 continues in
// table 256 - v with the following 8 bits. The last row of luts holds the code
// length of every exponent. (So exponents >= 240 cannot be coded; entrozip's own
// format has no such limit.) Output positions and gaps only serve the GPU's
// parallel decode and are not needed by this sequential one.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

PYBIND11_MODULE(_df11, mod) {
  mod.doc() = "entrozip weights: coder of official DFloat11 Huffman exponent streams";

  // The official encoder's loop, in C++: codes MSB first; before each value, a gap
  // entry for every new thread window (bit offset of its first code) and an output
  // position for every new block; when the last code ends inside a byte, the EOF
  // code follows and one more byte is written. Returns (encoded, gaps, positions);
  // the caller pads and packs the gaps.
  mod.def("encode_exponents", [](py::array_t<uint8_t, py::array::c_style> exps,
                                 py::array_t<uint8_t, py::array::c_style> lens,
                                 py::array_t<uint32_t, py::array::c_style> vals, uint32_t eof_len, uint32_t eof_val,
                                 uint64_t window_bits, uint64_t block_bits) {
    if (lens.size() != 256 || vals.size() != 256) throw std::invalid_argument("code book needs 256 entries");
    if (eof_len == 0 || eof_len > 32 || window_bits == 0 || block_bits == 0) throw std::invalid_argument("bad code");
    const uint8_t* e = exps.data();
    const uint8_t* len = lens.data();
    const uint32_t* val = vals.data();
    const size_t n = size_t(exps.size());
    for (size_t k = 0; k < n; ++k)
      if (len[e[k]] == 0 || len[e[k]] > 32) throw std::invalid_argument("a value has no code of 1..32 bits");
    std::vector<uint8_t> out;
    std::vector<uint8_t> gaps;
    std::vector<uint32_t> positions;
    {
      py::gil_scoped_release release;
      out.reserve(n / 2 + 8);
      uint64_t acc = 0, total = 0;
      uint32_t bits = 0;
      auto mark = [&](size_t k) {
        if (total / window_bits + 1 > gaps.size()) gaps.push_back(uint8_t(total % window_bits));
        if (total / block_bits + 1 > positions.size()) positions.push_back(uint32_t(k));
      };
      for (size_t k = 0; k < n; ++k) {
        mark(k);
        const uint32_t l = len[e[k]];
        acc = (acc << l) | val[e[k]];
        bits += l;
        total += l;
        while (bits >= 8) {
          bits -= 8;
          out.push_back(uint8_t(acc >> bits));
        }
        acc &= (uint64_t(1) << bits) - 1;
      }
      if (bits > 0) {
        mark(n);
        acc = (acc << eof_len) | eof_val;
        bits += eof_len;
        out.push_back(uint8_t(bits >= 8 ? acc >> (bits - 8) : acc << (8 - bits)));
      }
      positions.push_back(uint32_t(n));
    }
    auto array = [](const auto& v) {
      py::array_t<typename std::decay_t<decltype(v)>::value_type> a{py::ssize_t(v.size())};
      std::copy(v.begin(), v.end(), a.mutable_data());
      return a;
    };
    return py::make_tuple(array(out), array(gaps), array(positions));
  });

  mod.def("decode_exponents", [](py::array_t<uint8_t, py::array::c_style> luts, py::buffer encoded, size_t n) {
    if (luts.ndim() != 2 || luts.shape(1) != 256 || luts.shape(0) < 2 || luts.shape(0) > 17)
      throw std::invalid_argument("luts must be [tables + 1, 256] with 1 to 16 tables");
    const size_t tables = size_t(luts.shape(0)) - 1;
    const uint8_t* lut = luts.data();
    const uint8_t* lens = lut + tables * 256;
    py::buffer_info info = encoded.request();
    const uint8_t* enc = static_cast<const uint8_t*>(info.ptr);
    const size_t bytes = size_t(info.size * info.itemsize), total_bits = 8 * bytes;
    py::array_t<uint8_t> out{py::ssize_t(n)};
    uint8_t* o = out.mutable_data();
    size_t bad = n;  // index of the first undecodable symbol, n if none
    {
      py::gil_scoped_release release;
      auto peek8 = [&](size_t bit) -> uint32_t {  // 8 bits from `bit`, MSB first; zeros past the end
        const size_t i = bit >> 3;
        const uint32_t hi = i < bytes ? enc[i] : 0, lo = i + 1 < bytes ? enc[i + 1] : 0;
        return ((hi << 8 | lo) >> (8 - (bit & 7))) & 0xFF;
      };
      size_t pos = 0;
      for (size_t k = 0; k < n && bad == n; ++k) {
        size_t table = 0;
        uint32_t sym = 256;
        for (int level = 0; level < 4; ++level) {
          const uint32_t v = lut[table * 256 + peek8(pos + 8 * size_t(level))];
          if (v < 240) {
            sym = v;
            break;
          }
          table = 256 - v;
          if (table >= tables) break;
        }
        const uint32_t len = sym < 256 ? lens[sym] : 0;
        if (len == 0 || len > 32 || pos + len > total_bits) {
          bad = k;
          break;
        }
        pos += len;
        o[k] = uint8_t(sym);
      }
    }
    if (bad < n)
      throw std::invalid_argument("corrupt DFloat11 exponent stream at value " + std::to_string(bad) + " of " +
                                  std::to_string(n));
    return out;
  });
}
