"""Hyperprior + context models: exact decode, rate near the estimate, training path."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from torch import nn  # noqa: E402

from entrozip import rans  # noqa: E402
from entrozip.entropy_models import Hyperprior, SliceContextGaussian, anchor_mask  # noqa: E402

M, Z = 24, 8
CONFIGS = {
    "hyperprior": ([M], False),
    "checkerboard": ([M], True),
    "channel": ([8, 8, 8], False),
    "elic": ([4, 4, 16], True),
}


def _model(groups, checkerboard, seed=0):
    torch.manual_seed(seed)
    y_model = SliceContextGaussian(groups, 2 * M, checkerboard=checkerboard, hidden=32)
    h_s = [nn.ConvTranspose2d(Z, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 2 * M, 3, 1, 1)]
    hp = Hyperprior(nn.Conv2d(M, Z, 3, 2, 1), h_s, Z, y_model)
    hp.train()
    for _ in range(2):  # let the activation ranges settle
        hp(torch.randn(1, M, 8, 8) * 4)
    hp.eval()
    hp.update(force=True)
    return hp


@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_is_exact_and_near_the_estimate(name):
    hp = _model(*CONFIGS[name])
    y = torch.randn(2, M, 10, 14) * 4
    out = hp.compress(y, threads=2)
    assert len(out["y"]) == hp.y_model.num_steps() == len(CONFIGS[name][0]) * (2 if CONFIGS[name][1] else 1)
    back = hp.decompress(out["z"], out["y"], out["z_shape"], threads=1)
    assert torch.equal(back, out["y_hat"])  # the decoder rebuilt every index and mean exactly
    assert (back - y).abs().max() <= 0.5 + 2**-9  # y_hat = round(y - mean) + mean, means on a 1/256 grid
    model = hp.y_model.gaussian_conditional._coding_model()
    estimate = sum(model.estimated_bits(s, i) for s, i in out["steps"]) / 8
    framing = sum(rans.stream_info(s).framing_bytes for s in out["y"])
    payload = sum(len(s) for s in out["y"]) - framing
    assert payload <= estimate * 1.01, (payload, estimate)
    assert framing <= 24 * len(out["y"]) + 0.005 * payload  # prefix + lane states: small


def test_other_backend_decodes_the_same():
    hp = _model(*CONFIGS["elic"])
    y = torch.randn(1, M, 6, 4) * 3
    out = hp.compress(y)
    again = hp.compress(y, backend="reference", threads=1)
    assert again["y"] == out["y"] and again["z"] == out["z"]
    assert torch.equal(hp.decompress(out["z"], out["y"], out["z_shape"], backend="reference"), out["y_hat"])


def test_decoder_ignores_float_weights_after_update():
    """What chooses a CDF is frozen integers: float drift after update() changes nothing."""
    hp = _model(*CONFIGS["elic"])
    y = torch.randn(1, M, 8, 8) * 4
    out = hp.compress(y)
    with torch.no_grad():
        for name, p in hp.named_parameters():
            if not name.startswith(("h_a", "entropy_bottleneck")):
                p.mul_(1.5)
    assert torch.equal(hp.decompress(out["z"], out["y"], out["z_shape"]), out["y_hat"])


def test_training_path_gives_likelihoods_and_gradients():
    hp = _model(*CONFIGS["elic"])
    hp.train()
    y = (torch.randn(2, M, 8, 8) * 4).requires_grad_()
    y_hat, lik = hp(y)
    assert y_hat.shape == y.shape and lik["y"].shape == y.shape and lik["z"].shape == (2, Z, 4, 4)
    assert ((lik["y"] > 0) & (lik["y"] <= 1)).all()
    bits = -torch.log2(lik["y"]).sum() - torch.log2(lik["z"]).sum()
    (bits + ((y_hat - y) ** 2).sum()).backward()
    for name, p in hp.named_parameters():
        if name.endswith(("weight", "bias")) and "entropy_bottleneck" not in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_anchor_mask_is_a_checkerboard():
    m = anchor_mask(3, 4)
    assert m.tolist() == [[True, False, True, False], [False, True, False, True], [True, False, True, False]]


def test_wrong_stream_count_and_bad_input():
    hp = _model(*CONFIGS["channel"])
    out = hp.compress(torch.randn(1, M, 4, 4))
    with pytest.raises(ValueError, match="streams"):
        hp.decompress(out["z"], out["y"][:-1], out["z_shape"])
    y = torch.randn(1, M, 4, 4)
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        hp.compress(y)
    with pytest.raises(ValueError):
        SliceContextGaussian([M], M, checkerboard=False)  # direct mode needs 2M hyper channels
    with pytest.raises(ValueError):
        SliceContextGaussian([4, 0], 2 * M)


def test_huge_latent_values_are_coded_exactly():
    """Values far outside every CDF go through escapes, never clipped."""
    hp = _model(*CONFIGS["checkerboard"])
    y = torch.randn(1, M, 4, 6)
    y[0, 3, 1, 1] = 3e5
    out = hp.compress(y)
    back = hp.decompress(out["z"], out["y"], out["z_shape"])
    assert torch.equal(back, out["y_hat"]) and abs(float(back[0, 3, 1, 1]) - 3e5) <= 0.5
    assert np.isfinite(back.numpy()).all()
