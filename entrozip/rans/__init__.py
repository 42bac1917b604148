"""entrozip's entropy coder: chunked, 32-lane interleaved rANS (docs/FORMAT.md).

    from entrozip import rans
    model = rans.StaticModel.from_symbols(symbols)           # or rans.StaticModel(freqs, precision=...)
    model = rans.IndexedModel(cdfs, cdf_lengths, offsets)    # quantised CDF rows, CompressAI semantics
    blob = rans.encode(symbols, model, indexes=None, threads=None)
    out = rans.decode(blob, model, indexes=None, threads=None)

Backends: "cpu" (C++, threads over chunks; the default), "reference" (plain
Python, the specification) and, for CUDA tensors, the GPU coder (rans/cuda.py:
CUDA in, CUDA out; `rans.cuda.encode_batch` codes many arrays in one launch).
They write the same bytes, and the bytes never depend on the thread count.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError
from . import _native, reference, stream
from ._arrays import as_int32, to_numpy
from .models import IndexedModel, StaticModel, quantize_counts
from .stream import LANES

__all__ = [
    "StaticModel",
    "IndexedModel",
    "quantize_counts",
    "encode",
    "decode",
    "stream_info",
    "StreamInfo",
    "layout",
    "check_stream",
    "LANES",
]

BACKENDS = ("cpu", "reference")


def _check(model, indexes, backend):
    if not isinstance(model, (StaticModel, IndexedModel)):
        raise TypeError(f"model must be a StaticModel or an IndexedModel, got {type(model).__name__}")
    if isinstance(model, IndexedModel) and indexes is None:
        raise ValueError("an IndexedModel needs `indexes` (one CDF index per symbol)")
    if isinstance(model, StaticModel) and indexes is not None:
        raise ValueError("a StaticModel takes no `indexes`")
    backend = backend or "cpu"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def _threads(threads):
    if threads is None:
        return os.cpu_count() or 1
    if int(threads) < 1:
        raise ValueError("threads must be >= 1")
    return int(threads)


def layout(num_symbols: int, cost_q8: int, policy: str = "compact") -> tuple[int, int]:
    """The (lanes, chunk_size) that `encode(..., layout=policy)` picks for a stream of
    this size estimate; see StaticModel.cost_q8_of_histogram and docs/FORMAT.md."""
    return stream.auto_layout(num_symbols, cost_q8, policy)


def encode(symbols, model, indexes=None, threads=None, chunk_size=None, lanes=None, backend=None,
           layout="compact") -> bytes:
    """Code `symbols` (any integer array, flattened in C order) into one stream.

    indexes: one CDF index per symbol for an IndexedModel, None for a StaticModel.
    threads: CPU threads over chunks (default: all cores); never changes the bytes.
    lanes: interleaved lanes per chunk (1, 2, 4, 8, 16 or 32); chunk_size: symbols
        per chunk (rounded up to whole rows of `lanes`). By default both are chosen
        from the estimated size by the `layout` policy: "compact" keeps framing near
        0.2 %; "gpu" spends ~0.67 % on thousands of 32-lane chunks, so that a GPU decodes
        a large stream with a warp per chunk at full width (docs/FORMAT.md).
    """
    stream.check_layout(layout)
    if _on_cuda(symbols):  # CUDA in, CUDA out: the GPU coder writes the same bytes
        from . import cuda

        _check(model, indexes, None)
        return cuda.encode(symbols, model, indexes, lanes=lanes, chunk_size=chunk_size, layout=layout)
    backend = _check(model, indexes, backend)
    sym = _bytes_or_int32(symbols) if indexes is None and backend != "reference" else as_int32(symbols, "symbols")
    idx = None if indexes is None else as_int32(indexes, "indexes")
    if idx is not None and len(idx) != len(sym):
        raise ValueError(f"{len(sym)} symbols but {len(idx)} indexes")
    native = None if backend == "reference" else model._native
    if lanes is None or chunk_size is None:
        stride = stream.estimate_stride(len(sym))
        if native is None:
            cost = reference.cost_q8_total(model, sym, idx, stride)
        elif idx is None:
            cost_q8 = native.cost_q8_u8 if sym.dtype == np.uint8 else native.cost_q8
            cost = cost_q8(sym, stride, _threads(threads))
        else:
            cost = native.cost_q8(sym, idx, stride, _threads(threads))
        cost *= stride
        lanes = stream.auto_lanes(cost, layout) if lanes is None else lanes
        chunk_size = stream.auto_chunk_symbols(len(sym), cost, lanes, layout) if chunk_size is None else chunk_size
    lanes = stream.check_lanes(lanes)
    chunk_symbols = stream.check_chunk_symbols(chunk_size, len(sym), lanes)
    if native is None:
        return reference.encode(sym, model, idx, lanes, chunk_symbols)
    prefix = stream.make_prefix(model.kind, model.fingerprint, len(sym), lanes, chunk_symbols)
    if idx is None:
        encode_static = native.encode_u8 if sym.dtype == np.uint8 else native.encode
        return encode_static(sym, prefix, lanes, chunk_symbols, _threads(threads))
    return native.encode(sym, idx, prefix, lanes, chunk_symbols, _threads(threads))


def _on_cuda(x) -> bool:
    return type(x).__module__.startswith("torch") and x.device.type == "cuda"


def _bytes_or_int32(symbols) -> np.ndarray:
    """uint8 symbols pass through as they are (no 4x widening); others become int32."""
    a = to_numpy(symbols, "symbols")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a.reshape(-1))
    return as_int32(a, "symbols")


def decode(blob, model, indexes=None, threads=None, backend=None, max_symbols=None, dtype=np.int32) -> np.ndarray:
    """Symbols of a stream made by `encode` with the same model, as a flat array.

    dtype: int32, or uint8 for a StaticModel whose values lie in [0, 255] (bytes
    such as exponents, decoded without a 4x wider intermediate).
    Raises FormatError for a truncated or corrupted stream, another format
    version, or a stream coded with a different model. max_symbols bounds the
    symbol count a static stream may claim (default: 512 per stream byte);
    for an IndexedModel the count is len(indexes).
    """
    if _on_cuda(blob):
        import torch

        from . import cuda

        _check(model, indexes, None)
        return cuda.decode(blob, model, indexes, torch.uint8 if np.dtype(dtype) == np.uint8 else torch.int32,
                           max_symbols)
    backend = _check(model, indexes, backend)
    dtype = np.dtype(dtype)
    if dtype not in (np.int32, np.uint8):
        raise ValueError(f"dtype must be int32 or uint8, got {dtype}")
    if dtype == np.uint8 and (indexes is not None or model.offset < 0 or model.offset + model.alphabet_size > 256):
        raise ValueError("dtype=uint8 needs a StaticModel whose values lie in [0, 255]")
    idx = None if indexes is None else as_int32(indexes, "indexes")
    layout = check_stream(blob, model, idx, max_symbols)
    if backend == "reference":
        return reference.decode(layout, model, idx).astype(dtype, copy=False)
    native = model._native
    try:
        args = (layout.payload, layout.bounds, layout.n, layout.lanes, layout.chunk_symbols, _threads(threads))
        if idx is not None:
            return native.decode(idx, *args)
        return native.decode_u8(*args) if dtype == np.uint8 else native.decode(*args)
    except _native.cpu.CorruptStreamError as e:
        raise FormatError(f"rANS stream: {e}") from None


def check_stream(blob, model, indexes=None, max_symbols=None) -> stream.StreamLayout:
    """The checked layout of a stream about to be decoded with `model`: version,
    kind, model fingerprint, symbol count and chunk index are verified (FormatError
    otherwise). For decoders that fuse their own work into chunk decoding."""
    if indexes is not None:
        max_symbols = len(indexes)
    return stream.check_model(stream.parse(blob, max_symbols), model, None if indexes is None else len(indexes))


@dataclass(frozen=True)
class StreamInfo:
    version: int
    kind: str
    fingerprint: int
    num_symbols: int
    lanes: int
    chunk_symbols: int
    num_chunks: int
    num_bytes: int
    framing_bytes: int  # prefix + chunk index + per chunk: final lane states and the escape count


def stream_info(blob) -> StreamInfo:
    """What a stream's prefix says, without decoding it."""
    layout = stream.parse(blob, max_symbols=1 << 62)
    size = len(memoryview(blob).cast("B"))
    framing = size - len(layout.payload) + (layout.num_chunks * (4 * layout.lanes + 1) if layout.n else 0)
    return StreamInfo(
        layout.version,
        stream.KIND_NAMES[layout.kind],
        layout.fingerprint,
        layout.n,
        layout.lanes,
        layout.chunk_symbols,
        layout.num_chunks,
        size,
        framing,
    )
