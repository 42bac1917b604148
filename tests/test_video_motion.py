"""M frames: block motion (estimate, compensate, the coded field) and the latent residual
against the analysis of the motion-compensated previous frame."""
from pathlib import Path

import numpy as np
import pytest
import torch

import entrozip
from conftest import moving_frames
from entrozip.codecs.video import motion
from entrozip.container import ContainerWriter, pack_parts, parse, unpack_parts
from entrozip.errors import FormatError

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_qcif.mp4"
pytest.importorskip("imageio_ffmpeg")


def photo(h, w, seed=0):
    """1 x 3 x h x w in [0, 1]: a crop of the bundled Kodak photo (real texture)."""
    f = moving_frames(h, w, 1, seed=seed)[0]
    return torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255


def plain_compensate(ref, field):
    """compensate() pixel by pixel: half-pixel positions are the mean of their neighbours,
    positions beyond the frame the nearest edge pixel."""
    _, c, h, w = ref.shape
    out = torch.empty_like(ref)
    for i in range(h):
        for j in range(w):
            fy, fx = (int(v) for v in field[:, i // motion.BLOCK, j // motion.BLOCK])
            ys = {(2 * i + fy) // 2, (2 * i + fy + 1) // 2}
            xs = {(2 * j + fx) // 2, (2 * j + fx + 1) // 2}
            px = [ref[0, :, min(max(y, 0), h - 1), min(max(x, 0), w - 1)] for y in ys for x in xs]
            out[0, :, i, j] = sum(px) / len(px)
    return out


def test_compensation_is_the_plain_per_pixel_definition():
    ref = photo(32, 48, seed=3)
    rng = np.random.default_rng(0)
    field = torch.from_numpy(rng.integers(-motion.LIMIT, motion.LIMIT + 1, (2, 2, 3)))
    field[:, 0, 0] = torch.tensor([0, 0])  # a still block is the reference itself
    got, want = motion.compensate(ref, field), plain_compensate(ref, field)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(got[..., :16, :16], ref[..., :16, :16])
    with pytest.raises(ValueError, match="motion field"):
        motion.compensate(ref, field[:, :1])


def test_estimation_finds_whole_and_half_pixel_shifts():
    ref = photo(96, 128, seed=1)
    moved = torch.roll(ref, shifts=(-3, 5), dims=(2, 3))  # moved[p] = ref[p + (3, -5)]
    field = motion.estimate(moved, ref, lam=4.0)
    inner = field[:, 1:-1, 1:-1]  # away from the wrapped-around edges
    assert (inner[0] == 6).all() and (inner[1] == -10).all(), field
    half = (ref + torch.roll(ref, shifts=-1, dims=3)) / 2  # the mean of p and p + (0, 1)
    field = motion.estimate(half, ref, lam=4.0)
    exact = (field[:, 1:-1, 1:-1] == torch.tensor([0, 1]).view(2, 1, 1)).all(0)
    assert exact.float().mean() > 0.75, field  # flat blocks may keep a whole-pixel vector
    err = (motion.compensate(ref, field) - half)[..., 16:-16, 16:-16].abs().mean() * 255
    assert err < 0.5, err


def test_the_coded_field_round_trips_and_rejects_damage():
    rng = np.random.default_rng(2)
    for hb, wb in ((1, 1), (3, 5), (12, 12)):  # random fields: differences up to +-64, escapes
        field = torch.from_numpy(rng.integers(-motion.LIMIT, motion.LIMIT + 1, (2, hb, wb)))
        rows, stream = motion.encode_field(field)
        assert len(rows) == 2 and torch.equal(motion.decode_field(rows, stream, hb, wb), field)
    smooth = torch.full((2, 9, 11), 3, dtype=torch.long)  # one motion everywhere: a few bytes
    assert sum(map(len, motion.encode_field(smooth))) < 24  # 198 values
    rows, stream = motion.encode_field(field)
    for hb, wb in ((12, 11), (12, 13)):  # a field for another frame size
        with pytest.raises(FormatError):
            motion.decode_field(rows, stream, hb, wb)
    with pytest.raises(FormatError):
        motion.decode_field(rows, stream[: len(stream) // 2], 12, 12)
    for bad in (rows[:1], bytes([0, motion.field_model().num_cdfs])):
        with pytest.raises(FormatError, match="tables"):
            motion.decode_field(bad, stream, 12, 12)
    # differences that walk a vector past the limit: a hand-made stream under the real model
    from entrozip import rans

    diffs = np.array([0, motion.LIMIT, 0, motion.LIMIT, 0, 0, 0, 0], np.int32)
    stream = rans.encode(diffs, motion.field_model(), np.zeros(8, np.int32))
    with pytest.raises(FormatError, match="beyond"):
        motion.decode_field(bytes([0, 0]), stream, 1, 4)
    with pytest.raises(ValueError, match="limited"):
        motion.encode_field(torch.full((2, 1, 4), motion.LIMIT + 1))


def test_the_field_tables_are_built_in_integers():
    """The family is rebuilt from its integer recipe (no float on the way): every row is a
    proper CDF with the zero share it names, rising with the share and falling with the decay."""
    model = motion.field_model()
    assert model.num_cdfs == len(motion.ZERO_SHARES) * len(motion.DECAYS)
    freqs = np.diff(model.cdfs, axis=1)
    zero = freqs[:, motion.FIELD_SUPPORT].reshape(len(motion.ZERO_SHARES), len(motion.DECAYS))
    share = np.array(motion.ZERO_SHARES)[:, None] / 16
    assert np.allclose(zero / 2 ** motion.FIELD_PRECISION, share, atol=0.01)
    first = freqs[:, motion.FIELD_SUPPORT + 1].reshape(zero.shape)
    far = freqs[:, motion.FIELD_SUPPORT + 8].reshape(zero.shape)
    assert (np.diff(far / first, axis=1) > 0).all()  # a slower decay keeps more of the tail
    assert (freqs[:, : 2 * motion.FIELD_SUPPORT + 2] >= 1).all()


def test_m_frame_latents_decode_bit_exactly_frame_after_frame():
    """Encoder and decoder build the same motion reference and the same latents."""
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.weights import load_video_model

    model, _, _ = load_video_model()
    frames = moving_frames(64, 96, 4, seed=6)
    q = 3
    prev_e = prev_d = None
    for t, f in enumerate(frames):
        x = to_input(f)
        y = model.latent(x, q)
        if t == 0:
            c = model.code_latent(y, None)
            d = model.decompress_frame(c["z"], c["y"], c["z_shape"], None)
        else:
            c = model.code_motion(y, x, model.decoded_frame(prev_e, q), q)  # the encoder's path
            got = motion.decode_field(*c["side"], *motion.blocks(*x.shape[-2:]))
            ref_d = model.motion_reference(model.decoded_frame(prev_d, q), got, q)
            d = model.decompress_frame(c["z"], c["y"], c["z_shape"], ref_d, kind=b"M")
            assert c["kind"] == b"M" and got.abs().max() > 0  # the window drifts: real motion
        assert torch.equal(d, c["y_hat_q"]), t
        prev_e, prev_d = c["y_hat_q"], d


@pytest.fixture(scope="module")
def carphone():
    from entrozip.codecs.video.ffmpeg_io import read_frames

    if not CLIP.exists():
        pytest.skip("needs ../shared/data/video")
    meta, frames = read_frames(CLIP, max_frames=5)
    return [f.copy() for f in frames]


def test_motion_wins_on_a_real_clip_and_round_trips(carphone):
    """On carphone (a talking head filmed from a moving car) the default encoder keeps the M
    chain, and the file is far smaller than without M frames at nearly the same PSNR."""
    def psnr(a, b):
        return 10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))

    sizes, quality = {}, {}
    for kinds in (None, ["P", "R", "I"]):
        codec = entrozip.open_codec("video", quality=4, inter_kinds=kinds)
        blob = codec.compress(carphone)
        out = list(codec.decompress(blob))
        sizes[kinds is None] = len(blob)
        quality[kinds is None] = np.mean([psnr(a, b) for a, b in zip(carphone, out)])
        if kinds is None:
            assert codec.describe(parse(blob))["frame_kinds"] == {"I": 1, "M": 4}
            assert codec.info()["inter_kinds"] == "P,R,M,I"
    assert sizes[True] < 0.8 * sizes[False], sizes  # measured 0.65 on these 5 frames
    assert quality[True] > quality[False] - 0.5, quality


def _with_section(blob: bytes, name: str, payload: bytes) -> bytes:
    import io

    c = parse(blob)
    buf = io.BytesIO()
    w = ContainerWriter(buf, c.codec, c.header)
    for n, p in c.sections.items():
        w.add(n, payload if n == name else bytes(p))
    w.close()
    return buf.getvalue()


def test_damaged_m_frames_are_format_errors_that_name_the_frame():
    codec = entrozip.open_codec("video", quality=3, inter_kinds=["M"])
    blob = codec.compress(moving_frames(64, 96, 3, seed=8))
    parts = [bytes(p) for p in unpack_parts(parse(blob).sections["f000001"], None)]
    assert parts[0] == b"M"
    cases = {
        "parts": pack_parts(parts[:-1]),  # the field's stream missing
        "frame 1: ": pack_parts([*parts[:-1], parts[-1][: len(parts[-1]) // 2]]),
        "frame 1 holds": pack_parts([b"M", *parts[1:-2]]),  # an M frame without its field
    }
    for match, payload in cases.items():
        with pytest.raises(FormatError, match=match):
            list(codec.decompress(_with_section(blob, "f000001", payload)))
