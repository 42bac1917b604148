"""The command line: round trips, readable info, and one-line errors with exit status 2."""
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
