"""One-launch decode plans for many coded tensors (or a chunk subset of one), and the
compressed embedding's row lookups: what runs on the GPU, checked on the CPU through the
plan's numpy reference (the kernel's own algorithm) and the CPU decoder."""
import numpy as np
import pytest
import torch

from entrozip import rans
from entrozip.codecs.weights import dfloat11, floats
from entrozip.codecs.weights.embedding import CompressedEmbedding, row_windows
from entrozip.codecs.weights.plan import PackedTables, Part, compact_launch, decode_plan_reference, plan_launch
from entrozip.errors import FormatError


def coded(dtype, values: torch.Tensor, lanes, chunk_size):
    """(data bytes, model, stream, raw, parsed layout) of a tensor coded with the given chunking."""
    data = values.contiguous().view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for(dtype, data)
    sym, raw = floats.split(dtype, data)
    stream = rans.encode(sym, model, lanes=lanes, chunk_size=chunk_size)
    return data, model, stream, np.asarray(raw).tobytes(), rans.check_stream(stream, model, max_symbols=values.numel())


def test_plan_decodes_many_tensors_in_one_launch_as_the_cpu_does():
    g = torch.Generator().manual_seed(0)
    a = coded("BF16", (torch.randn(5000, generator=g) * 0.02).to(torch.bfloat16), 32, 640)
    b = coded("BF16", torch.randn(3001, generator=g).to(torch.bfloat16), 8, 512)  # another table, a short last chunk
    c = coded("BF16", (torch.randn(700, generator=g) * 0.02).to(torch.bfloat16), 4, 64)
    tables = PackedTables([a[1], b[1], c[1], a[1]])  # a model twice: packed once
    assert len(tables.models) == 3
    assert tables.shared_bytes == max(8 * -(-m.alphabet_size // 4) * 4 + (1 << m.precision) for m in tables.models)
    assert (tables.params[:, 0] % 16 == 0).all()  # slot tables start on 16 bytes
    data = a[2] + b[2] + c[2]
    raw = a[3] + b[3] + c[3]
    parts = [Part(a[1], a[4], 0, 0, 0), Part(b[1], b[4], len(a[2]), 5024, 5000),
             Part(c[1], c[4], len(a[2]) + len(b[2]), 8032, 8001)]
    plan = plan_launch("BF16", parts, tables, warps_per_block=3)
    assert plan.out_values == 8032 + 700 and plan.raw_values == 8701 and plan.data_bytes == len(data)
    for first, end, model in plan.blocks.tolist():  # a thread block never mixes models
        assert 0 < end - first <= 3
        assert {tables.index(p.model) for p in parts
                if p.data_offset <= plan.chunks[first, 3] < p.data_offset + len(data)} >= {model}
    assert tables.entry_all is not None and (tables.params[:, 5] % 4 == 0).all()  # precision 12: fused tables too
    assert tables.fused_shared_bytes == 4 << 12
    for fused in (False, True):
        out, status = decode_plan_reference(plan, tables, data, raw, fused=fused)
        assert (status == 0).all()
        assert out[:10000].tobytes() == a[0] and out[5024 * 2:8025 * 2].tobytes() == b[0]
        assert out[8032 * 2:].tobytes() == c[0]
    p16 = rans.StaticModel.from_symbols(np.frombuffer(a[0], np.uint8), precision=16)
    assert PackedTables([a[1], p16]).entry_all is None  # a model over precision 12: two-table form only


def test_plan_decodes_a_chunk_subset_and_its_compacted_copy():
    g = torch.Generator().manual_seed(1)
    d, model, stream, raw, lay = coded("F32", torch.randn(3001, generator=g), 8, 512)
    tables = PackedTables([model])
    plan = plan_launch("F32", [Part(model, lay, 0, 0, 0, np.array([1, 3, 5]))], tables)
    want = d[512 * 4:1024 * 4] + d[1536 * 4:2048 * 4] + d[2560 * 4:]
    out, status = decode_plan_reference(plan, tables, stream, raw)
    assert (status == 0).all() and out.tobytes() == want
    small, sdata, sraw = compact_launch(plan, np.frombuffer(stream, np.uint8), np.frombuffer(raw, np.uint8), 3)
    assert len(sdata) < len(stream) and len(sraw) == 3 * (512 + 512 + 441)
    out, status = decode_plan_reference(small, tables, sdata.tobytes(), sraw.tobytes())
    assert (status == 0).all() and out.tobytes() == want
    with pytest.raises(ValueError, match="sorted"):
        plan_launch("F32", [Part(model, lay, 0, 0, 0, np.array([3, 1]))], tables)
    with pytest.raises(ValueError, match="sorted"):
        plan_launch("F32", [Part(model, lay, 0, 0, 0, np.array([0, 6]))], tables)


def test_plan_reference_reports_a_corrupt_chunk():
    g = torch.Generator().manual_seed(2)
    d, model, stream, raw, lay = coded("BF16", (torch.randn(4096, generator=g) * 0.02).to(torch.bfloat16), 32, 1024)
    bad = bytearray(stream)
    bad[lay.payload_offset + int(lay.bounds[2]) + 40] ^= 0xFF  # inside chunk 2
    tables = PackedTables([model])
    _, status = decode_plan_reference(plan_launch("BF16", [Part(model, lay, 0, 0, 0)], tables), tables,
                                      bytes(bad), raw)
    assert status.tolist() == [0, 0, -3, 0]


def test_row_windows_cover_every_row_within_capacity():
    rows = np.array([0, 1, 7, 8, 30, 31, 99])
    dim, cs, n = 48, 200, 100 * 48
    seen = []
    for chunks, sl, pos in row_windows(rows, dim, cs, n, capacity=450):
        counts = np.minimum(cs, n - chunks * cs)
        assert counts.sum() <= 450 and (np.diff(chunks) > 0).all()
        starts = np.cumsum(counts) - counts
        for r, p in zip(rows[sl], pos):  # the row's values lie in its chunks, back to back
            j = r * dim // cs
            k = int(np.nonzero(chunks == j)[0][0])
            assert p == starts[k] + r * dim - j * cs and p + dim <= counts.sum()
        seen.extend(rows[sl].tolist())
    assert seen == rows.tolist()
    with pytest.raises(ValueError, match="cannot hold"):
        list(row_windows(rows, dim, cs, n, capacity=150))


@pytest.mark.parametrize("dtype,torch_dtype", [("BF16", torch.bfloat16), ("F32", torch.float32)])
def test_compressed_embedding_looks_rows_up_exactly(dtype, torch_dtype):
    g = torch.Generator().manual_seed(3)
    table = (torch.randn(500, 48, generator=g) * 0.05).to(torch_dtype)
    table[7] = float("nan")
    _, model, stream, raw, lay = coded(dtype, table, 8, 200)  # chunks of 200 values: rows straddle chunks
    like = torch.nn.Embedding(500, 48, padding_idx=0)
    wb = table.element_size()
    scratch = np.empty(CompressedEmbedding.scratch_values(48, 200, 500 * 48) * wb, np.uint8)  # many windows
    emb = CompressedEmbedding((dtype, (500, 48), model, stream, raw), scratch, like)
    emb.verify()
    ids = torch.tensor([[3, 7, 7, 499, 0], [250, 251, 3, 100, 8]])
    got = emb(ids)
    want = torch.nn.functional.embedding(ids, table)
    assert got.dtype == torch_dtype and got.shape == (2, 5, 48)
    assert torch.equal(got.view(torch.uint8 if wb == 1 else torch.int16 if wb == 2 else torch.int32),
                       want.view(torch.uint8 if wb == 1 else torch.int16 if wb == 2 else torch.int32))
    assert torch.equal(emb.weight.view(-1).view(torch.uint8), table.view(-1).view(torch.uint8))
    assert emb.padding_idx == 0
    with pytest.raises(IndexError):
        emb(torch.tensor([500]))
    with pytest.raises(FormatError):
        CompressedEmbedding((dtype, (500, 47), model, stream, raw), scratch, like)
    bad = bytearray(stream)
    bad[lay.payload_offset + int(lay.bounds[5]) + 20] ^= 0xFF
    with pytest.raises(FormatError):
        CompressedEmbedding((dtype, (500, 48), model, bytes(bad), raw), scratch, like).verify()


def test_coded_block_checks_its_parts_on_the_host():
    """The GPU loader's unit: every stream parsed and checked once, whatever the device."""
    from entrozip.codecs.weights.gpu import CodedBlock

    g = torch.Generator().manual_seed(4)
    w = (torch.randn(50_000, generator=g) * 0.02).to(torch.bfloat16)
    data = w.view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for("BF16", data)
    stream, raw = dfloat11.encode_tensor("BF16", data, model, layout="gpu")
    v = torch.randn(1000, generator=g)
    vdata = v.view(torch.uint8).numpy().tobytes()
    vmodel = dfloat11.table_for("F32", vdata)
    vstream, vraw = dfloat11.encode_tensor("F32", vdata, vmodel)
    block = CodedBlock([("w", "BF16", (250, 200), model, stream, bytes(raw)),
                        ("v", "F32", (1000,), vmodel, vstream, bytes(vraw))], "cpu")
    assert block.offsets == {"w": 0, "v": 100_032} and block.nbytes == 104_064  # 64-byte aligned
    assert block.compressed_bytes == len(stream) + len(raw) + len(vstream) + len(vraw)
    assert len(block.groups) == 2  # one launch per float type
    views = block.views(torch.zeros(block.nbytes, dtype=torch.uint8))
    assert views["w"].dtype == torch.bfloat16 and views["w"].shape == (250, 200) and views["v"].shape == (1000,)
    for items in ([("w", "BF16", (250, 200), model, stream, bytes(raw)[:-1])],
                  [("w", "BF16", (250, 201), model, stream, bytes(raw))],
                  [("w", "I32", (250, 200), model, stream, bytes(raw))]):
        with pytest.raises(FormatError):
            CodedBlock(items, "cpu")
