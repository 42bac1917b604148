"""The .ezc container: round trips, and one clear FormatError for every kind of damage."""
import json
import struct
import zlib

import pytest

from entrozip import FormatError
from entrozip.container import MAGIC, ContainerWriter, pack, parse, read_file

SECTIONS = [("alpha", b"hello"), ("frame/000001", bytes(range(256)) * 3), ("empty", b"")]


def sample():
    return pack("image.test", {"quality": 3, "shape": [1, 2, 3]}, SECTIONS)


def test_round_trip():
    c = parse(sample())
    assert c.codec == "image.test" and c.version == 1
    assert c.header == {"quality": 3, "shape": [1, 2, 3]}
    assert [(k, bytes(v)) for k, v in c.sections.items()] == SECTIONS
    with pytest.raises(FormatError, match="no section 'missing'"):
        c.section("missing")


def test_streaming_writer_matches_pack(tmp_path):
    path = tmp_path / "x.ezc"
    with open(path, "wb") as f:
        w = ContainerWriter(f, "image.test", {"quality": 3, "shape": [1, 2, 3]})
        for name, payload in SECTIONS:
            w.add(name, payload)
        w.close()
    assert path.read_bytes() == sample()
    assert bytes(read_file(path).section("alpha")) == b"hello"


def test_every_truncation_is_a_format_error():
    blob = sample()
    for cut in range(len(blob)):
        with pytest.raises(FormatError):
            parse(blob[:cut])


def test_every_bit_flip_is_detected():
    blob = sample()
    for pos in range(len(blob)):
        for bit in (0, 7):
            damaged = bytearray(blob)
            damaged[pos] ^= 1 << bit
            with pytest.raises(FormatError):
                parse(bytes(damaged))


def resealed(body: bytes) -> bytes:
    """A file with a valid whole-file CRC around `body` (ends after the end marker)."""
    return body + struct.pack("<I", zlib.crc32(body))


def preamble(version=1, codec=b"x", header=b"{}"):
    pre = MAGIC + struct.pack("<HB", version, len(codec)) + codec + struct.pack("<I", len(header)) + header
    return pre + struct.pack("<I", zlib.crc32(pre))


def test_named_problems():
    with pytest.raises(FormatError, match="bad magic"):
        parse(b"PK\x03\x04" + bytes(40))
    with pytest.raises(FormatError, match="text mode"):
        parse(sample().replace(b"\r\n", b"\n", 1))
    with pytest.raises(FormatError, match="newer than this entrozip"):
        parse(resealed(preamble(version=2) + b"\x00"))
    with pytest.raises(FormatError, match="not valid JSON"):
        parse(resealed(preamble(header=b"{nope") + b"\x00"))
    with pytest.raises(FormatError, match="JSON object"):
        parse(resealed(preamble(header=b"[1]") + b"\x00"))
    with pytest.raises(FormatError, match="unexpected bytes"):
        parse(sample() + b"\x00")
    with pytest.raises(FormatError, match="empty|bad magic"):
        parse(b"")


def test_hostile_lengths_do_not_allocate():
    # a header length of 4 GiB and a section length of 2^64-1 in a tiny file
    pre = MAGIC + struct.pack("<HB", 1, 1) + b"x" + struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(FormatError, match="exceeds"):
        parse(pre + bytes(8))
    body = preamble() + b"\x01s" + struct.pack("<QI", 2**64 - 1, 0)
    with pytest.raises(FormatError, match="truncated"):
        parse(resealed(body))


def test_duplicate_and_invalid_names():
    body = preamble()
    for _ in range(2):
        body += b"\x01a" + struct.pack("<QI", 1, zlib.crc32(b"z")) + b"z"
    with pytest.raises(FormatError, match="twice"):
        parse(resealed(body + b"\x00"))
    body = preamble() + b"\x02a\xff" + struct.pack("<QI", 0, 0)
    with pytest.raises(FormatError, match="not ASCII|invalid section name"):
        parse(resealed(body + b"\x00"))
    with pytest.raises(ValueError):
        pack("Bad Codec!", {}, [])
    with pytest.raises(ValueError, match="twice"):
        pack("x", {}, [("a", b""), ("a", b"")])


def test_header_must_be_json_serialisable():
    with pytest.raises(ValueError):
        pack("x", {"nan": float("nan")}, [])
    blob = pack("x", {"unicode": "é"}, [])
    assert parse(blob).header == {"unicode": "é"}
    assert json.loads(json.dumps(parse(blob).header)) == {"unicode": "é"}


def test_empty_file(tmp_path):
    p = tmp_path / "empty.ezc"
    p.write_bytes(b"")
    with pytest.raises(FormatError):
        read_file(p)
