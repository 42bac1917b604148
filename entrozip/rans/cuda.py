"""The CUDA backend of the coder: CUDA tensors in, CUDA tensors out, the CPU's bytes.

    blob = rans.encode(sym_cuda, model)                 # uint8 CUDA tensor, one stream
    sym = rans.decode(blob, model)                      # int32 CUDA tensor
    blobs = rans.cuda.encode_batch([a, b, c], model)    # many small arrays, one launch
    outs = rans.cuda.decode_batch(blobs, model)

Layout (lanes, chunk size) is chosen from the same integer size estimate as the
CPU encoder (one pass of a kernel on the GPU), so both write the same bytes. An
encode waits twice (the estimate; the streams' lengths): the prefixes are made on
the host before the launch, the chunk index on the device by the kernel that places
the chunks, and no chunk byte leaves the GPU. A decode parses every stream's prefix
and chunk index from one small copy of the streams' starts.
A static table is built from a GPU histogram (`static_model_from_symbols`); its
integer quantiser (priority-queue exchanges, serial by nature) runs on the host,
the same function as the CPU's, so the table is the same.

Kernels: entrozip/cuda_ext/csrc/rans_cuda.cu (one warp per chunk).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from ..errors import FormatError
from . import stream
from .models import IndexedModel, StaticModel

_ENC = np.dtype([("x_max", "<u8"), ("rcp_lo", "<u4"), ("rcp_hi", "<u4"), ("rcp_shift", "<u4"), ("start", "<u4"),
                 ("freq", "<u4"), ("cmpl_freq", "<u4")], align=True)  # EncSymbol in rans_cuda.cu: 32 bytes
BUCKET_BITS = 8
_ERRORS = {-1: "a symbol outside the model's alphabet or of zero probability",
           -2: "an index outside the model's CDF rows", -3: "corrupt chunk"}


# The kernels' module and the device type its tensors live on: the CUDA build, or, when a
# test installs it with use_extension, the same kernels and host code compiled for a CPU
# (tests/cuda_emu: warps emulated with threads), which takes CPU tensors.
_EXTENSION = None
_EXTENSION_DEVICE = "cuda"


def use_extension(ext, device_type: str) -> None:
    """Route this module's kernel calls to `ext` (None: back to the CUDA build), whose
    tensors live on `device_type`: how tests run the kernels through the CPU warp emulator."""
    global _EXTENSION, _EXTENSION_DEVICE
    _EXTENSION, _EXTENSION_DEVICE = ext, ("cuda" if ext is None else device_type)


def _ext():
    if _EXTENSION is not None:
        return _EXTENSION
    from ..cuda_ext import load

    ext = load("rans")
    if ext.ENC_SYMBOL_BYTES != _ENC.itemsize:
        raise RuntimeError(f"EncSymbol is {ext.ENC_SYMBOL_BYTES} bytes in CUDA, {_ENC.itemsize} here")
    return ext


def enc_table(model) -> np.ndarray:
    """The CPU encoder's own EncSymbol entries (freq 0 marks an uncodable entry)."""
    return np.frombuffer(model._native.enc_table(), _ENC)


class _DeviceTables:
    """A model's tables on one device (built once per model and device)."""

    def __init__(self, model, device):
        t = lambda a, dt: torch.from_numpy(np.array(a)).to(device=device, dtype=dt)  # noqa: E731  (a writable copy)
        self.precision = model.precision
        if isinstance(model, StaticModel):
            freqs = model.freqs.astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(freqs)[:-1]])
            self.enc_np = enc_table(model)
            self.enc = t(self.enc_np.view(np.uint8), torch.uint8)
            slots = np.repeat(np.arange(len(freqs)), freqs)
            self.slot_fb_np = ((freqs[slots] - 1) | ((np.arange(len(slots)) - starts[slots]) << 16)).astype(np.uint32)
            self.slot_val_np = (slots + model.offset).astype(np.int32)
            self.slot_fb = t(self.slot_fb_np.view(np.int32), torch.int32)
            self.slot_val = t(self.slot_val_np, torch.int32)
            slot_sym, sym_fs = shared_tables(model)
            self.sym_fs = t(sym_fs.view(np.int32), torch.int32)
            self.slot_sym = t(np.zeros(0, np.uint8) if slot_sym is None else slot_sym, torch.uint8)
            entry = fused_table(model)
            self.slot_entry = t(np.zeros(0, np.int32) if entry is None else entry.view(np.int32), torch.int32)
            self.cost = t(model._native.cost_table().astype(np.int32), torch.int32)  # Q8 costs of a symbol: < 2^16
            self.offset = int(model.offset)
        else:
            lengths = model.cdf_lengths.astype(np.int64)
            rows = [model.cdfs[c, :lengths[c]].astype(np.int64) for c in range(model.num_cdfs)]
            base = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            cdf = np.concatenate(rows)
            self.enc_np = enc_table(model)  # aligned with cdf; a row's last entry only closes it
            self.enc = t(self.enc_np.view(np.uint8), torch.uint8)
            self.cdf_np, self.base_np = cdf, base
            self.offsets_np, self.maxv_np = model.offsets.astype(np.int64), lengths - 2
            self.cdf = t(cdf.astype(np.int32), torch.int32)
            self.base = t(base.astype(np.int32), torch.int32)
            self.offsets = t(model.offsets, torch.int32)
            self.maxv = t((lengths - 2).astype(np.int32), torch.int32)
            bb = min(BUCKET_BITS, model.precision)
            probes = np.arange(1 << bb, dtype=np.int64) << (model.precision - bb)
            bucket = np.stack([np.searchsorted(row[1:], probes, side="right") for row in rows])
            self.bucket_np = bucket
            self.bucket = t(bucket.astype(np.uint16).view(np.int16), torch.int16)
            self.bucket_bits = bb
            self.cost = t(model._native.cost_table().astype(np.int64), torch.int64)


def shared_tables(model: StaticModel) -> tuple[np.ndarray | None, np.ndarray]:
    """The shared-memory decoder's tables of a static model (StaticSharedDev in
    rans_cuda.cu): the symbol index of every slot (uint8, 2^precision; None for an
    alphabet over 256) and (freq - 1) | start << 16 per symbol (uint32; a zero-frequency
    entry is never looked up)."""
    freqs = model.freqs.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(freqs)[:-1]])
    fs = (((freqs - 1) & 0xFFFF) | ((starts & 0xFFFF) << 16)).astype(np.uint32)
    slots = np.repeat(np.arange(len(freqs)), freqs).astype(np.uint8) if len(freqs) <= 256 else None
    return slots, fs


def fused_table(model: StaticModel) -> np.ndarray | None:
    """One word per slot, (freq - 1) | (slot - start) << 12 | symbol << 24 (uint32,
    2^precision): StaticFusedSharedDev's table, for precision <= 12 and alphabets <= 256
    (None otherwise). A decoded row is then one shared-memory load."""
    if model.precision > 12 or model.alphabet_size > 256:
        return None
    freqs = model.freqs.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(freqs)[:-1]])
    sym = np.repeat(np.arange(len(freqs)), freqs)
    slot = np.arange(len(sym))
    return ((freqs[sym] - 1) | ((slot - starts[sym]) << 12) | (sym << 24)).astype(np.uint32)


# Streams decode with their tables in shared memory where the model and the device allow
# (rans_cuda.cu: StaticSharedDev for alphabets <= 256, IndexedSharedDev for CDF sets of up
# to ~227 KB); ENTROZIP_RANS_SHARED=0 keeps them in global memory (the same symbols either
# way: a switch for measuring).
SHARED_TABLES = os.environ.get("ENTROZIP_RANS_SHARED", "1") != "0"
# Static decoders read a byte per slot + a (freq, start) pair per symbol from shared memory;
# ENTROZIP_RANS_FUSED=1 gives models of precision <= 12 one word per slot instead (fused_table;
# the same symbols either way). The two-table form is the default since the H200 measured it
# faster once the per-symbol pairs came in (twelfth session: static precision 12, 582 vs
# 514 GB/s kernel; DF11 BF16 603 vs 560 GB/s through the API): 4 KB + 2 KB of shared
# memory instead of 16 KB leaves room for more resident blocks.
FUSED_TABLES = os.environ.get("ENTROZIP_RANS_FUSED", "0") == "1"


@contextlib.contextmanager
def decoder_tables(shared: bool | None = None, fused: bool | None = None):
    """Decode (and build CodedBlocks) with SHARED_TABLES / FUSED_TABLES set for a while (None:
    left as it is); the settings before come back after. For measuring and testing the forms."""
    global SHARED_TABLES, FUSED_TABLES
    before = SHARED_TABLES, FUSED_TABLES
    SHARED_TABLES = before[0] if shared is None else shared
    FUSED_TABLES = before[1] if fused is None else fused
    try:
        yield
    finally:
        SHARED_TABLES, FUSED_TABLES = before


def slot_entry(tab) -> torch.Tensor:
    """The fused table to hand a static decode (empty: the kernel uses the other tables)."""
    return tab.slot_entry if FUSED_TABLES else tab.slot_entry[:0]


def tables(model, device) -> _DeviceTables:
    cache = model.__dict__.setdefault("_cuda_tables", {})
    key = str(torch.device(device))
    if key not in cache:
        cache[key] = _DeviceTables(model, device)
    return cache[key]


def static_model_from_symbols(symbols: torch.Tensor, precision: int = 16) -> StaticModel:
    """StaticModel.from_symbols for a CUDA tensor: histogram on the GPU, quantiser on the host."""
    s = symbols.reshape(-1)
    lo, hi = int(s.min()), int(s.max())
    counts = torch.bincount((s - lo).long(), minlength=hi - lo + 1).cpu().numpy()
    return StaticModel(counts, precision=precision, offset=lo)


# ---------------------------------------------------------------- encode


def _estimate_stats(tab, model, sym: torch.Tensor, idx, stride: int) -> torch.Tensor:
    """(Q8 cost, least key, greatest key) of symbols 0, stride, ... as a device int64 [3]:
    the CPU encoder's size estimate, exactly (estimate_*_cost: one pass; keys as there)."""
    if idx is None:
        partial = _ext().estimate_static(sym, stride, tab.cost, tab.offset)
    else:
        partial = _ext().estimate_indexed(sym, idx, stride, tab.cost, tab.base, tab.offsets, tab.maxv)
    return torch.stack([partial[:, 0].sum(), partial[:, 1].min(), partial[:, 2].max()])


def _layouts(tab, model, arrays, idxs, lanes, chunk_size, layout) -> list[tuple[int, int]]:
    """Each array's (lanes, symbols per chunk): as given, or chosen from the size estimate
    as the CPU encoder chooses them (every array's estimate made, then one copy back)."""
    n = [a.numel() for a in arrays]
    need = [k for k in range(len(arrays)) if n[k] and (lanes is None or chunk_size is None)]
    cost = {}
    if need:
        strides = [stream.estimate_stride(n[k]) for k in need]
        stats = torch.stack([_estimate_stats(tab, model, arrays[k], idxs[k], st)
                             for k, st in zip(need, strides)]).tolist()
        if isinstance(model, IndexedModel):  # the keys are indexes, else symbol values
            limit, what = model.num_cdfs, f"indexes must lie in [0, {model.num_cdfs})"
        else:
            limit, what = tab.cost.numel(), "symbols include values outside the model's alphabet"
        for k, st, (total, lo, hi) in zip(need, strides, stats):
            if lo < 0 or hi >= limit:
                raise ValueError(what)
            cost[k] = total * st
    out = []
    for k in range(len(arrays)):
        if not n[k]:
            out.append((stream.LANES, stream.LANES))
            continue
        w = stream.auto_lanes(cost[k], layout) if lanes is None else lanes
        w = stream.check_lanes(w)
        cs = stream.auto_chunk_symbols(n[k], cost[k], w, layout) if chunk_size is None else chunk_size
        out.append((w, stream.check_chunk_symbols(cs, n[k], w)))
    return out


def _int32(x, name: str, device=None) -> torch.Tensor:
    """Flat contiguous int32 on `device` (numpy arrays and lists are moved there)."""
    x = torch.as_tensor(x, device=device) if device is not None else torch.as_tensor(x)
    if x.dtype not in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
        raise TypeError(f"{name} must hold integers, got {x.dtype}")
    x = x.reshape(-1)
    if x.dtype == torch.int64 and x.numel() and (x.min() < -(2 ** 31) or x.max() >= 2 ** 31):
        raise ValueError(f"{name} holds values outside int32")
    return x.to(torch.int32).contiguous()


def encode_batch(arrays, model, indexes=None, lanes=None, chunk_size=None, layout="compact") -> list[torch.Tensor]:
    """One stream per CUDA array (uint8 CUDA tensors), every chunk of every array in one launch
    (lanes, chunk_size, layout: as rans.encode)."""
    if not isinstance(model, (StaticModel, IndexedModel)):
        raise TypeError("model must be a StaticModel or an IndexedModel")
    indexed = isinstance(model, IndexedModel)
    if indexed != (indexes is not None):
        raise ValueError("an IndexedModel needs indexes (one per symbol); a StaticModel takes none")
    # byte symbols of a static model stay bytes (the kernel reads them as they are)
    arrays = [a.reshape(-1).contiguous() if not indexed and a.dtype == torch.uint8 else _int32(a, "symbols")
              for a in arrays]
    if len({a.dtype for a in arrays}) > 1:
        arrays = [_int32(a, "symbols") for a in arrays]
    if not arrays:
        return []
    device = arrays[0].device
    idxs = [_int32(i, "indexes", device) for i in indexes] if indexed else [None] * len(arrays)
    for a, i in zip(arrays, idxs):
        if i is not None and i.numel() != a.numel():
            raise ValueError(f"{a.numel()} symbols but {i.numel()} indexes")
    tab = tables(model, device)
    ext = _ext()
    plan = _EncodePlan(model, arrays, _layouts(tab, model, arrays, idxs, lanes, chunk_size, layout), indexed)
    if not plan.num_chunks:  # empty arrays only: their prefixes
        return [torch.from_numpy(np.frombuffer(p, np.uint8).copy()).to(device) for p in plan.prefixes]
    # One copy up (every table the launches need, made before the encode so that nothing
    # waits on it), the encode, the placing kernels queued behind it, one copy back.
    rows, place, last, header_before, byte_stream, byte_at, byte_val = plan.upload(device)
    S = len(arrays)
    sym = arrays[0] if len(arrays) == 1 else torch.cat(arrays)
    if indexed:
        idx = idxs[0] if len(idxs) == 1 else torch.cat(idxs)
        scratch, start, size, status = ext.encode_indexed(sym, rows, plan.scratch_bytes, tab.enc, tab.cdf, tab.base,
                                                          tab.offsets, tab.maxv, tab.bucket, idx, tab.precision,
                                                          tab.bucket_bits)
    else:
        scratch, start, size, status = ext.encode_static(sym, rows, plan.scratch_bytes, tab.enc, tab.offset,
                                                         tab.precision)
    ends = torch.cumsum(size, 0)  # payload bytes up to and including each chunk
    payload_end = torch.where(last >= 0, ends[last.clamp(min=0)], 0)  # each stream's
    stream_start = torch.cat([payload_end.new_zeros(1), payload_end[:-1]]) + header_before
    prefix_at = stream_start[byte_stream] + byte_at
    code = status[torch.argmax((status != 0).to(torch.int32))].to(torch.int64)  # the first bad chunk's
    back = torch.cat([stream_start, payload_end[-1:], code.reshape(1)]).tolist()  # the one wait of the encode
    if back[-1] != 0:
        raise ValueError(f"cannot encode: {_ERRORS.get(int(back[-1]), 'error')}")
    bounds = back[:S] + [back[S] + plan.header_total]
    out = torch.empty(bounds[-1], dtype=torch.uint8, device=device)
    out[prefix_at] = byte_val.to(torch.uint8)
    ext.gather(scratch, start, size, ends, place, out)
    return [out[bounds[k]:bounds[k + 1]] for k in range(S)]


class _EncodePlan:
    """Everything about a batch's streams that the chunk sizes do not decide, worked out on
    the host before the launch: each stream's prefix and chunk-index length, and per chunk
    (vectorised per array: a large array has thousands of chunks) its row (symbol begin,
    count, lanes, scratch slot, 0) and its place for gather_chunks (header bytes of the
    streams up to and including its own; its stream's first chunk; how far before that
    chunk's offset its index entry goes, 0 for a stream's last chunk, whose size is implied)."""

    def __init__(self, model, arrays, layouts, indexed: bool):
        per_symbol = 2 + (5 if indexed else 0)  # scratch: a word (+ room for escapes) a symbol
        rows, places, self.prefixes, header, last = [], [], [], [], []
        begin = chunks = header_total = 0
        for a, (w, cs) in zip(arrays, layouts):
            n = a.numel()
            nch = stream.num_chunks(n, cs)
            self.prefixes.append(stream.make_prefix(model.kind, model.fingerprint, n, w, cs))
            header.append(len(self.prefixes[-1]) + 4 * max(nch - 1, 0))
            header_total += header[-1]
            first = np.arange(0, n, cs, dtype=np.int64)
            cnt = np.minimum(cs, n - first)
            slot = 10 + per_symbol * (cnt + 1) + 4 * w + 8  # rans_kernels.cuh: slot_words_end + 8
            rows.append(np.stack([begin + first, cnt, np.full_like(cnt, w), slot, np.zeros_like(cnt)], 1))
            entry = 4 * (nch - 1 - np.arange(nch, dtype=np.int64))
            places.append(np.stack([np.full(nch, header_total), np.full(nch, chunks), entry], 1))
            begin, chunks = begin + n, chunks + nch
            last.append(chunks - 1)  # -1: no chunk up to this stream
        self.rows, self.places = np.concatenate(rows), np.concatenate(places)
        slot_end = np.cumsum(self.rows[:, 3])
        self.rows[:, 3] = slot_end - self.rows[:, 3]  # each chunk's scratch offset
        self.scratch_bytes = int(slot_end[-1]) if len(slot_end) else 0
        self.num_chunks = chunks
        self.header_total = header_total
        self.last = np.asarray(last, np.int64)
        self.header_before = np.concatenate([[0], np.cumsum(header)[:-1]]).astype(np.int64)
        self.prefix_bytes = np.frombuffer(b"".join(self.prefixes), np.uint8).astype(np.int64)
        self.byte_stream = np.repeat(np.arange(len(arrays)), [len(p) for p in self.prefixes])
        self.byte_at = np.concatenate([np.arange(len(p)) for p in self.prefixes])

    def upload(self, device):
        """rows [C, 5], places [C, 3], last, header_before [streams], byte_stream, byte_at,
        prefix_bytes [prefix bytes]: int64 views of one array copied to `device` at once."""
        C, S, P = self.num_chunks, len(self.last), len(self.prefix_bytes)
        dev = torch.from_numpy(np.concatenate([self.rows.reshape(-1), self.places.reshape(-1), self.last,
                                               self.header_before, self.byte_stream, self.byte_at,
                                               self.prefix_bytes]).astype(np.int64)).to(device)
        return (dev[:5 * C].view(C, 5), dev[5 * C:8 * C].view(C, 3), *dev[8 * C:].split([S, S, P, P, P]))


def encode(symbols: torch.Tensor, model, indexes=None, lanes=None, chunk_size=None, layout="compact") -> torch.Tensor:
    return encode_batch([symbols], model, None if indexes is None else [indexes], lanes, chunk_size, layout)[0]


# ---------------------------------------------------------------- decode


# A stream's first bytes copied to the host at once (>= 32: the longest prefix, 25 bytes, and
# what head_length reads): prefix + chunk index of up to 16k chunks.
HEAD_COPY_BYTES = 1 << 16


def _layouts_of(blobs, model, n_expected, max_symbols=None) -> list:
    """The checked layouts of device-resident streams, parsed from small copies of their
    starts: the first HEAD_COPY_BYTES of every stream in one copy (one wait for a whole
    batch), a stream whose prefix and chunk index are longer copied again in full.
    n_expected: per stream, the symbol count it must hold (indexes given) or None; it may
    then claim at most max_symbols, by default what the CPU decoder allows
    (stream.MAX_SYMBOLS_PER_BYTE a byte): a hostile count never sizes an allocation."""
    totals = [b.numel() for b in blobs]
    first = [min(t, HEAD_COPY_BYTES) for t in totals]
    heads = torch.cat([b[:k] for b, k in zip(blobs, first)]).cpu().numpy().tobytes() if blobs else b""
    out, at = [], 0
    for blob, total, k, n in zip(blobs, totals, first, n_expected):
        head = heads[at:at + k]
        at += k
        need = min(total, max(len(head), stream.head_length(head[:32])))
        if need > len(head):
            head = blob[:need].cpu().numpy().tobytes()
        layout = stream.parse(head, max_symbols=n if n is not None else max_symbols, total_len=total)
        out.append(stream.check_model(layout, model, n))
    return out


def _layout_of(blob: torch.Tensor, model, n_expected, max_symbols=None):
    """The checked layout of one device-resident stream (_layouts_of)."""
    return _layouts_of([blob.reshape(-1)], model, [n_expected], max_symbols)[0]


def chunk_rows(lay, byte0: int = 0, sym0: int = 0) -> np.ndarray:
    """int64 [C, 5]: (symbol begin, count, lanes, byte begin, byte end) of each chunk of a
    parsed stream that starts at byte `byte0` of the kernel's data and symbol `sym0` of
    its output (vectorised: a large stream has thousands of chunks)."""
    bounds = np.asarray(lay.bounds, np.int64)
    if (np.diff(bounds) < 0).any():
        raise FormatError("rANS stream: chunk lengths are not increasing")
    first = np.arange(lay.num_chunks, dtype=np.int64) * lay.chunk_symbols
    off = byte0 + lay.payload_offset
    return np.stack([sym0 + first, np.minimum(lay.chunk_symbols, lay.n - first),
                     np.full(lay.num_chunks, lay.lanes, np.int64), off + bounds[:-1], off + bounds[1:]], 1)


def check_status(status: torch.Tensor) -> None:
    """FormatError (or ValueError for a bad index) from the kernels' per-chunk codes."""
    status = status.cpu().numpy()
    if (status != 0).any():
        first = int(np.nonzero(status)[0][0])
        if int(status[first]) == -2:
            raise ValueError(f"rANS stream chunk {first}: {_ERRORS[-2]}")
        raise FormatError(f"rANS stream: chunk {first} is corrupt")


def decode_batch(blobs, model, indexes=None, dtype=torch.int32, max_symbols=None) -> list[torch.Tensor]:
    """The symbols of each stream (CUDA uint8 tensors), every chunk in one launch."""
    indexed = isinstance(model, IndexedModel)
    if indexed != (indexes is not None):
        raise ValueError("an IndexedModel needs indexes (one per symbol); a StaticModel takes none")
    if dtype not in (torch.int32, torch.uint8):
        raise ValueError("dtype must be torch.int32 or torch.uint8")
    if dtype == torch.uint8 and (indexed or model.offset < 0 or model.offset + model.alphabet_size > 256):
        raise ValueError("dtype=uint8 needs a StaticModel whose values lie in [0, 255]")
    if not blobs:
        return []
    device = blobs[0].device
    idxs = [_int32(i, "indexes", device) for i in indexes] if indexed else [None] * len(blobs)
    for blob in blobs:
        if blob.dtype != torch.uint8 or blob.device.type != _EXTENSION_DEVICE:
            raise TypeError(f"streams must be uint8 {_EXTENSION_DEVICE.upper()} tensors")
    layouts = _layouts_of([b.reshape(-1) for b in blobs], model, [None if i is None else i.numel() for i in idxs],
                          max_symbols)
    rows, spans, byte0, sym0 = [], [], 0, 0
    for blob, lay in zip(blobs, layouts):
        rows.append(chunk_rows(lay, byte0, sym0))
        spans.append((sym0, sym0 + lay.n))
        byte0 += blob.numel()
        sym0 += lay.n
    data = blobs[0].reshape(-1) if len(blobs) == 1 else torch.cat([b.reshape(-1) for b in blobs])
    chunks = torch.from_numpy(np.concatenate(rows)).to(device)
    tab = tables(model, device)
    ext = _ext()
    if indexed:
        res = ext.decode_indexed(data, chunks, sym0, tab.enc, tab.cdf, tab.base, tab.offsets, tab.maxv, tab.bucket,
                                 idxs[0] if len(idxs) == 1 else torch.cat(idxs), tab.precision, tab.bucket_bits,
                                 SHARED_TABLES)
    else:
        res = ext.decode_static(data, chunks, sym0, tab.enc, tab.slot_fb, tab.slot_val, tab.slot_sym, tab.sym_fs,
                                slot_entry(tab), tab.offset, tab.precision, dtype == torch.uint8, SHARED_TABLES)
    out, status = res
    check_status(status)
    return [out[a:b] for a, b in spans]


def decode(blob: torch.Tensor, model, indexes=None, dtype=torch.int32, max_symbols=None) -> torch.Tensor:
    return decode_batch([blob], model, None if indexes is None else [indexes], dtype, max_symbols)[0]
