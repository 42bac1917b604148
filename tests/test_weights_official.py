"""Official DFloat11 directories (fixture made by the official encoder, see
tests/golden/make_official_df11.py) decode bit-exactly with entrozip's decoder,
and convert into entrozip's smaller format."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from entrozip import FormatError, weights
from entrozip.cli import main
from entrozip.codecs.weights import official
from entrozip.codecs.weights.safetensors_io import SafetensorsFile

pytest.importorskip("transformers")
GOLDEN = Path(__file__).parent / "golden"
OFFICIAL = GOLDEN / "official_df11"
ORIGINAL = GOLDEN / "official_df11_original.safetensors"


def tensors(path) -> dict[str, tuple[str, tuple, bytes]]:
    with SafetensorsFile(path) as f:
        return {t.name: (t.dtype, t.shape, bytes(f.view(t))) for t in f.tensors}


def test_official_decodes_bit_exactly(tmp_path):
    assert official.is_official(OFFICIAL)
    weights.decompress(OFFICIAL, tmp_path / "bf16", progress=False)
    assert tensors(tmp_path / "bf16" / "model.safetensors") == tensors(ORIGINAL)
    assert "dfloat11_config" not in (tmp_path / "bf16" / "config.json").read_text()


def test_convert_is_smaller_and_exact(tmp_path):
    m = weights.convert(OFFICIAL, tmp_path / "ez", progress=False)
    official_bytes = sum(p.stat().st_size for p in OFFICIAL.glob("*.safetensors"))
    assert m["compressed_tensor_bytes"] < official_bytes
    weights.decompress(tmp_path / "ez", tmp_path / "back", progress=False)
    assert tensors(tmp_path / "back" / "model.safetensors") == tensors(ORIGINAL)


def test_damaged_official_stream(tmp_path):
    src = tmp_path / "official"
    shutil.copytree(OFFICIAL, src)
    model = src / "model.safetensors"
    data = bytearray(model.read_bytes())
    with SafetensorsFile(model) as f:
        t = f.by_name["model.layers.0.encoded_exponent"]
        start = 8 + len(f.header_bytes) + t.begin
    data[start + t.nbytes - 40 : start + t.nbytes] = bytes(40)  # zeros decode to different codes...
    data[start : start + 64] = b"\xff" * 64  # ...and all-ones prefixes run past the tables
    model.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        weights.decompress(src, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_unit_without_its_buffers(tmp_path):
    from safetensors.torch import load_file, save_file

    src = tmp_path / "official"
    shutil.copytree(OFFICIAL, src)
    t = load_file(str(src / "model.safetensors"))
    del t["lm_head.gaps"]
    save_file(t, str(src / "model.safetensors"))
    with pytest.raises(FormatError, match="lacks"):
        weights.decompress(src, tmp_path / "out", progress=False)


def test_cli_convert(tmp_path, capsys):
    assert main(["weights", "convert", str(OFFICIAL), str(tmp_path / "ez")]) == 0
    assert "official DFloat11" in capsys.readouterr().out
    assert main(["weights", "info", str(tmp_path / "ez")]) == 0
    assert main(["weights", "convert", str(tmp_path / "ez"), str(tmp_path / "again")]) == 2
    assert "not an official DFloat11 directory" in capsys.readouterr().err
    with pytest.raises(FormatError, match="official DFloat11 directory"):
        weights.info(OFFICIAL)
    np.testing.assert_equal(official.is_official(tmp_path / "ez"), False)
