"""Context-coded integers with tables fitted to the data (two-pass, "semi-static").

For codecs without a learned prior (Gaussian-splat attributes, residuals of a
predictor): the encoder sees the whole array, fits one table per context,
stores the tables in the stream, and codes every value with the table its
context selects. Contexts must be computable by the decoder *before* this
stream is decoded (from streams decoded earlier): the coder decodes a whole
stream in one call.

Any int64 value with |v| < 2^62 is coded exactly ("hybrid uint", as in JPEG XL):

    u = zigzag(v)                        0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
                                         (u = v for streams declared unsigned)
    u < 16:   token u, no extra bits
    u >= 16:  e = floor(log2 u), token 16 + 2 (e - 4) + (the bit below the top bit),
              then the e - 1 low bits of u, stored raw

Tokens (<= 134 kinds) are rANS-coded with the context's table (an IndexedModel
row, so nothing is ever unrepresentable); raw bits are packed MSB first.

Stream: varint contexts, per context a table (varint length n, 0 = unused;
zigzag varint first token; n varint frequencies at PRECISION bits, the escape
slot takes the rest), varint rANS length, rANS stream, raw bits. Streams that
share their tables (fit_tables / write_tables, `tables=`) start at the rANS length.
Cost: tables are ~1.5 bytes per used token kind per context; the payload is
within ~0.1 bit per value of the tokens' empirical entropy plus the raw bits.
"""
from __future__ import annotations

import numpy as np

from .. import rans
from ..errors import FormatError
from ..rans.stream import get_varint, put_varint

PRECISION = 14
DIRECT = 16
MAX_MAGNITUDE = 1 << 62
MAX_TOKEN = DIRECT + 2 * (62 - 4) + 1  # the largest token of a u < 2^63
MAX_CONTEXTS = 1 << 12


def zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return np.where(v < 0, -2 * v - 1, 2 * v).astype(np.uint64)


def unzigzag(u: np.ndarray) -> np.ndarray:
    u = u.astype(np.int64)
    return np.where(u & 1, -((u + 1) >> 1), u >> 1)


def tokenize(values: np.ndarray, signed: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, extra-bit widths, extra-bit values) of int values, |v| < 2^62."""
    u = zigzag(values) if signed else values.astype(np.uint64)
    e = np.zeros(u.shape, np.int64)
    big = u >= DIRECT
    if big.any():
        e[big] = np.floor(np.log2(u[big].astype(np.float64))).astype(np.int64)
        # float log2 can be one off right below a power of two: fix exactly
        e[big] -= (np.left_shift(np.uint64(1), e[big].astype(np.uint64)) > u[big]).astype(np.int64)
        e[big] += (np.left_shift(np.uint64(1), (e[big] + 1).astype(np.uint64)) <= u[big]).astype(np.int64)
    width = np.where(big, e - 1, 0)
    below_top = (u >> np.maximum(width, 0).astype(np.uint64)) & np.uint64(1)
    tokens = np.where(big, DIRECT + 2 * (e - 4) + below_top.astype(np.int64), u.astype(np.int64))
    extra = np.where(big, u & ((np.uint64(1) << width.astype(np.uint64)) - np.uint64(1)), 0).astype(np.uint64)
    return tokens, width, extra


def token_widths(tokens: np.ndarray) -> np.ndarray:
    """The extra-bit width of each token (what the decoder reads after it)."""
    t = tokens.astype(np.int64)
    return np.where(t < DIRECT, 0, (t - DIRECT) // 2 + 3)


def detokenize(tokens: np.ndarray, extra: np.ndarray, signed: bool = True) -> np.ndarray:
    """Inverse of tokenize: the values of tokens and their extra bits."""
    t = tokens.astype(np.int64)
    width = token_widths(t)
    top = (2 | ((t - DIRECT) & 1)).astype(np.uint64)  # the top two bits of u
    u = np.where(t >= DIRECT, (top << width.astype(np.uint64)) | extra.astype(np.uint64), t.astype(np.uint64))
    return unzigzag(u) if signed else u.astype(np.int64)


def pack_bits(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate the `widths[i]` low bits of each value, MSB first, into bytes."""
    widths = widths.astype(np.int64)
    total = int(widths.sum())
    if total == 0:
        return b""
    starts = np.cumsum(widths) - widths
    bits = np.zeros(total, np.uint8)
    for j in range(int(widths.max())):
        m = widths > j
        shift = (widths[m] - 1 - j).astype(np.uint64)
        bits[starts[m] + j] = ((values[m].astype(np.uint64) >> shift) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


def unpack_bits(buf, widths: np.ndarray) -> np.ndarray:
    widths = widths.astype(np.int64)
    total = int(widths.sum())
    if len(buf) != (total + 7) // 8:
        raise FormatError(f"raw-bit section holds {len(buf)} bytes; its tokens need {(total + 7) // 8}")
    out = np.zeros(len(widths), np.uint64)
    if total == 0:
        return out
    bits = np.unpackbits(np.frombuffer(buf, np.uint8))[:total].astype(np.uint64)
    starts = np.cumsum(widths) - widths
    for j in range(int(widths.max())):
        m = widths > j
        out[m] = (out[m] << np.uint64(1)) | bits[starts[m] + j]
    return out


def _model(tables: list[tuple[int, np.ndarray]]) -> rans.IndexedModel:
    """One IndexedModel row per context: tokens lo .. lo+n-1, then the escape slot."""
    width = max(2, max(len(f) for _, f in tables) + 2)
    cdfs = np.zeros((len(tables), width), np.int32)
    lengths = np.zeros(len(tables), np.int32)
    offsets = np.zeros(len(tables), np.int32)
    for c, (lo, freqs) in enumerate(tables):
        n = len(freqs)
        cdfs[c, 1:n + 1] = np.cumsum(freqs)
        cdfs[c, n + 1:] = 1 << PRECISION
        lengths[c], offsets[c] = n + 2, lo
    return rans.IndexedModel(cdfs, lengths, offsets, precision=PRECISION)


def _fit(tokens: np.ndarray) -> tuple[int, np.ndarray]:
    """(first token, frequencies) of one context; every token in range gets >= 1."""
    lo, hi = int(tokens.min()), int(tokens.max())
    counts = np.bincount(tokens - lo, minlength=hi - lo + 1).astype(np.int64)
    counts = np.append(np.maximum(counts, 1) * 4 - (counts == 0) * 3, 1)  # empty bins and escape: ~1/4 weight
    q = rans.quantize_counts(counts, PRECISION).astype(np.int64)
    return lo, q[:-1]


def _check(values, contexts, num_contexts, signed=True):
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError("values must be integers")
    values = values.astype(np.int64).ravel()
    if values.size and np.abs(values).max() >= MAX_MAGNITUDE:
        raise ValueError("values must satisfy |v| < 2^62")
    if not signed and values.size and values.min() < 0:
        raise ValueError("an unsigned stream takes no negative values")
    if not 1 <= num_contexts <= MAX_CONTEXTS:
        raise ValueError(f"num_contexts must be in 1..{MAX_CONTEXTS}")
    ctx = np.zeros(values.size, np.int64) if contexts is None else np.asarray(contexts, np.int64).ravel()
    if ctx.size != values.size:
        raise ValueError(f"{values.size} values but {ctx.size} contexts")
    if ctx.size and (ctx.min() < 0 or ctx.max() >= num_contexts):
        raise ValueError(f"contexts must lie in [0, {num_contexts})")
    return values, ctx


def fit_tables(values, contexts=None, num_contexts: int = 1, signed: bool = True) -> list:
    """One fitted table per context of these values, to share between streams
    (`encode_ints(..., tables=)`): each stream then pays only its payload. The values
    of every stream that uses them belong in the fit, so that all their tokens are in range
    (a token out of range is still coded exactly, through the escape slot, at ~14 bits)."""
    values, ctx = _check(values, contexts, num_contexts, signed)
    tokens, _, _ = tokenize(values, signed)
    out = []
    for c in range(num_contexts):
        t = tokens[ctx == c]
        out.append(_fit(t) if t.size else (0, np.zeros(0, np.int64)))
    return out


def write_tables(tables: list) -> bytes:
    """varint number of contexts, then per context: varint n (0 = unused), varint 2 x first
    token, n varint frequencies."""
    out = bytearray()
    put_varint(out, len(tables))
    for lo, freqs in tables:
        put_varint(out, len(freqs))
        if len(freqs):
            put_varint(out, 2 * lo)
            for f in freqs.tolist():
                put_varint(out, f)
    return bytes(out)


def read_tables(buf, num_contexts: int, pos: int = 0) -> tuple[list, int]:
    """(tables, position after them) of write_tables' bytes; FormatError if invalid."""
    buf = memoryview(buf).cast("B")
    n_ctx, pos = get_varint(buf, pos, len(buf), 2, "the context count")
    if n_ctx != num_contexts:
        raise FormatError(f"stream has {n_ctx} context tables; its decoder expects {num_contexts}")
    tables = []
    for _ in range(n_ctx):
        n, pos = get_varint(buf, pos, len(buf), 2, "a table length")
        if n == 0:
            tables.append((0, np.zeros(0, np.int64)))
            continue
        if n > MAX_TOKEN + 1:
            raise FormatError(f"a context table claims {n} token kinds (at most {MAX_TOKEN + 1})")
        lo2, pos = get_varint(buf, pos, len(buf), 2, "a table's first token")
        freqs = np.empty(n, np.int64)
        for k in range(n):
            freqs[k], pos = get_varint(buf, pos, len(buf), 3, "a table frequency")
        if lo2 % 2 or lo2 // 2 + n > MAX_TOKEN + 1 or (freqs < 1).any() or freqs.sum() >= 1 << PRECISION:
            raise FormatError("a context table is invalid")
        tables.append((lo2 // 2, freqs))
    return tables, pos


def encode_ints(values, contexts=None, num_contexts: int = 1, signed: bool = True, threads=None,
                tables: list | None = None) -> bytes:
    """Code int values (|v| < 2^62) with one fitted table per context id in [0, num_contexts).
    signed=False (values >= 0) saves the sign bit of every value. With `tables` (fit_tables
    of these values and others) the stream holds no tables of its own."""
    values, ctx = _check(values, contexts, num_contexts, signed)
    tokens, widths, extra = tokenize(values, signed)
    out = bytearray()
    if tables is None:
        tables = fit_tables(values, ctx, num_contexts, signed)
        out += write_tables(tables)
    elif len(tables) != num_contexts:
        raise ValueError(f"{len(tables)} tables for {num_contexts} contexts")
    used = np.unique(ctx)
    if used.size and any(len(tables[c][1]) == 0 for c in used.tolist()):
        raise ValueError("values fall in a context whose shared table is empty")
    stream = rans.encode(tokens.astype(np.int32), _model(tables), indexes=ctx.astype(np.int32), threads=threads)
    put_varint(out, len(stream))
    out += stream
    out += pack_bits(extra, widths)
    return bytes(out)


def decode_ints(buf, count: int, contexts=None, num_contexts: int = 1, signed: bool = True, threads=None,
                tables: list | None = None) -> np.ndarray:
    """The `count` int64 values of an encode_ints stream (contexts, and shared tables, as at
    encode time)."""
    buf = memoryview(buf).cast("B")
    _, ctx = _check(np.zeros(count, np.int64), contexts, num_contexts)
    pos = 0
    if tables is None:
        tables, pos = read_tables(buf, num_contexts)
    elif len(tables) != num_contexts:
        raise ValueError(f"{len(tables)} tables for {num_contexts} contexts")
    used = np.unique(ctx)
    if used.size and any(len(tables[c][1]) == 0 for c in used.tolist()):
        raise FormatError("values fall in a context whose table is empty")
    length, pos = get_varint(buf, pos, len(buf), 5, "the rANS stream length")
    if length > len(buf) - pos:
        raise FormatError("rANS stream runs past its section")
    stream = buf[pos:pos + length]
    if rans.stream_info(stream).num_symbols != count:
        raise FormatError(f"stream holds {rans.stream_info(stream).num_symbols} values; expected {count}")
    tokens = rans.decode(stream, _model(tables) if tables else None, indexes=ctx.astype(np.int32), threads=threads)
    tokens = tokens.astype(np.int64)
    if tokens.size and (tokens.max() > MAX_TOKEN):
        raise FormatError("stream decodes to tokens out of range")
    extra = unpack_bits(buf[pos + length:], token_widths(tokens))
    return detokenize(tokens, extra, signed)
