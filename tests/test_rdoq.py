"""Rate-distortion optimised rounding (entropy_models/rdoq.py): the rule, its limits, and
what it buys the codecs that use it (the decoders never see it)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from compressai.models.google import get_scale_table  # noqa: E402

import entrozip  # noqa: E402
from entrozip import rans  # noqa: E402
from entrozip.entropy_models import GaussianConditional  # noqa: E402
from entrozip.entropy_models.rdoq import rd_round  # noqa: E402


@pytest.fixture(scope="module")
def tables():
    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    return gc._coding_model()


def residuals(n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 64, (n,), generator=g, dtype=torch.int32)
    r = torch.randn(n, generator=g, dtype=torch.float64) * torch.exp(torch.rand(n, generator=g, dtype=torch.float64) * 3)
    r[:16] = torch.tensor([0.5, -0.5, 1.5, -1.5, 0.49, 0.51, -0.51, 2.5, 0.0, 1e6, -1e6, 3e9, -3e9, 0.6, -0.6, 7.5],
                          dtype=torch.float64)  # halves, escapes, values past int32
    return r, idx


def test_kappa_zero_rounds_to_nearest(tables):
    r, idx = residuals()
    lim = 2**31 - 1
    assert torch.equal(rd_round(r, idx, tables, 0.0), torch.round(r).clamp(-lim, lim).to(torch.int64))
    assert torch.equal(rd_round(r, idx, None, 0.0), torch.round(r).clamp(-lim, lim).to(torch.int64))


@pytest.mark.parametrize("kappa", [2.0, 20.0, 200.0])
def test_each_element_takes_the_cheaper_of_round_and_one_step_toward_zero(tables, kappa):
    r, idx = residuals(seed=int(kappa))
    lim = 2**31 - 1
    s0 = torch.round(r).clamp(-lim, lim)
    s1 = s0 - torch.sign(s0)
    got = rd_round(r, idx, tables, kappa)
    assert got.dtype == torch.int64 and got.shape == r.shape
    assert torch.all((got == s0.long()) | ((got == s1.long()) & (s0 != 0)))

    def cost(s):  # brute force, the coder's own per-symbol bits (escapes with their payload)
        return tables.symbol_bits(s.numpy().astype(np.int32), idx.numpy()) + kappa * (r - s).numpy() ** 2

    c0, c1 = cost(s0), cost(s1)
    want = np.where((s0.numpy() != 0) & (c1 < c0), s1.numpy(), s0.numpy())
    np.testing.assert_array_equal(got.numpy(), want)
    moved = (got != s0.long()).float().mean().item()
    assert 0 < moved < 0.5  # it does act, and only on some elements
    blob = rans.encode(got.numpy().astype(np.int32), tables, idx.numpy())  # any integer codes
    np.testing.assert_array_equal(rans.decode(blob, tables, idx.numpy()), got.numpy())
    plain = rans.encode(s0.numpy().astype(np.int32), tables, idx.numpy())
    assert len(blob) < len(plain)


def test_symbol_bits_are_the_coders_costs(tables):
    r, idx = residuals(seed=3)
    s = torch.round(r).clamp(-(2**31) + 1, 2**31 - 1).numpy().astype(np.int32)
    bits = tables.symbol_bits(s, idx.numpy())
    assert bits.shape == s.shape and np.all(bits > 0)
    assert bits.sum() == pytest.approx(tables.estimated_bits(s, idx.numpy()))
    k, escaped, i = tables.coded_indexes(s, idx.numpy())
    inside = ~escaped
    freq = tables.cdfs[i, k + 1] - tables.cdfs[i, k]
    np.testing.assert_allclose(bits[inside], 16 - np.log2(freq[inside].astype(np.float64)))
    assert np.all(bits[escaped] >= 16 - np.log2((tables.cdfs[i, k + 1] - tables.cdfs[i, k])[escaped]) + 8)


def test_bad_kappa_is_refused(tables):
    r, idx = residuals(100)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="kappa"):
            rd_round(r, idx, tables, bad)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rdoq"):
            entrozip.open_codec("image", model="elic", rdoq=bad)
        with pytest.raises(ValueError, match="rdoq"):
            entrozip.open_codec("video", rdoq=bad)


def rd_cost(blob, rgb, decoded, quality):
    from entrozip.codecs.image.models import LAMBDAS

    mse = np.mean((decoded.astype(np.float64) - rgb) ** 2)
    return 8 * len(blob) + LAMBDAS[quality - 1] * mse * rgb.shape[0] * rgb.shape[1]


def test_elic_files_cost_less_and_decode_the_same_way():
    """The image codec's elic rounds rate-distortion optimised by default (its measured kappa):
    a smaller rate + lambda x distortion than rounding, and a file any decoder reads."""
    from conftest import moving_frames

    rgb = moving_frames(256, 256, 1, seed=3)[0]
    fast = entrozip.open_codec("image", model="elic", quality=2, rdoq=0)
    rdo = entrozip.open_codec("image", model="elic", quality=2)
    assert rdo.info()["rdoq"] == 20.0 and fast.info()["rdoq"] == 0.0
    a, b = fast.compress(rgb), rdo.compress(rgb)
    da, db = entrozip.open_codec("image").decompress(a), entrozip.open_codec("image").decompress(b)
    assert len(b) < len(a)
    assert rd_cost(b, rgb, db, 2) < rd_cost(a, rgb, da, 2)
    assert entrozip.open_codec("image", model="s2lic").info()["rdoq"] == 0.0  # measured: no gain


def test_video_frames_cost_less_with_rdoq():
    from conftest import moving_frames

    frames = moving_frames(64, 128, 3, seed=6)
    costs = {}
    for kappa in (0.0, None):
        codec = entrozip.open_codec("video", quality=2, rdoq=kappa, inter_kinds=["P"])
        blob = codec.compress(frames)
        out = list(entrozip.open_codec("video").decompress(blob))
        costs[kappa] = sum(rd_cost(b"", f, o, 2) for f, o in zip(frames, out)) + 8 * len(blob)
    assert costs[None] < costs[0.0], costs
