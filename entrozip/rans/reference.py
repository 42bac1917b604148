"""The rANS stream format, written to be read: plain Python, no speed tricks.

This file is the specification the C++ (and CUDA) backends are tested against,
byte for byte. docs/FORMAT.md describes the same thing in prose.

Lane coder (one of the W lanes of a chunk, W in {1, 2, 4, 8, 16, 32}):
    state x: an integer in [L, 2^32) with L = 2^16; the encoder starts at x = L
    encode (start, freq), M = 2^precision:
        if x >= freq * 2^(32 - precision): emit the word x mod 2^16, x //= 2^16
        x = (x // freq) * M + x mod freq + start
    decode:
        slot = x mod M; find the symbol with start <= slot < start + freq
        x = freq * (x // M) + slot - start
        if x < L: x = x * 2^16 + next word
A chunk's symbol i goes to lane i mod W; a row is W consecutive symbols. The
encoder walks the chunk backwards (last row first, lanes W-1 .. 0 within a row)
and pushes words to the back; the decoder walks forwards (row 0 first, lanes
0 .. W-1) and reads them from the front.

Chunk bytes:
    varint E, then E bytes: one varint per escaped symbol, in symbol order
    u32 LE final state of each used lane (min(W, chunk symbols) lanes)
    u16 LE words, in the order the decoder reads them
"""
from __future__ import annotations

import bisect
import heapq
import struct
from functools import lru_cache

import numpy as np

from ..errors import FormatError
from .stream import (
    KIND_STATIC,
    STATE_LOW,
    StreamLayout,
    get_varint,
    make_prefix,
    num_chunks,
    put_varint,
)

LOG2_FRAC_BITS = 48
MAX_ESCAPE = 1 << 34  # zigzag distance of an int32 from an int32 offset stays below this


# ------------------------------------------------------------ table building

@lru_cache(maxsize=None)
def log2_fixed(v: int) -> int:
    """log2(v) in Q48 by repeated squaring of the mantissa held in Q62 (1 <= v <= 2^17).
    Integers only, so every platform gets the same bits."""
    k = v.bit_length() - 1
    m = v << (62 - k)
    result = k << LOG2_FRAC_BITS
    for bit in range(LOG2_FRAC_BITS - 1, -1, -1):
        m = (m * m) >> 62
        if m >= 2 << 62:
            m >>= 1
            result |= 1 << bit
    return result


def quantize_counts(counts: np.ndarray, precision: int) -> np.ndarray:
    """Frequencies summing to M = 2^precision minimising sum_k c_k * -log2(f_k / M).

    1. proportional start: f_k = 1 + floor(c_k * (M - K) / N) for the K present symbols;
    2. fill: give the units still missing, one at a time, to the largest gain
       c_k * (log2(f_k + 1) - log2 f_k);
    3. exchange: while the largest gain beats the smallest loss
       c_k * (log2 f_k - log2(f_k - 1)) of another symbol, move a unit.
    log2 is log2_fixed; ties go to the smaller symbol index.
    """
    c = [int(v) for v in counts]
    M = 1 << precision
    present = [k for k, v in enumerate(c) if v]
    if not present:
        raise ValueError("histogram is empty: no symbol has a non-zero count")
    if len(present) > M:
        raise ValueError(f"alphabet of {len(present)} symbols does not fit precision {precision}")
    N = sum(c)
    R = M - len(present)
    f = [0] * len(c)
    for k in present:
        f[k] = 1 + c[k] * R // N

    def gain(k):
        return c[k] * (log2_fixed(f[k] + 1) - log2_fixed(f[k]))

    def loss(k):
        return c[k] * (log2_fixed(f[k]) - log2_fixed(f[k] - 1))

    gains = [(-gain(k), k, f[k]) for k in present]  # max gain first
    heapq.heapify(gains)
    for _ in range(M - sum(f)):
        _, k, _ = heapq.heappop(gains)
        f[k] += 1
        heapq.heappush(gains, (-gain(k), k, f[k]))
    losses = [(loss(k), k, f[k]) for k in present if f[k] >= 2]  # min loss first
    heapq.heapify(losses)
    while True:
        while gains and gains[0][2] != f[gains[0][1]]:
            heapq.heappop(gains)
        while losses and losses[0][2] != f[losses[0][1]]:
            heapq.heappop(losses)
        if not gains or not losses:
            break
        (neg_gain, a, _), (lose, b, _) = gains[0], losses[0]
        if a == b or not -neg_gain > lose:
            break
        f[a] += 1
        f[b] -= 1
        heapq.heappush(gains, (-gain(a), a, f[a]))
        heapq.heappush(gains, (-gain(b), b, f[b]))
        heapq.heappush(losses, (loss(a), a, f[a]))
        if f[b] >= 2:
            heapq.heappush(losses, (loss(b), b, f[b]))
    return np.array(f, dtype=np.uint32)


def cost_q8(freq: int, precision: int) -> int:
    """A symbol's cost in 1/256 bits, rounded down (drives the chunk-size policy)."""
    return ((precision << LOG2_FRAC_BITS) - log2_fixed(freq)) >> (LOG2_FRAC_BITS - 8)


# ------------------------------------------------------ per-symbol modelling

def _coded_static(model, symbols):
    """[(start, freq, escape payload or None)] for each symbol of a static model."""
    starts = np.concatenate([[0], np.cumsum(model.freqs.astype(np.int64))])
    out = []
    for pos, v in enumerate(symbols.tolist()):
        k = v - model.offset
        if not 0 <= k < len(model.freqs) or model.freqs[k] == 0:
            raise ValueError(f"symbol at position {pos} has zero probability under this static model")
        out.append((int(starts[k]), int(model.freqs[k]), None))
    return out


def _coded_indexed(model, symbols, indexes):
    """[(start, freq, escape payload or None)] for each symbol of an indexed model."""
    out = []
    for pos, (v, c) in enumerate(zip(symbols.tolist(), indexes.tolist())):
        if not 0 <= c < model.num_cdfs:
            raise ValueError(f"index at position {pos} is out of range")
        row, max_value = model.cdfs[c], int(model.cdf_lengths[c]) - 2
        k, raw = v - int(model.offsets[c]), None
        if k < 0:
            k, raw = max_value, -2 * k - 1  # below the support: odd payload
        elif k >= max_value:
            k, raw = max_value, 2 * (k - max_value)  # at or above the escape: even payload
        out.append((int(row[k]), int(row[k + 1] - row[k]), raw))
    return out


def _symbol_finder(model):
    """find(c, slot, escapes) -> (start, freq, value) of the symbol owning `slot`."""
    if model.kind == KIND_STATIC:
        starts = np.concatenate([[0], np.cumsum(model.freqs.astype(np.int64))]).tolist()
        freqs = model.freqs.tolist()

        def find_static(c, slot, escapes):
            k = bisect.bisect_right(starts, slot) - 1
            return starts[k], freqs[k], model.offset + k

        return find_static

    def find_indexed(c, slot, escapes):
        row = model.cdfs[c]
        k = 0
        while row[k + 1] <= slot:
            k += 1
        value = k
        if k == int(model.cdf_lengths[c]) - 2:
            raw = escapes.next()
            value = -((raw + 1) >> 1) if raw & 1 else k + (raw >> 1)
        value += int(model.offsets[c])
        if not -(2**31) <= value < 2**31:
            raise FormatError("rANS stream is corrupt: an escaped value overflows int32")
        return int(row[k]), int(row[k + 1] - row[k]), value

    return find_indexed


# ------------------------------------------------------------------ coding

def cost_q8_total(model, symbols, indexes=None, stride: int = 1) -> int:
    """Estimated size of symbols 0, stride, 2*stride, ... in 1/256 bits (escape
    payloads at 8 bits a varint byte)."""
    coded = _coded_static(model, symbols) if indexes is None else _coded_indexed(model, symbols, indexes)
    total = 0
    for _, freq, raw in coded[::stride]:
        total += cost_q8(freq, model.precision)
        if raw is not None:
            total += 8 * 256 * max(1, -(-raw.bit_length() // 7))
    return total


def encode_chunk(coded, precision: int, lanes: int) -> bytes:
    """One chunk from [(start, freq, escape payload or None)]."""
    x = [STATE_LOW] * lanes
    words = []
    rows = -(-len(coded) // lanes)
    for r in reversed(range(rows)):
        row = coded[r * lanes : (r + 1) * lanes]
        for j in reversed(range(len(row))):
            start, freq, _ = row[j]
            if x[j] >= freq << (32 - precision):
                words.append(x[j] & 0xFFFF)
                x[j] >>= 16
            x[j] = (x[j] // freq << precision) + x[j] % freq + start
    escapes = bytearray()
    for _, _, raw in coded:
        if raw is not None:
            put_varint(escapes, raw)
    out = bytearray()
    put_varint(out, len(escapes))
    out += escapes
    used = min(lanes, len(coded))
    out += struct.pack(f"<{used}I", *x[:used])
    out += struct.pack(f"<{len(words)}H", *reversed(words))
    return bytes(out)


def encode(symbols: np.ndarray, model, indexes, lanes: int, chunk_symbols: int) -> bytes:
    """The whole stream: prefix, chunk index, chunks."""
    coded = _coded_static(model, symbols) if indexes is None else _coded_indexed(model, symbols, indexes)
    n = len(coded)
    chunks = [
        encode_chunk(coded[c * chunk_symbols : (c + 1) * chunk_symbols], model.precision, lanes)
        for c in range(num_chunks(n, chunk_symbols))
    ]
    index = struct.pack(f"<{max(0, len(chunks) - 1)}I", *[len(ch) for ch in chunks[:-1]])
    return make_prefix(model.kind, model.fingerprint, n, lanes, chunk_symbols) + index + b"".join(chunks)


class _EscapeReader:
    """The escape payloads of one chunk, read in symbol order."""

    def __init__(self, buf, pos: int, end: int):
        self.buf, self.pos, self.end = buf, pos, end

    def next(self) -> int:
        if self.pos >= self.end:
            raise FormatError("rANS stream is corrupt: escape payloads run out")
        raw, self.pos = get_varint(self.buf, self.pos, self.end, 5, "an escape payload")
        if raw >= MAX_ESCAPE:
            raise FormatError("rANS stream is corrupt: escape payload out of range")
        return raw


def decode_chunk(buf, find, precision: int, lanes: int, indexes, begin: int, count: int, out, chunk_id: int) -> None:
    corrupt = FormatError(f"rANS chunk {chunk_id} is corrupt (or was coded with another model)")
    end = len(buf)
    esc_len, pos = get_varint(buf, 0, end, 9, "an escape section length")
    if esc_len > end - pos:
        raise corrupt
    escapes = _EscapeReader(buf, pos, pos + esc_len)
    pos += esc_len
    lanes_used = min(lanes, count)
    if end - pos < 4 * lanes_used or (end - pos - 4 * lanes_used) % 2:
        raise corrupt
    x = list(struct.unpack_from(f"<{lanes_used}I", buf, pos))
    pos += 4 * lanes_used
    M = 1 << precision
    for i in range(count):
        j = i % lanes
        c = int(indexes[begin + i]) if indexes is not None else 0
        start, freq, out[begin + i] = find(c, x[j] % M, escapes)
        x[j] = freq * (x[j] // M) + x[j] % M - start
        if x[j] < STATE_LOW:
            if pos + 2 > end:
                raise corrupt
            x[j] = (x[j] << 16) | buf[pos] | buf[pos + 1] << 8
            pos += 2
    # The encoder started every lane at L and wrote nothing unused.
    if pos != end or escapes.pos != escapes.end or any(v != STATE_LOW for v in x):
        raise corrupt


def decode(layout: StreamLayout, model, indexes) -> np.ndarray:
    out = np.zeros(layout.n, np.int32)
    find = _symbol_finder(model)
    if indexes is not None and len(indexes) and (indexes.min() < 0 or indexes.max() >= model.num_cdfs):
        raise ValueError("an index is out of range for this model")
    for c in range(layout.num_chunks):
        lo, hi = int(layout.bounds[c]), int(layout.bounds[c + 1])
        if lo > hi:
            raise FormatError("rANS stream's chunk index points outside the stream")
        begin = c * layout.chunk_symbols
        count = min(layout.chunk_symbols, layout.n - begin)
        decode_chunk(layout.payload[lo:hi], find, model.precision, layout.lanes, indexes, begin, count, out, c)
    return out
