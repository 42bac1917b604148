"""Which bits of a float are entropy-coded and which are stored raw.

DFloat11's observation: in trained weights the exponent carries ~2.6 bits of
information in 8, while sign and mantissa are close to uniform. So each value
is split into one *symbol byte* (coded with a static rANS table) and its
remaining *raw bits* (stored as they are):

    dtype     bytes  symbol byte                      raw bits
    BF16      2      exponent                         sign + 7 mantissa bits (1 byte)
    F16       2      high byte: sign, exponent, m[9:8] low 8 mantissa bits (1 byte)
    F32       4      exponent                         sign + 23 mantissa bits (3 bytes)
    F8_E4M3,  1      the whole byte                   nothing
    F8_E5M2

(F16 codes its high byte rather than the bare 5-bit exponent: the two mantissa
bits and the sign ride along at their entropy, and the raw part stays byte-aligned.)
These are bit permutations, exact for every pattern: ±0, subnormals, ±Inf, every
NaN payload, exponents of 240 and above. The C++ twin (csrc/float_split.cpp) does
the work; `split_reference` / `merge_reference` here are the numpy specification.
"""
from __future__ import annotations

import numpy as np

try:
    from . import _floats as _native
except ImportError:  # pragma: no cover - a source tree without `pip install`
    _native = None

LAYOUTS = {"BF16": 0, "F16": 1, "F32": 2, "F8_E4M3": 3, "F8_E5M2": 3}
WORD_BYTES = {0: 2, 1: 2, 2: 4, 3: 1}
RAW_BYTES = {0: 1, 1: 1, 2: 3, 3: 0}


def _require():
    if _native is None:
        raise ImportError("entrozip's float splitter (entrozip.codecs.weights._floats) is not built: pip install -e .")
    return _native


def histogram(dtype: str, data) -> np.ndarray:
    """256-bin histogram of the symbol bytes of `data` (raw little-endian values)."""
    return _require().histogram(LAYOUTS[dtype], data)


def split(dtype: str, data, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(symbol bytes, raw bytes) of `data`."""
    return _require().split(LAYOUTS[dtype], data, threads)


def merge(dtype: str, symbols: np.ndarray, raw, out, threads: int = 1) -> None:
    """Write the values rebuilt from `symbols` and `raw` into the writable buffer `out`."""
    _require().merge(LAYOUTS[dtype], np.ascontiguousarray(symbols, np.uint8), raw, out, threads)


def decode_merge(dtype: str, model, layout, raw, out, threads: int = 1) -> None:
    """Decode the checked static rANS stream `layout` (entrozip.rans.check_stream)
    of symbol bytes and merge it with `raw` into `out`, chunk by chunk."""
    native = _require()
    try:
        native.decode_merge(LAYOUTS[dtype], model.freqs, model.precision, model.offset, layout.payload, layout.bounds,
                            layout.n, layout.lanes, layout.chunk_symbols, raw, out, threads)
    except native.CorruptStreamError as e:
        from ...errors import FormatError

        raise FormatError(f"rANS stream: {e}") from None


# ------------------------------------------------------------ numpy reference

def split_reference(dtype: str, data) -> tuple[np.ndarray, np.ndarray]:
    layout = LAYOUTS[dtype]
    b = np.frombuffer(data, np.uint8)
    if layout == 0:
        v = b.view("<u2")
        return (v >> 7).astype(np.uint8), (((v >> 8) & 0x80) | (v & 0x7F)).astype(np.uint8)
    if layout == 1:
        v = b.reshape(-1, 2)
        return v[:, 1].copy(), v[:, 0].copy()
    if layout == 2:
        v = b.view("<u4")
        keep = ((v >> 31) << 23) | (v & 0x7FFFFF)
        return (v >> 23).astype(np.uint8), keep.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].reshape(-1).copy()
    return b.copy(), np.zeros(0, np.uint8)


def merge_reference(dtype: str, symbols: np.ndarray, raw: np.ndarray) -> bytes:
    layout = LAYOUTS[dtype]
    s = symbols.astype(np.uint32)
    if layout == 0:
        r = raw.astype(np.uint32)
        return (((r & 0x80) << 8) | (s << 7) | (r & 0x7F)).astype("<u2").tobytes()
    if layout == 1:
        return np.stack([raw, symbols], axis=1).astype(np.uint8).tobytes()
    if layout == 2:
        r = np.concatenate([raw.reshape(-1, 3), np.zeros((len(s), 1), np.uint8)], axis=1).reshape(-1).view("<u4")
        r = r.astype(np.uint32)
        return (((r >> 23) << 31) | (s << 23) | (r & 0x7FFFFF)).astype("<u4").tobytes()
    return symbols.astype(np.uint8).tobytes()
