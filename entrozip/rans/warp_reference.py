"""The CUDA kernels' algorithm in numpy: one chunk, its W lanes as vectors.

The plain reference beside rans_cuda.cu (gsplat's habit): the same steps in the
same order -- a ballot is a boolean vector over lanes, `__popc(mask & lower
lanes)` a cumulative sum -- over the same device tables (rans/cuda.py builds
both). Tests run it against the CPU coder on a machine without a GPU, so the
kernels' ordering of words, escapes and refills is checked before any GPU runs
them; on a GPU the kernels are checked against it and the CPU.
"""
from __future__ import annotations

import numpy as np

from .stream import get_varint, put_varint

L = 1 << 16


def _enc_step(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """enc_step of rans_core.hpp on uint64 vectors (states < 2^32)."""
    prod_hi = x * e["rcp_hi"] + ((x * e["rcp_lo"]) >> np.uint64(32))
    q = prod_hi >> e["rcp_shift"].astype(np.uint64)
    return (x + e["start"] + q * e["cmpl_freq"]) & np.uint64(0xFFFFFFFF)


def _lookup(tab, model_kind_indexed, sym, idx):
    """Per symbol: (enc entry index, escape raw or -1); ValueError for uncodable input."""
    if not model_kind_indexed:
        k = sym.astype(np.int64) - tab.offset
        enc = tab.enc_np
        if (k < 0).any() or (k >= len(enc)).any() or (enc["freq"][np.clip(k, 0, len(enc) - 1)] == 0).any():
            raise ValueError("symbol outside the alphabet")
        return k, np.full(len(sym), -1, np.int64)
    c = idx.astype(np.int64)
    mv = tab.maxv_np[c].astype(np.int64)
    k = sym.astype(np.int64) - tab.offsets_np[c]
    raw = np.where(k < 0, -2 * k - 1, np.where(k >= mv, 2 * (k - mv), -1))
    k = np.where(raw >= 0, mv, k)
    return tab.base_np[c] + k, raw


def encode_chunk(tab, indexed: bool, sym: np.ndarray, idx, W: int) -> bytes:
    """encode_chunks for one chunk: the bytes the kernel leaves in scratch."""
    count = len(sym)
    rows = -(-count // W)
    entry, raw = _lookup(tab, indexed, sym, idx)
    esc = bytearray()
    for r in raw[raw >= 0].tolist():  # pass 1: symbol order
        put_varint(esc, r)
    enc = tab.enc_np
    x = np.full(W, L, np.uint64)
    wenc = []
    for r in range(rows - 1, -1, -1):
        local = r * W + np.arange(W)
        valid = local < count
        e = enc[entry[np.minimum(local, count - 1)]]
        flush = valid & (x >= e["x_max"])
        for lane in range(W - 1, -1, -1):  # position = nw + flushing lanes above
            if flush[lane]:
                wenc.append(int(x[lane]) & 0xFFFF)
        x = np.where(flush, x >> np.uint64(16), x)
        x = np.where(valid, _enc_step(x, e), x)
    used = min(W, count)
    out = bytearray()
    put_varint(out, len(esc))
    out += esc
    out += x[:used].astype("<u4").tobytes()
    out += np.array(wenc[::-1], "<u2").tobytes()
    return bytes(out)


def decode_chunk(tab, indexed: bool, chunk: bytes, idx, count: int, W: int) -> np.ndarray:
    """decode_chunks for one chunk (ValueError where the kernel reports corruption)."""
    buf = memoryview(chunk)
    esc_len, p = get_varint(buf, 0, len(buf), 9, "escape length")
    esc, esc_end = p, p + esc_len
    p = esc_end
    used = min(W, count)
    x = np.zeros(W, np.uint64)
    x[:used] = np.frombuffer(bytes(buf[p:p + 4 * used]), "<u4")
    words = bytes(buf[p + 4 * used:])
    wpos = 0
    mask = (1 << tab.precision) - 1
    out = np.zeros(count, np.int64)
    for r in range(-(-count // W)):
        local = r * W + np.arange(W)
        valid = local < count
        slot = (x & np.uint64(mask)).astype(np.int64)
        k = np.zeros(W, np.int64)
        fr = np.ones(W, np.uint64)
        bias = np.zeros(W, np.uint64)
        is_esc = np.zeros(W, bool)
        for lane in np.nonzero(valid)[0].tolist():
            i = local[lane]
            if not indexed:
                v = int(tab.slot_fb_np[slot[lane]])
                fr[lane], bias[lane], k[lane] = (v & 0xFFFF) + 1, v >> 16, tab.slot_val_np[slot[lane]]
                continue
            c = int(idx[i])
            base = int(tab.base_np[c])
            j = int(tab.bucket_np[c, slot[lane] >> (tab.precision - tab.bucket_bits)])
            while tab.cdf_np[base + j + 1] <= slot[lane]:
                j += 1
            bias[lane] = slot[lane] - tab.cdf_np[base + j]
            fr[lane] = tab.cdf_np[base + j + 1] - tab.cdf_np[base + j]
            k[lane], is_esc[lane] = j, j == tab.maxv_np[c]
        x = np.where(valid, fr * (x >> np.uint64(tab.precision)) + bias, x)
        for lane in np.nonzero(valid & is_esc)[0].tolist():  # escapes in lane order
            raw, esc = get_varint(buf, esc, esc_end, 5, "escape")
            k[lane] = -((raw + 1) >> 1) if raw & 1 else k[lane] + (raw >> 1)
        for lane in np.nonzero(valid)[0].tolist():
            out[local[lane]] = k[lane] + (tab.offsets_np[int(idx[local[lane]])] if indexed else 0)
        need = valid & (x < L)
        offs = np.cumsum(need) - need  # popc of the lower lanes' mask
        for lane in np.nonzero(need)[0].tolist():
            pos = wpos + 2 * int(offs[lane])
            word = words[pos] | words[pos + 1] << 8 if pos + 2 <= len(words) else 0
            x[lane] = (int(x[lane]) << 16 | word) & 0xFFFFFFFF
        wpos += 2 * int(need.sum())
    if wpos != len(words) or esc != esc_end or (x[:used] != L).any():
        raise ValueError("corrupt chunk")
    return out
