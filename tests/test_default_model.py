"""The image model used when none is named: per quality, the shipped model with the smallest
measured Kodak RD cost (codecs/image/default.py), from records that name the shipped weights."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from entrozip import open_codec
from entrozip.codecs.image import default, weights
from entrozip.codecs.image.models import LAMBDAS, QUALITIES
from entrozip.container import parse

ROOT = Path(__file__).resolve().parents[1]


def _entry(wid, bpp, psnr, record_wid=None, trained=True):
    q = list(range(1, QUALITIES + 1))
    return {"weights_id": wid, "trained": trained,
            "kodak": {"weights_id": record_wid or wid, "quality": q, "bpp": bpp, "psnr": psnr}}


def _cost(b, p, q):
    return b + LAMBDAS[q - 1] * 255**2 * 10 ** (-p / 10)


def test_each_quality_takes_the_smaller_rd_cost_and_a_tie_the_faster_model():
    elic_bpp, elic_psnr = [0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.5, 1.8], [27.8, 29.3, 30.8, 32.1, 33.2, 34.1, 34.7, 35.2]
    s2_bpp, s2_psnr = [0.25, 0.35, 0.45, 0.6, 0.75, 0.95, 1.15, 1.4], [27.9, 29.2, 30.3, 31.3, 32.0, 32.5, 32.9, 33.1]
    s2_bpp[5] = elic_bpp[5] + _cost(0, elic_psnr[5], 6) - _cost(0, s2_psnr[5], 6)  # q6: exactly elic's cost
    shipped = {"elic": _entry("e" * 16, elic_bpp, elic_psnr), "s2lic": _entry("s" * 16, s2_bpp, s2_psnr)}
    table = default.default_models(shipped)
    for q in range(1, QUALITIES + 1):
        e, s = _cost(elic_bpp[q - 1], elic_psnr[q - 1], q), _cost(s2_bpp[q - 1], s2_psnr[q - 1], q)
        assert table[q] == ("s2lic" if s < e - 1e-12 else "elic"), q
    assert table[1] == "s2lic" and table[8] == "elic" and table[6] == "elic"  # the tie


def test_records_of_other_weights_or_untrained_models_do_not_count():
    low = [0.1] * QUALITIES, [40.0] * QUALITIES  # would win everywhere
    high = [2.0] * QUALITIES, [20.0] * QUALITIES
    stale = {"elic": _entry("e" * 16, *high), "s2lic": _entry("new" * 5 + "x", *low, record_wid="old" * 5 + "x")}
    assert set(default.default_models(stale).values()) == {"elic"}
    untrained = {"elic": _entry("e" * 16, *high), "s2lic": _entry("s" * 16, *low, trained=False)}
    assert set(default.default_models(untrained).values()) == {"elic"}
    assert set(default.default_models({}).values()) == {default.FALLBACK_MODEL}
    assert set(default.default_models({"elic": _entry("e" * 16, *high), "s2lic": _entry("s" * 16, *low)}).values()) \
        == {"s2lic"}


def test_the_shipped_records_measure_the_shipped_weights_and_match_their_results_files():
    """Re-shipped weights need a new Kodak record (scripts/record_kodak.py): a record of
    other weights would silently stop counting."""
    shipped = weights.manifest()
    for name in default.CANDIDATES:
        entry = shipped[name]
        rec = entry["kodak"]
        assert rec["weights_id"] == entry["weights_id"], name
        result = json.loads((ROOT / rec["results"]).read_text())
        assert default.kodak_record(result) == {k: v for k, v in rec.items() if k != "results"}, name
        assert default.recorded_costs(entry).keys() == set(range(1, QUALITIES + 1))


def test_kodak_record_takes_only_a_full_kodak_run_of_trained_weights():
    q = list(range(1, QUALITIES + 1))
    good = {"meta": {"dataset": "kodak", "images": 24, "weights_sha256": "a" * 16, "weights_trained": True},
            "results": {"quality": q, "bpp": [1.0] * 8, "psnr-rgb": [30.0] * 8}}
    assert default.kodak_record(good)["weights_id"] == "a" * 16
    for change, match in [({"images": 3}, "24 Kodak"), ({"dataset": "clic"}, "24 Kodak"),
                          ({"weights_trained": False}, "trained weights")]:
        bad = {**good, "meta": {**good["meta"], **change}}
        with pytest.raises(ValueError, match=match):
            default.kodak_record(bad)
    with pytest.raises(ValueError, match="every quality"):
        default.kodak_record({**good, "results": {"quality": [1, 4, 8], "bpp": [1] * 3, "psnr-rgb": [30] * 3}})


def test_record_kodak_refuses_a_run_of_other_weights(tmp_path, monkeypatch):
    shutil.copy(weights.WEIGHTS_DIR / "manifest.json", tmp_path / "manifest.json")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    entry = weights.manifest()["elic"]
    run = {"meta": {"dataset": "kodak", "images": 24, "weights_sha256": "0" * 16, "weights_trained": True},
           "results": {"quality": list(range(1, 9)), "bpp": [1.0] * 8, "psnr-rgb": [30.0] * 8}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(ValueError, match="the shipped ones are " + entry["weights_id"]):
        weights.record_kodak("elic", tmp_path / "run.json")
    run["meta"]["weights_sha256"] = entry["weights_id"]
    (tmp_path / "run.json").write_text(json.dumps(run))
    rec = weights.record_kodak("elic", tmp_path / "run.json")
    assert json.loads((tmp_path / "manifest.json").read_text())["models"]["elic"]["kodak"] == rec
    shipped = weights.manifest()  # the recorded run now decides elic's side of the choice
    e, s = (default.recorded_costs(shipped[n]) for n in ("elic", "s2lic"))
    assert e[8] == pytest.approx(1.0 + LAMBDAS[7] * 255**2 * 1e-3)
    assert default.default_models(shipped) == {q: "s2lic" if s[q] < e[q] else "elic" for q in e}


@pytest.mark.parametrize("quality", [1, QUALITIES])
def test_a_codec_without_a_model_uses_the_default_and_its_file_says_which(quality):
    codec = open_codec("image", quality=quality, threads=1)
    assert codec.model_name == default.default_model(quality)
    assert codec.info()["model_choice"].startswith("default")
    rgb = np.random.default_rng(quality).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    blob = codec.compress(rgb)
    assert parse(blob).header["model"] == codec.model_name
    # any codec decodes it: the file names its model
    other = "elic" if codec.model_name != "elic" else "s2lic"
    back = open_codec("image", model=other, threads=1).decompress(blob)
    assert np.array_equal(back, codec.decompress(blob))


def test_exported_weights_without_a_model_take_the_one_model_they_hold(tmp_path):
    (tmp_path / "s2lic.json").write_text("{}")
    assert open_codec("image", weights=tmp_path).model_name == "s2lic"
    (tmp_path / "elic.json").write_text("{}")
    with pytest.raises(ValueError, match="holds exported weights of elic, s2lic: name the model"):
        open_codec("image", weights=tmp_path)
    with pytest.raises(ValueError, match="no image model: name the model"):
        open_codec("image", weights=tmp_path / "nothing")
