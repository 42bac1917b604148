// The CUDA coder's host side: torch tensors in, kernel launches, torch tensors out; the
// Python module's functions (rans/cuda.py calls them). Written against what the including
// file provides for its device (rans_cuda.cu: a CUDA GPU; tests/cuda_emu: a CPU running
// rans_kernels.cuh with emulated warps), before it includes this one:
//   bool on_device(const torch::Tensor&)           the tensor lives where the kernels run
//   int64_t max_shared_per_block()                 the opt-in dynamic shared memory limit
//   int64_t sm_count()                             multiprocessors of the device
//   launch(kernel, blocks, threads, shared_bytes, args...)   on the current stream
//   kDeviceName                                    for error messages
#pragma once
#include <torch/extension.h>

#include <algorithm>
#include <vector>

namespace {

// Whether a decoder whose tables take table_bytes of shared memory fits a block, rings included.
bool fits_shared(int64_t table_bytes) {
  return (table_bytes + 15) / 16 * 16 + ring_bytes(block_threads(table_bytes)) <= max_shared_per_block();
}

void check_device(const torch::Tensor& t, const char* name, at::ScalarType type) {
  TORCH_CHECK(on_device(t), name, " must be a ", kDeviceName, " tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == type, name, " has the wrong dtype");
}

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
    TORCH_CHECK(on_device(c) && c.dim() == 2 && (c.size(1) == 5 || c.size(1) == 6) &&
                    c.scalar_type() == torch::kInt64,
                "chunks must be an int64 device tensor of shape [C, 5] or [C, 6]");
    begin = c.select(1, 0).contiguous();
    count = c.select(1, 1).to(torch::kInt32).contiguous();
    lanes = c.select(1, 2).to(torch::kInt32).contiguous();
    a = c.select(1, 3).contiguous();
    b = c.select(1, 4).contiguous();
    src = c.size(1) == 6 ? c.select(1, 5).contiguous() : begin;
  }
};

// Threads a block for C chunks: the default shape, or smaller blocks when the chunks are
// too few to give every SM a block of it (a decoder with large tables fits one block an SM:
// 962 chunks in 16-warp blocks would keep 61 of 132 SMs busy, in 8-warp ones 121). A warp's
// rows are a serial chain, so a chunk takes as long on a busy SM as on an idle one; spread,
// the warps of a block share their SM's issue slots with fewer others. At least 4 warps.
int spread_threads(int threads, int64_t C) {
  const int64_t warps = (C + sm_count() - 1) / sm_count();
  return int(std::min<int64_t>(threads, 32 * std::max<int64_t>(4, (warps + 3) / 4 * 4)));
}

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
  const int threads = plan ? plan_threads : spread_threads(block_threads(shared), C);
  const int64_t ring_at = (shared + 15) / 16 * 16;
  const int64_t total = ring_at + ring_bytes(threads);
  TORCH_CHECK(total <= max_shared_per_block(), "the decoder's tables do not fit a block's shared memory");
  const int64_t blocks = plan ? plan_blocks : (C * 32 + threads - 1) / threads;
  if (blocks == 0) return;
  launch(kernel, blocks, threads, total, m, data.data_ptr<uint8_t>(), ch.a.data_ptr<int64_t>(),
         ch.b.data_ptr<int64_t>(), ch.begin.data_ptr<int64_t>(), ch.count.data_ptr<int32_t>(),
         ch.lanes.data_ptr<int32_t>(), ch.src.data_ptr<int64_t>(), C, plan, sink, status.data_ptr<int32_t>(),
         int32_t(ring_at));
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
  TORCH_CHECK(reinterpret_cast<uintptr_t>(m.enc) % 16 == 0, "the encoder table must be 16-byte aligned");
  if (C) {
    auto run = [&](auto* symbols) {
      using Sym = std::remove_pointer_t<decltype(symbols)>;
      launch(encode_chunks<Model, Sym>, blocks_for(C), kEncodeThreads, 0, m, symbols, ch.begin.data_ptr<int64_t>(),
             ch.count.data_ptr<int32_t>(), ch.lanes.data_ptr<int32_t>(), ch.a.data_ptr<int64_t>(), C,
             scratch.data_ptr<uint8_t>(), start.data_ptr<int64_t>(), size.data_ptr<int64_t>(),
             status.data_ptr<int32_t>());
    };
    if (sym.scalar_type() == torch::kUInt8)  // byte symbols (exponents) are read as they are
      run(sym.data_ptr<uint8_t>());
    else
      run(sym.data_ptr<int32_t>());
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
  check_device(slot_entry, "slot_entry", torch::kInt32);
  StaticFusedSharedDev m;
  static_cast<StaticDev&>(m) = base;
  m.slot_entry = reinterpret_cast<const uint32_t*>(slot_entry.data_ptr<int32_t>());
  return m;
}

StaticSharedDev shared_model(const StaticDev& base, const torch::Tensor& slot_sym, const torch::Tensor& sym_fs) {
  check_device(slot_sym, "slot_sym", torch::kUInt8);
  check_device(sym_fs, "sym_fs", torch::kInt32);
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
  check_device(data, "data", torch::kUInt8);
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
  check_device(data, "data", torch::kUInt8);
  check_device(idx, "indexes", torch::kInt32);
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
  check_device(data, "data", torch::kUInt8);
  check_device(raw, "raw", torch::kUInt8);
  check_device(out, "out", torch::kUInt8);
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
  check_device(data, "data", torch::kUInt8);
  check_device(raw, "raw", torch::kUInt8);
  check_device(out, "out", torch::kUInt8);
  check_device(plan, "plan", torch::kInt32);
  check_device(params, "params", torch::kInt64);
  check_device(slot_all, "slot tables", torch::kUInt8);
  check_device(fs_all, "symbol tables", torch::kInt32);
  check_device(status, "status", torch::kInt32);
  TORCH_CHECK(layout >= 0 && layout <= 3, "float layout must be 0..3");
  TORCH_CHECK(plan.dim() == 2 && plan.size(1) == 3, "plan must be [B, 3]");
  TORCH_CHECK(params.dim() == 2 && params.size(1) == 6, "params must be [T, 6]");
  check_device(entry_all, "fused tables", torch::kInt32);
  TORCH_CHECK(warps_per_block >= 1 && warps_per_block <= 32, "warps_per_block must be 1..32");
  TORCH_CHECK(shared > 0 && (shared + 15) / 16 * 16 + ring_bytes(int(32 * warps_per_block)) <= max_shared_per_block(),
              "the tables do not fit a block's shared memory");
  Chunks ch(chunks);
  const int64_t C = chunks.size(0);
  TORCH_CHECK(status.numel() == C, "status must hold one entry per chunk");
  if (!C) return;
  auto run = [&](auto m, const torch::Tensor& word_all) {
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
    run(PlannedDev<StaticFusedSharedDev>{}, entry_all);
  else
    run(PlannedDev<StaticSharedDev>{}, fs_all);
}

std::vector<torch::Tensor> encode_static(torch::Tensor sym, torch::Tensor chunks, int64_t scratch_bytes,
                                         torch::Tensor enc, int64_t offset, int64_t precision) {
  check_device(sym, "symbols", sym.scalar_type() == torch::kUInt8 ? torch::kUInt8 : torch::kInt32);
  auto none = torch::empty({0}, sym.options());
  return launch_encode(static_model(enc, none, none, offset, precision), sym, chunks, scratch_bytes);
}

std::vector<torch::Tensor> encode_indexed(torch::Tensor sym, torch::Tensor chunks, int64_t scratch_bytes,
                                          torch::Tensor enc, torch::Tensor cdf, torch::Tensor base,
                                          torch::Tensor offsets, torch::Tensor maxv, torch::Tensor bucket,
                                          torch::Tensor idx, int64_t precision, int64_t bucket_bits) {
  check_device(sym, "symbols", torch::kInt32);
  check_device(idx, "indexes", torch::kInt32);
  return launch_encode(indexed_model(enc, cdf, base, offsets, maxv, bucket, idx, precision, bucket_bits), sym,
                       chunks, scratch_bytes);
}

// ends: the running sum of size; place: int64 [C, 3] (gather_chunks).
void gather(torch::Tensor scratch, torch::Tensor start, torch::Tensor size, torch::Tensor ends, torch::Tensor place,
            torch::Tensor out) {
  check_device(scratch, "scratch", torch::kUInt8);
  check_device(out, "out", torch::kUInt8);
  for (const torch::Tensor* t : {&start, &size, &ends, &place}) check_device(*t, "chunk offsets", torch::kInt64);
  const int64_t C = start.numel();
  TORCH_CHECK(size.numel() == C && ends.numel() == C && place.numel() == 3 * C, "one size, end and place a chunk");
  if (!C) return;
  launch(gather_chunks, C, 256, 0, scratch.data_ptr<uint8_t>(), start.data_ptr<int64_t>(), size.data_ptr<int64_t>(),
         ends.data_ptr<int64_t>(), place.data_ptr<int64_t>(), out.data_ptr<uint8_t>());
}

// The size estimate's per-warp (sum, min, max) triples (estimate_*_cost) over `samples`
// symbols a `stride` apart: enough blocks to fill the device, at most a block per 2048 samples.
int64_t estimate_blocks(int64_t samples) {
  return std::max<int64_t>(1, std::min<int64_t>((samples + 2047) / 2048, 8 * sm_count()));
}

torch::Tensor estimate_static(torch::Tensor sym, int64_t stride, torch::Tensor cost, int64_t offset) {
  check_device(sym, "symbols", sym.scalar_type() == torch::kUInt8 ? torch::kUInt8 : torch::kInt32);
  check_device(cost, "cost", torch::kInt32);
  TORCH_CHECK(stride >= 1, "stride must be positive");
  const int64_t samples = (sym.numel() + stride - 1) / stride, blocks = estimate_blocks(samples);
  torch::Tensor partial = torch::empty({blocks * 8, 3}, sym.options().dtype(torch::kInt64));
  auto run = [&](auto* symbols) {
    using Sym = std::remove_pointer_t<decltype(symbols)>;
    launch(estimate_static_cost<Sym>, blocks, 256, 0, symbols, samples, stride, cost.data_ptr<int32_t>(),
           cost.numel(), offset, blocks * 256, partial.data_ptr<int64_t>());
  };
  if (sym.scalar_type() == torch::kUInt8)
    run(sym.data_ptr<uint8_t>());
  else
    run(sym.data_ptr<int32_t>());
  return partial;
}

torch::Tensor estimate_indexed(torch::Tensor sym, torch::Tensor idx, int64_t stride, torch::Tensor cost,
                               torch::Tensor base, torch::Tensor offsets, torch::Tensor maxv) {
  check_device(sym, "symbols", torch::kInt32);
  check_device(idx, "indexes", torch::kInt32);
  check_device(cost, "cost", torch::kInt64);
  for (const torch::Tensor* t : {&base, &offsets, &maxv}) check_device(*t, "model rows", torch::kInt32);
  TORCH_CHECK(stride >= 1, "stride must be positive");
  TORCH_CHECK(idx.numel() == sym.numel(), "one index a symbol");
  TORCH_CHECK(offsets.numel() == base.numel() && maxv.numel() == base.numel(), "one offset and maxv a row");
  const int64_t samples = (sym.numel() + stride - 1) / stride, blocks = estimate_blocks(samples);
  torch::Tensor partial = torch::empty({blocks * 8, 3}, sym.options().dtype(torch::kInt64));
  launch(estimate_indexed_cost, blocks, 256, 0, sym.data_ptr<int32_t>(), idx.data_ptr<int32_t>(), samples, stride,
         cost.data_ptr<int64_t>(), base.data_ptr<int32_t>(), offsets.data_ptr<int32_t>(), maxv.data_ptr<int32_t>(),
         base.numel(), blocks * 256, partial.data_ptr<int64_t>());
  return partial;
}

// The module's functions (the including file's PYBIND11_MODULE calls this).
void define_rans_functions(pybind11::module_& mod) {
  mod.def("decode_static", &decode_static);
  mod.def("decode_indexed", &decode_indexed);
  mod.def("decode_float", &decode_float);
  mod.def("decode_float_plan", &decode_float_plan);
  mod.def("encode_static", &encode_static);
  mod.def("encode_indexed", &encode_indexed);
  mod.def("gather", &gather);
  mod.def("estimate_static", &estimate_static);
  mod.def("estimate_indexed", &estimate_indexed);
  mod.attr("ENC_SYMBOL_BYTES") = int64_t(sizeof(EncSymbol));
}
