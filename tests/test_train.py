"""Training: batched crops, a few real steps, export, resume, ship."""
import json

import numpy as np
import pytest

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

    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path / "pkg")
    (tmp_path / "pkg").mkdir()
    W.load_model.cache_clear()
    try:
        shipped = W.ship(out, "mbt2018-mean")
        codec = open_codec("image", model="mbt2018-mean", quality=3)
        info = codec.info()
        assert info["trained"] and info["weights"] == shipped["weights_id"]
        img = np.asarray(Image.open(next(folder.glob("0.png"))))
        assert codec.decompress(codec.compress(img)).shape == img.shape
    finally:
        W.load_model.cache_clear()
