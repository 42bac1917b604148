"""The weights codec: exact for every bit pattern and dtype, byte-identical
directories, bounded sizes, and clear errors for damaged input."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import minilm_bf16_dir

from entrozip import FormatError, weights
from entrozip.cli import main
from entrozip.codecs.weights import dfloat11, floats
from entrozip.codecs.weights.safetensors_io import SafetensorsFile

torch = pytest.importorskip("torch")
save_file = pytest.importorskip("safetensors.torch").save_file


@pytest.mark.parametrize("dtype, width", [("BF16", 2), ("F16", 2), ("F32", 4), ("F8_E4M3", 1), ("F8_E5M2", 1)])
def test_split_merge_every_pattern(dtype, width):
    if width <= 2:  # every bit pattern of the type
        data = np.arange(1 << (8 * width), dtype=f"<u{width}").tobytes()
    else:  # specials and random patterns
        special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF, 1,
                            0x807FFFFF, 0x7F7FFFFF], np.uint32)
        data = np.concatenate([special, np.random.default_rng(0).integers(0, 2**32, 100_000, dtype=np.uint32)])
        data = data.astype("<u4").tobytes()
    sym, raw = floats.split(dtype, data)
    ref_sym, ref_raw = floats.split_reference(dtype, data)
    np.testing.assert_array_equal(sym, ref_sym)
    np.testing.assert_array_equal(raw, ref_raw)
    out = np.empty(len(data), np.uint8)
    floats.merge(dtype, sym, raw, out)
    assert out.tobytes() == data == floats.merge_reference(dtype, sym, raw)
    np.testing.assert_array_equal(floats.histogram(dtype, data), np.bincount(sym, minlength=256))


def make_model(root: Path) -> Path:
    """A sharded, mixed-dtype model directory written by the standard safetensors library."""
    torch.manual_seed(0)
    src = root / "model"
    (src / "1_Pooling").mkdir(parents=True)
    t = torch.distributions.StudentT(4.0)
    every_bf16 = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    shard1 = {
        "embed.weight": (t.sample((300, 64)) * 0.02).to(torch.bfloat16),
        "layer.0.q.weight": (t.sample((64, 64)) * 0.05).to(torch.bfloat16),
        "layer.0.norm.weight": torch.ones(64, dtype=torch.bfloat16),
        "every_bf16_pattern": every_bf16.reshape(256, 256),
        "tiny": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "empty": torch.zeros((0, 4), dtype=torch.bfloat16),
    }
    shard2 = {
        "head.f16": (t.sample((128, 32)) * 0.1).to(torch.float16),
        "head.f32": t.sample((77, 33)),
        "head.e4m3": (t.sample((50, 50)) * 0.1).to(torch.float8_e4m3fn),
        "head.e5m2": (t.sample((50, 50)) * 0.1).to(torch.float8_e5m2),
        "positions": torch.arange(512, dtype=torch.int64),
        "mask": torch.rand(100) > 0.5,
    }
    save_file(shard1, str(src / "model-00001-of-00002.safetensors"), metadata={"format": "pt"})
    save_file(shard2, str(src / "model-00002-of-00002.safetensors"))
    index = {"metadata": {}, "weight_map": {**{k: "model-00001-of-00002.safetensors" for k in shard1},
                                            **{k: "model-00002-of-00002.safetensors" for k in shard2}}}
    (src / "model.safetensors.index.json").write_text(json.dumps(index))
    (src / "config.json").write_text('{"architectures": ["Toy"], "hidden_size": 64}\n')
    (src / "tokenizer.json").write_text('{"vocab": {}}')
    (src / "1_Pooling" / "config.json").write_text('{"pooling": "mean"}')
    return src


def tree(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_round_trip_is_byte_identical(tmp_path):
    src = make_model(tmp_path)
    manifest = weights.compress(src, tmp_path / "df11", progress=False)
    assert not list(tmp_path.glob(".*partial"))
    out = tmp_path / "df11"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["hidden_size"] == 64 and cfg[dfloat11.CONFIG_KEY]["format"] == "entrozip-df11"
    assert (out / "tokenizer.json").read_bytes() == (src / "tokenizer.json").read_bytes()
    assert manifest["compressed_tensor_bytes"] < manifest["original_tensor_bytes"]
    assert weights.verify(src, out, progress=False) == []
    weights.decompress(out, tmp_path / "back", progress=False)
    assert tree(tmp_path / "back") == tree(src)


def test_tables_stored_tensors_and_sizes(tmp_path):
    src = make_model(tmp_path)
    weights.compress(src, tmp_path / "df11", progress=False, threads=1)
    with dfloat11.CompressedFile(tmp_path / "df11" / "model-00001-of-00002.safetensors") as cf:
        tables = {name: rec["table"] for name, rec in cf.records.items()}
        assert tables["tiny"] is None and tables["empty"] is None  # too small to pay
        assert tables["embed.weight"] in ("own", "shared")
    with dfloat11.CompressedFile(tmp_path / "df11" / "model-00002-of-00002.safetensors") as cf:
        assert cf.records["positions"]["table"] is None and cf.records["mask"]["table"] is None
    info = weights.info(tmp_path / "df11")
    bf16 = info["by_dtype"]["BF16"]
    assert 9.0 < bf16["bits_per_value"] < 16  # the all-patterns tensor has ~8 bits of exponent entropy
    embed = next(t for t in info["tensors"] if t["name"] == "embed.weight")
    assert embed["bits_per_value"] < 11.5  # Student-t weights: ~2.5 bits of exponent + 8 raw
    assert info["by_dtype"]["F32"]["bits_per_value"] < 32 and info["by_dtype"]["F16"]["bits_per_value"] < 16


def test_threads_do_not_change_the_files(tmp_path):
    src = make_model(tmp_path)
    weights.compress(src, tmp_path / "a", progress=False, threads=1)
    weights.compress(src, tmp_path / "b", progress=False, threads=3)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_gpu_layout_has_more_chunks_and_the_same_tensors(tmp_path):
    from entrozip import rans

    src = tmp_path / "big"
    src.mkdir()
    w = (torch.distributions.StudentT(4.0).sample((1024, 1024)) * 0.02).to(torch.bfloat16)
    save_file({"w": w}, str(src / "model.safetensors"))
    chunks = {}
    for layout in ("compact", "gpu", "latency"):
        m = weights.compress(src, tmp_path / layout, progress=False, layout=layout)
        assert m["layout"] == layout and weights.verify(src, tmp_path / layout, progress=False) == []
        with dfloat11.CompressedFile(tmp_path / layout / "model.safetensors") as cf:
            chunks[layout] = rans.stream_info(bytes(cf.coded_parts("w")[1])).num_chunks
    assert chunks["latency"] > chunks["gpu"] >= 3 * chunks["compact"]
    gpu, compact, lat = (weights.info(tmp_path / k)["by_dtype"]["BF16"]["bits_per_value"]
                         for k in ("gpu", "compact", "latency"))
    assert compact < gpu < lat < compact * 1.01  # framing: a fraction of a percent
    with pytest.raises(ValueError, match="layout"):
        weights.compress(src, tmp_path / "bad", progress=False, layout="fast")


def test_minilm_bf16_bits_per_weight(tmp_path):
    """The real MiniLM-L6 transformer in bf16: <= 10.65 bits per weight."""
    src, values = minilm_bf16_dir(tmp_path / "minilm")
    m = weights.compress(src, tmp_path / "df11", progress=False)
    bits = 8 * m["compressed_tensor_bytes"] / values
    print(f"MiniLM-L6 bf16: {bits:.4f} bits/weight")
    assert bits <= 10.65
    weights.decompress(tmp_path / "df11", tmp_path / "back", progress=False)
    assert (tmp_path / "back" / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()


def test_damage_is_detected(tmp_path):
    src = make_model(tmp_path)
    out = tmp_path / "df11"
    weights.compress(src, out, progress=False)
    shard = out / "model-00001-of-00002.safetensors"
    good = shard.read_bytes()
    with SafetensorsFile(shard) as f:  # flip a byte inside a coded stream and inside raw bits
        targets = [8 + len(f.header_bytes) + f.by_name[n].begin + 5 for n in ("embed.weight/ez.sym", "embed.weight/ez.raw")]
    for pos in targets:
        bad = bytearray(good)
        bad[pos] ^= 0x10
        shard.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            weights.decompress(out, tmp_path / "back", progress=False, overwrite=True)
        assert not (tmp_path / "back").exists() and not list(tmp_path.glob(".*partial"))
    shard.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(FormatError):
        weights.decompress(out, tmp_path / "back", progress=False)
    shard.write_bytes(good)
    (out / dfloat11.MANIFEST).write_text("{}")
    with pytest.raises(FormatError, match="manifest"):
        weights.decompress(out, tmp_path / "back", progress=False)


def test_refusals(tmp_path):
    src = make_model(tmp_path)
    with pytest.raises(FormatError, match="not an entrozip weights directory"):
        weights.decompress(src, tmp_path / "x", progress=False)
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        weights.compress(src, tmp_path / "taken", progress=False)
    with pytest.raises(ValueError, match="no .safetensors"):
        weights.compress(tmp_path / "taken", tmp_path / "y", progress=False)
    official = tmp_path / "official"
    official.mkdir()
    (official / "config.json").write_text('{"dfloat11_config": {"version": "0.2.0"}}')
    with pytest.raises(FormatError, match="official DFloat11"):
        weights.decompress(official, tmp_path / "z", progress=False)


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    src = make_model(tmp_path)
    calls = {"n": 0}
    real = dfloat11.rans.encode

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(dfloat11.rans, "encode", failing)
    with pytest.raises(KeyboardInterrupt):
        weights.compress(src, tmp_path / "df11", progress=False, threads=1)
    assert not (tmp_path / "df11").exists() and not list(tmp_path.glob(".*partial"))


def test_cli(tmp_path, capsys):
    src = make_model(tmp_path)
    out = tmp_path / "df11"
    assert main(["weights", "compress", str(src), str(out), "--threads", "2"]) == 0
    assert "bits/value" in capsys.readouterr().out
    assert main(["weights", "info", str(out), "--tensors"]) == 0
    text = capsys.readouterr().out
    assert "BF16" in text and "embed.weight" in text
    assert main(["weights", "verify", str(src), str(out)]) == 0
    (src / "tokenizer.json").write_text("changed")
    assert main(["weights", "verify", str(src), str(out)]) == 1
    assert "tokenizer.json" in capsys.readouterr().out
    assert main(["weights", "decompress", str(out), str(tmp_path / "back")]) == 0
    assert main(["weights", "decompress", str(src), str(tmp_path / "nope")]) == 2
    assert "not an entrozip weights directory" in capsys.readouterr().err


def test_split_merge_at_odd_addresses():
    data = np.arange(1 << 16, dtype="<u2").tobytes()
    buf = bytearray(1) + bytearray(data)  # the values start at an odd address
    sym, raw = floats.split("BF16", memoryview(buf)[1:])
    np.testing.assert_array_equal(sym, floats.split_reference("BF16", data)[0])
    out = bytearray(len(data) + 1)
    floats.merge("BF16", sym, raw, memoryview(out)[1:])
    assert bytes(out[1:]) == data
