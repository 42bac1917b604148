"""The .ezc file: one container for every codec (docs/FORMAT.md, "Container").

    magic        8 bytes  89 45 5A 43 0D 0A 1A 0A  ("\\x89EZC\\r\\n\\x1a\\n": catches text-mode damage)
    version      u16 LE   container format version (1)
    codec id     u8 length + ASCII   e.g. "bytes", "image.s2lic"
    header       u32 LE length + UTF-8 JSON object (codec, model, quality, shapes, coder params)
    header crc   u32 LE   CRC32 of every byte before it
    sections     repeated: u8 name length (1..64) + ASCII name, u64 LE payload length,
                 u32 LE CRC32 of the payload, payload
    end          u8 0, then u32 LE CRC32 of every byte before it; nothing may follow

Sections are written as they are produced (a long video streams out frame by
frame) and read back without copies. Every length is checked against the bytes
that remain before anything is allocated or sliced; any problem raises
FormatError naming it.
"""
from __future__ import annotations

import json
import mmap
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable

from .errors import FormatError

MAGIC = b"\x89EZC\r\n\x1a\n"
VERSION = 1
MAX_HEADER_BYTES = 16 << 20
MAX_NAME_BYTES = 64
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_CODEC_RE = re.compile(r"^[a-z0-9_.-]{1,64}$")


def _check_name(name: str, what: str, pattern=_NAME_RE) -> bytes:
    if not isinstance(name, str) or not pattern.match(name):
        raise ValueError(f"{what} {name!r} must match {pattern.pattern}")
    return name.encode("ascii")


@dataclass
class Container:
    """A parsed .ezc file. `sections` maps names to zero-copy memoryviews, in file order."""

    codec: str
    header: dict
    sections: dict[str, memoryview] = field(default_factory=dict)
    version: int = VERSION
    size: int = 0

    def section(self, name: str) -> memoryview:
        try:
            return self.sections[name]
        except KeyError:
            raise FormatError(f"{self.codec} file has no section {name!r}") from None


class ContainerWriter:
    """Streams a container to a binary file object: header first, sections as they come."""

    def __init__(self, fileobj: BinaryIO, codec: str, header: dict):
        codec_b = _check_name(codec, "codec id", _CODEC_RE)
        header_b = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        if len(header_b) > MAX_HEADER_BYTES:
            raise ValueError(f"container header is {len(header_b)} bytes; the limit is {MAX_HEADER_BYTES}")
        self._f = fileobj
        self._crc = 0
        self._names: set[str] = set()
        self.size = 0
        pre = MAGIC + struct.pack("<HB", VERSION, len(codec_b)) + codec_b + struct.pack("<I", len(header_b)) + header_b
        self._write(pre)
        self._write(struct.pack("<I", self._crc))

    def _write(self, data) -> None:
        self._f.write(data)
        self._crc = zlib.crc32(data, self._crc)
        self.size += len(data)

    def add(self, name: str, payload) -> None:
        name_b = _check_name(name, "section name")
        if name in self._names:
            raise ValueError(f"section {name!r} written twice")
        self._names.add(name)
        payload = memoryview(payload).cast("B")
        self._write(struct.pack("<B", len(name_b)) + name_b + struct.pack("<QI", len(payload), zlib.crc32(payload)))
        self._write(payload)

    def close(self) -> None:
        self._write(b"\x00")
        self._f.write(struct.pack("<I", self._crc))
        self.size += 4


def pack(codec: str, header: dict, sections: Iterable[tuple[str, bytes]]) -> bytes:
    """A whole container in memory."""
    import io

    buf = io.BytesIO()
    w = ContainerWriter(buf, codec, header)
    for name, payload in sections:
        w.add(name, payload)
    w.close()
    return buf.getvalue()


def pack_parts(parts) -> bytes:
    """Several byte strings in one section: varint count, varint lengths, the parts."""
    from .rans.stream import put_varint

    out = bytearray()
    put_varint(out, len(parts))
    for p in parts:
        put_varint(out, len(p))
    for p in parts:
        out += p
    return bytes(out)


def unpack_parts(buf, expected: int | None, what: str = "section") -> list[memoryview]:
    """The parts of a pack_parts section (expected: the count the reader needs; None: any)."""
    from .rans.stream import get_varint

    buf = memoryview(buf).cast("B")
    count, pos = get_varint(buf, 0, len(buf), 3, f"the part count of {what}")
    if expected is not None and count != expected:
        raise FormatError(f"{what} holds {count} parts; its reader expects {expected}")
    if count > len(buf):
        raise FormatError(f"{what} claims {count} parts in {len(buf)} bytes")
    lengths = []
    for _ in range(count):
        n, pos = get_varint(buf, pos, len(buf), 5, f"a part length of {what}")
        lengths.append(n)
    if pos + sum(lengths) != len(buf):
        raise FormatError(f"the parts of {what} do not add up to its size")
    out = []
    for n in lengths:
        out.append(buf[pos:pos + n])
        pos += n
    return out


class _Reader:
    """Bounds-checked cursor: every read states what it is reading, for the error message."""

    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def take(self, n: int, what: str) -> memoryview:
        if n > len(self.buf) - self.pos:
            raise FormatError(
                f"file truncated: {what} needs {n} bytes at offset {self.pos}, only {len(self.buf) - self.pos} remain"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def parse(blob, verify: bool = True) -> Container:
    """Parse a container held in memory (bytes, bytearray, memoryview, mmap).

    verify=False skips the payload and whole-file CRCs (the header CRC and all
    bounds are always checked) for tools that only list the structure.
    """
    buf = memoryview(blob).cast("B")
    r = _Reader(buf)
    if len(buf) < len(MAGIC) or bytes(buf[: len(MAGIC)]) != MAGIC:
        if bytes(buf[:4]) == MAGIC[:4]:
            raise FormatError("not an .ezc file: damaged magic (was it transferred in text mode?)")
        raise FormatError("not an .ezc file (bad magic)")
    r.take(len(MAGIC), "magic")
    (version,) = r.unpack("<H", "the format version")
    if version > VERSION:
        raise FormatError(
            f"file format version {version} is newer than this entrozip supports ({VERSION}); upgrade entrozip"
        )
    if version < 1:
        raise FormatError(f"invalid file format version {version}")
    (codec_len,) = r.unpack("<B", "the codec id length")
    try:
        codec = bytes(r.take(codec_len, "the codec id")).decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("codec id is not ASCII") from None
    if not _CODEC_RE.match(codec):
        raise FormatError(f"invalid codec id {codec!r}")
    (header_len,) = r.unpack("<I", "the header length")
    if header_len > MAX_HEADER_BYTES:
        raise FormatError(f"header length {header_len} exceeds the {MAX_HEADER_BYTES}-byte limit")
    header_raw = r.take(header_len, "the JSON header")
    (header_crc,) = r.unpack("<I", "the header CRC")
    if zlib.crc32(buf[: r.pos - 4]) != header_crc:
        raise FormatError("header CRC mismatch: the file header is corrupted")
    try:
        header = json.loads(bytes(header_raw).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError("header must be a JSON object")
    sections: dict[str, memoryview] = {}
    while True:
        (name_len,) = r.unpack("<B", "a section name length")
        if name_len == 0:
            break
        try:
            name = bytes(r.take(name_len, "a section name")).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"section name at offset {r.pos - name_len} is not ASCII") from None
        if not _NAME_RE.match(name):
            raise FormatError(f"invalid section name {name!r}")
        if name in sections:
            raise FormatError(f"section {name!r} appears twice")
        length, crc = r.unpack("<QI", f"the length of section {name!r}")
        payload = r.take(length, f"section {name!r}")
        if verify and zlib.crc32(payload) != crc:
            raise FormatError(f"CRC mismatch in section {name!r}: its data is corrupted")
        sections[name] = payload
    end = r.pos
    (file_crc,) = r.unpack("<I", "the file CRC")
    if r.pos != len(buf):
        raise FormatError(f"{len(buf) - r.pos} unexpected bytes after the end of the file")
    if verify and zlib.crc32(buf[:end]) != file_crc:
        raise FormatError("file CRC mismatch: the file is corrupted")
    return Container(codec, header, sections, version, len(buf))


def read_file(path, verify: bool = True) -> Container:
    """Parse a container file, memory-mapped: sections are views into the mapping."""
    with open(path, "rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file: mmap refuses length 0
            data = b""
    return parse(data, verify)
