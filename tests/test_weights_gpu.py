"""GPU decode of DFloat11-style tensors: byte-identical to the CPU decoder, and the GPU
keep_compressed loader (the GPU tests skip without CUDA; the holder's host checks run anywhere)."""
import numpy as np
import pytest
import torch

from entrozip import rans
from entrozip.codecs.weights import dfloat11, floats

from conftest import DECODER_TABLE_MODES

gpu = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@gpu[0]
@gpu[1]
@pytest.mark.parametrize("dtype,torch_dtype", [("BF16", torch.bfloat16), ("F16", torch.float16),
                                               ("F32", torch.float32), ("F8_E4M3", torch.float8_e4m3fn)])
def test_gpu_decode_is_byte_identical(dtype, torch_dtype):
    from entrozip.codecs.weights.gpu import as_tensor, decode_tensor_cuda

    g = torch.Generator().manual_seed(0)
    w = (torch.randn(1_000_003, generator=g) * 0.02).to(torch_dtype)
    w[:4] = torch.tensor([0.0, -0.0, float("inf"), float("nan")]).to(torch_dtype)
    data = w.view(torch.uint8).numpy().tobytes() if w.element_size() > 1 else w.view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for(dtype, data)
    stream, raw = dfloat11.encode_tensor(dtype, data, model)
    cu = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8).cuda()  # noqa: E731
    from entrozip.rans import cuda as rcuda

    raw_dev = cu(np.asarray(raw).tobytes()) if len(raw) else torch.zeros(0, dtype=torch.uint8, device="cuda")
    for shared, fused in DECODER_TABLE_MODES:
        with rcuda.decoder_tables(shared, fused):
            out = decode_tensor_cuda(dtype, w.numel(), model, cu(stream), raw_dev)
        assert bytes(out.cpu().numpy()) == data, (shared, fused)
    assert as_tensor(out, dtype, w.shape).dtype == torch_dtype
    assert floats.WORD_BYTES[floats.LAYOUTS[dtype]] * w.numel() == out.numel()


@gpu[0]
@gpu[1]
@pytest.mark.parametrize("compressed_in", ["device", "pinned"])
@pytest.mark.parametrize("layout", ["compact", "gpu"])
def test_keep_compressed_on_the_gpu_gives_the_same_logits(tmp_path, compressed_in, layout):
    transformers = pytest.importorskip("transformers")
    from conftest import save_llama

    from entrozip import weights

    save_llama(tmp_path / "bf16", seed=5, vocab_size=3000, hidden_size=128, intermediate_size=352, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2)
    weights.compress(tmp_path / "bf16", tmp_path / "df11", progress=False, layout=layout)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16"), dtype=torch.bfloat16).cuda().eval()
    ours = weights.from_pretrained(tmp_path / "df11", device="cuda", keep_compressed=True, compressed_in=compressed_in)
    assert ours._entrozip_compressed["compressed_in"] == compressed_in
    ids = torch.randint(0, 3000, (2, 16), generator=torch.Generator().manual_seed(6)).cuda()
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, ref(input_ids=ids).logits)
        assert torch.equal(ours.generate(ids[:1], max_new_tokens=4, do_sample=False),
                           ref.generate(ids[:1], max_new_tokens=4, do_sample=False))


@gpu[0]
@gpu[1]
def test_one_launch_decodes_a_block_of_tensors_as_the_cpu_does():
    """CodedBlock: several tables and float types, one launch per type, bytes as the CPU's;
    the plan's reference gives the same bytes and a damaged chunk is reported where it is."""
    from entrozip.codecs.weights.gpu import CodedBlock, DeviceLaunch, DeviceTables
    from entrozip.codecs.weights.plan import PackedTables, Part, decode_plan_reference, plan_launch
    from entrozip.rans import cuda as rcuda

    g = torch.Generator().manual_seed(7)
    items, originals = [], {}
    for name, dtype, t in (("a", "BF16", (torch.randn(300_001, generator=g) * 0.02).to(torch.bfloat16)),
                           ("b", "BF16", torch.randn(77, generator=g).to(torch.bfloat16)),
                           ("c", "F32", torch.randn(40_000, generator=g)),
                           ("d", "BF16", (torch.randn(123_456, generator=g) * 3).to(torch.bfloat16))):
        data = t.view(torch.uint8).numpy().tobytes()
        model = dfloat11.table_for(dtype, data)
        stream, raw = dfloat11.encode_tensor(dtype, data, model, layout="latency")  # >= 5 chunks in "a"
        items.append((name, dtype, tuple(t.shape), model, stream, bytes(raw)))
        originals[name] = data
    for pinned, fused in ((False, True), (True, True), (False, False), (True, False)):
        with rcuda.decoder_tables(fused=fused):  # read when the block uploads its tables
            block = CodedBlock(items, "cuda", pinned)
        out = torch.zeros(block.nbytes, dtype=torch.uint8, device="cuda")
        staging = torch.empty(block.staging_bytes(), dtype=torch.uint8, device="cuda") if pinned else None
        for status in block.decode_into(out, staging):
            rcuda.check_status(status)
        for name, view in block.views(out).items():
            assert bytes(view.contiguous().view(torch.uint8).cpu().numpy()) == originals[name], (name, pinned, fused)
    # a chunk subset, and a damaged chunk, against the plan's numpy reference
    name, dtype, shape, model, stream, raw = items[0]
    lay = rans.check_stream(stream, model, max_symbols=300_001)
    assert lay.num_chunks >= 5  # the subset below: chunks 0, 3 (damaged) and the last
    tables = PackedTables([model])
    bad = bytearray(stream)
    bad[lay.payload_offset + int(lay.bounds[3]) + 50] ^= 0xFF
    plan = plan_launch(dtype, [Part(model, lay, 0, 0, 0, np.array([0, 3, lay.num_chunks - 1]))], tables,
                       warps_per_block=2)
    ref, ref_status = decode_plan_reference(plan, tables, bytes(bad), raw)
    cu = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8).cuda()  # noqa: E731
    out = torch.zeros(plan.out_values * 2, dtype=torch.uint8, device="cuda")
    status = DeviceLaunch(plan, DeviceTables(tables, "cuda"))(cu(bad), cu(raw), out)
    assert status.cpu().tolist() == ref_status.tolist() == [0, -3, 0]
    n0, nl = int(plan.chunks[0, 1]), int(plan.chunks[2, 1])
    got = out.cpu().numpy()
    assert got[:2 * n0].tobytes() == ref[:2 * n0].tobytes() == originals[name][:2 * n0]
    assert got[-2 * nl:].tobytes() == ref[-2 * nl:].tobytes() == originals[name][-2 * nl:]


@gpu[0]
@gpu[1]
@pytest.mark.parametrize("pinned", [False, True])
def test_compressed_embedding_on_the_gpu_looks_rows_up_exactly(pinned):
    from entrozip.codecs.weights.embedding import CompressedEmbedding

    g = torch.Generator().manual_seed(8)
    table = (torch.randn(3000, 96, generator=g) * 0.05).to(torch.bfloat16)
    data = table.view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for("BF16", data)
    sym, raw = floats.split("BF16", data)
    stream = rans.encode(sym, model, lanes=32, chunk_size=2048)  # rows straddle chunks
    scratch = torch.empty(CompressedEmbedding.scratch_values(96, 2048, table.numel()) * 2 * 3, dtype=torch.uint8,
                          device="cuda")
    emb = CompressedEmbedding(("BF16", (3000, 96), model, stream, np.asarray(raw).tobytes()), scratch,
                              torch.nn.Embedding(3000, 96), pinned=pinned)
    emb.verify()
    ids = torch.randint(0, 3000, (4, 33), generator=g).cuda()
    assert torch.equal(emb(ids).view(torch.int16), torch.nn.functional.embedding(ids, table.cuda()).view(torch.int16))
