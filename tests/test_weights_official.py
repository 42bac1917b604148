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
    assert main(["weights", "convert", str(tmp_path / "ez"), str(tmp_path / "official")]) == 0
    assert "official DFloat11, 4 units" in capsys.readouterr().out
    assert official.is_official(tmp_path / "official")
    assert main(["weights", "convert", str(GOLDEN), str(tmp_path / "x")]) == 2
    assert "neither an official DFloat11 nor an entrozip" in capsys.readouterr().err
    np.testing.assert_equal(official.is_official(tmp_path / "ez"), False)


def test_info_and_verify_of_official_directories(tmp_path, capsys):
    i = weights.info(OFFICIAL)
    assert i["format"] == "official DFloat11" and 10 < i["by_dtype"]["BF16"]["bits_per_value"] < 12
    assert sum(t["values"] for t in i["tensors"] if t["table"].startswith("official")) == sum(
        np.prod(shape) for name, (dtype, shape, _) in tensors(ORIGINAL).items() if name.endswith("proj.weight")
        or name in ("model.embed_tokens.weight", "lm_head.weight"))
    weights.decompress(OFFICIAL, tmp_path / "plain", progress=False)
    assert weights.verify(tmp_path / "plain", OFFICIAL, progress=False) == []
    from safetensors.torch import load_file, save_file

    t = load_file(str(tmp_path / "plain" / "model.safetensors"))
    t["lm_head.weight"][0, 0] += 1
    save_file(t, str(tmp_path / "plain" / "model.safetensors"))
    assert weights.verify(tmp_path / "plain", OFFICIAL, progress=False) == ["lm_head.weight: differs"]
    assert main(["weights", "info", str(OFFICIAL)]) == 0
    assert "BF16" in capsys.readouterr().out
    assert main(["info", str(OFFICIAL)]) == 0  # `entrozip info` on a directory
    assert "bits/value" in capsys.readouterr().out


def test_writer_matches_the_official_encoder():
    """Every buffer of every unit, byte for byte, against the fixture's official output."""
    from entrozip.codecs.weights import official_writer

    pytest.importorskip("dahuffman")
    orig, fixture = tensors(ORIGINAL), tensors(OFFICIAL / "model.safetensors")
    attrs = official_writer.LLAMA_LIKE[r"model\.layers\.\d+"]
    units = {"model.embed_tokens": ["model.embed_tokens.weight"], "lm_head": ["lm_head.weight"]}
    units.update({f"model.layers.{i}": [f"model.layers.{i}.{a}.weight" for a in attrs] for i in range(2)})
    for unit, names in units.items():
        buffers = official_writer.unit_buffers([orig[n][2] for n in names])
        for part, array in buffers.items():
            assert array.tobytes() == fixture[f"{unit}.{part}"][2], (unit, part)


def test_round_trip_through_the_official_format(tmp_path):
    pytest.importorskip("dahuffman")
    weights.decompress(OFFICIAL, tmp_path / "bf16", progress=False)
    weights.compress(tmp_path / "bf16", tmp_path / "ez", progress=False)
    weights.convert(tmp_path / "ez", tmp_path / "official", progress=False)
    assert tensors(tmp_path / "official" / "model.safetensors") == tensors(OFFICIAL / "model.safetensors")
    weights.decompress(tmp_path / "official", tmp_path / "back", progress=False)
    assert tensors(tmp_path / "back" / "model.safetensors") == tensors(ORIGINAL)


def test_code_lengths_are_limited_to_32_bits():
    from entrozip.codecs.weights import official_writer

    pytest.importorskip("dahuffman")
    fib = [1, 1]
    while len(fib) < 45:
        fib.append(fib[-1] + fib[-2])  # Fibonacci counts: an unlimited Huffman code reaches 44 bits
    _, table = official_writer.code_book({s: c for s, c in enumerate(fib)})
    assert max(bits for bits, _ in table.values()) <= 32


def test_exponents_the_official_format_cannot_hold(tmp_path):
    from entrozip.codecs.weights import official_writer

    pytest.importorskip("dahuffman")
    big = np.array([0x7F80, 0x3F80, 0x7800], "<u2").tobytes()  # +Inf has exponent 255
    with pytest.raises(FormatError, match="240"):
        official_writer.unit_buffers([big])


def test_per_unit_directory_mode(tmp_path):
    """The official tools can also save one file per unit beside a sharded rest."""
    from safetensors.torch import load_file, save_file

    src = tmp_path / "per_unit"
    src.mkdir()
    shutil.copy(OFFICIAL / "config.json", src / "config.json")
    t = load_file(str(OFFICIAL / "model.safetensors"))
    units = {k.rsplit(".", 1)[0] for k in t if k.endswith(".encoded_exponent")}
    rest = dict(t)
    for unit in units:
        part = {k: rest.pop(k) for k in list(rest) if k.startswith(unit + ".") and k.rsplit(".", 1)[1] in official.UNIT_PARTS}
        save_file(part, str(src / (unit.replace(".", "_") + ".safetensors")))
    save_file(rest, str(src / "model-00001-of-00001.safetensors"))
    (src / "model.safetensors.index.json").write_text('{"weight_map": {}}')
    weights.decompress(src, tmp_path / "bf16", progress=False)
    assert tensors(tmp_path / "bf16" / "model.safetensors") == tensors(ORIGINAL)
    assert not (tmp_path / "bf16" / "model.safetensors.index.json").exists()


def test_deep_code_book_luts_match_the_official_builder():
    """Four look-up levels and the 32-bit limit, against LUTs the official builder made."""
    from entrozip.codecs.weights import official_writer

    pytest.importorskip("dahuffman")
    fixture = tensors(GOLDEN / "official_df11_deep_luts.safetensors")
    counts = np.frombuffer(fixture["counts"][2], "<i8")
    expected = np.frombuffer(fixture["luts"][2], np.uint8).reshape(fixture["luts"][1])
    _, table = official_writer.code_book({90 + i: int(c) for i, c in enumerate(counts)})
    assert max(bits for bits, _ in table.values()) == 32
    np.testing.assert_array_equal(official_writer.luts_of(table), expected)
    assert expected.shape[0] == 5  # four tables and the length row
