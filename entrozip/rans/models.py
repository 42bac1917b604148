"""The two model kinds of the rANS coder: one static frequency table, or indexed CDFs.

Both are immutable integer tables. Their `fingerprint` (CRC32 of the tables) is
written into every stream, so decoding with another model is a clear error.
"""
from __future__ import annotations

import struct
import zlib
from functools import cached_property

import numpy as np

from ..errors import FormatError
from . import _native, reference
from ._arrays import as_int32, to_numpy
from .stream import KIND_INDEXED, KIND_STATIC, MAX_PRECISION, get_varint, put_varint

MAX_ALPHABET = 1 << MAX_PRECISION


def _check_precision(precision: int) -> int:
    precision = int(precision)
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be in [1, {MAX_PRECISION}], got {precision}")
    return precision


def quantize_counts(counts, precision: int = MAX_PRECISION) -> np.ndarray:
    """Integer frequencies summing to 2^precision that minimise the coded size of
    data with histogram `counts` (every present symbol keeps freq >= 1).
    Deterministic integer algorithm, identical in every backend (see reference.py)."""
    precision = _check_precision(precision)
    c = to_numpy(counts, "counts")
    if c.ndim != 1 or c.size == 0 or c.size > MAX_ALPHABET:
        raise ValueError(f"counts must be a 1-D histogram of 1 .. {MAX_ALPHABET} bins")
    if c.dtype.kind not in "iu" or (c.dtype.kind == "i" and c.min() < 0):
        raise ValueError("counts must be non-negative integers")
    c = np.ascontiguousarray(c, dtype=np.uint64)
    if _native.cpu is not None:
        return _native.cpu.quantize_counts(c, precision)
    return reference.quantize_counts(c, precision)


class StaticModel:
    """One frequency table for every symbol (DFloat11 exponents, quantised attributes).

    Symbol v is coded as index v - offset of `freqs`; `freqs` sums to 2^precision.
    Symbols of zero frequency cannot be coded (ValueError at encode time).
    """

    kind = KIND_STATIC

    def __init__(self, freqs, precision: int = MAX_PRECISION, offset: int = 0):
        """`freqs`: a histogram (any non-negative counts), quantised optimally to
        `precision` bits. Counts that already sum to 2^precision are kept as they are."""
        precision = _check_precision(precision)
        self._set(quantize_counts(freqs, precision), precision, offset)

    @classmethod
    def from_symbols(cls, symbols, precision: int = MAX_PRECISION) -> "StaticModel":
        """The model that codes `symbols` best: their histogram, quantised."""
        s = as_int32(symbols, "symbols")
        if s.size == 0:
            return cls([1], precision, 0)
        lo, hi = int(s.min()), int(s.max())
        if hi - lo + 1 > MAX_ALPHABET:
            raise ValueError(f"symbols span {hi - lo + 1} values; a static model holds at most {MAX_ALPHABET}")
        return cls(np.bincount((s.astype(np.int64) - lo), minlength=1), precision, lo)

    @classmethod
    def from_quantized(cls, freqs, precision: int, offset: int = 0) -> "StaticModel":
        """Exact frequencies, already summing to 2^precision (no quantisation)."""
        precision = _check_precision(precision)
        f = to_numpy(freqs, "freqs")
        if f.ndim != 1 or f.dtype.kind not in "iu" or f.size == 0 or f.size > MAX_ALPHABET:
            raise ValueError(f"freqs must be a 1-D integer array of 1 .. {MAX_ALPHABET} entries")
        if f.min() < 0 or int(f.astype(np.int64).sum()) != 1 << precision:
            raise ValueError(f"quantised frequencies must be non-negative and sum to 2^{precision}")
        model = cls.__new__(cls)
        model._set(np.ascontiguousarray(f, dtype=np.uint32), precision, offset)
        return model

    def _set(self, freqs: np.ndarray, precision: int, offset: int) -> None:
        offset = int(offset)
        if offset < -(2**31) or offset + len(freqs) - 1 > 2**31 - 1:
            raise ValueError("offset + alphabet must stay within int32")
        freqs.setflags(write=False)
        self.freqs = freqs
        self.precision = precision
        self.offset = offset

    @property
    def alphabet_size(self) -> int:
        return len(self.freqs)

    @cached_property
    def fingerprint(self) -> int:
        head = struct.pack("<cBi", b"S", self.precision, self.offset)
        return zlib.crc32(self.freqs.astype("<u4").tobytes(), zlib.crc32(head))

    @cached_property
    def _native(self):
        return _native.require_cpu().StaticTables(self.freqs, self.precision, self.offset)

    def cost_q8_of_histogram(self, histogram) -> int:
        """The exact integer size estimate (1/256 bits) of data with this histogram
        (histogram[k] counts value offset + k), the quantity `encode` estimates from
        the symbols: callers that already hold a histogram pass
        `rans.layout(n, cost)` as encode's lanes/chunk_size and skip that pass."""
        h = np.asarray(histogram, np.uint64)
        if len(h) != len(self.freqs) or (h[self.freqs == 0] != 0).any():
            raise ValueError("histogram must match the alphabet and hold only codable symbols")
        if _native.cpu is not None:
            costs = self._native.cost_table()
        else:
            costs = np.array([reference.cost_q8(int(f), self.precision) if f else 0 for f in self.freqs], np.uint64)
        return sum(int(n) * int(c) for n, c in zip(h.tolist(), costs.tolist()) if n)  # exact, no overflow

    def ideal_bits(self, symbols) -> float:
        """Information content sum(-log2 p) of `symbols` under this quantised table."""
        s = as_int32(symbols, "symbols").astype(np.int64) - self.offset
        if s.size and (s.min() < 0 or s.max() >= len(self.freqs) or not self.freqs[s].all()):
            raise ValueError("symbols include values of zero probability under this model")
        return float(np.sum(self.precision - np.log2(self.freqs[s].astype(np.float64))))

    def to_bytes(self) -> bytes:
        """Compact serialisation: u8 precision, i32 offset, varint count, varint freqs."""
        out = bytearray(struct.pack("<Bi", self.precision, self.offset))
        put_varint(out, len(self.freqs))
        for f in self.freqs.tolist():
            put_varint(out, f)
        return bytes(out)

    @classmethod
    def from_bytes(cls, blob) -> "StaticModel":
        buf = memoryview(blob).cast("B")
        if len(buf) < 6:
            raise FormatError("static model table truncated")
        precision, offset = struct.unpack_from("<Bi", buf, 0)
        count, pos = get_varint(buf, 5, len(buf), 3, "the model's alphabet size")
        if not 1 <= precision <= MAX_PRECISION or not 1 <= count <= MAX_ALPHABET or count > len(buf) - pos:
            raise FormatError("static model table has an invalid header")
        freqs = np.empty(count, np.uint32)
        for k in range(count):
            freqs[k], pos = get_varint(buf, pos, len(buf), 3, "a model frequency")
        if pos != len(buf):
            raise FormatError("static model table has trailing bytes")
        try:
            return cls.from_quantized(freqs, precision, offset)
        except ValueError as e:
            raise FormatError(f"static model table is invalid: {e}") from None

    def __repr__(self) -> str:
        return f"StaticModel(alphabet={self.alphabet_size}, precision={self.precision}, offset={self.offset})"


class IndexedModel:
    """A table of quantised CDFs; every symbol carries the index of its CDF.

    CompressAI's semantics (`encode_with_indexes`): row c of `cdfs` holds
    `cdf_lengths[c]` entries 0 = cdf[0] < cdf[1] < ... < cdf[len-1] = 2^precision;
    value v with index c is coded as k = v - offsets[c] when 0 <= k < len-2.
    k = len-2 is the escape: values outside that support (any int32) are coded
    as the escape plus their exact distance, so nothing is ever clipped.
    """

    kind = KIND_INDEXED

    def __init__(self, cdfs, cdf_lengths, offsets, precision: int = MAX_PRECISION):
        precision = _check_precision(precision)
        cdfs = to_numpy(cdfs, "cdfs")
        if cdfs.ndim != 2 or cdfs.shape[0] == 0 or cdfs.shape[1] < 2:
            raise ValueError("cdfs must be a 2-D array with at least one row of two entries")
        cdfs = np.ascontiguousarray(as_int32(cdfs, "cdfs").reshape(cdfs.shape))
        lengths = as_int32(cdf_lengths, "cdf_lengths")
        offsets = as_int32(offsets, "offsets")
        C, W = cdfs.shape
        if len(lengths) != C or len(offsets) != C:
            raise ValueError(f"cdf_lengths and offsets need one entry per cdf row ({C})")
        M = 1 << precision
        if lengths.min() < 2 or lengths.max() > min(W, M + 1):
            raise ValueError(f"cdf_lengths must lie in [2, {min(W, M + 1)}]")
        cols = np.arange(W)
        inside = cols[None, :] < lengths[:, None]
        last = cdfs[np.arange(C), lengths - 1]
        steps = np.diff(cdfs, axis=1) > 0
        if (cdfs[:, 0] != 0).any() or (last != M).any():
            raise ValueError(f"every cdf row must start at 0 and end at 2^{precision} = {M}")
        if not (steps | ~inside[:, 1:]).all():
            raise ValueError("every cdf row must be strictly increasing (each symbol needs frequency >= 1)")
        self.cdfs = cdfs
        self.cdf_lengths = lengths
        self.offsets = offsets
        self.precision = precision
        for a in (cdfs, lengths, offsets):
            a.setflags(write=False)

    @property
    def num_cdfs(self) -> int:
        return len(self.cdf_lengths)

    @cached_property
    def fingerprint(self) -> int:
        crc = zlib.crc32(struct.pack("<cB", b"I", self.precision))
        crc = zlib.crc32(self.cdf_lengths.astype("<i4").tobytes(), crc)
        crc = zlib.crc32(self.offsets.astype("<i4").tobytes(), crc)
        inside = np.arange(self.cdfs.shape[1])[None, :] < self.cdf_lengths[:, None]
        return zlib.crc32(self.cdfs[inside].astype("<i4").tobytes(), crc)

    @cached_property
    def _native(self):
        return _native.require_cpu().IndexedTables(self.cdfs, self.cdf_lengths, self.offsets, self.precision)

    def coded_indexes(self, symbols, indexes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, escaped, idx): the CDF entry each symbol is coded with (escape = len-2)."""
        s = as_int32(symbols, "symbols").astype(np.int64)
        idx = as_int32(indexes, "indexes")
        if len(idx) != len(s):
            raise ValueError(f"{len(s)} symbols but {len(idx)} indexes")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_cdfs):
            raise ValueError(f"indexes must lie in [0, {self.num_cdfs})")
        k = s - self.offsets[idx]
        max_value = self.cdf_lengths[idx].astype(np.int64) - 2
        escaped = (k < 0) | (k >= max_value)
        return np.where(escaped, max_value, k), escaped, idx

    def ideal_bits(self, symbols, indexes) -> float:
        """sum(-log2 p) of the coded CDF entries (an escape counts its escape
        symbol; its exact payload, a varint of 1-5 bytes, is not included)."""
        k, _, idx = self.coded_indexes(symbols, indexes)
        freq = self.cdfs[idx, k + 1] - self.cdfs[idx, k]
        return float(np.sum(self.precision - np.log2(freq.astype(np.float64))))

    def symbol_bits(self, symbols, indexes) -> np.ndarray:
        """Each symbol's cost in bits (float64, one per symbol): -log2 p of its coded CDF
        entry, plus 8 per varint byte of an escape's payload."""
        s = as_int32(symbols, "symbols").astype(np.int64)
        k, escaped, idx = self.coded_indexes(symbols, indexes)
        bits = self.precision - np.log2((self.cdfs[idx, k + 1] - self.cdfs[idx, k]).astype(np.float64))
        distance = s[escaped] - self.offsets[idx[escaped]]
        max_value = self.cdf_lengths[idx[escaped]].astype(np.int64) - 2
        raw = np.where(distance < 0, -2 * distance - 1, 2 * (distance - max_value))
        bits[escaped] += 8.0 * (1 + sum((raw >= (1 << (7 * b))).astype(np.int64) for b in range(1, 5)))
        return bits

    def estimated_bits(self, symbols, indexes) -> float:
        """The payload a stream of these symbols should take, in bits: ideal_bits plus
        the escape payloads (8 bits per varint byte). Framing is extra (docs/FORMAT.md)."""
        return float(np.sum(self.symbol_bits(symbols, indexes)))

    def __repr__(self) -> str:
        return f"IndexedModel(cdfs={self.num_cdfs}, max_length={self.cdfs.shape[1]}, precision={self.precision})"
