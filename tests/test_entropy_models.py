"""Entropy models: CompressAI's training path, entrozip's coding path."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from compressai.models.google import get_scale_table  # noqa: E402

from entrozip import rans  # noqa: E402
from entrozip.entropy_models import EntropyBottleneck, GaussianConditional  # noqa: E402


def ideal_bytes(model, symbols, indexes):
    """Ideal size under the tables, plus the exact payloads of escaped values."""
    return model.estimated_bits(symbols.reshape(-1), indexes.reshape(-1)) / 8


def test_entropy_bottleneck_round_trip_and_size():
    torch.manual_seed(0)
    eb = EntropyBottleneck(16)
    eb.update(force=True)
    y = torch.randn(3, 16, 24, 20) * 4
    streams = eb.compress(y)
    y_hat = eb.decompress(streams, y.shape[-2:])
    medians = eb._get_medians().detach().reshape(1, -1, 1, 1)
    assert torch.equal(y_hat, eb.quantize(y, "dequantize", medians))
    model = eb._coding_model()
    indexes = eb._build_indexes(y.size())
    symbols = eb.quantize(y, "symbols", medians)
    for i, s in enumerate(streams):
        ideal = ideal_bytes(model, symbols[i].int(), indexes[i].int())
        assert len(s) <= ideal * 1.01 + 64  # framing of a small stream: a few lanes' states
        np.testing.assert_array_equal(rans.decode(s, model, indexes[i].reshape(-1), backend="reference"),
                                      symbols[i].reshape(-1).numpy())


def test_gaussian_conditional_with_means_and_escapes():
    torch.manual_seed(1)
    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    scales = torch.rand(2, 8, 16, 16) * 8 + 0.11
    means = torch.randn(2, 8, 16, 16) * 2
    y = means + torch.randn(2, 8, 16, 16) * scales
    y[0, 0, 0, 0] = 1e4  # far outside every table: an escape
    indexes = gc.build_indexes(scales)
    streams = gc.compress(y, indexes, means)
    y_hat = gc.decompress(streams, indexes, means=means)
    assert torch.equal(y_hat, torch.round(y - means) + means)
    for t in (1, 2):  # thread counts never change the bytes
        assert gc.compress(y, indexes, means) == streams


def test_tables_travel_in_the_state_dict():
    """A decoder built from the state dict (integer tables, no update()) decodes."""
    torch.manual_seed(2)
    eb = EntropyBottleneck(4)
    eb.update(force=True)
    y = torch.randn(1, 4, 9, 7) * 2
    streams = eb.compress(y)
    from safetensors.torch import load, save

    blob = save({k: v.contiguous() for k, v in eb.state_dict().items()})  # weights ship as safetensors
    fresh = EntropyBottleneck(4)
    fresh.load_state_dict(load(blob))
    assert torch.equal(fresh.decompress(streams, y.shape[-2:]), eb.decompress(streams, y.shape[-2:]))
    for name in ("_quantized_cdf", "_cdf_length", "_offset"):
        assert getattr(fresh, name).dtype == torch.int32


def test_errors():
    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    with pytest.raises(ValueError):
        gc.compress(torch.zeros(4), torch.zeros(4, dtype=torch.int32))
    with pytest.raises(ValueError):
        gc.compress(torch.zeros(1, 4), torch.zeros(1, 3, dtype=torch.int32))
    with pytest.raises(ValueError):
        gc.decompress([b"x"], torch.zeros(2, 4, dtype=torch.int32))


