"""The CUDA coder: its host-side parts here (tables, size estimate, layout, prefix
parsing from a stream's start), and on a GPU the byte equality with the CPU coder."""
import numpy as np
import pytest
import torch

from entrozip import rans
from entrozip.errors import FormatError
from entrozip.rans import cuda, stream

from conftest import DECODER_TABLE_MODES, check_size_estimate, gaussian_model, gpu_coder_cases, random_cdf_rows, slot_table_case

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_uploaded_encoder_entries_are_the_cpus_and_divide_exactly():
    """The device tables are the CPU encoder's EncSymbol bytes: fields as rans_core.hpp
    defines them, and reciprocals that divide every 32-bit state exactly."""
    rng = np.random.default_rng(0)
    for precision, size in ((1, 2), (8, 40), (12, 300), (16, 3000)):
        counts = rng.integers(1, 1000, size) * (rng.random(size) < 0.9)
        counts[0] = 1
        model = rans.StaticModel(counts, precision=precision)
        e = cuda.enc_table(model)
        freqs = model.freqs.astype(np.int64)
        assert len(e) == len(freqs) and (e["freq"] == freqs).all()
        assert (e["start"][freqs > 0] == (np.cumsum(freqs) - freqs)[freqs > 0]).all()
        x = [int(v) for v in rng.integers(0, 1 << 32, 100, dtype=np.uint64)] + [0, 1, (1 << 32) - 1]
        for f, sym in zip(freqs.tolist(), e):
            if f == 0:
                continue
            rcp = int(sym["rcp_hi"]) << 32 | int(sym["rcp_lo"])
            assert all((xi * rcp) >> (32 + int(sym["rcp_shift"])) == xi // f for xi in x)
            assert int(sym["x_max"]) == f << (32 - precision) and int(sym["cmpl_freq"]) == (1 << precision) - f


def test_device_tables_match_the_cpu_semantics():
    rng = np.random.default_rng(1)
    model = rans.StaticModel.from_symbols(rng.integers(-5, 40, 10000))
    t = cuda.tables(model, "cpu")
    fb, val = t.slot_fb.numpy().view(np.uint32), t.slot_val.numpy()
    starts = np.concatenate([[0], np.cumsum(model.freqs)[:-1]])
    for slot in rng.integers(0, 1 << model.precision, 300):
        k = np.searchsorted(starts, slot, side="right") - 1
        assert val[slot] == k + model.offset
        assert (fb[slot] & 0xFFFF) + 1 == model.freqs[k] and fb[slot] >> 16 == slot - starts[k]
    sym, fs = t.slot_sym.numpy(), t.sym_fs.numpy().view(np.uint32)  # the shared-memory decoder's tables
    assert len(sym) == 1 << model.precision and len(fs) == model.alphabet_size
    for slot in rng.integers(0, 1 << model.precision, 300):
        k = int(sym[slot])
        assert k + model.offset == val[slot] and (fs[k] & 0xFFFF) + 1 == model.freqs[k]
        assert slot - (fs[k] >> 16) == fb[slot] >> 16
    assert cuda.tables(rans.StaticModel(np.ones(300, np.int64)), "cpu").slot_sym.numel() == 0  # > 256: global tables
    assert t.slot_entry.numel() == 0  # precision 16: no one-word-per-slot table
    m12 = rans.StaticModel.from_symbols(rng.integers(-5, 40, 10000), precision=12)
    t12 = cuda.tables(m12, "cpu")
    e = t12.slot_entry.numpy().view(np.uint32)  # (freq - 1) | (slot - start) << 12 | symbol << 24
    fb12, val12 = t12.slot_fb.numpy().view(np.uint32), t12.slot_val.numpy()
    assert len(e) == 1 << 12
    assert ((e & 0xFFF) == (fb12 & 0xFFFF)).all() and ((e >> 12) & 0xFFF == fb12 >> 16).all()
    assert ((e >> 24).astype(np.int64) + m12.offset == val12).all()
    m = random_cdf_rows(rng, 20, 40)
    t = cuda.tables(m, "cpu")
    bucket = t.bucket.numpy().view(np.uint16)
    shift = m.precision - t.bucket_bits
    for c in range(m.num_cdfs):
        row = m.cdfs[c, :m.cdf_lengths[c]]
        for b in range(1 << t.bucket_bits):
            assert bucket[c, b] == np.argmax(row[1:] > (b << shift))


@gpu
@pytest.mark.parametrize("n", [100, 70000, 300000])
def test_size_estimate_and_layout_are_the_cpu_encoders(n):
    check_size_estimate("cuda", n)


def test_a_streams_layout_parses_from_its_first_bytes():
    rng = np.random.default_rng(2)
    for n, chunk in [(0, None), (10, None), (200000, 4096), (100000, 64)]:
        sym = rng.integers(0, 9, n)
        blob = rans.encode(sym, rans.StaticModel(np.ones(9, np.int64)), chunk_size=chunk)
        full = stream.parse(blob)
        head = blob[:max(32, stream.head_length(blob[:32]))]
        part = stream.parse(head, total_len=len(blob))
        assert (part.n, part.lanes, part.chunk_symbols) == (full.n, full.lanes, full.chunk_symbols)
        np.testing.assert_array_equal(part.bounds, full.bounds)
        assert part.payload_offset == (len(blob) - len(full.payload) if n else 0)
    with pytest.raises(FormatError):
        stream.parse(blob[:40], total_len=len(blob) - 1000)


@pytest.mark.parametrize("head_bytes", [32, 64, 1 << 16])
def test_a_batchs_layouts_parse_from_one_copy_of_their_starts(monkeypatch, head_bytes):
    """_layouts_of copies every stream's first HEAD_COPY_BYTES at once and copies again only
    the streams whose prefix and chunk index are longer: the layouts are the full parse's
    whichever way each stream went, and each stream's own checks still hold."""
    monkeypatch.setattr(cuda, "HEAD_COPY_BYTES", head_bytes)
    rng = np.random.default_rng(3)
    model = rans.StaticModel(np.ones(9, np.int64))
    blobs = [rans.encode(rng.integers(0, 9, n), model, chunk_size=c)
             for n, c in [(0, None), (10, None), (200000, 4096), (3, None), (100000, 64)]]
    t = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    got = cuda._layouts_of(t, model, [None] * len(t))
    for blob, lay in zip(blobs, got):
        full = stream.parse(blob)
        assert (lay.n, lay.lanes, lay.chunk_symbols) == (full.n, full.lanes, full.chunk_symbols)
        np.testing.assert_array_equal(lay.bounds, full.bounds)
    with pytest.raises(FormatError, match="holds 10 symbols but 11"):
        cuda._layouts_of(t[:2], model, [None, 11])
    with pytest.raises(FormatError, match="fingerprint"):
        cuda._layouts_of(t, rans.StaticModel(np.ones(10, np.int64)), [None] * len(t))
    with pytest.raises(FormatError):
        cuda._layouts_of([t[2][:40]], model, [None])  # truncated inside its chunk index


def test_a_device_streams_claimed_count_is_bounded_as_on_the_cpu():
    """A static stream may claim at most 512 symbols a byte unless the caller allows more,
    on the GPU path as on the CPU's: a hostile count never sizes an allocation."""
    model = rans.StaticModel([1])  # one symbol: 0 bits each, a tiny stream for many symbols
    blob = rans.encode(np.zeros(200_000, np.int32), model)
    t = torch.frombuffer(bytearray(blob), dtype=torch.uint8)
    with pytest.raises(FormatError, match="claims 200000 symbols"):
        rans.decode(blob, model)
    with pytest.raises(FormatError, match="claims 200000 symbols"):
        cuda._layout_of(t, model, None)
    assert cuda._layout_of(t, model, None, max_symbols=200_000).n == 200_000
    assert rans.decode(blob, model, max_symbols=200_000).size == 200_000


def test_chunk_rows_describe_every_chunk_of_a_batch():
    rng = np.random.default_rng(4)
    model = rans.StaticModel(np.arange(1, 17))
    blobs = [rans.encode(rng.integers(0, 16, n), model, chunk_size=c) for n, c in ((0, None), (5000, 640), (77, None))]
    byte0 = sym0 = 0
    for blob in blobs:
        lay = stream.parse(blob)
        rows = cuda.chunk_rows(lay, byte0, sym0)
        assert rows.shape == (lay.num_chunks, 5) and rows.dtype == np.int64
        for c, (s0, cnt, w, b0, b1) in enumerate(rows):
            assert s0 == sym0 + c * lay.chunk_symbols and cnt == min(lay.chunk_symbols, lay.n - c * lay.chunk_symbols)
            assert w == lay.lanes and (b0, b1) == (byte0 + lay.payload_offset + lay.bounds[c],
                                                   byte0 + lay.payload_offset + lay.bounds[c + 1])
            assert blob[b0 - byte0:b1 - byte0] == bytes(lay.payload[lay.bounds[c]:lay.bounds[c + 1]])
        byte0, sym0 = byte0 + len(blob), sym0 + lay.n


def test_the_gpu_coder_refuses_cleanly_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from entrozip.errors import EntrozipError

    with pytest.raises(EntrozipError, match="CUDA"):
        cuda._ext()


# ---------------------------------------------------------------- on a GPU


@gpu
@pytest.mark.parametrize("precision", [12, 9, 1])
def test_one_word_per_slot_tables_decode_as_the_others(precision):
    """Static models of precision <= 12 decode from fused tables; the same symbols as the
    two-table shared decoder and the global-table one, full and partial rows."""
    sym, model = slot_table_case(precision, 300_007)
    for layout in ("compact", "latency"):
        blob = torch.frombuffer(bytearray(rans.encode(sym, model, layout=layout)), dtype=torch.uint8).cuda()
        for shared, fused in DECODER_TABLE_MODES:
            with cuda.decoder_tables(shared, fused):
                back = rans.decode(blob, model, dtype=np.uint8)
            np.testing.assert_array_equal(back.cpu().numpy(), sym, err_msg=f"{layout} {shared} {fused}")


@gpu
@pytest.mark.parametrize("lanes,chunk", [(None, None), (32, 2048), (1, 100), (8, 64)])
def test_gpu_writes_the_cpus_bytes_and_decodes_either(lanes, chunk):
    for name, sym, model, idx in gpu_coder_cases(32):
        cpu = rans.encode(sym, model, idx, lanes=lanes, chunk_size=chunk)
        gpu_blob = rans.encode(torch.from_numpy(sym).cuda(), model,
                               None if idx is None else torch.from_numpy(idx).cuda(), lanes=lanes, chunk_size=chunk)
        assert gpu_blob.is_cuda and bytes(gpu_blob.cpu().numpy()) == cpu, name
        for shared in (True, False):  # static tables in shared / global memory
            with cuda.decoder_tables(shared, True):
                back = rans.decode(torch.frombuffer(bytearray(cpu), dtype=torch.uint8).cuda(), model,
                                   None if idx is None else torch.from_numpy(idx).cuda())
            np.testing.assert_array_equal(back.cpu().numpy(), sym, err_msg=f"{name} shared={shared}")
        np.testing.assert_array_equal(rans.decode(gpu_blob.cpu().numpy().tobytes(), model, idx), sym)


@gpu
def test_gpu_layout_is_the_same_on_both_coders():
    """layout="gpu" (many 32-lane chunks): the GPU encoder picks the CPU's layout and bytes."""
    rng = np.random.default_rng(5)
    sym = np.minimum(rng.geometric(0.3, 3 << 20), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym)
    cpu = rans.encode(sym, model, layout="gpu")
    got = rans.encode(torch.from_numpy(sym).cuda(), model, layout="gpu")
    assert bytes(got.cpu().numpy()) == cpu and rans.stream_info(cpu).num_chunks > 20
    assert torch.equal(rans.decode(got, model, dtype=np.uint8).cpu(), torch.from_numpy(sym))
    gm = gaussian_model()[0]
    v = rng.laplace(0, 6, 1 << 20).astype(np.int32)
    idx = rng.integers(0, gm.num_cdfs, v.size).astype(np.int32)
    cpu = rans.encode(v, gm, idx, layout="gpu")
    got = rans.encode(torch.from_numpy(v).cuda(), gm, torch.from_numpy(idx).cuda(), layout="gpu")
    assert bytes(got.cpu().numpy()) == cpu
    cpu = rans.encode(sym, model, layout="latency")  # the row cap, on both coders
    got = rans.encode(torch.from_numpy(sym).cuda(), model, layout="latency")
    assert bytes(got.cpu().numpy()) == cpu and rans.stream_info(cpu).chunk_symbols <= 512 * 32


@gpu
def test_many_more_chunks_than_resident_warps():
    """A stream of far more chunks than the device holds warps at once (2-row chunks, many
    waves of blocks) decodes, and a damaged chunk of the last wave is the one named."""
    rng = np.random.default_rng(11)
    sym = np.minimum(rng.geometric(0.2, 1 << 21), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym, precision=12)
    cpu = rans.encode(sym, model, lanes=32, chunk_size=64)  # 32,768 chunks
    lay = rans.check_stream(cpu, model, max_symbols=sym.size)
    props = torch.cuda.get_device_properties(0)
    assert lay.num_chunks > 2 * props.multi_processor_count * props.max_threads_per_multi_processor // 32
    blob = torch.frombuffer(bytearray(cpu), dtype=torch.uint8).cuda()
    np.testing.assert_array_equal(rans.decode(blob, model, dtype=np.uint8).cpu().numpy(), sym)
    late = lay.num_chunks - 5
    bad = blob.clone()
    bad[lay.payload_offset + int(lay.bounds[late]) + 6] ^= 0x10  # a lane state of chunk `late`
    with pytest.raises(FormatError, match=f"chunk {late} "):
        rans.decode(bad, model, dtype=np.uint8)


@gpu
def test_batch_codes_many_arrays_in_one_call():
    rng = np.random.default_rng(3)
    model = rans.StaticModel(np.arange(1, 65))
    arrays = [torch.from_numpy(rng.integers(0, 64, n).astype(np.int32)).cuda() for n in (0, 1, 33, 5000, 70000)]
    blobs = cuda.encode_batch(arrays, model)
    for a, b in zip(arrays, blobs):
        assert bytes(b.cpu().numpy()) == rans.encode(a.cpu().numpy(), model)
    for a, d in zip(arrays, cuda.decode_batch(blobs, model)):
        assert torch.equal(a, d)


@gpu
def test_gpu_decoder_rejects_damage_and_encoder_rejects_bad_symbols():
    model = rans.StaticModel(np.arange(1, 17))
    sym = torch.randint(0, 16, (100000,), dtype=torch.int32, device="cuda")
    blob = rans.encode(sym, model)
    for cut in (blob[:-3], blob[: len(blob) // 2]):
        with pytest.raises(FormatError):
            rans.decode(cut.clone(), model)
    bad = blob.clone()
    bad[len(bad) // 2] ^= 0x40
    with pytest.raises(FormatError):
        rans.decode(bad, model)
    with pytest.raises(ValueError):
        rans.encode(torch.full((10,), 99, dtype=torch.int32, device="cuda"), model)


@pytest.mark.parametrize("W", [1, 8, 32])
def test_the_kernels_algorithm_writes_the_cpus_bytes(W):
    """warp_reference (the kernels' steps in numpy) against the CPU coder, chunk by chunk."""
    from entrozip.rans import warp_reference as wr

    rng = np.random.default_rng(W)
    gm = gaussian_model()[0]
    cases = [(rans.StaticModel.from_symbols(s), s, None) for s in
             (rng.geometric(0.3, 3001) % 20, np.full(97, 4), rng.integers(0, 256, 2000))]
    v = rng.laplace(0, 5, 2500).astype(np.int32)
    v[::50] = rng.integers(-(2 ** 31), 2 ** 31 - 1, v[::50].size)
    cases.append((gm, v, rng.integers(0, gm.num_cdfs, v.size).astype(np.int32)))
    for model, sym, idx in cases:
        chunk = 64 * W
        blob = rans.encode(sym, model, idx, lanes=W, chunk_size=chunk)
        lay = stream.parse(blob)
        tab = cuda.tables(model, "cpu")
        indexed = idx is not None
        for c in range(lay.num_chunks):
            a, b = c * lay.chunk_symbols, min(lay.n, (c + 1) * lay.chunk_symbols)
            part_idx = None if idx is None else idx[a:b]
            mine = wr.encode_chunk(tab, indexed, np.asarray(sym[a:b]), part_idx, W)
            theirs = bytes(lay.payload[int(lay.bounds[c]):int(lay.bounds[c + 1])])
            assert mine == theirs, (type(model).__name__, c)
            back = wr.decode_chunk(tab, indexed, theirs, part_idx, b - a, W)
            np.testing.assert_array_equal(back, sym[a:b])
