"""Reading and writing safetensors files without a framework, for streaming.

Format: u64 LE header length N, N bytes of JSON {name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data.
Reading memory-maps the file and hands out zero-copy views (bf16 has no numpy
dtype, and a model larger than RAM must not be loaded whole). Writing streams
tensors in order behind a header of fixed width that is rewritten in place at the
end, so nothing is held in memory and nothing is copied twice.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from math import prod

from ...errors import FormatError

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit
_NUMBER_WIDTH = 20  # digits reserved for each size/offset in a header written before its data


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # relative to the start of the data section
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    @property
    def numel(self) -> int:
        return prod(self.shape)


class SafetensorsFile:
    """A memory-mapped safetensors file. `tensors` keeps the file's data order."""

    def __init__(self, path):
        self.path = str(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise FormatError(f"{path}: not a safetensors file ({size} bytes)")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = memoryview(self._map)
        (n,) = struct.unpack_from("<Q", buf, 0)
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise FormatError(f"{path}: safetensors header length {n} is invalid for a {size}-byte file")
        self.header_bytes = bytes(buf[8 : 8 + n])
        try:
            header = json.loads(self.header_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FormatError(f"{path}: safetensors header is not JSON: {e}") from None
        if not isinstance(header, dict):
            raise FormatError(f"{path}: safetensors header is not a JSON object")
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise FormatError(f"{path}: safetensors __metadata__ must map strings to strings")
        self.metadata: dict[str, str] = meta
        self.data = buf[8 + n :]
        self._data_start = 8 + n
        tensors = []
        for name, t in header.items():
            try:
                dtype, shape, (begin, end) = t["dtype"], tuple(int(d) for d in t["shape"]), t["data_offsets"]
                begin, end = int(begin), int(end)
            except (KeyError, TypeError, ValueError):
                raise FormatError(f"{path}: tensor {name!r} has a malformed entry") from None
            if dtype not in DTYPE_BYTES:
                raise FormatError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
            if any(d < 0 for d in shape) or not 0 <= begin <= end <= len(self.data):
                raise FormatError(f"{path}: tensor {name!r} points outside the file (truncated?)")
            if end - begin != prod(shape) * DTYPE_BYTES[dtype]:
                raise FormatError(f"{path}: tensor {name!r}: {end - begin} bytes for shape {list(shape)} of {dtype}")
            tensors.append(TensorInfo(name, dtype, shape, begin, end))
        self.tensors = sorted(tensors, key=lambda t: (t.begin, t.end))
        self.by_name = {t.name: t for t in self.tensors}

    def view(self, t: TensorInfo) -> memoryview:
        """The tensor's raw little-endian bytes, without a copy."""
        return self.data[t.begin : t.end]

    def release(self, t: TensorInfo) -> None:
        """Drop the tensor's pages from memory (they are re-read if viewed again):
        streaming a large file then keeps only what is in use resident."""
        start = self._data_start + t.begin
        lo = start - start % mmap.PAGESIZE
        hi = self._data_start + t.end
        if hi > lo and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def close(self) -> None:
        self.data.release()
        try:
            self._map.close()
        except BufferError:  # a caller still holds a view; the map closes when it is dropped
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SafetensorsWriter:
    """Writes `entries` = [(name, dtype, shape or None)] in that order, streaming.

    Shapes left as None are 1-D byte tensors (dtype U8) whose length is known only
    when written. The header reserves a fixed width for every number and is
    rewritten with the real values by close(), at the same length.
    """

    def __init__(self, path, entries, metadata: dict[str, str]):
        self._f = open(path, "wb")
        self._entries = list(entries)
        self._meta = metadata
        self._sizes: list[int] = []
        header = self._header([0] * len(self._entries))
        self._f.write(struct.pack("<Q", len(header)) + header)

    def _header(self, sizes) -> bytes:
        def num(v):
            return f"{v:>{_NUMBER_WIDTH}}"

        parts, offset = [], 0
        if self._meta:
            parts.append('"__metadata__":' + json.dumps(self._meta, separators=(",", ":")))
        for (name, dtype, shape), size in zip(self._entries, sizes):
            dims = ",".join(num(d) for d in shape) if shape is not None else num(size)
            parts.append(f'{json.dumps(name)}:{{"dtype":"{dtype}","shape":[{dims}],'
                         f'"data_offsets":[{num(offset)},{num(offset + size)}]}}')
            offset += size
        text = ("{" + ",".join(parts) + "}").encode()
        return text + b" " * (-len(text) % 8)  # 8-byte aligned data, as safetensors recommends

    def write(self, data) -> None:
        name, dtype, shape = self._entries[len(self._sizes)]
        data = memoryview(data).cast("B")
        if shape is not None and len(data) != prod(shape) * DTYPE_BYTES[dtype]:
            raise ValueError(f"tensor {name!r}: {len(data)} bytes do not match shape {shape} of {dtype}")
        self._f.write(data)
        self._sizes.append(len(data))

    def close(self, metadata: dict[str, str] | None = None) -> None:
        """Rewrite the header with the real sizes (and, optionally, metadata whose
        serialised form has the same length as the one given at the start)."""
        if len(self._sizes) != len(self._entries):
            raise ValueError(f"{len(self._entries) - len(self._sizes)} tensors were not written")
        reserved = len(self._header(self._sizes))
        if metadata is not None:
            self._meta = metadata
        header = self._header(self._sizes)
        if len(header) != reserved:
            raise ValueError("final metadata must serialise to the length reserved for it")
        self._f.seek(8)
        self._f.write(header)
        self._f.close()

    def abort(self) -> None:
        """Close without finishing (the caller removes the file)."""
        self._f.close()
