"""GPU decode of DFloat11-style tensors: byte-identical to the CPU decoder, and the GPU
keep_compressed loader (the GPU tests skip without CUDA; the holder's host checks run anywhere)."""
import numpy as np
import pytest
import torch

from entrozip.codecs.weights import dfloat11, floats

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
    for shared in (False, True):  # static tables in global / shared memory
        rcuda.SHARED_TABLES = shared
        try:
            out = decode_tensor_cuda(dtype, w.numel(), model, cu(stream), raw_dev)
        finally:
            rcuda.SHARED_TABLES = True
        assert bytes(out.cpu().numpy()) == data, shared
    assert as_tensor(out, dtype, w.shape).dtype == torch_dtype
    assert floats.WORD_BYTES[floats.LAYOUTS[dtype]] * w.numel() == out.numel()


def test_device_coded_tensor_checks_its_parts_on_the_host():
    """The keep_compressed GPU loader's holder: parsed and checked once, whatever the device."""
    from entrozip.codecs.weights.gpu import DeviceCodedTensor
    from entrozip.errors import FormatError

    w = (torch.randn(50_000, generator=torch.Generator().manual_seed(1)) * 0.02).to(torch.bfloat16)
    data = w.view(torch.uint8).numpy().tobytes()
    model = dfloat11.table_for("BF16", data)
    stream, raw = dfloat11.encode_tensor("BF16", data, model, layout="gpu")
    t = DeviceCodedTensor("BF16", (250, 200), model, stream, bytes(raw), "cpu")
    assert t.nbytes == len(data) and t.compressed_bytes == len(stream) + len(raw)
    assert t.chunks.shape[1] == 5 and int(t.chunks[:, 1].sum()) == w.numel()
    with pytest.raises(FormatError):
        DeviceCodedTensor("BF16", (250, 200), model, stream, bytes(raw)[:-1], "cpu")
    with pytest.raises(FormatError):
        DeviceCodedTensor("BF16", (250, 201), model, stream, bytes(raw), "cpu")
    with pytest.raises(FormatError):
        DeviceCodedTensor("I32", (250, 200), model, stream, bytes(raw), "cpu")


@gpu[0]
@gpu[1]
@pytest.mark.parametrize("compressed_in", ["device", "pinned"])
def test_keep_compressed_on_the_gpu_gives_the_same_logits(tmp_path, compressed_in):
    transformers = pytest.importorskip("transformers")
    from conftest import save_llama

    from entrozip import weights

    save_llama(tmp_path / "bf16", seed=5, vocab_size=3000, hidden_size=128, intermediate_size=352, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2)
    weights.compress(tmp_path / "bf16", tmp_path / "df11", progress=False)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16"), dtype=torch.bfloat16).cuda().eval()
    ours = weights.from_pretrained(tmp_path / "df11", device="cuda", keep_compressed=True, compressed_in=compressed_in)
    assert ours._entrozip_compressed["compressed_in"] == compressed_in
    ids = torch.randint(0, 3000, (2, 16), generator=torch.Generator().manual_seed(6)).cuda()
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, ref(input_ids=ids).logits)
        assert torch.equal(ours.generate(ids[:1], max_new_tokens=4, do_sample=False),
                           ref.generate(ids[:1], max_new_tokens=4, do_sample=False))
