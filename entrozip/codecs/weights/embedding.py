"""An embedding table that stays compressed: each lookup decodes only the rows it reads.

A vocabulary embedding is among the largest weights of a language model, and a forward
pass reads a handful of its rows (one per new token when generating). Kept compressed
(`from_pretrained(..., keep_compressed=True)`), it decodes just the rANS chunks that
hold the requested rows -- chunks are independent, so any subset decodes alone
(rans.stream.sub_layout on the CPU, a chunk-subset plan on the GPU) -- into the
loader's shared scratch buffer, in windows that fit it, and copies the rows out. The
result is the uncompressed lookup bit for bit (a lookup is a copy).

    emb = CompressedEmbedding(coded, scratch, embedding_module)   # replaces the nn.Embedding
    emb(input_ids)                                                 # ids ... -> ... x dim
"""
from __future__ import annotations

import numpy as np
import torch

from ...errors import FormatError
from . import floats
from .gpu import TORCH_DTYPES, DeviceLaunch, DeviceTables, as_tensor
from .plan import PackedTables, Part, plan_launch


def row_windows(rows: np.ndarray, dim: int, chunk_symbols: int, n: int, capacity: int):
    """Group sorted distinct `rows` of a dim-wide row-major table coded in chunks of
    `chunk_symbols` (n values in all) into windows whose chunks decode into `capacity`
    values. Yields (chunk ids, row slice, value position of each row of the slice in the
    window's decoded output, chosen chunks back to back)."""
    cs = chunk_symbols
    first = rows * dim // cs
    last = ((rows + 1) * dim - 1) // cs
    start, at, pos, used = 0, {}, [], 0  # window state: chunk -> its first value in the window, rows, values
    for i in range(len(rows)):
        add = [j for j in range(int(first[i]), int(last[i]) + 1) if j not in at]  # rows are sorted: new chunks follow
        need = sum(min(cs, n - j * cs) for j in add)
        if at and used + need > capacity:  # flush: this row starts a new window
            yield np.array(list(at), np.int64), slice(start, i), np.array(pos, np.int64)
            start, at, pos, used = i, {}, [], 0
            add = list(range(int(first[i]), int(last[i]) + 1))
            need = sum(min(cs, n - j * cs) for j in add)
        if need > capacity and not at:
            raise ValueError("the scratch buffer cannot hold the chunks of one row")
        for j in add:  # chunks go back to back in the order chosen; earlier ones do not move
            at[j] = used
            used += min(cs, n - j * cs)
        pos.append(at[int(first[i])] + int(rows[i]) * dim - int(first[i]) * cs)
    if at:
        yield np.array(list(at), np.int64), slice(start, len(rows)), np.array(pos, np.int64)


class CompressedEmbedding(torch.nn.Module):
    """An nn.Embedding's lookups from its coded table (inference only).

    coded: (dtype, shape, model, stream, raw) of the weight; scratch: the loader's shared
    buffer (a numpy uint8 array on the CPU, a CUDA uint8 tensor on the GPU), reused by
    every block; like: the nn.Embedding this replaces (its sizes and padding_idx). On a
    GPU the compressed table waits in device memory, or with pinned=True (the loader's
    compressed_in="pinned") in host memory, from which each lookup sends only the chunks
    it decodes. `weight` decodes the whole table (for code that reads it; lookups never do)."""

    def __init__(self, coded, scratch, like: torch.nn.Embedding, threads=None, pinned: bool = False):
        super().__init__()
        from ... import rans

        dtype, shape, model, stream, raw = coded
        if dtype not in floats.LAYOUTS or len(shape) != 2:
            raise FormatError(f"an embedding needs a 2-D coded float table, not {dtype} {tuple(shape)}")
        self.num_embeddings, self.embedding_dim = int(shape[0]), int(shape[1])
        self.padding_idx = like.padding_idx
        self.dtype_name, self.model, self.threads = dtype, model, threads
        self.code = floats.LAYOUTS[dtype]
        numel = self.num_embeddings * self.embedding_dim
        self.layout = rans.check_stream(stream, model, max_symbols=numel)
        if self.layout.n != numel or len(raw) != numel * floats.RAW_BYTES[self.code]:
            raise FormatError(f"coded embedding does not hold {numel} values")
        self.stream, self.raw = bytes(stream), bytes(raw)
        self.scratch = scratch
        self.pinned = pinned
        self.wb, self.rb = floats.WORD_BYTES[self.code], floats.RAW_BYTES[self.code]
        self.capacity = (scratch.numel() if isinstance(scratch, torch.Tensor) else len(scratch)) // self.wb
        self.on_gpu = isinstance(scratch, torch.Tensor) and scratch.is_cuda
        if self.on_gpu:
            self.packed = PackedTables([model])
            self.tables = DeviceTables(self.packed, scratch.device)
            if pinned:
                self.host = np.frombuffer(self.stream, np.uint8), np.frombuffer(self.raw, np.uint8)
            else:
                held = torch.frombuffer(bytearray(self.stream + self.raw) or bytearray(1), dtype=torch.uint8)
                self.held = held.to(scratch.device)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, {self.dtype_name}, compressed"

    @property
    def weight(self) -> torch.Tensor:
        ids = torch.arange(self.num_embeddings, device=self.scratch.device if self.on_gpu else "cpu")
        return self.forward(ids)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: any shape of int64 -> ids.shape + (dim,) in the table's dtype."""
        flat = ids.reshape(-1)
        uniq, inverse = torch.unique(flat, return_inverse=True)
        rows = uniq.cpu().numpy().astype(np.int64)
        if len(rows) and (rows[0] < 0 or rows[-1] >= self.num_embeddings):
            raise IndexError(f"an index is outside the embedding's {self.num_embeddings} rows")
        dev = self.scratch.device if self.on_gpu else torch.device("cpu")
        table = torch.empty((len(rows), self.embedding_dim), dtype=TORCH_DTYPES[self.dtype_name], device=dev)
        lay = self.layout
        for chunks, sl, pos in row_windows(rows, self.embedding_dim, lay.chunk_symbols, lay.n, self.capacity):
            window = self._decode_chunks(chunks)
            at = torch.from_numpy(pos).to(dev)[:, None] + torch.arange(self.embedding_dim, device=dev)
            table[sl] = window[at]
        return table[inverse].reshape(*ids.shape, self.embedding_dim)

    def verify(self) -> None:
        """Decode every chunk once, in scratch-sized windows, and check it (FormatError if
        one is corrupt). The loader calls this: the GPU lookups after it skip the check,
        which would wait for the GPU every call (the decoder is deterministic: bytes that
        decoded once decode again)."""
        from ...rans import cuda as rcuda

        lay = self.layout
        per = max(1, self.capacity // lay.chunk_symbols)
        for j in range(0, lay.num_chunks, per):
            self._decode_chunks(np.arange(j, min(j + per, lay.num_chunks), dtype=np.int64))
            if self.on_gpu:
                rcuda.check_status(self.last_status)

    @staticmethod
    def scratch_values(dim: int, chunk_symbols: int, n: int) -> int:
        """Scratch values enough for the chunks of any one row (of n values in all)."""
        return min(n, (dim // chunk_symbols + 2) * chunk_symbols)

    def _decode_chunks(self, chunks: np.ndarray) -> torch.Tensor:
        """The chosen chunks' values, back to back, as a flat tensor view of the scratch."""
        lay, cs = self.layout, self.layout.chunk_symbols
        if self.on_gpu:
            plan = plan_launch(self.dtype_name, [Part(self.model, lay, 0, 0, 0, chunks)], self.packed)
            if self.pinned:  # only the chosen chunks' bytes go in
                from .plan import compact_launch

                plan, data, raw = compact_launch(plan, *self.host, self.rb)
                buf = torch.from_numpy(np.concatenate([data, raw])).to(self.scratch.device)
                data, raw = buf[:len(data)], buf[len(data):]
            else:
                data, raw = self.held[:len(self.stream)], self.held[len(self.stream):]
            self.last_status = DeviceLaunch(plan, self.tables)(data, raw, self.scratch)
            # no wait: every chunk was checked when the model loaded (verify)
            return as_tensor(self.scratch[:plan.out_values * self.wb], self.dtype_name, (plan.out_values,))
        from ...rans import stream as rstream

        at = 0
        breaks = np.nonzero(np.diff(chunks) != 1)[0] + 1  # runs of consecutive chunks decode as one stream
        for run in np.split(chunks, breaks):
            sub = rstream.sub_layout(lay, int(run[0]), int(run[-1]) + 1)
            v0 = int(run[0]) * cs
            out = self.scratch[at * self.wb:(at + sub.n) * self.wb]
            floats.decode_merge(self.dtype_name, self.model, sub, memoryview(self.raw)[v0 * self.rb:(v0 + sub.n) * self.rb],
                                out, self.threads or 1)
            at += sub.n
        return as_tensor(torch.from_numpy(self.scratch[:at * self.wb]), self.dtype_name, (at,))
