"""DFloat11-style tensors decoded on the GPU: one fused kernel per tensor, or per block.

    out = decode_tensor_cuda("BF16", numel, model, stream, raw)   # CUDA uint8 bytes
    weight = out.view(torch.bfloat16)
    block = CodedBlock(items, "cuda")        # a transformer block's weights: one launch
    status = block.decode_into(scratch); weights = block.views(scratch)

The rANS stream of symbol bytes (exponents) is decoded by the CUDA coder's
warp-per-chunk kernel, which merges each symbol with its raw bits (sign and
mantissa) as it goes and writes the finished little-endian value: the symbols
never touch memory. Same bytes as decode_tensor on the CPU (floats.py layouts).
"""
from __future__ import annotations

import numpy as np
import torch

from ...errors import FormatError
from ...rans import cuda as rcuda
from . import floats
from .plan import LaunchPlan, PackedTables, Part, aligned, plan_launch

TORCH_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F8_E4M3": torch.float8_e4m3fn,
                "F8_E5M2": torch.float8_e5m2}


def decode_tensor_cuda(dtype: str, numel: int, model, stream: torch.Tensor, raw: torch.Tensor,
                       out: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor's bytes (CUDA uint8, WORD_BYTES per value) from its stream and raw bytes
    (both CUDA uint8), written into `out` when given (a reused scratch buffer)."""
    if dtype not in floats.LAYOUTS:
        raise FormatError(f"dtype {dtype} is not a coded float type")
    code = floats.LAYOUTS[dtype]
    stream, raw = stream.reshape(-1), raw.reshape(-1)
    lay = rcuda._layout_of(stream, model, None, max_symbols=numel)
    if lay.n != numel or raw.numel() != numel * floats.RAW_BYTES[code]:
        raise FormatError(f"coded tensor does not hold {numel} values")
    size = numel * floats.WORD_BYTES[code]
    if out is None:
        out = torch.empty(size, dtype=torch.uint8, device=stream.device)
    elif out.dtype != torch.uint8 or out.numel() != size or out.device != stream.device:
        raise ValueError("out must be a uint8 tensor of the tensor's size on the stream's device")
    tab = rcuda.tables(model, stream.device)
    chunks = torch.from_numpy(rcuda.chunk_rows(lay)).to(stream.device)
    raw_arg = raw if raw.numel() else torch.zeros(1, dtype=torch.uint8, device=stream.device)
    status = rcuda._ext().decode_float(stream, chunks, tab.enc, tab.slot_fb, tab.slot_val, tab.slot_sym, tab.sym_fs,
                                       rcuda.slot_entry(tab), tab.offset, tab.precision, code, raw_arg, out,
                                       rcuda.SHARED_TABLES)
    rcuda.check_status(status)
    return out


class DeviceTables:
    """PackedTables (codecs/weights/plan.py) uploaded to a device once."""

    def __init__(self, tables: PackedTables, device):
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        self.params, self.slot_all, self.fs_all = t(tables.params), t(tables.slot_all), t(tables.fs_all.view(np.int32))
        fused = tables.entry_all is not None and rcuda.FUSED_TABLES  # one word per slot (precision <= 12)
        self.entry_all = t(tables.entry_all.view(np.int32) if fused else np.zeros(0, np.int32))
        self.shared_bytes = tables.fused_shared_bytes if fused else tables.shared_bytes


class DeviceLaunch:
    """A LaunchPlan on the GPU: its chunk rows and thread blocks uploaded once; calling it
    launches the kernel and returns the per-chunk status tensor without waiting
    (rans.cuda.check_status reads it)."""

    def __init__(self, plan: LaunchPlan, tables: DeviceTables):
        device = tables.params.device
        self.plan, self.tables = plan, tables
        self.chunks = torch.from_numpy(plan.chunks).to(device)
        self.blocks = torch.from_numpy(plan.blocks).to(device)
        self.status = torch.empty(len(plan.chunks), dtype=torch.int32, device=device)  # every chunk writes its own

    def __call__(self, data: torch.Tensor, raw: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        p, t = self.plan, self.tables
        wb, rb = floats.WORD_BYTES[p.code], floats.RAW_BYTES[p.code]
        if data.numel() < p.data_bytes or raw.numel() < p.raw_values * rb or out.numel() < p.out_values * wb:
            raise ValueError("the data, raw or output buffer is smaller than the plan needs")
        if not raw.numel():
            raw = torch.zeros(1, dtype=torch.uint8, device=data.device)
        if len(p.chunks):
            rcuda._ext().decode_float_plan(data, self.chunks, self.blocks, t.params, t.slot_all, t.fs_all, t.entry_all,
                                           t.shared_bytes, p.warps_per_block, p.code, raw, out, self.status)
        return self.status


class CodedBlock:
    """The coded float weights of one transformer block, decoded by one launch per float
    type into one output buffer (the keep_compressed loader's unit).

    items: [(name, dtype, shape, model, stream, raw)]. Every stream is parsed and checked
    here, once. Host layout: streams back to back (`data`), raw bytes back to back, then
    each weight's output at a 64-byte aligned offset (plan.aligned: `offsets[name]`, `nbytes` in all).
    On a device the compressed bytes wait in device memory, or with pinned=True in pinned
    host memory and go in through a staging buffer (one copy per float type per decode)."""

    def __init__(self, items, device, pinned: bool = False):
        from ... import rans

        self.device, self.pinned = torch.device(device), pinned
        self.offsets, self.shapes, self.dtypes, groups = {}, {}, {}, {}
        offset = 0
        for name, dtype, shape, model, stream, raw in items:
            if dtype not in floats.LAYOUTS:
                raise FormatError(f"{name}: dtype {dtype} is not a coded float type")
            code = floats.LAYOUTS[dtype]
            numel = int(np.prod(shape, dtype=np.int64))
            lay = rans.check_stream(stream, model, max_symbols=numel)
            if lay.n != numel or len(raw) != numel * floats.RAW_BYTES[code]:
                raise FormatError(f"{name}: coded tensor does not hold {numel} values")
            self.offsets[name], self.shapes[name], self.dtypes[name] = offset, tuple(shape), dtype
            groups.setdefault(dtype, []).append((name, model, lay, stream, raw))
            offset += aligned(numel * floats.WORD_BYTES[code])
        self.nbytes = offset
        self.groups = []  # (launch, host bytes (data then raw), data length)
        for dtype, members in groups.items():
            wb = floats.WORD_BYTES[floats.LAYOUTS[dtype]]
            data_off, raw_off, parts, data, raws = 0, 0, [], [], []
            for name, model, lay, stream, raw in members:
                parts.append(Part(model, lay, data_off, self.offsets[name] // wb, raw_off))
                data.append(bytes(stream))
                raws.append(bytes(raw))
                data_off += len(stream)
                raw_off += lay.n
            tables = PackedTables([m[1] for m in members])
            launch = DeviceLaunch(plan_launch(dtype, parts, tables), DeviceTables(tables, self.device))
            host = torch.frombuffer(bytearray(b"".join(data + raws)) or bytearray(1), dtype=torch.uint8)
            held = host.pin_memory() if pinned else host.to(self.device)
            self.groups.append((launch, held, data_off))

    @property
    def compressed_bytes(self) -> int:
        return sum(h.numel() for _, h, _ in self.groups)

    def staging_bytes(self) -> int:
        """The staging buffer a pinned block needs (its largest float type's bytes)."""
        return max((h.numel() for _, h, _ in self.groups), default=0) if self.pinned else 0

    def decode_into(self, out: torch.Tensor, staging: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Launch the decode into `out` (device uint8, >= nbytes); returns the status tensors
        (one per float type) without waiting. Launches after one another on the current
        stream, so a staging buffer is reused safely."""
        if out.numel() < self.nbytes:
            raise ValueError("out is smaller than the block's decoded weights")
        statuses = []
        for launch, held, n_data in self.groups:
            buf = staging[:held.numel()].copy_(held, non_blocking=True) if self.pinned else held
            statuses.append(launch(buf[:n_data], buf[n_data:], out))
        return statuses

    def views(self, out: torch.Tensor) -> dict:
        """name -> the weight as a tensor view of `out` (valid once decoded)."""
        return {n: as_tensor(out[o:o + int(np.prod(self.shapes[n], dtype=np.int64)) *
                                 floats.WORD_BYTES[floats.LAYOUTS[self.dtypes[n]]]], self.dtypes[n], self.shapes[n])
                for n, o in self.offsets.items()}


def as_tensor(data: torch.Tensor, dtype: str, shape) -> torch.Tensor:
    """Decoded bytes viewed as the tensor they are."""
    return data.view(TORCH_DTYPES[dtype]).reshape(shape)
