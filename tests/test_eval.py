"""RD harness: metrics on known inputs, BD-rate against the bjontegaard package,
resumable runs, and the CLI."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from entrozip.cli import main
from entrozip.eval import anchors, bdrate, harness, metrics

bjontegaard = pytest.importorskip("bjontegaard")


def test_psnr_known_values():
    a = np.full((4, 4, 3), 100, np.uint8)
    assert metrics.psnr(a, a) == math.inf
    b = a + 1  # MSE 1
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2))
    c = a.copy()
    c[0, 0, 0] += 48  # MSE 48^2 / 48 = 48
    assert metrics.psnr(a, c) == pytest.approx(10 * math.log10(255**2 / 48))
    with pytest.raises(ValueError):
        metrics.psnr(a, a[:2])


def test_ms_ssim_values():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(img.astype(int) + rng.integers(-60, 61, img.shape), 0, 255).astype(np.uint8)
    v1, v2 = metrics.ms_ssim(img, noisy), metrics.ms_ssim(img, noisier)
    assert 0 < v2 < v1 < 1
    assert metrics.ms_ssim(noisy, img) == pytest.approx(v1, abs=1e-6)
    assert metrics.ms_ssim(img[:150], noisy[:150]) is None  # below the 161-pixel minimum
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)


def test_yuv_conversion_and_weighted_psnr():
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    for matrix in metrics.MATRICES:
        np.testing.assert_allclose(metrics.rgb_to_ycbcr(white, matrix)[0, 0], [235, 128, 128], atol=1e-9)
        np.testing.assert_allclose(metrics.rgb_to_ycbcr(black, matrix)[0, 0], [16, 128, 128], atol=1e-9)
        np.testing.assert_allclose(metrics.rgb_to_ycbcr(white, matrix, full_range=True)[0, 0], [255, 128, 128])
        rgb = np.random.default_rng(5).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        for full in (False, True):  # converting back recovers the 8-bit RGB (no rounding of the planes)
            np.testing.assert_array_equal(metrics.ycbcr_to_rgb(metrics.rgb_to_ycbcr(rgb, matrix, full), matrix, full), rgb)
    a = np.zeros((4, 4, 3))
    b = a.copy()
    b[..., 0] += 1  # Y off by 1: Y PSNR 48.13 dB, U and V exact
    w, y, u, v = metrics.psnr_yuv(a, b)
    assert u == v == math.inf
    b[..., 1:] += 2
    w, y, u, v = metrics.psnr_yuv(a, b)
    assert w == pytest.approx((6 * y + u + v) / 8)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_against_the_bjontegaard_package(method):
    table = anchors.load("kodak")
    ref = table["vtm"]
    assert bdrate.bd_rate(ref["bpp"], ref["psnr-rgb"], ref["bpp"], ref["psnr-rgb"], method) == pytest.approx(0, abs=1e-9)
    assert bdrate.bd_psnr(ref["bpp"], ref["psnr-rgb"], ref["bpp"], ref["psnr-rgb"], method) == pytest.approx(0, abs=1e-9)
    for other in ("bpg444", "av1", "hm", "mbt2018", "cheng2020-anchor"):
        t = table[other]
        ours = bdrate.bd_rate(ref["bpp"], ref["psnr-rgb"], t["bpp"], t["psnr-rgb"], method)
        theirs = bjontegaard.bd_rate(ref["bpp"], ref["psnr-rgb"], t["bpp"], t["psnr-rgb"], method=method,
                                     require_matching_points=False, min_overlap=0)
        assert ours == pytest.approx(theirs, abs=1e-6)
        ours = bdrate.bd_psnr(ref["bpp"], ref["psnr-rgb"], t["bpp"], t["psnr-rgb"], method)
        theirs = bjontegaard.bd_psnr(ref["bpp"], ref["psnr-rgb"], t["bpp"], t["psnr-rgb"], method=method,
                                     require_matching_points=False, min_overlap=0)
        assert ours == pytest.approx(theirs, abs=1e-6)
    # a curve that needs 10 % more rate everywhere
    assert bdrate.bd_rate(ref["bpp"], ref["psnr-rgb"], [1.1 * r for r in ref["bpp"]], ref["psnr-rgb"],
                          method) == pytest.approx(10.0, abs=1e-9)


def test_bd_rate_errors():
    with pytest.raises(ValueError, match="4"):
        bdrate.bd_rate([1, 2], [30, 31], [1, 2], [30, 31])
    with pytest.raises(ValueError, match="overlap"):
        bdrate.bd_rate([1, 2, 3, 4], [30, 31, 32, 33], [1, 2, 3, 4], [40, 41, 42, 43])


@pytest.fixture
def tiny_dataset(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):  # smooth images with some texture, large enough for MS-SSIM
        y, x = np.mgrid[0:170, 0:180]
        img = np.stack([(x + 40 * i) % 256, (y * 2) % 256, (x + y) % 256], -1) + rng.integers(0, 8, (170, 180, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_harness_resumes(tiny_dataset, tmp_path):
    out = tmp_path / "out"
    res = harness.evaluate_codec("jpeg", tiny_dataset, out, qualities=[30, 70], progress=False)
    raw = out / "raw" / "jpeg.jsonl"
    lines = raw.read_text().splitlines()
    assert len(lines) == 4
    r = res["results"]
    assert r["quality"] == [30, 70] and r["bpp"][0] < r["bpp"][1] and r["psnr-rgb"][0] < r["psnr-rgb"][1]
    assert res["meta"]["commands"]["30"].startswith("PIL.Image.save(format='JPEG', quality=30")
    assert json.loads((out / "jpeg.json").read_text())["results"] == r
    raw.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # interrupted mid-line
    harness.evaluate_codec("jpeg", tiny_dataset, out, qualities=[30, 70], progress=False)
    records = [json.loads(line) for line in raw.read_text().splitlines() if line.startswith("{") and line.endswith("}")]
    assert sorted((x["image"], x["quality"]) for x in records) == sorted(
        (f"img{i}.png", q) for i in range(2) for q in (30, 70))


def test_harness_runs_a_learned_model(tiny_dataset, tmp_path):
    res = harness.evaluate_codec("mbt2018-mean", tiny_dataset, tmp_path, qualities=[1, 8], limit=1, progress=False)
    r = res["results"]
    assert r["quality"] == [1, 8] and all(b > 0 for b in r["bpp"])
    assert len(res["meta"]["weights_sha256"]) == 16 and res["meta"]["device"] in ("cpu", "cuda")
    assert res["meta"]["commands"]["8"].startswith("entrozip.open_codec('image', model='mbt2018-mean', quality=8")


def test_rd_cost_table():
    """bpp + lambda[q] x 255^2 x MSE per learned model and quality, the lower of each
    quality in bold; classic codecs have no training lambda and are left out."""
    from entrozip.codecs.image.models import LAMBDAS
    from entrozip.eval.report import rd_cost_table

    def res(q, bpp, psnr):
        return {"results": {"quality": q, "bpp": bpp, "psnr-rgb": psnr}}

    results = {"elic": res([1, 8], [0.326, 1.761], [27.80, 35.19]), "s2lic": res([1, 8], [0.242, 1.413], [27.78, 32.94]),
               "jpeg": res([50], [1.0], [30.0])}
    text = rd_cost_table(results)
    assert "jpeg" not in text and "| model | q1 | q8 |" in text
    elic_q8 = 1.761 + LAMBDAS[7] * 255 ** 2 * 10 ** (-35.19 / 10)
    s2lic_q1 = 0.242 + LAMBDAS[0] * 255 ** 2 * 10 ** (-27.78 / 10)
    s2lic_q8 = 1.413 + LAMBDAS[7] * 255 ** 2 * 10 ** (-32.94 / 10)
    assert f"| elic | 0.520 | **{elic_q8:.3f}** |" in text and f"| s2lic | **{s2lic_q1:.3f}** | {s2lic_q8:.3f} |" in text
    assert rd_cost_table({"jpeg": results["jpeg"]}) == ""
    assert "**" not in rd_cost_table({"elic": results["elic"]})  # nothing to compare with


def test_cli_eval(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["eval", "image", "--dataset", str(tiny_dataset), "--codec", "jpeg,webp", "--out", str(out),
                 "--qualities", "20,40,60,80", "--anchor", "jpeg"]) == 0
    text = capsys.readouterr().out
    assert "BD-rate against jpeg" in text and "| webp |" in text
    for f in ("jpeg.json", "webp.json", "summary.csv", "items.csv", "rd_psnr.png", "rd_ms_ssim.png", "bd_rates.md"):
        assert (out / f).is_file()
    assert main(["eval", "image", "--dataset", str(tiny_dataset), "--codec", "nope", "--out", str(out)]) == 2
    assert "unknown image codec" in capsys.readouterr().err


def test_video_baselines(tmp_path, capsys):
    """x264 and x265 on the first frames of a real clip: sane curves, exact command
    lines recorded, and a re-run resumes instead of re-encoding."""
    pytest.importorskip("imageio_ffmpeg")
    from pathlib import Path

    from entrozip.eval import video

    clip = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_qcif.mp4"
    if not clip.exists():
        pytest.skip("shared video data not present")
    out = tmp_path / "video"
    assert main(["eval", "video", "--video", str(clip), "--codec", "x264,x265", "--frames", "4",
                 "--out", str(out)]) == 0
    assert "| x265 |" in capsys.readouterr().out
    res = json.loads((out / "x264.json").read_text())
    r = res["results"]
    assert res["meta"]["frames"] == 4 and res["meta"]["size"] == [176, 144]
    assert r["quality"] == list(video.VIDEO_BASELINES["x264"].qualities)
    assert all(a > b for a, b in zip(r["bpp"], r["bpp"][1:]))  # higher CRF, fewer bits
    assert all(a > b for a, b in zip(r["psnr-yuv"], r["psnr-yuv"][1:]))
    for q, y, u, v, w in zip(r["quality"], r["psnr-y"], r["psnr-u"], r["psnr-v"], r["psnr-yuv"]):
        assert w == pytest.approx((6 * y + u + v) / 8, abs=0.5)  # mean of per-frame weighted values
    assert "libx264" in res["meta"]["commands"]["23"] and "-crf 23" in res["meta"]["commands"]["23"]
    lines = (out / "raw" / "x264.jsonl").read_text()
    video.evaluate(["x264"], clip, out, max_frames=4, progress=False)
    assert (out / "raw" / "x264.jsonl").read_text() == lines
    # a logged row made by another command line (here: another CRF) is measured again, not reused
    (out / "raw" / "x264.jsonl").write_text(lines.replace("-crf 23 ", "-crf 24 ", 1))
    res = video.evaluate(["x264"], clip, out, max_frames=4, progress=False)["x264"]
    assert len((out / "raw" / "x264.jsonl").read_text().splitlines()) == len(lines.splitlines()) + 1
    assert "-crf 23 " in res["meta"]["commands"]["23"]


def test_low_delay_baselines_never_reorder_frames(tmp_path):
    """The plain names are low delay: every frame coded after the ones it follows (what the
    learned codec does); their -ra siblings reorder: read from the coded packets."""
    pytest.importorskip("imageio_ffmpeg")
    from pathlib import Path

    from entrozip.eval import video

    clip = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_qcif.mp4"
    if not clip.exists():
        pytest.skip("shared video data not present")
    src = video.read_source(clip, 12)
    # (AV1 packets are in display order either way: svtav1's low delay is SVT's own
    # "pred struct: low delay", not visible here)
    for name, reorders in (("x264-ra", True), ("x264", False), ("x265", False), ("vvenc-ra", True),
                           ("vvenc", False)):
        codec = video.VIDEO_BASELINES[name]
        row = video.measure(codec, src, codec.qualities[2], tmp_path)
        assert row["reordered"] is reorders, name
        assert row["frames"] == 12 and row["psnr-yuv"] > 25, name


def test_eval_video_over_a_dataset_folder(tmp_path, capsys):
    """--dataset: every clip of a folder into OUT/<clip>/, and one BD table over the clips;
    a folder without video files is one clear error."""
    pytest.importorskip("imageio_ffmpeg")
    from conftest import moving_frames
    from entrozip.codecs.video.ffmpeg_io import write_frames

    data = tmp_path / "clips"
    data.mkdir()
    for i, (h, w) in enumerate(((64, 96), (96, 64))):
        write_frames(data / f"clip{i}.y4m", moving_frames(h, w, 3, seed=i), {"width": w, "height": h})
    (data / "notes.txt").write_text("not a clip")
    out = tmp_path / "eval"
    assert main(["eval", "video", "--dataset", str(data), "--codec", "x264,x265", "--frames", "3",
                 "--out", str(out), "--anchor", "x264"]) == 0
    for i, size in enumerate(([96, 64], [64, 96])):
        res = json.loads((out / f"clip{i}" / "x265.json").read_text())
        assert res["meta"]["video"] == f"clip{i}.y4m" and res["meta"]["size"] == size
        assert (out / f"clip{i}" / "rd_video.png").stat().st_size > 0
    summary = (out / "bd_rates.md").read_text()
    assert "| codec | clip0 | clip1 | mean |" in summary and "| x264 | +0.0 % / +0.0 % | +0.0 % / +0.0 % | +0.0 % |" in summary
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["eval", "video", "--dataset", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no video files" in err and len(err.splitlines()) == 1


def test_logged_stem_rows_are_reused_only_with_the_same_weights_and_options():
    """A video eval resumes a logged stem row only when it was coded with the weights the
    package has now and the same encoder options: anything else is measured again instead
    of mixed in (rows from before intra refresh name no inter kinds)."""
    from entrozip.eval.video import LearnedVideo

    codec, wid = LearnedVideo(), LearnedVideo.weights_id()
    row = {"quality": 3, "command": "entrozip.open_codec('video', quality=3, intra_period=32, "
                                    "inter_kinds='P,R,M,I', rdoq=20) (CPU)"}
    assert codec.made({**row, "weights_id": wid})
    assert LearnedVideo(inter_kinds="P,R,I").made({**row, "weights_id": wid,  # before M frames
                                                   "command": row["command"].replace("P,R,M,I", "P,R,I")})
    assert not codec.made({**row, "weights_id": wid, "command": row["command"].replace("P,R,M,I", "P,R,I")})
    assert not codec.made({**row, "weights_id": "0" * 16}) and not codec.made(row)
    assert not LearnedVideo(intra_period=8).made({**row, "weights_id": wid})
    assert not LearnedVideo(inter_kinds="P,R").made({**row, "weights_id": wid})
    assert not LearnedVideo(rdoq=0).made({**row, "weights_id": wid})
    before = {"quality": 3, "weights_id": wid,
              "command": "entrozip.open_codec('video', quality=3, intra_period=32) (CPU)"}
    assert not codec.made(before)
