// CPU backend of the entrozip rANS coder: the bit-exact twin of reference.py.
//
// One stream = prefix (written by Python) + chunk index + chunks. Each chunk is
// an independent sub-stream coded by W interleaved lanes (symbol i of the chunk
// -> lane i % W; W is a power of two <= 32 chosen per stream). Threads take whole
// chunks, so the bytes never depend on the thread count. See docs/FORMAT.md for the
// byte layout; the coder itself is in rans_cpu.hpp, this file binds it to Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "rans_cpu.hpp"

namespace py = pybind11;

namespace {
using namespace ez;

template <class Enc>
py::bytes encode_stream(const Enc& m, uint32_t precision, size_t n, const std::string& prefix, uint32_t lanes,
                        size_t chunk_symbols, int threads) {
  if (chunk_symbols == 0 || chunk_symbols % lanes)
    throw std::invalid_argument("chunk_symbols must be a positive multiple of the lane count");
  const size_t chunks = num_chunks_for(n, chunk_symbols);
  std::vector<std::vector<uint8_t>> bufs(chunks);
  std::vector<int> status(chunks, 0);
  std::vector<size_t> bad(chunks, 0);
  {
    py::gil_scoped_release release;
    with_lanes(lanes, [&](auto W) {
      for_each_chunk(chunks, threads, [&](size_t c) {
        const size_t begin = c * chunk_symbols;
        status[c] = encode_chunk<W>(m, precision, begin, std::min(chunk_symbols, n - begin), bufs[c], bad[c]);
      });
    });
  }
  for (size_t c = 0; c < chunks; ++c) {
    if (status[c] == -1)
      throw std::invalid_argument("symbol at position " + std::to_string(bad[c]) +
                                  " has zero probability under this static model");
    if (status[c] == -2) throw std::invalid_argument("index at position " + std::to_string(bad[c]) + " is out of range");
    if (bufs[c].size() > 0xFFFFFFFFull) throw std::invalid_argument("chunk larger than 4 GiB: use a smaller chunk_size");
  }
  size_t total = prefix.size() + 4 * (chunks ? chunks - 1 : 0);
  for (auto& b : bufs) total += b.size();
  PyObject* obj = PyBytes_FromStringAndSize(nullptr, Py_ssize_t(total));
  if (!obj) throw py::error_already_set();
  uint8_t* dst = reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(obj));
  std::memcpy(dst, prefix.data(), prefix.size());
  dst += prefix.size();
  for (size_t c = 0; c + 1 < chunks; ++c, dst += 4) put_u32(dst, uint32_t(bufs[c].size()));
  for (auto& b : bufs) {
    std::memcpy(dst, b.data(), b.size());
    dst += b.size();
  }
  return py::reinterpret_steal<py::bytes>(obj);
}

// payload: the chunk bytes; bounds: chunks+1 byte offsets into it (checked by the caller).
template <class Dec>
py::array_t<typename Dec::Out> decode_stream(const Dec& m, uint32_t precision, py::buffer payload,
                                   py::array_t<uint64_t, py::array::c_style | py::array::forcecast> bounds, size_t n,
                                   uint32_t lanes, size_t chunk_symbols, int threads) {
  with_lanes(lanes, [](auto) { return 0; });  // validates the lane count before any work
  if (chunk_symbols == 0 || chunk_symbols % lanes) throw CorruptStream("chunk size is not a multiple of the lane count");
  py::buffer_info info = payload.request();
  const uint8_t* base = static_cast<const uint8_t*>(info.ptr);
  const size_t size = size_t(info.size * info.itemsize);
  const size_t chunks = num_chunks_for(n, chunk_symbols);
  if (size_t(bounds.size()) != chunks + 1) throw std::invalid_argument("bounds must have chunks + 1 entries");
  const uint64_t* b = bounds.data();
  for (size_t c = 0; c < chunks; ++c)
    if (b[c] > b[c + 1] || b[c + 1] > size) throw CorruptStream("chunk index points outside the stream");
  py::array_t<typename Dec::Out> out{py::ssize_t(n)};
  typename Dec::Out* o = out.mutable_data();
  std::vector<int> status(chunks, 0);
  {
    py::gil_scoped_release release;
    with_lanes(lanes, [&](auto W) {
      for_each_chunk(chunks, threads, [&](size_t c) {
        const size_t begin = c * chunk_symbols;
        status[c] = decode_chunk<W>(m, precision, base + b[c], size_t(b[c + 1] - b[c]), begin,
                                    std::min(chunk_symbols, n - begin), o);
      });
    });
  }
  for (size_t c = 0; c < chunks; ++c) {
    if (status[c] == -2) throw std::invalid_argument("an index is out of range for this model");
    if (status[c] == -3)
      throw CorruptStream("chunk " + std::to_string(c) + " of " + std::to_string(chunks) +
                          " is corrupt (or was coded with another model)");
  }
  return out;
}

// Integer sum of the costs of symbols 0, stride, 2*stride, ..., in blocks over
// threads (integer addition: the total is the same for any thread count).
using I32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

}  // namespace

// A table of EncSymbol (rans_core.hpp) as raw bytes: the GPU coder's device tables are
// these very entries, so both encoders use the same reciprocals.
py::bytes enc_bytes(const std::vector<ez::EncSymbol>& enc) {
  return py::bytes(reinterpret_cast<const char*>(enc.data()), enc.size() * sizeof(ez::EncSymbol));
}

PYBIND11_MODULE(_rans_cpu, mod) {
  mod.doc() = "entrozip rANS coder, C++ CPU backend (bit-exact twin of entrozip.rans.reference)";
  py::register_local_exception<CorruptStream>(mod, "CorruptStreamError", PyExc_ValueError);

  mod.def("set_simd", [](bool enabled) { g_simd_enabled = enabled; },
          "Allow (default) or forbid the AVX2 decoder; for tests of both paths.");
  mod.def("simd_available", [] {
#if defined(__x86_64__)
    return cpu_has_avx2();
#else
    return false;
#endif
  });
  mod.def("log2_fixed", [](uint64_t v) {
    if (v < 1 || v > (1u << 17)) throw std::invalid_argument("log2_fixed takes 1 <= v <= 2^17");
    return log2_fixed(v);
  });
  mod.def("quantize_counts", [](py::array_t<uint64_t, py::array::c_style | py::array::forcecast> counts, uint32_t precision) {
    auto f = quantize_counts_impl(counts.data(), size_t(counts.size()), precision);
    py::array_t<uint32_t> out{py::ssize_t(f.size())};
    std::copy(f.begin(), f.end(), out.mutable_data());
    return out;
  });

  using U64Array = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;
  using U8Array = py::array_t<uint8_t, py::array::c_style>;
  py::class_<StaticTables>(mod, "StaticTables")
      .def(py::init([](py::array_t<uint32_t, py::array::c_style | py::array::forcecast> freqs, uint32_t precision,
                       int64_t offset) { return StaticTables(freqs.data(), size_t(freqs.size()), precision, offset); }))
      .def("cost_q8", [](const StaticTables& t, I32Array sym, size_t stride, int threads) {
        StaticTables::Encoder<int32_t> e{t, sym.data()};
        py::gil_scoped_release release;
        return estimate_cost(e, size_t(sym.size()), stride, threads);
      })
      .def("cost_q8_u8", [](const StaticTables& t, U8Array sym, size_t stride, int threads) {
        StaticTables::Encoder<uint8_t> e{t, sym.data()};
        py::gil_scoped_release release;
        return estimate_cost(e, size_t(sym.size()), stride, threads);
      })
      .def("encode", [](const StaticTables& t, I32Array sym, const std::string& prefix, uint32_t lanes, size_t chunk_symbols, int threads) {
        return encode_stream(StaticTables::Encoder<int32_t>{t, sym.data()}, t.precision, size_t(sym.size()), prefix, lanes, chunk_symbols, threads);
      })
      .def("encode_u8", [](const StaticTables& t, U8Array sym, const std::string& prefix, uint32_t lanes, size_t chunk_symbols, int threads) {
        return encode_stream(StaticTables::Encoder<uint8_t>{t, sym.data()}, t.precision, size_t(sym.size()), prefix, lanes, chunk_symbols, threads);
      })
      .def("cost_table", [](const StaticTables& t) {
        py::array_t<uint64_t> out{py::ssize_t(t.cost.size())};
        std::copy(t.cost.begin(), t.cost.end(), out.mutable_data());
        return out;
      }, "Q8 cost (1/256 bits, rounded down) of each symbol; 0 for uncodable ones")
      .def("enc_table", [](const StaticTables& t) { return enc_bytes(t.enc); },
           "the encoder's EncSymbol per symbol, as bytes (the CUDA coder uploads them)")
      .def("decode", [](StaticTables& t, py::buffer payload, U64Array bounds, size_t n, uint32_t lanes, size_t chunk_symbols, int threads) {
        t.ensure_decode_tables();
        return decode_stream(StaticTables::Decoder<int32_t>{t.slot_fb.data(), t.slot_value.data()}, t.precision, payload, bounds, n, lanes, chunk_symbols, threads);
      })
      .def("decode_u8", [](StaticTables& t, py::buffer payload, U64Array bounds, size_t n, uint32_t lanes, size_t chunk_symbols, int threads) {
        if (t.offset < 0 || t.offset + int64_t(t.enc.size()) > 256) throw std::invalid_argument("this model's values do not fit uint8");
        t.ensure_decode_tables();
        return decode_stream(StaticTables::Decoder<uint8_t>{t.slot_fb.data(), t.slot_value.data()}, t.precision, payload, bounds, n, lanes, chunk_symbols, threads);
      });

  py::class_<IndexedTables>(mod, "IndexedTables")
      .def(py::init([](I32Array cdfs, I32Array lengths, I32Array offsets, uint32_t precision) {
        if (cdfs.ndim() != 2) throw std::invalid_argument("cdfs must be a 2-D array");
        const size_t C = size_t(cdfs.shape(0));
        if (size_t(lengths.size()) != C || size_t(offsets.size()) != C)
          throw std::invalid_argument("cdf_lengths and offsets need one entry per cdf row");
        return IndexedTables(cdfs.data(), C, size_t(cdfs.shape(1)), lengths.data(), offsets.data(), precision);
      }))
      .def("cost_q8", [](const IndexedTables& t, I32Array sym, I32Array idx, size_t stride, int threads) {
        if (sym.size() != idx.size()) throw std::invalid_argument("symbols and indexes differ in length");
        IndexedTables::Encoder e{t, sym.data(), idx.data()};
        py::gil_scoped_release release;
        return estimate_cost(e, size_t(sym.size()), stride, threads);
      })
      .def("encode", [](const IndexedTables& t, I32Array sym, I32Array idx, const std::string& prefix, uint32_t lanes, size_t chunk_symbols, int threads) {
        if (sym.size() != idx.size()) throw std::invalid_argument("symbols and indexes differ in length");
        return encode_stream(IndexedTables::Encoder{t, sym.data(), idx.data()}, t.precision, size_t(sym.size()), prefix, lanes, chunk_symbols, threads);
      })
      .def("cost_table", [](const IndexedTables& t) {
        py::array_t<uint64_t> out{py::ssize_t(t.cost.size())};
        std::copy(t.cost.begin(), t.cost.end(), out.mutable_data());
        return out;
      }, "Q8 cost of each CDF entry, aligned with the flattened rows (0 past a row's escape)")
      .def("enc_table", [](const IndexedTables& t) { return enc_bytes(t.enc); },
           "the encoder's EncSymbol per CDF entry, as bytes (the CUDA coder uploads them)")
      .def("decode", [](const IndexedTables& t, I32Array idx, py::buffer payload,
                        py::array_t<uint64_t, py::array::c_style | py::array::forcecast> bounds, size_t n, uint32_t lanes, size_t chunk_symbols, int threads) {
        if (size_t(idx.size()) != n) throw std::invalid_argument("indexes must have one entry per coded symbol");
        return decode_stream(IndexedTables::Decoder{t, idx.data()}, t.precision, payload, bounds, n, lanes, chunk_symbols, threads);
      });
}
