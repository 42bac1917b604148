"""`bytes`: lossless order-0 coding of any file through the rANS coder.

The simplest real user of the coder and the container, and the generic
fallback of `entrozip compress`. The input is cut into blocks (4 MiB by
default) so memory stays bounded for files of any size; each block gets its
own optimal static table (one byte per symbol) and its own rANS stream:

    header   {"size": total bytes, "block_size": bytes per block, "blocks": count}
    sections "table/<i>" (StaticModel.to_bytes) and "data/<i>" (rANS stream), per block,
             or "raw/<i>" (the bytes themselves) where coding would not make the block smaller
"""
from __future__ import annotations

import os

import numpy as np
from tqdm.auto import tqdm

from .. import rans
from ..container import ContainerWriter, parse, read_file
from ..errors import FormatError
from . import register

DEFAULT_BLOCK = 4 << 20
MAX_BLOCK = 1 << 30


@register
class BytesCodec:
    codec_id = "bytes"

    def __init__(self, model=None, quality=None, device=None, block_size: int = DEFAULT_BLOCK, threads=None,
                 progress: bool = True):
        if model is not None or quality is not None:
            raise ValueError("the bytes codec is lossless and takes no model or quality")
        if device not in (None, "cpu"):
            raise ValueError("the bytes codec runs on the CPU")
        if not 1 <= int(block_size) <= MAX_BLOCK:
            raise ValueError(f"block_size must be in [1, {MAX_BLOCK}]")
        self.block_size = int(block_size)
        self.threads = threads
        self.progress = progress

    def info(self) -> dict:
        return {"codec": self.codec_id, "lossless": True, "block_size": self.block_size}

    # ---------------------------------------------------------------- coding

    def _write(self, writer: ContainerWriter, blocks) -> None:
        for i, block in enumerate(blocks):
            sym = np.frombuffer(block, np.uint8)
            model = rans.StaticModel.from_symbols(sym)
            table, data = model.to_bytes(), rans.encode(sym, model, threads=self.threads)
            if len(table) + len(data) < len(sym):
                writer.add(f"table/{i}", table)
                writer.add(f"data/{i}", data)
            else:  # incompressible at order 0 (already-compressed input): store it
                writer.add(f"raw/{i}", block)

    def _header(self, size: int) -> dict:
        return {"size": size, "block_size": self.block_size, "blocks": -(-size // self.block_size)}

    def compress(self, data) -> bytes:
        import io

        data = memoryview(data).cast("B")
        buf = io.BytesIO()
        w = ContainerWriter(buf, self.codec_id, self._header(len(data)))
        self._write(w, (data[i : i + self.block_size] for i in range(0, len(data), self.block_size)))
        w.close()
        return buf.getvalue()

    def _progress(self, total: int, desc: str):
        """A byte-count progress bar for inputs of more than one block."""
        return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False,
                    disable=not self.progress or total <= self.block_size)

    def compress_file(self, src, dst) -> None:
        size = os.path.getsize(src)

        def blocks(f, bar):
            while chunk := f.read(self.block_size):
                yield chunk
                bar.update(len(chunk))

        with open(src, "rb") as f, open(dst, "wb") as out, self._progress(size, "compress") as bar:
            w = ContainerWriter(out, self.codec_id, self._header(size))
            self._write(w, blocks(f, bar))
            w.close()

    def _blocks(self, container):
        h = container.header
        try:
            size, block, count = int(h["size"]), int(h["block_size"]), int(h["blocks"])
        except (KeyError, TypeError, ValueError):
            raise FormatError("bytes file header lacks size/block_size/blocks") from None
        if size < 0 or not 1 <= block <= MAX_BLOCK or count != -(-size // block):
            raise FormatError("bytes file header is inconsistent")
        for i in range(count):
            n = min(block, size - i * block)
            if f"raw/{i}" in container.sections:
                raw = container.sections[f"raw/{i}"]
                if len(raw) != n:
                    raise FormatError(f"bytes file block {i} holds {len(raw)} bytes, expected {n}")
                yield bytes(raw)
                continue
            model = rans.StaticModel.from_bytes(container.section(f"table/{i}"))
            out = rans.decode(container.section(f"data/{i}"), model, threads=self.threads, max_symbols=n)
            if len(out) != n or out.min(initial=0) < 0 or out.max(initial=0) > 255:
                raise FormatError(f"bytes file block {i} does not decode to {n} bytes")
            yield out.astype(np.uint8).tobytes()

    def decompress(self, blob) -> bytes:
        return b"".join(self._blocks(parse(blob)))

    def decompress_file(self, src, dst) -> None:
        container = read_file(src)
        size = container.header.get("size")  # only sizes the bar; _blocks validates the header
        with open(dst, "wb") as out, self._progress(size if isinstance(size, int) else 0, "decompress") as bar:
            for block in self._blocks(container):
                out.write(block)
                bar.update(len(block))
