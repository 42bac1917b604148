"""The command line: round trips, readable info, and one-line errors with exit status 2."""
import json
import subprocess
import sys

import pytest

from entrozip import open_codec
from entrozip.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_compress_info_decompress(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(b"the quick brown fox jumps over the lazy dog\n" * 500)
    ezc, back = tmp_path / "x.ezc", tmp_path / "back.txt"
    rc, out, _ = run(capsys, "compress", str(src), str(ezc), "--threads", "1")
    assert rc == 0 and "ratio" in out
    assert ezc.stat().st_size < 0.6 * src.stat().st_size  # order 0: ~4.2 bits per character
    rc, out, _ = run(capsys, "info", str(ezc))
    assert rc == 0 and "codec 'bytes'" in out and "CRCs ok" in out and "rANS static" in out
    rc, out, _ = run(capsys, "info", str(ezc), "--json")
    assert rc == 0 and '"codec": "bytes"' in out
    rc, _, _ = run(capsys, "decompress", str(ezc), str(back))
    assert rc == 0 and back.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "missing", "empty"])
def test_bad_files_give_one_line(tmp_path, capsys, damage):
    good = open_codec("bytes").compress(b"abc" * 1000)
    path = tmp_path / "bad.ezc"
    if damage == "truncate":
        path.write_bytes(good[:-9])
    elif damage == "flip":
        path.write_bytes(good[:40] + bytes([good[40] ^ 4]) + good[41:])
    elif damage == "garbage":
        path.write_bytes(b"hello world, not an ezc file")
    elif damage == "empty":
        path.write_bytes(b"")
    for cmd in (["info", str(path)], ["decompress", str(path), str(tmp_path / "out")]):
        rc, out, err = run(capsys, *cmd)
        assert rc == 2
        assert err.startswith("entrozip: error: ") and err.count("\n") == 1
        assert "Traceback" not in err


def test_unknown_codec(tmp_path, capsys):
    src = tmp_path / "a"
    src.write_bytes(b"x")
    rc, _, err = run(capsys, "compress", str(src), str(tmp_path / "b"), "--codec", "nope")
    assert rc == 2 and "unknown codec 'nope'" in err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "entrozip.cli", "--help"], capture_output=True, text=True, check=True)
    for word in ("compress", "decompress", "info", "demo"):
        assert word in out.stdout
    bad = subprocess.run([sys.executable, "-m", "entrozip.cli", "info", "/nonexistent.ezc"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "No such file" in bad.stderr


def _small_photo(path, size=(40, 24), mode="RGB"):
    from PIL import Image

    from entrozip.demo import load_image

    Image.fromarray(load_image()[0][:size[1], :size[0]]).convert(mode).save(path)


def test_image_files_folders_and_models(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    _small_photo(src / "a.png")
    _small_photo(src / "g.png", mode="L")
    (src / "notes.txt").write_bytes(b"plain bytes\n" * 20)
    _small_photo(src / "raw.jpg")
    rc, out, _ = run(capsys, "compress", str(src), str(tmp_path / "z"), "--quality", "2", "--model", "mbt2018-mean")
    assert rc == 0 and out.count("bpp") == 3 and "bytes" in out
    (tmp_path / "z" / "raw.jpg.ezc").unlink()  # a JPEG kept as bytes must come back as .jpg
    assert main(["compress", str(src / "raw.jpg"), str(tmp_path / "z" / "raw.jpg.ezc"), "--codec", "bytes"]) == 0
    rc, out, _ = run(capsys, "info", str(tmp_path / "z" / "a.png.ezc"))
    assert rc == 0 and "codec 'image'" in out and '"mbt2018-mean"' in out and "rANS indexed" in out
    assert "payload_bytes" in out and "framing_bytes" in out and "container_bytes" in out
    rc, _, _ = run(capsys, "decompress", str(tmp_path / "z"), str(tmp_path / "back"))
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == ["a.png", "g.png", "notes.txt", "raw.jpg"]
    assert (tmp_path / "back" / "raw.jpg").read_bytes() == (src / "raw.jpg").read_bytes()
    assert Image.open(tmp_path / "back" / "g.png").mode == "L"
    assert Image.open(tmp_path / "back" / "a.png").size == (40, 24)
    assert (tmp_path / "back" / "notes.txt").read_bytes() == (src / "notes.txt").read_bytes()
    rc, out, _ = run(capsys, "info", "--models")
    assert rc == 0 and "elic" in out and "mbt2018-mean" in out and "1..8" in out
    from entrozip.codecs.image.weights import manifest

    t = manifest()["s2lic"]["training"]
    assert f"shipped ({t['steps']:,} steps, {t['runs']} runs)" in out
    from entrozip.codecs.image.default import default_models

    assert "  " + ", ".join(f"q{q} {m}" for q, m in default_models().items()) in out.splitlines()
    rc, out, _ = run(capsys, "info", "--models", "--json")
    by_model = {r["model"]: r.get("default_at") for r in json.loads(out) if r["codec"] == "image"}
    assert sorted(q for qs in by_model.values() for q in qs) == list(range(1, 9))
    rc, _, err = run(capsys, "compress", str(src / "a.png"), str(tmp_path / "q.ezc"), "--quality", "11")
    assert rc == 2 and "quality" in err
    (tmp_path / "empty").mkdir()
    rc, _, err = run(capsys, "compress", str(tmp_path / "empty"), str(tmp_path / "empty.out"))
    assert rc == 2 and "no files to process" in err and not (tmp_path / "empty.out").exists()


def test_exported_weights_code_and_are_needed_to_decode(tmp_path, capsys):
    import torch

    from entrozip.codecs.image.weights import export_weights, initial_model

    model = initial_model("mbt2018-mean")
    with torch.no_grad():
        model.log_gain.add_(0.25)  # other weights than the package's: another weights_id
    entry = export_weights(model, "mbt2018-mean", tmp_path / "w", {"model": "mbt2018-mean", "trained": True})
    _small_photo(tmp_path / "a.png")
    ezc = tmp_path / "a.ezc"
    args = ["--model", "mbt2018-mean", "--quality", "3", "--weights", str(tmp_path / "w")]
    assert main(["compress", str(tmp_path / "a.png"), str(ezc), *args]) == 0
    rc, out, _ = run(capsys, "info", str(ezc))
    assert entry["weights_id"] in out
    rc, _, err = run(capsys, "decompress", str(ezc), str(tmp_path / "b.png"))
    assert rc == 2 and "--weights" in err and entry["weights_id"] in err
    rc, _, _ = run(capsys, "decompress", str(ezc), str(tmp_path / "b.png"), "--weights", str(tmp_path / "w"))
    assert rc == 0 and (tmp_path / "b.png").is_file()
    rc, _, err = run(capsys, "compress", str(tmp_path / "a.png"), str(ezc), "--model", "elic",
                     "--weights", str(tmp_path / "w"))
    assert rc == 2 and "no exported elic weights" in err
    rc, _, err = run(capsys, "compress", str(tmp_path / "a.png"), str(tmp_path / "t.ezc"), "--codec", "bytes",
                     "--weights", str(tmp_path / "w"))
    assert rc == 2 and "--weights" in err


def test_stdin_to_stdout(tmp_path):
    _small_photo(tmp_path / "a.png")
    cli = [sys.executable, "-m", "entrozip.cli"]
    blob = subprocess.run(cli + ["compress", "-", "-"], input=(tmp_path / "a.png").read_bytes(),
                          capture_output=True, check=True).stdout
    assert blob.startswith(b"\x89EZC")
    png = subprocess.run(cli + ["decompress", "-", "-"], input=blob, capture_output=True, check=True).stdout
    assert png.startswith(b"\x89PNG")
