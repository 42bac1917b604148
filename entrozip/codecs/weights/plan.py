"""One launch of the fused float decoder for many coded tensors, or for some chunks of one.

The GPU decodes DFloat11-style tensors a warp per rANS chunk (rans_cuda.cu,
`decode_float_plan`). A transformer block holds a dozen weights, each with its own
table; one launch per weight costs a launch and a status wait each, and a launch
lasts as long as its longest chunk whatever its size. A *plan* lists the chunks of
every part of a launch and groups them into thread blocks that never mix models, so
one launch decodes a whole block with each thread block's model tables in shared
memory. The same plan decodes a subset of a tensor's chunks (an embedding's rows).

    tables = PackedTables([model_a, model_b])          # each model's decoder tables, packed
    plan = plan_launch("BF16", [Part(model_a, layout_a, data_offset=0, out_value=0, raw_value=0),
                                Part(model_b, layout_b, ...)], tables)
    out, status = decode_plan_reference(plan, tables, data, raw)   # numpy: what the kernel computes

Positions are in values: a part's decoded values go to out[out_value ...] (its chosen
chunks back to back, in chunk order), its raw bits are read from raw[raw_value + i]
for value i of the tensor. Chunk rows: (out value, count, lanes, byte begin, byte end,
raw value), bytes into the launch's `data` (the parts' whole streams, prefix included).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError
from ...rans import stream as rstream
from ...rans.models import StaticModel
from . import floats

WARPS_PER_BLOCK = 8  # 256 threads share one copy of a model's ~68 KB of tables (3 blocks per SM)
SLOT_ALIGN = 16  # slot tables start on 16 bytes: the kernel copies them 16 bytes a load
OUT_ALIGN = 64  # each decoded weight of a block starts on a cache line of the shared scratch buffer


def aligned(nbytes: int) -> int:
    """nbytes rounded up to OUT_ALIGN: a weight's share of the block's scratch buffer."""
    return -(-nbytes // OUT_ALIGN) * OUT_ALIGN


@dataclass(frozen=True)
class Part:
    """One coded tensor's share of a launch (`chunks`: sorted chunk ids, None for all)."""
    model: StaticModel
    layout: rstream.StreamLayout
    data_offset: int
    out_value: int
    raw_value: int
    chunks: np.ndarray | None = None

    @property
    def chunk_ids(self) -> np.ndarray:
        return np.arange(self.layout.num_chunks, dtype=np.int64) if self.chunks is None else self.chunks


class PackedTables:
    """The shared-memory decoder tables of static models, packed for one launch.

    slot_all: every model's slot -> symbol byte table (2^precision bytes, 16-aligned);
    fs_all: every model's (freq - 1) | start << 16 words (alphabet rounded up to 4);
    entry_all: when every model has precision <= 12, their one-word-per-slot tables
    (rans.cuda.fused_table; 16-byte aligned), else None;
    params: int64 [T, 6] = (slot offset, fs offset, alphabet, precision, value offset,
    entry offset); shared_bytes / fused_shared_bytes: what a thread block needs for the
    largest model, with each kind of table."""

    def __init__(self, models):
        from ...rans.cuda import fused_table, shared_tables

        self.models, self._index = [], {}
        slots, fss, entries, params, s_off, f_off, e_off, shared = [], [], [], [], 0, 0, 0, 0
        for m in models:
            if id(m) in self._index:
                continue
            if not isinstance(m, StaticModel):
                raise TypeError("a float decode plan takes static models")
            slot, fs = shared_tables(m)
            if slot is None:
                raise FormatError(f"a float table of {m.alphabet_size} symbols (> 256) cannot be planned")
            alpha = -(-len(fs) // 4) * 4
            slot = np.concatenate([slot, np.zeros(-len(slot) % SLOT_ALIGN, np.uint8)])
            fs = np.concatenate([fs, np.zeros(alpha - len(fs), np.uint32)])
            entry = fused_table(m)
            self._index[id(m)] = len(self.models)
            self.models.append(m)
            params.append((s_off, f_off, alpha, m.precision, m.offset, e_off))
            slots.append(slot)
            fss.append(fs)
            entries.append(entry)
            s_off += len(slot)
            f_off += len(fs)
            e_off += -(-(1 << m.precision) // 4) * 4
            shared = max(shared, 8 * alpha + (1 << m.precision))  # StaticSharedDev::shared_bytes
        self.slot_all = np.concatenate(slots) if slots else np.zeros(SLOT_ALIGN, np.uint8)
        self.fs_all = np.concatenate(fss) if fss else np.zeros(4, np.uint32)
        self.params = np.array(params, np.int64).reshape(-1, 6)
        self.shared_bytes = shared
        self.entry_all, self.fused_shared_bytes = None, 0
        if entries and all(e is not None for e in entries):
            self.entry_all = np.concatenate([np.concatenate([e, np.zeros(-len(e) % 4, np.uint32)]) for e in entries])
            self.fused_shared_bytes = max(4 << m.precision for m in self.models)

    def index(self, model) -> int:
        try:
            return self._index[id(model)]
        except KeyError:
            raise ValueError("this model is not in the packed tables") from None


@dataclass(frozen=True)
class LaunchPlan:
    code: int  # floats.LAYOUTS
    chunks: np.ndarray  # int64 [C, 6]
    blocks: np.ndarray  # int32 [B, 3]: first chunk, end chunk, model
    out_values: int  # the output holds at least this many values
    warps_per_block: int
    raw_values: int = 0  # the raw bytes hold at least this many values
    data_bytes: int = 0  # the data holds at least this many bytes


def plan_launch(dtype: str, parts, tables: PackedTables, warps_per_block: int = WARPS_PER_BLOCK) -> LaunchPlan:
    """Chunk rows and thread blocks for decoding `parts` (all of float type `dtype`) in one launch."""
    from ...rans.cuda import chunk_rows

    if dtype not in floats.LAYOUTS:
        raise FormatError(f"dtype {dtype} is not a coded float type")
    rows, blocks, out_end, c0 = [], [], 0, 0
    for p in parts:
        ids = p.chunk_ids
        if len(ids) and (ids[0] < 0 or ids[-1] >= p.layout.num_chunks or (np.diff(ids) <= 0).any()):
            raise ValueError("a part's chunks must be sorted, distinct ids of its stream")
        r = chunk_rows(p.layout, p.data_offset, 0)[ids]
        counts = r[:, 1]
        r = np.concatenate([r, (p.raw_value + r[:, 0])[:, None]], 1)  # column 5: where its raw bits are
        r[:, 0] = p.out_value + np.cumsum(counts) - counts  # chosen chunks back to back
        rows.append(r)
        model = tables.index(p.model)
        for first in range(c0, c0 + len(r), warps_per_block):
            blocks.append((first, min(first + warps_per_block, c0 + len(r)), model))
        c0 += len(r)
        out_end = max(out_end, p.out_value + int(counts.sum()))
    chunks = np.concatenate(rows) if rows else np.zeros((0, 6), np.int64)
    raw_end = int((chunks[:, 5] + chunks[:, 1]).max()) if len(chunks) else 0
    data_end = int(chunks[:, 4].max()) if len(chunks) else 0
    return LaunchPlan(floats.LAYOUTS[dtype], chunks, np.array(blocks, np.int32).reshape(-1, 3), out_end,
                      warps_per_block, raw_end, data_end)


def decode_plan_reference(plan: LaunchPlan, tables: PackedTables, data, raw,
                          fused: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(output bytes, per-chunk status) of the plan, computed as the kernel does: each
    thread block's chunks with its model's packed tables (warp_reference.decode_chunk),
    the fused one-word-per-slot tables with fused=True. Status: 0, or -3 for a corrupt
    chunk. Slow: for tests."""
    from types import SimpleNamespace

    from ...rans.warp_reference import decode_chunk

    data, raw = np.frombuffer(data, np.uint8), np.frombuffer(raw, np.uint8)
    wb, rb = floats.WORD_BYTES[plan.code], floats.RAW_BYTES[plan.code]
    dtype = next(k for k, v in floats.LAYOUTS.items() if v == plan.code)
    out = np.zeros(plan.out_values * wb, np.uint8)
    status = np.zeros(len(plan.chunks), np.int32)
    for first, end, model in plan.blocks.tolist():
        s_off, f_off, _, precision, offset, e_off = tables.params[model].tolist()
        slot = np.arange(1 << precision)
        if fused:
            e = tables.entry_all[e_off + slot].astype(np.int64)
            freq_m1, bias, sym = e & 0xFFF, (e >> 12) & 0xFFF, e >> 24
        else:
            sym = tables.slot_all[s_off + slot].astype(np.int64)
            fs = tables.fs_all[f_off + sym].astype(np.int64)
            freq_m1, bias = fs & 0xFFFF, slot - (fs >> 16)
        tab = SimpleNamespace(precision=precision, slot_fb_np=freq_m1 | (bias << 16), slot_val_np=sym + offset)
        for c in range(first, end):
            begin, count, lanes, a, b, src = plan.chunks[c].tolist()
            try:
                symbols = decode_chunk(tab, False, data[a:b].tobytes(), None, count, lanes)
            except (ValueError, FormatError):
                status[c] = -3
                continue
            merged = floats.merge_reference(dtype, symbols.astype(np.uint8), raw[src * rb:(src + count) * rb])
            out[begin * wb:(begin + count) * wb] = np.frombuffer(merged, np.uint8)
    return out, status


def compact_launch(plan: LaunchPlan, data: np.ndarray, raw: np.ndarray, raw_bytes: int):
    """(plan, data, raw) holding only the plan's chunks: their stream bytes and raw bytes
    gathered on the host, the rows pointed at the copies (a chunk subset from pinned
    host memory sends only what it decodes)."""
    from dataclasses import replace

    c = plan.chunks.copy()
    lens, counts = c[:, 4] - c[:, 3], c[:, 1]
    parts = [data[a:b] for a, b in c[:, 3:5].tolist()]
    raws = [raw[s * raw_bytes:(s + n) * raw_bytes] for s, n in zip(c[:, 5].tolist(), counts.tolist())]
    c[:, 3] = np.cumsum(lens) - lens
    c[:, 4] = c[:, 3] + lens
    c[:, 5] = np.cumsum(counts) - counts
    join = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.uint8)  # noqa: E731
    return (replace(plan, chunks=c, raw_values=int(counts.sum()), data_bytes=int(lens.sum())), join(parts),
            join(raws))
