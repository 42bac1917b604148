"""S2LIC: SwinV2 transforms, the ACGC context and its exact fixed-point ops.

The model runs with its seeded initialisation here (no S2LIC weights ship yet):
these tests check shapes, exact decoding and rates, not image quality.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from torch import nn  # noqa: E402

from entrozip import open_codec, rans  # noqa: E402
from entrozip.codecs.image.models import MODELS, ImageModel  # noqa: E402
from entrozip.codecs.image.swin import MASKED, ResidualSwinStage, SwinV2Block, _window_mask  # noqa: E402
from entrozip.codecs.image.weights import load_model  # noqa: E402
from entrozip.demo import load_image  # noqa: E402
from entrozip.entropy_models import Hyperprior  # noqa: E402
from entrozip.entropy_models import fixed_point as fx  # noqa: E402
from entrozip.entropy_models.context.acgc import ACGC, ACGCContextGaussian  # noqa: E402
from entrozip.entropy_models.integer import from_fixed, to_fixed  # noqa: E402

FRAC = 8


@pytest.fixture(scope="module")
def photo():
    return load_image()[0][96:224, 256:448]  # 128 x 192 of kodim23


# ------------------------------------------------------------------ fixed-point twins
def test_sigmoid_and_softmax_tables_match_their_float_twins():
    x = torch.linspace(-12, 12, 2001, dtype=torch.float64)
    got = fx.sigmoid_int(to_fixed(x, FRAC), fx.sigmoid_table(FRAC), FRAC).double() / 2**fx.Q
    want = fx.sigmoid_float(x)
    assert (got - want).abs().max() <= 0.25 * 2**-FRAC + 2**-fx.Q  # input rounding x max slope + table rounding
    logits = torch.randn(3, 8, 5, 7, dtype=torch.float64) * 4
    w = fx.softmax_int(to_fixed(logits, FRAC), fx.exp_table(FRAC), FRAC)
    assert ((w.sum(dim=1) - 2**fx.Q).abs() <= 8).all()  # eight terms, each rounded once
    assert (w.double() / 2**fx.Q - fx.softmax_float(logits)).abs().max() < 2e-3


def test_bilinear_sampling_twins_agree_and_are_exact_on_the_grid():
    torch.manual_seed(0)
    v = torch.randint(-5000, 5000, (2, 3, 6, 9), dtype=torch.int64)
    off = torch.randn(2, 2, 4, 6, 9, dtype=torch.float64) * 4  # beyond the border too
    oy, ox = to_fixed(off[:, 0], FRAC), to_fixed(off[:, 1], FRAC)
    got = fx.bilinear_int(v, oy, ox, FRAC).double()
    want = fx.bilinear_float(v.double(), from_fixed(oy, FRAC, torch.float64), from_fixed(ox, FRAC, torch.float64))
    assert (got - want).abs().max() <= 0.5
    whole = fx.bilinear_int(v, torch.full_like(oy, 256), torch.full_like(ox, -512), FRAC)  # one row down, two left
    assert torch.equal(whole[:, :, 0, :-1, 2:], v[:, :, 1:, :-2])
    assert (whole[:, :, 0, -1] == 0).all() and (whole[:, :, 0, :, :2] == 0).all()  # outside the map: zeros


def test_acgc_integer_path_follows_the_float_one():
    torch.manual_seed(1)
    net = ACGC(16, 12, hidden=32)
    with torch.no_grad():
        net.sampling.layers[-1].conv.weight.normal_(0, 0.05)  # offsets and weights that vary
    e = torch.randn(2, 16, 9, 11) * 3
    net.train()
    for _ in range(3):
        net(e)  # activation ranges
    net.eval()
    net.freeze()
    assert net.frozen
    with torch.no_grad():
        want = net(from_fixed(to_fixed(e, FRAC), FRAC))
    got = from_fixed(net.forward_int(to_fixed(e, FRAC)), FRAC)
    assert (got - want).abs().mean() < 0.05 * want.std()
    loss = net(e).square().mean()
    loss.backward()  # the offsets learn through the bilinear weights
    assert net.sampling.layers[-1].conv.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ ACGC entropy model
def _acgc_hyperprior(seed=0, M=24, Z=8, checkerboard=True):
    torch.manual_seed(seed)
    y_model = ACGCContextGaussian([8, 8, 8], 2 * M, checkerboard=checkerboard, hidden=32)
    h_s = [nn.ConvTranspose2d(Z, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 2 * M, 3, 1, 1)]
    hp = Hyperprior(nn.Conv2d(M, Z, 3, 2, 1), h_s, Z, y_model)
    hp.train()
    for _ in range(2):
        hp(torch.randn(1, M, 8, 8) * 4)
    hp.eval()
    hp.update(force=True)
    return hp


@pytest.mark.parametrize("checkerboard", [True, False])
def test_acgc_round_trip_is_exact_and_near_the_estimate(checkerboard):
    """checkerboard=False: each slice in one pass from the hyperprior and the earlier
    slices (the conditioning of the authors' released code; model "s2lic-code")."""
    hp = _acgc_hyperprior(checkerboard=checkerboard)
    y = torch.randn(2, 24, 10, 14) * 4
    out = hp.compress(y, threads=2)
    assert len(out["y"]) == (6 if checkerboard else 3)  # 3 slices x (anchors, non-anchors)
    back = hp.decompress(out["z"], out["y"], out["z_shape"], threads=1)
    assert torch.equal(back, out["y_hat"])
    assert (back - y).abs().max() <= 1.0 + 2**-8  # rounding (1/2) + latent residual prediction (<= 1/2)
    model = hp.y_model.gaussian_conditional._coding_model()
    estimate = sum(model.estimated_bits(s, i) for s, i in out["steps"]) / 8
    payload = sum(map(len, out["y"])) - sum(rans.stream_info(s).framing_bytes for s in out["y"])
    assert payload <= estimate * 1.01, (payload, estimate)


def test_lrp_changes_the_reconstruction_not_the_symbols():
    hp = _acgc_hyperprior()
    y = torch.randn(1, 24, 8, 8) * 4
    last = hp.y_model.lrp_nets[0].layers[-1]  # slice 0's correction
    with torch.no_grad():
        last.qweight.zero_()
        last.qbias.zero_()
    none = hp.compress(y)
    with torch.no_grad():
        last.qbias.fill_(1 << 30)  # a huge correction: clamped to +1/2
    half = hp.compress(y)
    for i in (0, 1):  # slice 0's anchors and non-anchors: the same symbols either way
        assert np.array_equal(none["steps"][i][0], half["steps"][i][0])
    assert (half["y_hat_q"][:, :8] - none["y_hat_q"][:, :8] == 1 << (FRAC - 1)).all()
    back = hp.decompress(half["z"], half["y"], half["z_shape"])
    assert torch.equal(back, half["y_hat"])


def test_training_path_gives_gradients_to_every_part():
    hp = _acgc_hyperprior()
    hp.train()
    y = (torch.randn(2, 24, 8, 8) * 4).requires_grad_()
    y_hat, lik = hp(y)
    bits = -torch.log2(lik["y"]).sum() - torch.log2(lik["z"]).sum()
    (bits + y_hat.square().mean()).backward()
    for part in ("channel_nets", "spatial_nets", "param_nets", "lrp_nets"):
        grads = [p.grad for p in getattr(hp.y_model, part).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), part


# ------------------------------------------------------------------ SwinV2
def test_window_mask_separates_padding_and_shifted_regions():
    m = _window_mask(12, 8, 8, 0)  # two windows: rows 0-7 real; rows 8-11 real, 12-15 padding
    assert m.shape == (2, 64, 64)
    assert (m[0] == 0).all()
    real = torch.arange(64) < 32
    assert (m[1][real][:, real] == 0).all() and (m[1][real][:, ~real] == MASKED).all()
    s = _window_mask(16, 16, 8, 4)  # shifted: the last window mixes four regions of the rolled map
    assert (s[0] == 0).all() and (s[-1] != 0).any()
    assert torch.equal(s[-1], s[-1].T)


def _active(block: SwinV2Block) -> SwinV2Block:
    """The block with non-zero post-norm gains (a new block is the identity)."""
    for norm in (block.norm1, block.norm2):
        torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    return block


def test_new_block_is_the_identity_and_learns_to_leave_it():
    torch.manual_seed(0)
    block = SwinV2Block(32, 2, shift=True)
    x = torch.randn(2, 9, 11, 32)
    y = block(x)
    assert torch.equal(y, x)  # zero post-norm gains, as SwinV2 initialises them
    (y * torch.randn_like(y)).sum().backward()
    assert block.norm1.weight.grad.abs().sum() > 0 and block.norm2.weight.grad.abs().sum() > 0


def test_padded_tokens_do_not_change_real_ones():
    torch.manual_seed(0)
    block = _active(SwinV2Block(32, 2, shift=False)).eval()
    x = torch.randn(1, 12, 8, 32)
    with torch.no_grad():
        whole = block(x)
        bottom = block(x[:, 8:])  # rows 8-11 alone: the same window, padded the same way
        top = block(x[:, :8])
    assert torch.allclose(whole[:, 8:], bottom, atol=1e-5) and torch.allclose(whole[:, :8], top, atol=1e-5)


@pytest.mark.parametrize("size", [(8, 8), (5, 13), (24, 17)])
def test_swin_stage_keeps_shapes_and_trains(size):
    stage = ResidualSwinStage(32, 2)
    for block in stage.blocks:
        _active(block)
    x = torch.randn(2, 32, *size, requires_grad=True)
    y = stage(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and stage.blocks[0].attn.logit_scale.grad.abs().sum() > 0
    bias = stage.blocks[1].attn.position_bias()
    assert bias.shape == (1, 64, 64) and (bias > 0).all() and (bias < 16).all()


def test_dense_block_inference_buffer_matches_the_training_path():
    from entrozip.codecs.image.swin import DenseEnhancement

    block = DenseEnhancement(16, growth=8, layers=3)
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        inference = block(x)  # one buffer, prefix reads
    assert torch.allclose(block(x), inference, atol=1e-6)  # grad enabled: the concatenating path


# ------------------------------------------------------------------ the model and the codec
def test_sizes_and_latent_shapes():
    assert sum(p.numel() for p in ImageModel(MODELS["s2lic"]).parameters()) < 10e6
    code = ImageModel(MODELS["s2lic-code"])  # the authors' code's conditioning: no spatial context nets
    assert not MODELS["s2lic-code"].checkerboard and code.entropy.y_model.num_steps() == 5
    paper = ImageModel(MODELS["s2lic-paper"])
    assert paper.spec.M == 320 and paper.spec.groups == (32,) * 10
    assert paper.entropy.y_model.num_steps() == 20
    net, _, _ = load_model("s2lic")
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        out = net(x, 3)
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["y"].shape == (1, 160, 4, 8) and out["likelihoods"]["z"].shape == (1, 96, 1, 2)


def test_s2lic_rate_is_bounded_by_the_training_estimate(photo):
    # exact round trip and the coder's own estimate: test_image_codec (parametrized over the models)
    net, _, _ = load_model("s2lic")
    x = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float() / 255
    out = net.compress(x, 5)
    with torch.no_grad():  # the training path's rate (float networks) bounds the real bytes: an
        lik = net(x, 5)["likelihoods"]  # untrained model's outliers cost 30 bits there, less escaped
    trained_estimate = float(sum(-torch.log2(v).sum() for v in lik.values()) / 8)
    streams = out["y"] + out["z"]
    real = sum(map(len, streams))
    # each stream's framing (header, final lane states) on top; on this 128 x 192 crop the
    # 11 streams hold 100-300 bytes each, so framing is several per cent of the real size
    assert real <= 1.02 * trained_estimate + 24 * len(streams), (real, trained_estimate, len(streams))


def test_s2lic_codec_decodes_the_same_on_any_thread_count():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (37, 70, 3), dtype=np.uint8)  # any size: windows and z padded
    codec = open_codec("image", model="s2lic", quality=2)
    blob = codec.compress(img)
    threads = torch.get_num_threads()
    try:
        latents, pixels = [], []
        for t in (1, 2):
            torch.set_num_threads(t)
            latents.append(codec.decode_latent(blob))
            pixels.append(codec.decompress(blob).astype(int))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(latents[0], latents[1])
    assert pixels[0].shape == img.shape and np.abs(pixels[0] - pixels[1]).max() <= 1
    assert math.isfinite(float(latents[0].abs().sum()))
