"""The CUDA kernels' own code, run on a CPU (tests/cuda_emu: rans_kernels.cuh and the
extension's host code compiled with g++, a thread per CUDA thread): the same bytes as the
CPU coder both ways, for every kernel the GPU runs (static tables in global, shared and
one-word-per-slot form; indexed with escapes; the float sinks; the block plan), in both
cp.async landing modes. Catches what the numpy reference (warp_reference) cannot: the
word ring's positions, mirror and refill spacing, the read-ahead, the encoder's row loop.
Timing, registers and memory ordering beyond the intrinsics stay for a GPU
(scripts/gpu_check.sh rans)."""
import numpy as np
import pytest
import torch

from entrozip import rans
from entrozip.codecs.weights import dfloat11
from entrozip.errors import FormatError
from entrozip.rans import cuda

import cuda_emu
from conftest import DECODER_TABLE_MODES, check_size_estimate, gaussian_model, gpu_coder_cases, slot_table_case


@pytest.fixture(scope="module")
def ext():
    return cuda_emu.build()


@pytest.fixture(params=[False, True], ids=["deferred-copies", "eager-copies"])
def kernels(ext, request):
    with cuda_emu.installed(ext, eager_copies=request.param):
        yield


def _blob(b: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.uint8)


@pytest.mark.parametrize("lanes,chunk", [(None, None), (32, 2048), (1, 100), (8, 64)])
def test_emulated_kernels_write_the_cpus_bytes_and_decode_either(kernels, lanes, chunk):
    for name, sym, model, idx in gpu_coder_cases():
        if lanes is not None and lanes < 32:  # a row per few symbols: the emulator's slow case
            sym, idx = sym[:2500], None if idx is None else idx[:2500]
        t_idx = None if idx is None else torch.from_numpy(idx)
        ref = rans.encode(sym, model, idx, lanes=lanes, chunk_size=chunk)
        got = cuda.encode(torch.from_numpy(sym), model, t_idx, lanes=lanes, chunk_size=chunk)
        assert bytes(got.numpy()) == ref, name
        for shared in (True, False):  # tables in shared / global memory
            with cuda.decoder_tables(shared, True):
                back = cuda.decode(_blob(ref), model, t_idx)
            np.testing.assert_array_equal(back.numpy(), sym, err_msg=f"{name} shared={shared}")


def test_emulated_batch_and_gpu_layout(kernels):
    rng = np.random.default_rng(3)
    model = rans.StaticModel(np.arange(1, 65))
    arrays = [torch.from_numpy(rng.integers(0, 64, n).astype(np.int32)) for n in (0, 1, 33, 5000, 20000)]
    blobs = cuda.encode_batch(arrays, model)
    for a, b in zip(arrays, blobs):
        assert bytes(b.numpy()) == rans.encode(a.numpy(), model)
    for a, d in zip(arrays, cuda.decode_batch(blobs, model)):
        assert torch.equal(a, d)
    sym = np.minimum(rng.geometric(0.3, 200_000), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym)
    for layout in ("gpu", "latency"):
        ref = rans.encode(sym, model, layout=layout)
        assert bytes(cuda.encode(torch.from_numpy(sym), model, layout=layout).numpy()) == ref
        assert torch.equal(cuda.decode(_blob(ref), model, dtype=torch.uint8), torch.from_numpy(sym))


@pytest.mark.parametrize("precision", [12, 9, 1])
def test_emulated_one_word_per_slot_tables(kernels, precision):
    sym, model = slot_table_case(precision, 20_007)
    blob = _blob(rans.encode(sym, model, lanes=32, chunk_size=4096))
    for shared, fused in DECODER_TABLE_MODES:
        with cuda.decoder_tables(shared, fused):
            back = cuda.decode(blob, model, dtype=torch.uint8)
        np.testing.assert_array_equal(back.numpy(), sym, err_msg=f"{shared} {fused}")


def test_emulated_decoder_names_the_damaged_chunk_and_encoder_bad_symbols(kernels):
    rng = np.random.default_rng(11)
    sym = np.minimum(rng.geometric(0.2, 40_000), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym, precision=12)
    ref = rans.encode(sym, model, lanes=32, chunk_size=2048)
    lay = rans.check_stream(ref, model, max_symbols=sym.size)
    for late in (3, lay.num_chunks - 2):
        bad = _blob(ref)
        bad[lay.payload_offset + int(lay.bounds[late]) + 6] ^= 0x10  # a lane state of chunk `late`
        with pytest.raises(FormatError, match=f"chunk {late} "):
            cuda.decode(bad, model, dtype=torch.uint8)
    with pytest.raises(FormatError):
        cuda.decode(_blob(ref[:-3]), model, dtype=torch.uint8)
    with pytest.raises(ValueError):
        cuda.encode(torch.full((10,), 9999, dtype=torch.int32), rans.StaticModel(np.arange(1, 17)))


def test_emulated_encoder_places_escapes_states_and_index(kernels):
    """Chunks whose escapes nearly fill their room (every value escapes with a 5-byte varint:
    the encoder's upward move of the escapes then overlaps itself), a batch with empty and
    one-symbol arrays between multi-chunk ones (each chunk index and prefix in its place),
    and the size estimate's checks."""
    gm = gaussian_model()[0]
    rng = np.random.default_rng(5)
    arrays, idxs = [], []
    for n in (700, 0, 1, 1500, 0, 64):
        v = rng.integers(2 ** 30, 2 ** 31 - 1, n).astype(np.int32)
        v[::3] = rng.integers(-3, 4, v[::3].size)  # some coded in the table too
        arrays.append(v)
        idxs.append(rng.integers(0, gm.num_cdfs, n).astype(np.int32))
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    blobs = cuda.encode_batch([t(a) for a in arrays], gm, [t(i) for i in idxs], lanes=32, chunk_size=256)
    for a, i, b in zip(arrays, idxs, blobs):
        assert bytes(b.numpy()) == rans.encode(a, gm, i, lanes=32, chunk_size=256)
    blobs = cuda.encode_batch([t(a) for a in arrays], gm, [t(i) for i in idxs], layout="latency")  # estimated
    for a, i, b in zip(arrays, idxs, blobs):
        assert bytes(b.numpy()) == rans.encode(a, gm, i, layout="latency")
        np.testing.assert_array_equal(cuda.decode(b, gm, t(i)).numpy(), a)
    with pytest.raises(ValueError, match="indexes must lie"):
        cuda.encode(t(arrays[0]), gm, t(np.full(700, gm.num_cdfs, np.int32)))
    with pytest.raises(ValueError, match="outside the model's alphabet"):
        cuda.encode(torch.tensor([1, 2, 300], dtype=torch.int32), rans.StaticModel(np.ones(16, np.int64)))


@pytest.mark.parametrize("n", [100, 5000, 70000, 300000])
def test_emulated_size_estimate_and_layout_are_the_cpu_encoders(ext, n):
    with cuda_emu.installed(ext):
        check_size_estimate("cpu", n)


@pytest.mark.parametrize("dtype,torch_dtype", [("BF16", torch.bfloat16), ("F16", torch.float16),
                                               ("F32", torch.float32), ("F8_E4M3", torch.float8_e4m3fn)])
def test_emulated_float_decode_is_byte_identical(kernels, dtype, torch_dtype):
    from entrozip.codecs.weights.gpu import decode_tensor_cuda

    g = torch.Generator().manual_seed(0)
    w = (torch.randn(30_011, generator=g) * 0.02).to(torch_dtype)
    w[:4] = torch.tensor([0.0, -0.0, float("inf"), float("nan")]).to(torch_dtype)
    data = w.view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for(dtype, data)
    stream, raw = dfloat11.encode_tensor(dtype, data, model, layout="latency")
    raw_t = _blob(np.asarray(raw).tobytes()) if len(raw) else torch.zeros(0, dtype=torch.uint8)
    for shared, fused in DECODER_TABLE_MODES:
        with cuda.decoder_tables(shared, fused):
            out = decode_tensor_cuda(dtype, w.numel(), model, _blob(stream), raw_t)
        assert bytes(out.numpy()) == data, (shared, fused)


def test_emulated_block_plan_decodes_a_chunk_subset_and_names_damage(kernels):
    """The one-launch decoder of many tensors (PlannedDev) against the plan's numpy reference."""
    from entrozip.codecs.weights.gpu import DeviceLaunch, DeviceTables
    from entrozip.codecs.weights.plan import PackedTables, Part, decode_plan_reference, plan_launch

    g = torch.Generator().manual_seed(7)
    for precision_12 in (False, True):
        t = (torch.randn(100_001, generator=g) * 0.02).to(torch.bfloat16)
        data = t.view(torch.uint8).numpy().tobytes()
        model = dfloat11.table_for("BF16", data)
        if precision_12:  # every table at precision <= 12: the fused one-word-per-slot plan
            model = rans.StaticModel(model.freqs, precision=12, offset=model.offset)
        stream, raw = dfloat11.encode_tensor("BF16", data, model, layout="latency")
        lay = rans.check_stream(stream, model, max_symbols=t.numel())
        assert lay.num_chunks >= 5
        tables = PackedTables([model])
        bad = bytearray(stream)
        bad[lay.payload_offset + int(lay.bounds[3]) + 50] ^= 0xFF
        plan = plan_launch("BF16", [Part(model, lay, 0, 0, 0, np.array([0, 3, lay.num_chunks - 1]))], tables,
                           warps_per_block=2)
        ref, ref_status = decode_plan_reference(plan, tables, bytes(bad), raw)
        out = torch.zeros(plan.out_values * 2, dtype=torch.uint8)
        status = DeviceLaunch(plan, DeviceTables(tables, "cpu"))(_blob(bytes(bad)), _blob(bytes(raw)), out)
        assert status.tolist() == ref_status.tolist() == [0, -3, 0]
        n0, nl = int(plan.chunks[0, 1]), int(plan.chunks[2, 1])
        got = out.numpy()
        assert got[:2 * n0].tobytes() == ref[:2 * n0].tobytes() == data[:2 * n0]
        assert got[-2 * nl:].tobytes() == ref[-2 * nl:].tobytes() == data[-2 * nl:]


def test_emulated_decoders_survive_random_damage(ext):
    """Flipped bytes anywhere in a stream (framing, escapes, words): a FormatError or some
    symbols, never a crash or a hang (the kernels bound every read by the chunk's length)."""
    rng = np.random.default_rng(12)
    gm = gaussian_model()[0]
    v = rng.laplace(0, 6, 6000).astype(np.int32)
    v[::53] = rng.integers(-(2 ** 31), 2 ** 31 - 1, v[::53].size)
    idx = rng.integers(0, gm.num_cdfs, v.size).astype(np.int32)
    sym = np.minimum(rng.geometric(0.05, 6000), 255).astype(np.uint8)
    static = rans.StaticModel.from_symbols(sym)
    cases = [(rans.encode(v, gm, idx, lanes=32, chunk_size=1024), gm, torch.from_numpy(idx), torch.int32),
             (rans.encode(sym, static, lanes=32, chunk_size=1024), static, None, torch.uint8)]
    with cuda_emu.installed(ext):
        for blob, model, t_idx, dtype in cases:
            for _ in range(12):
                bad = bytearray(blob)
                for at in rng.integers(0, len(bad), rng.integers(1, 4)):
                    bad[at] ^= int(rng.integers(1, 256))
                try:
                    back = cuda.decode(_blob(bytes(bad)), model, t_idx, dtype=dtype)
                    assert back.numel() == (v.size if t_idx is not None else sym.size)
                except (FormatError, ValueError):
                    pass


def test_emulated_bench_encode_phases_run(ext, monkeypatch):
    """bench/bench_rans_gpu.py's encode split (estimate, kernel, placing) runs the extension's
    calls as the API does: checked here so that a GPU session does not spend its minutes on
    a broken bench (timings replaced by one plain call each)."""
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    bench = importlib.import_module("bench_rans_gpu")
    calls = []
    monkeypatch.setattr(bench, "timed", lambda fn: calls.append(fn()) or 1.0)
    rng = np.random.default_rng(1)
    with cuda_emu.installed(ext):
        exps = torch.from_numpy(np.minimum(rng.geometric(0.3, 70_000), 255).astype(np.uint8))
        model = rans.StaticModel.from_symbols(exps.numpy())
        assert bench.encode_phases(exps, model, "gpu") == \
            {"encode_estimate_s": 1.0, "encode_kernel_s": 1.0, "encode_place_s": 1.0}
        gm = gaussian_model()[0]
        idx = torch.from_numpy(rng.integers(0, gm.num_cdfs, 9_000).astype(np.int32))
        vals = torch.from_numpy(rng.laplace(0, 3, 9_000).astype(np.int32))
        assert len(bench.encode_phases(vals, gm, "gpu", idx)) == 3
    assert len(calls) == 6
    sys.modules.pop("bench_rans_gpu", None)
