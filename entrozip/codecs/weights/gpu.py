"""DFloat11-style tensors decoded on the GPU: one fused kernel per tensor.

    out = decode_tensor_cuda("BF16", numel, model, stream, raw)   # CUDA uint8 bytes
    weight = out.view(torch.bfloat16)

The rANS stream of symbol bytes (exponents) is decoded by the CUDA coder's
warp-per-chunk kernel, which merges each symbol with its raw bits (sign and
mantissa) as it goes and writes the finished little-endian value: the symbols
never touch memory. Same bytes as decode_tensor on the CPU (floats.py layouts).
"""
from __future__ import annotations

import torch

from ...errors import FormatError
from ...rans import cuda as rcuda
from . import floats

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
    lay = rcuda._layout_of(stream, model, None)
    if lay.n != numel or raw.numel() != numel * floats.RAW_BYTES[code]:
        raise FormatError(f"coded tensor does not hold {numel} values")
    size = numel * floats.WORD_BYTES[code]
    if out is None:
        out = torch.empty(size, dtype=torch.uint8, device=stream.device)
    elif out.dtype != torch.uint8 or out.numel() != size or not out.is_cuda:
        raise ValueError("out must be a CUDA uint8 tensor of the tensor's size")
    tab = rcuda.tables(model, stream.device)
    chunks = torch.from_numpy(rcuda.chunk_rows(lay)).to(stream.device)
    raw_arg = raw if raw.numel() else torch.zeros(1, dtype=torch.uint8, device=stream.device)
    status = rcuda._ext().decode_float(stream, chunks, tab.enc, tab.slot_fb, tab.slot_val, tab.slot_sym, tab.sym_fs,
                                       tab.offset, tab.precision, code, raw_arg, out, rcuda.SHARED_TABLES)
    rcuda.check_status(status)
    return out


class DeviceCodedTensor:
    """One coded tensor kept for repeated GPU decoding (the keep_compressed loader).

    Parsed and checked once on the host; its chunk table lives on the device, its
    stream and raw bytes on the device or, with pinned=True, in pinned host memory
    (copied in just before each decode). decode_into launches one fused kernel and
    returns its per-chunk status without waiting (check with rans.cuda.check_status).
    """

    def __init__(self, dtype: str, shape, model, stream: bytes, raw: bytes, device, pinned: bool = False):
        from ... import rans

        if dtype not in floats.LAYOUTS:
            raise FormatError(f"dtype {dtype} is not a coded float type")
        self.dtype, self.shape, self.model = dtype, tuple(shape), model
        self.numel = 1
        for d in self.shape:
            self.numel *= int(d)
        self.code = floats.LAYOUTS[dtype]
        lay = rans.check_stream(stream, model, max_symbols=self.numel)
        if lay.n != self.numel or len(raw) != self.numel * floats.RAW_BYTES[self.code]:
            raise FormatError(f"coded tensor does not hold {self.numel} values")
        self.nbytes = self.numel * floats.WORD_BYTES[self.code]
        self.device = torch.device(device)
        self.chunks = torch.from_numpy(rcuda.chunk_rows(lay)).to(self.device)
        self.tables = rcuda.tables(model, self.device)
        host = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8) if len(b) else torch.zeros(1, dtype=torch.uint8)  # noqa: E731
        self.stream, self.raw = host(stream), host(raw)
        self.pinned = pinned
        if pinned:
            self.stream, self.raw = self.stream.pin_memory(), self.raw.pin_memory()
        else:
            self.stream, self.raw = self.stream.to(self.device), self.raw.to(self.device)

    @property
    def compressed_bytes(self) -> int:
        return self.stream.numel() + self.raw.numel()

    def decode_into(self, out: torch.Tensor, staging: torch.Tensor | None = None) -> torch.Tensor:
        """Decode into `out` (device uint8, nbytes); a pinned tensor first goes through
        `staging` (device uint8, >= compressed_bytes). Returns the status tensor."""
        stream, raw = self.stream, self.raw
        if self.pinned:
            ns = stream.numel()
            stream = staging[:ns].copy_(self.stream, non_blocking=True)
            raw = staging[ns:ns + self.raw.numel()].copy_(self.raw, non_blocking=True)
        t = self.tables
        return rcuda._ext().decode_float(stream, self.chunks, t.enc, t.slot_fb, t.slot_val, t.slot_sym, t.sym_fs,
                                         t.offset, t.precision, self.code, raw, out, rcuda.SHARED_TABLES)


def as_tensor(data: torch.Tensor, dtype: str, shape) -> torch.Tensor:
    """Decoded bytes viewed as the tensor they are."""
    return data.view(TORCH_DTYPES[dtype]).reshape(shape)
