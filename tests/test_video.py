"""The video codec (STEM): bit-exact latents, real round trips, seeking, odd sizes, damage."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import entrozip
from conftest import moving_frames
from entrozip.container import ContainerWriter, parse, unpack_parts
from entrozip.errors import FormatError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIP = DATA / "video" / "carphone_qcif.mp4"
pytest.importorskip("imageio_ffmpeg")


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / mse))


@pytest.fixture(scope="module")
def carphone():
    from entrozip.codecs.video.ffmpeg_io import read_frames

    if not CLIP.exists():
        pytest.skip("needs ../shared/data/video")
    meta, frames = read_frames(CLIP, max_frames=4)
    return meta, [f.copy() for f in frames]


def test_latents_decode_bit_exactly_frame_after_frame():
    """The decoder's latents (int64 fixed point) are the encoder's, I and P frames alike."""
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.weights import load_video_model

    model, _, _ = load_video_model()
    frames = moving_frames(64, 96, 3)
    for kind in (b"P", b"R"):  # each inter kind: the spatiotemporal model, the latent residual
        prev_e = prev_d = None
        for t, f in enumerate(frames):
            c = model.compress_frame(to_input(f), 3, prev_e, kind=kind)
            assert c["kind"] == (b"I" if t == 0 else kind)
            d = model.decompress_frame(c["z"], c["y"], c["z_shape"], prev_d, kind=c["kind"])
            assert d.dtype == torch.int64 and torch.equal(d, c["y_hat_q"]), (kind, t)
            prev_e, prev_d = c["y_hat_q"], d
    with pytest.raises(ValueError, match="kinds"):
        model.compress_frame(to_input(frames[1]), 3, prev_e, kind=b"X")


def test_inter_side_information_describes_the_change(carphone):
    """The inter hyper-analysis sees y_t - y_hat_{t-1} (encoder only): on real frames a P
    frame costs fewer bytes than with z of y_t itself, and decodes with the same decoder."""
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.weights import load_video_model

    model, _, _ = load_video_model()
    frames = [to_input(f) for f in carphone[1][:2]]
    ref = model.compress_frame(frames[0], 5, None)["y_hat_q"]
    sizes = {}
    try:
        for of_residual in (True, False):
            model.inter.analysis_of_residual = of_residual
            c = model.compress_frame(frames[1], 5, ref)
            d = model.decompress_frame(c["z"], c["y"], c["z_shape"], ref)
            assert torch.equal(d, c["y_hat_q"])
            sizes[of_residual] = len(c["z"][0]) + sum(len(s) for s in c["y"])
    finally:
        model.inter.analysis_of_residual = True
    assert sizes[True] < 0.97 * sizes[False], sizes


def test_each_group_of_pictures_keeps_its_cheaper_chain(monkeypatch):
    """Both inter kinds are coded side by side over a GOP; the file holds, per GOP, the chain
    of least rate + lambda x distortion, the same bytes as coding with that kind alone."""
    from entrozip.codecs.video.model import VideoModel

    frames = moving_frames(64, 128, 6, seed=5)
    blobs = {k: entrozip.open_codec("video", quality=7, intra_period=3, inter_kinds=[k]).compress(frames)
             for k in ("P", "R")}
    costs = {}
    real_cost = VideoModel.frame_cost

    def recording(self, out, x, quality, size=None):
        c = real_cost(self, out, x, quality, size)
        costs.setdefault(out["kind"], []).append(c)
        return c

    monkeypatch.setattr(VideoModel, "frame_cost", recording)
    both = parse(entrozip.open_codec("video", quality=7, intra_period=3, inter_kinds=["P", "R"]).compress(frames))
    assert set(costs) == {b"P", b"R"} and all(len(v) == 4 for v in costs.values())  # 2 GOPs x 2 P frames
    for gop, frames_of_gop in enumerate(((1, 2), (4, 5))):
        best = min("PR", key=lambda k: sum(costs[k.encode()][2 * gop:2 * gop + 2]))
        single = parse(blobs[best])
        for i in frames_of_gop:
            name = f"f{i:06d}"
            assert bytes(both.sections[name]) == bytes(single.sections[name]), (gop, i)
    for bad in (["X"], [], ["P", "P"]):
        with pytest.raises(ValueError, match="inter_kinds"):
            entrozip.open_codec("video", inter_kinds=bad)


def scene_cut(n_before: int, n_after: int):
    """A still shot of one photo crop, then a cut to a still shot of another."""
    a, b = moving_frames(64, 128, 1, seed=1)[0], moving_frames(64, 128, 1, seed=9)[0]
    return [a] * n_before + [b] * n_after


def test_intra_refresh_codes_a_frame_intra_where_that_costs_less(monkeypatch):
    """With I among the kinds, a chain codes a frame intra exactly where the intra coding's
    rate + lambda x distortion is below its inter kind's; that frame is listed as intra."""
    from entrozip.codecs.video.model import VideoModel

    costs = []
    real_cost = VideoModel.frame_cost

    def recording(self, out, x, quality, size=None):
        c = real_cost(self, out, x, quality, size)
        costs.append((out["kind"], c))
        return c

    monkeypatch.setattr(VideoModel, "frame_cost", recording)
    frames = moving_frames(64, 128, 3, seed=4) + scene_cut(0, 3)
    codec = entrozip.open_codec("video", quality=5, intra_period=32, inter_kinds=["P", "I"])
    c = parse(codec.compress(frames))
    assert [k for k, _ in costs] == [b"I", b"P"] * 5  # frames 1..5: intra, then the chain's P
    want = [b"I"] + [b"I" if ci < cp else b"P" for (_, ci), (_, cp) in zip(costs[::2], costs[1::2])]
    got = [bytes(unpack_parts(c.sections[f"f{i:06d}"], None, "frame")[0]) for i in range(6)]
    assert got == want and want[3] == b"I" and want[4:] == [b"P", b"P"], (got, costs)  # the cut
    assert codec.describe(c)["intra_frames"] == want.count(b"I")
    out = list(codec.decompress(c))
    assert all(psnr(a, b) > 25 for a, b in zip(frames, out))


def test_a_refresh_every_chain_takes_starts_a_group_of_pictures():
    """At a scene cut both chains take the intra frame: a new GOP starts there (seekable, and
    the next forced intra frame is intra_period after it); I alone codes every frame intra."""
    frames = scene_cut(2, 5)
    codec = entrozip.open_codec("video", quality=5, intra_period=4, inter_kinds=["P", "I"])
    blob = codec.compress(frames)
    c = parse(blob)
    index = json.loads(bytes(c.section("index")))
    assert index["intra"] == [0, 2, 6], index
    out = list(codec.decompress(blob))
    tail = list(codec.decompress(blob, start=2))
    assert len(tail) == 5 and all(np.array_equal(a, b) for a, b in zip(tail, out[2:]))
    every = entrozip.open_codec("video", quality=5, inter_kinds=["I"])
    c = parse(every.compress(frames))
    assert every.describe(c)["frame_kinds"] == {"I": 7} and every.describe(c)["intra_frames"] == 7


def test_a_real_clip_round_trips(carphone):
    meta, frames = carphone
    codec = entrozip.open_codec("video", quality=5, intra_period=2, inter_kinds=["P", "R"])
    blob = codec.compress(frames, fps=meta["fps"])
    c = parse(blob)
    assert [n for n in c.sections][:4] == ["f000000", "f000001", "f000002", "f000003"]
    kinds = codec.describe(c)["frame_kinds"]
    assert kinds.get("I") == 2 and kinds.get("P", 0) + kinds.get("R", 0) == 2
    out = list(codec.decompress(blob))
    assert len(out) == 4 and all(o.shape == frames[0].shape and o.dtype == np.uint8 for o in out)
    assert all(psnr(a, b) > 27 for a, b in zip(frames, out))  # a real reconstruction, not noise
    again = list(entrozip.open_codec("video").decompress(blob))  # options come from the file
    assert all(np.array_equal(a, b) for a, b in zip(out, again))
    # seeking: decoding from the intra frame 2 gives frames 2 and 3 exactly
    tail = list(codec.decompress(blob, start=2))
    assert len(tail) == 2 and all(np.array_equal(a, b) for a, b in zip(tail, out[2:]))
    with pytest.raises(ValueError, match="intra"):
        list(codec.decompress(blob, start=1))


def test_odd_frame_sizes_and_files(tmp_path):
    frames = moving_frames(37, 53, 3, seed=2)
    codec = entrozip.open_codec("video", quality=6)
    blob = codec.compress(frames)
    out = list(codec.decompress(blob))
    assert [o.shape for o in out] == [(37, 53, 3)] * 3 and min(psnr(a, b) for a, b in zip(frames, out)) > 24
    (tmp_path / "v.ezc").write_bytes(blob)
    assert codec.decompress_file(tmp_path / "v.ezc", tmp_path / "frames", progress=False) == 3
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3


def test_damage_names_the_frame():
    codec = entrozip.open_codec("video", quality=3, intra_period=8)
    blob = bytearray(codec.compress(moving_frames(64, 64, 3, seed=3)))
    c = parse(bytes(blob))
    at = bytes(blob).find(bytes(c.sections["f000001"])[:16]) + 8
    blob[at] ^= 0x10
    with pytest.raises(FormatError, match="f000001"):
        list(codec.decompress(bytes(blob)))
    with pytest.raises(FormatError):
        list(codec.decompress(bytes(blob[: len(blob) // 2])))


def _rewrite(blob: bytes, header=None, sections=None) -> bytes:
    """The same file with its header or sections replaced (CRCs recomputed)."""
    import io

    c = parse(blob)
    buf = io.BytesIO()
    w = ContainerWriter(buf, c.codec, header or c.header)
    for name, payload in (sections or [(n, bytes(p)) for n, p in c.sections.items()]):
        w.add(name, payload)
    w.close()
    return buf.getvalue()


def test_hostile_headers_and_sections_are_format_errors():
    codec = entrozip.open_codec("video", quality=2)
    blob = codec.compress(moving_frames(64, 64, 2, seed=4))
    c = parse(blob)
    for bad in ({"size": [0, 64]}, {"size": [10 ** 6, 64]}, {"quality": 99}, {"model": "other"},
                {"weights": "0000000000000000"}):
        with pytest.raises(FormatError):
            list(codec.decompress(_rewrite(blob, header={**c.header, **bad})))
    secs = [(n, bytes(p)) for n, p in c.sections.items()]
    from entrozip.container import pack_parts

    parts = [bytes(x) for x in unpack_parts(secs[0][1], None)]
    for kind in (b"P", b"R", b"X"):  # an inter (or unknown) kind where the index says intra
        p_first = [("f000000", pack_parts([kind, *parts[1:]]))] + secs[1:]
        with pytest.raises(FormatError, match="frame 0"):
            list(codec.decompress(_rewrite(blob, sections=p_first)))
    no_index = [s for s in secs if s[0] != "index"]
    with pytest.raises(FormatError, match="index"):
        list(codec.decompress(_rewrite(blob, sections=no_index)))
    with pytest.raises(ValueError, match="no frames"):
        codec.compress([])


def test_cli_compresses_a_clip_and_restores_y4m(tmp_path, carphone):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "entrozip.cli", "compress", str(CLIP), str(tmp_path / "c.ezc"),
                        "--frames", "2", "--quality", "3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "entrozip.cli", "decompress", str(tmp_path / "c.ezc"),
                        str(tmp_path / "c.y4m")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from entrozip.codecs.video.ffmpeg_io import read_frames

    meta, frames = read_frames(tmp_path / "c.y4m")
    back = list(frames)
    assert len(back) == 2 and (meta["width"], meta["height"]) == (176, 144)
    assert psnr(back[0], carphone[1][0]) > 24  # through 4:2:0 and back: still the same picture


def test_rd_harness_measures_the_learned_codec(tmp_path, carphone):
    from entrozip.eval import video

    res = video.evaluate(["stem"], CLIP, tmp_path, max_frames=2, progress=False)["stem"]["results"]
    assert res["quality"] == list(video.LearnedVideo.qualities)
    assert res["bpp"] == sorted(res["bpp"]) and res["bpp"][0] > 0  # more quality, more bits
    assert res["psnr-rgb"][-1] > res["psnr-rgb"][0] > 20 and all(p > 20 for p in res["psnr-yuv"])


def test_a_file_that_is_not_a_video_is_one_clear_error(tmp_path):
    import subprocess
    import sys

    (tmp_path / "x.mp4").write_bytes(b"not a video at all" * 10)
    r = subprocess.run([sys.executable, "-m", "entrozip.cli", "compress", str(tmp_path / "x.mp4"),
                        str(tmp_path / "x.ezc")], capture_output=True, text=True)
    assert r.returncode == 2 and "no video stream" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "x.ezc").exists()
