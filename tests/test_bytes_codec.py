"""The lossless `bytes` codec: exact round trips, block streaming, stored fallback."""
import numpy as np
import pytest

from entrozip import FormatError, open_codec
from entrozip.container import pack, parse


@pytest.mark.parametrize("size", [0, 1, 1000, 70_001])
def test_round_trip(size):
    rng = np.random.default_rng(size)
    data = rng.geometric(0.2, size).clip(0, 255).astype(np.uint8).tobytes()
    codec = open_codec("bytes", block_size=16_384)
    blob = codec.compress(data)
    assert codec.decompress(blob) == data
    if size > 1000:
        assert len(blob) < 0.6 * size


def test_incompressible_blocks_are_stored():
    data = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    codec = open_codec("bytes")
    blob = codec.compress(data)
    assert "raw/0" in parse(blob).sections
    assert len(blob) < len(data) + 200
    assert codec.decompress(blob) == data


def test_files_stream_in_blocks(tmp_path):
    data = (b"entrozip " * 50_000) + bytes(range(256)) * 100
    src, ezc, back = tmp_path / "a", tmp_path / "a.ezc", tmp_path / "b"
    src.write_bytes(data)
    codec = open_codec("bytes", block_size=100_000)
    codec.compress_file(src, ezc)
    assert ezc.read_bytes() == codec.compress(data)
    assert len(parse(ezc.read_bytes()).sections) >= 2 * (len(data) // 100_000)
    codec.decompress_file(ezc, back)
    assert back.read_bytes() == data


def test_inconsistent_header():
    blob = pack("bytes", {"size": 10, "block_size": 4, "blocks": 1}, [])
    with pytest.raises(FormatError, match="inconsistent"):
        open_codec("bytes").decompress(blob)
    blob = pack("bytes", {"size": 3, "block_size": 4, "blocks": 1}, [("raw/0", b"ab")])
    with pytest.raises(FormatError, match="expected 3"):
        open_codec("bytes").decompress(blob)


def test_options():
    with pytest.raises(ValueError, match="no model or quality"):
        open_codec("bytes", quality=3)
    with pytest.raises(ValueError, match="unknown codec"):
        open_codec("nope")
