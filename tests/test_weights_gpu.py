"""GPU decode of DFloat11-style tensors: byte-identical to the CPU decoder (skips without CUDA)."""
import numpy as np
import pytest
import torch

from entrozip.codecs.weights import dfloat11, floats

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


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
    out = decode_tensor_cuda(dtype, w.numel(), model, cu(stream), cu(np.asarray(raw).tobytes()) if len(raw) else
                             torch.zeros(0, dtype=torch.uint8, device="cuda"))
    assert bytes(out.cpu().numpy()) == data
    assert as_tensor(out, dtype, w.shape).dtype == torch_dtype
    assert floats.WORD_BYTES[floats.LAYOUTS[dtype]] * w.numel() == out.numel()
