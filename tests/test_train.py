"""Training: batched crops, a few real steps, export, resume, ship."""
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

from entrozip import FormatError

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from PIL import Image  # noqa: E402

from entrozip.train.data import CropSampler  # noqa: E402
from entrozip.train.image import LAMBDAS, learning_rate, train  # noqa: E402


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "imgs"
    d.mkdir()
    for i, shape in enumerate([(80, 120), (130, 70), (64, 64), (40, 200)]):  # the last is too small for 64
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return d


def test_crops_are_batched_in_range_and_reproducible(folder):
    a = CropSampler([folder], 64, seed=3, progress=False)
    assert len(a) == 3  # the 40-pixel-high image cannot give a 64 crop
    x = a.sample(16)
    assert x.shape == (16, 3, 64, 64) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    b = CropSampler([folder], 64, seed=3, progress=False)
    assert torch.equal(b.sample(16), x)
    # every crop is a real window of some image (flipped or not): no padding leaks in
    data = a.data.float() / 255
    for crop in x[:4]:
        found = False
        for i, (h, w) in enumerate(a.sizes.tolist()):
            for img in (data[i, :, :h, :w], data[i, :, :h, :w].flip(-1)):
                windows = img.unfold(1, 64, 1).unfold(2, 64, 1)  # C, h', w', 64, 64
                if (windows == crop[:, None, None]).all(0).all(-1).all(-1).any():
                    found = True
        assert found


def test_learning_rate_schedule():
    assert learning_rate(1.0, 0.0) == pytest.approx(0.05)
    assert learning_rate(1.0, 0.02) == pytest.approx(1.0)
    assert learning_rate(1.0, 1.0) == pytest.approx(0.1)
    assert len(LAMBDAS) == 8 and list(LAMBDAS) == sorted(LAMBDAS)


def test_ms_ssim_loss_and_its_crop_limit(folder):
    from entrozip.codecs.image.weights import initial_model
    from entrozip.train.image import rate_distortion

    net = initial_model("mbt2018-mean")
    x = torch.rand(2, 3, 192, 192)
    loss, bpp, mse = rate_distortion(net, x, torch.tensor([0, 7]), "ms-ssim")
    assert torch.isfinite(loss) and loss > 0 and bpp.shape == (2,)
    with pytest.raises(ValueError, match="161"):
        train("mbt2018-mean", [folder], folder, minutes=0.01, crop=64, metric="ms-ssim", progress=False)


def test_train_export_resume_and_ship(folder, tmp_path, monkeypatch):
    from entrozip import open_codec
    from entrozip.codecs.image import weights as W

    out = tmp_path / "run"
    entry = train("mbt2018-mean", [folder], out, minutes=0.04, batch=2, crop=64, progress=False, log=lambda *_: None)
    assert entry["training"]["steps"] >= 1 and entry["trained"]
    assert all((out / f).stat().st_size < 16 << 20 for f in entry["files"])
    assert any(json.loads(line)["kind"] == "checkpoint" for line in (out / "mbt2018-mean.log.jsonl").read_text().splitlines())
    again = train("mbt2018-mean", [folder], out, minutes=0.02, batch=2, crop=64, resume=out, progress=False,
                  log=lambda *_: None)
    assert again["training"]["steps"] > entry["training"]["steps"] and again["training"]["runs"] == 2
    history = again["training"]["history"]
    assert [r["from"] for r in history] == ["scratch", "state"] and history[0] == entry["training"]["history"][0]
    assert sum(r["steps"] for r in history) == again["training"]["steps"]

    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path / "pkg")
    (tmp_path / "pkg").mkdir()
    W.load_model.cache_clear()
    try:
        shipped = W.ship(out, "mbt2018-mean")
        assert W.manifest()["mbt2018-mean"]["training"]["history"] == history
        codec = open_codec("image", model="mbt2018-mean", quality=3)
        info = codec.info()
        assert info["trained"] and info["weights"] == shipped["weights_id"]
        img = np.asarray(Image.open(next(folder.glob("0.png"))))
        assert codec.decompress(codec.compress(img)).shape == img.shape
    finally:
        W.load_model.cache_clear()


def test_shipping_continues_the_shipped_history():
    """A run resumed from a state that predates histories (its history: itself only) ships
    with the runs before taken from the weights it continues; anything that does not add
    up (other weights, other step counts) is left as it is."""
    from entrozip.codecs.image.weights import continued_history

    shipped = {"steps": 30, "runs": 2, "note": "earlier", "history": [{"steps": 10}, {"steps": 20}]}
    new = {"steps": 37, "runs": 3, "history": [{"steps": 7, "from": "state"}]}
    merged = continued_history(new, shipped)
    assert merged["history"] == [{"steps": 10}, {"steps": 20}, {"steps": 7, "from": "state"}]
    assert merged["note"] == "earlier" and merged["steps"] == 37 and len(shipped["history"]) == 2  # shipped untouched
    assert continued_history({**new, "steps": 38}, shipped) == {**new, "steps": 38}  # not a continuation
    assert continued_history({**new, "runs": 4}, shipped) == {**new, "runs": 4}
    full = {"steps": 37, "runs": 3, "history": [{"steps": 10}, {"steps": 20}, {"steps": 7}]}
    assert continued_history(full, shipped) == full  # already whole
    assert continued_history(new, {"steps": 30, "runs": 2}) == new  # nothing to take


def _adam_steps(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        loss = sum((p * torch.randn(p.shape, generator=g)).sum() ** 2 for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_training_state_continues_a_run_exactly(tmp_path):
    """Saved after some Adam steps and loaded into a fresh model and optimizer, the next
    steps give bit-identical float32 parameters to the run that never stopped."""
    from entrozip.train.state import load_training_state, save_training_state

    def build():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(2, 3)).to(memory_format=torch.channels_last)
        return net, torch.optim.Adam(net.parameters(), lr=1e-2)

    a, opt_a = build()
    _adam_steps(a, opt_a, 3, seed=1)
    save_training_state(tmp_path / "s.safetensors", a, {"main": opt_a}, {"model": "toy", "training": {"steps": 3}})
    b, opt_b = build()
    header = load_training_state(tmp_path / "s.safetensors", b, {"main": opt_b})
    assert header["model"] == "toy" and header["training"] == {"steps": 3}
    _adam_steps(a, opt_a, 2, seed=2)
    _adam_steps(b, opt_b, 2, seed=2)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name

    # the wrong model, the wrong optimizer layout, or not a training state at all: FormatError
    other = torch.nn.Linear(2, 3)
    with pytest.raises(FormatError, match="do not match"):
        load_training_state(tmp_path / "s.safetensors", other, {"main": torch.optim.Adam(other.parameters())})
    c, _ = build()
    with pytest.raises(FormatError, match="other parameters"):
        load_training_state(tmp_path / "s.safetensors", c, {"main": torch.optim.Adam(list(c.parameters())[::-1])})
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(FormatError, match="not an entrozip training state"):
        load_training_state(tmp_path / "plain.safetensors", c, {})
    from safetensors import safe_open

    with safe_open(str(tmp_path / "s.safetensors"), framework="pt") as f:  # a stray tensor name
        good = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    save_file({**good, "junk": torch.zeros(1)}, str(tmp_path / "stray.safetensors"), metadata=meta)
    with pytest.raises(FormatError, match="'junk' is neither"):
        load_training_state(tmp_path / "stray.safetensors", c, {"main": torch.optim.Adam(c.parameters())})


def test_training_state_carries_built_cdf_tables(tmp_path):
    """A run with a Kodak check saves its state after update(), CDF tables filled; a fresh
    model (empty tables) loads it and holds the same tables. A buffer that cannot take the
    saved shape is still a FormatError."""
    from entrozip.codecs.image.models import MODELS, ImageModel
    from entrozip.train.state import load_training_state, save_training_state

    torch.manual_seed(0)
    trained = ImageModel(MODELS["mbt2018-mean"])
    trained.update(force=True)
    assert trained.entropy.entropy_bottleneck._quantized_cdf.numel() > 0
    save_training_state(tmp_path / "s.safetensors", trained, {}, {"model": "mbt2018-mean"})
    fresh = ImageModel(MODELS["mbt2018-mean"])
    load_training_state(tmp_path / "s.safetensors", fresh, {}, "mbt2018-mean")
    for name, t in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], t), name
    fresh.register_buffer("fixed", torch.zeros(2))  # a plain buffer: not resized
    trained.register_buffer("fixed", torch.zeros(3))
    save_training_state(tmp_path / "t.safetensors", trained, {}, {"model": "mbt2018-mean"})
    with pytest.raises(FormatError, match="do not match"):
        load_training_state(tmp_path / "t.safetensors", fresh, {})


def test_resume_prefers_the_training_state(folder, tmp_path):
    """A run's folder holds its float32 + Adam state beside the bf16 shards; resuming
    from the folder continues from the state, and re-exporting keeps it."""
    from safetensors import safe_open

    from entrozip.train.state import state_path

    out, lines = tmp_path / "run", []
    first = train("mbt2018-mean", [folder], out, minutes=0.02, batch=2, crop=64, progress=False, log=lambda *_: None)
    path = state_path(out, "mbt2018-mean")
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["entrozip"])
        assert f.get_tensor("model/g_a.0.weight").dtype == torch.float32
        assert any(k.startswith("main/0/exp_avg") for k in f.keys())
    assert header["weights_id"] == first["weights_id"] and header["training"]["steps"] == first["training"]["steps"]
    again = train("mbt2018-mean", [folder], out, minutes=0.02, batch=2, crop=64, resume=out, progress=False,
                  log=lines.append)
    assert any("training state" in line for line in lines)
    assert again["training"]["steps"] > first["training"]["steps"] and path.is_file()
    with pytest.raises(FormatError, match="of 'mbt2018-mean', not 'elic'"):
        (tmp_path / "wrong").mkdir()
        state_path(tmp_path / "wrong", "elic").write_bytes(path.read_bytes())
        train("elic", [folder], tmp_path / "x", minutes=0.01, batch=2, crop=64, resume=tmp_path / "wrong",
              progress=False, log=lambda *_: None)


@pytest.fixture()
def photos(tmp_path):
    """Smooth random photos large enough for 64-pixel clips (a 96-pixel window to move in)."""
    rng = np.random.default_rng(1)
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(3):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((160, 120), Image.BILINEAR).save(d / f"{i}.png")
    return d


def test_synthetic_clips_move_and_are_reproducible(photos):
    from entrozip.train.video import ClipSampler

    a = ClipSampler([photos], 64, seed=1, progress=False)
    clip = a.sample(4, 3)
    assert clip.shape == (3, 4, 3, 64, 64) and 0 <= float(clip.min()) and float(clip.max()) <= 1
    assert torch.equal(ClipSampler([photos], 64, seed=1, progress=False).sample(4, 3), clip)
    assert (clip[1] - clip[0]).abs().mean() > 0  # frames differ: motion, drift, noise


def test_video_training_exports_resumes_and_codes(photos, tmp_path):
    """A few real steps: only the video model's own parameters move (the image model stays
    the shipped one), the export loads into a model that codes and decodes bit-exactly,
    and a resumed run continues from it and counts both runs."""
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.weights import OWN, initial_video_model, load_own_weights
    from entrozip.train.video import train as train_video
    from entrozip.codecs.image.weights import read_weights_file

    first = train_video([photos], tmp_path / "a", minutes=0.05, batch=2, crop=64, frames=2, lr=1e-3,
                        progress=False)
    assert first["trained"] and first["training"]["steps"] >= 1 and first["training"]["runs"] == 1
    state = read_weights_file(tmp_path / "a" / first["files"][0])
    assert state and all(k.startswith(OWN) for k in state)
    fresh, video = initial_video_model(), initial_video_model()
    load_own_weights(video, tmp_path / "a", first["files"])
    fresh_state, trained_state = fresh.state_dict(), video.state_dict()
    moved = [k for k in state if k.endswith("weight") and not torch.equal(fresh_state[k], trained_state[k])]
    assert any(k.startswith("inter.h_a.") for k in moved) and any(k.startswith("temporal.") for k in moved)
    assert all(torch.equal(fresh_state[k], trained_state[k]) for k in fresh_state if k.startswith("image."))
    video.eval()
    video.update(force=True)
    rng = np.random.default_rng(2)
    x0 = to_input(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    x1 = to_input(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    ref = video.compress_frame(x0, 2, None)["y_hat_q"]
    c = video.compress_frame(x1, 2, ref)
    assert torch.equal(video.decompress_frame(c["z"], c["y"], c["z_shape"], ref), c["y_hat_q"])
    second = train_video([photos], tmp_path / "b", minutes=0.03, batch=2, crop=64, frames=2, progress=False,
                         resume=tmp_path / "a")
    assert second["training"]["runs"] == 2 and [r["from"] for r in second["training"]["history"]] == ["scratch", "weights"]
    assert second["training"]["steps"] == first["training"]["steps"] + second["training"]["history"][-1]["steps"]
    with pytest.raises(ValueError, match="stem.json"):
        train_video([photos], tmp_path / "c", minutes=0.01, progress=False, resume=tmp_path)


def test_video_training_fine_tunes_the_transforms(photos, tmp_path):
    """--transforms: g_a and g_s move on the clips (rate + distortion of every frame) and
    ship as the video model's own in a second file; the image model's entropy model and
    gains stay; the export codes and decodes bit-exactly, intra frames with the new
    transforms; a later run without --transforms keeps them."""
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.weights import (OWN, TRANSFORMS, initial_video_model, load_own_weights,
                                               own_prefixes)
    from entrozip.train.video import train as train_video
    from entrozip.codecs.image.weights import read_weights_file

    entry = train_video([photos], tmp_path / "a", minutes=0.06, batch=2, crop=64, frames=2, lr=1e-3,
                        transform_lr=1e-3, progress=False, transforms=True)
    assert own_prefixes(entry) == OWN + TRANSFORMS and len(entry["files"]) == 2
    assert entry["training"]["transform_steps"] == entry["training"]["steps"] >= 1
    second_file = read_weights_file(tmp_path / "a" / entry["files"][1])
    assert second_file and all(k.startswith(TRANSFORMS) for k in second_file)
    fresh, video = initial_video_model(), initial_video_model()
    load_own_weights(video, tmp_path / "a", entry["files"], own_prefixes(entry))
    a, b = fresh.state_dict(), video.state_dict()
    moved = {k.split(".")[1] for k in a if k.startswith("image.") and not torch.equal(a[k], b[k])}
    assert moved == {"g_a", "g_s"}  # the intra entropy model and the gains are the image codec's
    with pytest.raises(FormatError):  # the transforms' file is not optional once listed
        load_own_weights(initial_video_model(), tmp_path / "a", entry["files"][:1], own_prefixes(entry))
    video.eval()
    video.update(force=True)
    x0 = to_input(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    intra = video.compress_frame(x0, 3, None)
    assert not torch.equal(intra["y_hat_q"], fresh.eval().compress_frame(x0, 3, None)["y_hat_q"])
    c = video.compress_frame(x0, 3, intra["y_hat_q"])
    assert torch.equal(video.decompress_frame(c["z"], c["y"], c["z_shape"], intra["y_hat_q"]), c["y_hat_q"])
    later = train_video([photos], tmp_path / "b", minutes=0.02, batch=2, crop=64, frames=2, progress=False,
                        resume=tmp_path / "a")
    assert own_prefixes(later) == OWN + TRANSFORMS and later["training"]["transform_steps"] == \
        entry["training"]["transform_steps"]
    kept = read_weights_file(tmp_path / "b" / later["files"][1])
    assert all(torch.equal(kept[k], second_file[k]) for k in second_file)


def test_training_plot_chains_runs(tmp_path):
    """scripts/plot_training.py: steps and minutes continue across files and across a run
    resumed into the same log; the plot is written."""
    mod = load_script("plot_training")
    check = {"1": {"bpp": 0.2, "psnr": 25.0}, "8": {"bpp": 1.5, "psnr": 30.0}}
    first, second = tmp_path / "a.log.jsonl", tmp_path / "b.log.jsonl"
    rows = lambda n, m: [{"kind": "train", "step": n // 2, "minutes": m / 2, "loss": 1, "bpp": 1, "psnr": 20},  # noqa: E731
                         {"kind": "checkpoint", "step": n, "minutes": m, "kodak": check}]
    first.write_text("".join(json.dumps(r) + "\n" for r in rows(100, 10) + rows(40, 4)))  # a resume appended
    second.write_text("".join(json.dumps(r) + "\n" for r in rows(60, 6)))
    train_rows, checks = mod.read_runs([first, second])
    assert [r["step"] for r in checks] == [100, 140, 200] and [r["minutes"] for r in checks] == [10, 14, 20]
    assert [r["run"] for r in train_rows] == [0, 1, 2] and [r["step"] for r in train_rows] == [50, 120, 170]
    mod.plot(train_rows, checks, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_plot_reads_a_log_still_being_written(tmp_path, capsys):
    """A last line cut short (a run still writing, or killed) is skipped with a warning;
    a bad line before the last is an error naming the file and line."""
    mod = load_script("plot_training")
    row = json.dumps({"kind": "train", "step": 5, "minutes": 1.0, "loss": 1, "bpp": 1, "psnr": 20})
    live = tmp_path / "live.log.jsonl"
    live.write_text(row + "\n" + row[:17])
    train_rows, checks = mod.read_runs([live])
    assert [r["step"] for r in train_rows] == [5] and checks == []
    assert "live.log.jsonl:2: skipped a cut last line" in capsys.readouterr().err
    live.write_text(row[:17] + "\n" + row + "\n")
    with pytest.raises(SystemExit, match=r"live.log.jsonl:1: not a log row"):
        mod.read_runs([live])
    live.write_text(row[:17])
    with pytest.raises(SystemExit, match="no log rows"):
        mod.read_runs([live])


def test_shipped_training_history_is_whole_and_its_logs_are_committed(monkeypatch):
    """Every shipped image model's training history adds up to its totals (runs, and steps
    where each run logged them), and scripts/plot_training.py --shipped finds the committed
    log of every run that names one; their steps match the history."""
    from entrozip.codecs.image.weights import manifest

    monkeypatch.chdir(Path(__file__).parents[1])  # the logs' paths are the repository's
    mod = load_script("plot_training")
    for name, entry in manifest().items():
        t = entry["training"]
        history = t["history"]
        assert len(history) == t["runs"] and all(r["from"] in ("scratch", "state", "weights", "package") for r in history)
        # the runs logged before histories existed were recorded from their logs, whose last
        # row comes after the final Kodak check (under a minute) that the totals leave out
        assert abs(sum(r["minutes"] for r in history) - t["minutes"]) < len(history)
        if all("steps" in r for r in history):
            assert sum(r["steps"] for r in history) == t["steps"]
        logs = mod.shipped_logs(name)
        assert len(logs) == sum("log" in r for r in history)
        train_rows, checks = mod.read_runs(logs)
        logged = [r for r in history if "log" in r]
        assert max(r["step"] for r in train_rows + checks) == sum(r["steps"] for r in logged)
