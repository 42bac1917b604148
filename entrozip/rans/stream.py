"""The rANS stream's outer layout: prefix, chunk index, chunk policy (docs/FORMAT.md).

Shared by every backend, so the reference and the C++ coder cannot disagree on
anything but the chunk payloads, which the tests compare byte for byte.

    u8      version (1)
    u8      model kind: 0 static table, 1 indexed CDFs
    u32 LE  model fingerprint (CRC32 of the model tables): a wrong model is an error, not garbage
    varint  n, the number of symbols
    u8      log2 W: W in {1, 2, 4, 8, 16, 32} interleaved lanes per chunk  } absent
    varint  rows per chunk, R >= 1; a chunk holds W*R symbols             } when n == 0
    u32 LE  byte length of every chunk but the last      (chunks - 1 entries)
    ...     the chunks, back to back
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError

VERSION = 1
LANES = 32  # the widest (and usual) lane count: one CUDA warp per chunk
STATE_LOW = 1 << 16  # L: lane states live in [L, 2^32)
MAX_PRECISION = 16
KIND_STATIC, KIND_INDEXED = 0, 1
KIND_NAMES = {KIND_STATIC: "static", KIND_INDEXED: "indexed"}

# Layout policy. A chunk costs 4W + 5 bytes of framing (W lane states of 4 bytes,
# its index entry, its escape-length byte) whatever it holds. Two policies, any
# decoder reads both (the layout is in the stream):
#   "compact" (default): framing near 1/500 (0.2 %) of the estimated size: W = 32
#     lanes from 64 KB up, fewer lanes below (a 5 KB latent pays 8 bytes, not 128),
#     one more chunk per ~66 KB of payload, at least MIN_CHUNK_SYMBOLS per chunk.
#   "gpu": framing near 1/150 (0.67 %): always 32 lanes (a full warp) and a chunk
#     per ~20 KB of payload, so a large stream has thousands of chunks, each an
#     independent warp on the GPU (decode time ~ rows per chunk x the row latency).
#   "latency": "gpu", and no chunk longer than MAX_ROWS["latency"] rows of 32: a
#     launch that decodes a small stream (a weight decoded before each use, a latent)
#     lasts as long as its longest chunk, whatever the GPU's size. Framing grows as
#     the payload per symbol shrinks (~2.4 % of bf16 exponent bytes, ~0.5 % of a DF11
#     weight: BENCHMARKS.md).
FRAMING_TARGET_INV = {"compact": 500, "gpu": 150, "latency": 150}
MAX_ROWS = {"latency": 512}
MIN_CHUNK_SYMBOLS = 64 * LANES
LANE_CHOICES = (1, 2, 4, 8, 16, 32)

# Without a caller-given bound, a static stream may claim at most this many
# symbols per byte of stream (2 KiB of int32 output per input byte).
MAX_SYMBOLS_PER_BYTE = 512


def put_varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def get_varint(buf, pos: int, end: int, max_bytes: int, what: str) -> tuple[int, int]:
    """LEB128 value at buf[pos:end] of at most max_bytes bytes -> (value, new pos)."""
    v = 0
    for b in range(max_bytes):
        if pos >= end:
            raise FormatError(f"rANS stream truncated inside {what}")
        byte = buf[pos]
        pos += 1
        v |= (byte & 0x7F) << (7 * b)
        if not byte & 0x80:
            return v, pos
    raise FormatError(f"rANS stream has an overlong varint for {what}")


def estimate_stride(n: int) -> int:
    """The size estimate samples every stride-th symbol (and scales up): exact for
    small streams, a quarter of the work for large ones, where it only sizes chunks."""
    return 1 if n < 1 << 16 else 4


def check_layout(layout: str) -> int:
    if layout not in FRAMING_TARGET_INV:
        raise ValueError(f"layout must be one of {', '.join(FRAMING_TARGET_INV)}, got {layout!r}")
    return FRAMING_TARGET_INV[layout]


def auto_lanes(cost_q8: int, layout: str = "compact") -> int:
    """The widest lane count whose state flush fits the framing budget of a stream
    of estimated cost cost_q8 / 256 bits ("gpu": always 32). Integer arithmetic:
    every backend agrees."""
    inv = check_layout(layout)
    if layout in ("gpu", "latency"):
        return LANES
    est_bytes = cost_q8 >> 11
    lanes = LANES
    while lanes > 1 and 4 * lanes * inv > est_bytes:
        lanes //= 2
    return lanes


def auto_chunk_symbols(n: int, cost_q8: int, lanes: int, layout: str = "compact") -> int:
    """Symbols per chunk: one chunk per FRAMING_TARGET_INV[layout] chunk framings of payload."""
    inv = check_layout(layout)
    if n == 0:
        return lanes
    est_bytes = cost_q8 >> 11
    chunks = max(1, min(est_bytes // (inv * (4 * lanes + 5)), -(-n // MIN_CHUNK_SYMBOLS)))
    if layout in MAX_ROWS:
        chunks = max(chunks, -(-n // (MAX_ROWS[layout] * lanes)))
    per_chunk = -(-n // chunks)
    return -(-per_chunk // lanes) * lanes


def auto_layout(n: int, cost_q8: int, layout: str = "compact") -> tuple[int, int]:
    """(lanes, symbols per chunk) for n symbols of estimated cost cost_q8 / 256 bits."""
    lanes = auto_lanes(cost_q8, layout)
    return lanes, auto_chunk_symbols(n, cost_q8, lanes, layout)


def check_lanes(lanes: int) -> int:
    if lanes not in LANE_CHOICES:
        raise ValueError(f"lanes must be one of {LANE_CHOICES}, got {lanes}")
    return int(lanes)


def check_chunk_symbols(chunk_symbols: int, n: int, lanes: int) -> int:
    """A caller's chunk size as stored: whole rows of `lanes`, no larger than the stream needs."""
    if chunk_symbols <= 0:
        raise ValueError("chunk_size must be positive")
    rows = min(-(-int(chunk_symbols) // lanes), max(1, -(-n // lanes)))
    return rows * lanes


def num_chunks(n: int, chunk_symbols: int) -> int:
    return -(-n // chunk_symbols) if n else 0


def make_prefix(kind: int, fingerprint: int, n: int, lanes: int, chunk_symbols: int) -> bytes:
    out = bytearray(struct.pack("<BBI", VERSION, kind, fingerprint))
    put_varint(out, n)
    if n:
        out.append(lanes.bit_length() - 1)
        put_varint(out, chunk_symbols // lanes)
    return bytes(out)


@dataclass(frozen=True)
class StreamLayout:
    """Where everything is in one stream; `bounds` are chunk byte offsets into `payload`."""

    version: int
    kind: int
    fingerprint: int
    n: int
    lanes: int
    chunk_symbols: int
    payload: memoryview
    bounds: np.ndarray  # uint64, chunks + 1 entries
    payload_offset: int = 0  # where the payload starts in the stream

    @property
    def num_chunks(self) -> int:
        return len(self.bounds) - 1


def parse(blob, max_symbols: int | None = None, total_len: int | None = None) -> StreamLayout:
    """Check and split a stream. Every length is checked before it is used.

    total_len: the stream's length when `blob` holds only its start (at least the
    prefix and chunk index: a device-resident stream parsed from a small copy);
    `payload` is then whatever part of the payload `blob` holds."""
    buf = memoryview(blob).cast("B")
    size = len(buf) if total_len is None else int(total_len)
    if size < 7 or len(buf) < min(size, 7):
        raise FormatError(f"rANS stream too short ({size} bytes)")
    version, kind, fingerprint = struct.unpack_from("<BBI", buf, 0)
    if version != VERSION:
        raise FormatError(f"rANS stream version {version} is not supported (this entrozip reads version {VERSION})")
    if kind not in KIND_NAMES:
        raise FormatError(f"rANS stream has unknown model kind {kind}")
    n, pos = get_varint(buf, 6, len(buf), 9, "the symbol count")
    limit = max_symbols if max_symbols is not None else max(1 << 16, MAX_SYMBOLS_PER_BYTE * size)
    if n > limit:
        raise FormatError(f"rANS stream claims {n} symbols, more than allowed ({limit}) for a {size}-byte stream")
    if n == 0:
        if pos != size:
            raise FormatError("rANS stream has trailing bytes after an empty stream")
        return StreamLayout(version, kind, fingerprint, 0, LANES, LANES, buf[pos:], np.zeros(1, np.uint64))
    if pos >= len(buf) or buf[pos] >= len(LANE_CHOICES):
        raise FormatError("rANS stream truncated or invalid at its lane count")
    lanes = 1 << buf[pos]
    rows, pos = get_varint(buf, pos + 1, len(buf), 9, "the chunk size")
    if rows == 0 or rows > -(-n // lanes):
        raise FormatError(f"rANS stream has an invalid chunk size ({rows} rows of {lanes} for {n} symbols)")
    chunk_symbols = rows * lanes
    chunks = num_chunks(n, chunk_symbols)
    index_bytes = 4 * (chunks - 1)
    if index_bytes > len(buf) - pos:
        raise FormatError(f"rANS stream truncated: chunk index of {chunks} chunks does not fit")
    lengths = np.frombuffer(buf, dtype="<u4", count=chunks - 1, offset=pos).astype(np.uint64)
    payload = buf[pos + index_bytes :]
    payload_len = size - pos - index_bytes
    bounds = np.zeros(chunks + 1, np.uint64)
    np.cumsum(lengths, out=bounds[1:chunks])
    if chunks > 1 and int(bounds[chunks - 1]) > payload_len:
        raise FormatError("rANS stream truncated: chunk lengths exceed the stream")
    bounds[chunks] = payload_len
    return StreamLayout(version, kind, fingerprint, n, lanes, chunk_symbols, payload, bounds, pos + index_bytes)


def check_model(layout: StreamLayout, model, n_expected: int | None = None) -> StreamLayout:
    """`layout`, if it was coded with `model` (its kind and fingerprint) and, where n_expected
    is given (one index a symbol), holds that many symbols; FormatError otherwise."""
    if layout.kind != model.kind:
        raise FormatError(f"this is a {KIND_NAMES[layout.kind]}-model stream, but a {KIND_NAMES[model.kind]} "
                          "model was given")
    if layout.fingerprint != model.fingerprint:
        raise FormatError("this stream was coded with a different model (fingerprint mismatch)")
    if n_expected is not None and layout.n != n_expected:
        raise FormatError(f"the stream holds {layout.n} symbols but {n_expected} indexes were given")
    return layout


def head_length(head) -> int:
    """How many leading bytes of a stream `parse` needs (prefix and chunk index),
    read from its first 32 bytes or fewer; malformed input gives a small number and
    `parse` then names the problem."""
    buf = memoryview(head).cast("B")
    try:
        n, pos = get_varint(buf, 6, len(buf), 9, "the symbol count")
        if n == 0 or pos >= len(buf) or buf[pos] >= len(LANE_CHOICES):
            return pos + 1
        lanes = 1 << buf[pos]
        rows, pos = get_varint(buf, pos + 1, len(buf), 9, "the chunk size")
    except FormatError:
        return len(buf)
    if rows == 0:
        return pos
    return pos + 4 * (num_chunks(n, rows * lanes) - 1)


def sub_layout(layout: StreamLayout, j0: int, j1: int) -> StreamLayout:
    """Chunks [j0, j1) of a parsed stream as a stream of their own: its symbols are the
    original's [j0 * chunk_symbols, min(j1 * chunk_symbols, n)). Random access for the
    decoders without touching the other chunks (an embedding's rows, a tensor's slice)."""
    if not 0 <= j0 < j1 <= layout.num_chunks:
        raise ValueError(f"chunks [{j0}, {j1}) are outside a stream of {layout.num_chunks}")
    b0, b1 = int(layout.bounds[j0]), int(layout.bounds[j1])
    n = min(j1 * layout.chunk_symbols, layout.n) - j0 * layout.chunk_symbols
    return StreamLayout(layout.version, layout.kind, layout.fingerprint, n, layout.lanes, layout.chunk_symbols,
                        layout.payload[b0:b1], layout.bounds[j0:j1 + 1] - np.uint64(b0), layout.payload_offset + b0)
