"""Writing official DFloat11 directories (dfloat11 0.5.x layout), vectorised.

The official encoder walks every exponent in a Python loop (~4 MB/s). Here the
same stream is built with numpy: code lengths and values are gathered per value,
bit offsets come from a cumulative sum, codes are OR-ed into 64-bit big-endian
words group by group, and the GPU index (a 5-bit gap per 8-byte thread window, an
output position per 512-thread block) falls out of searchsorted on the offsets.
The code book is the official one (dahuffman's Huffman code, lengths limited to
32 bits the official way), so units come out byte-identical to the official
encoder's, which the tests check.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...errors import FormatError
from . import floats
from .official import CONFIG_KEY
from .safetensors_io import SafetensorsFile, SafetensorsWriter

VERSION = "0.5.0"
BYTES_PER_THREAD = 8
THREADS_PER_BLOCK = 512
MAX_CODE_BITS = 32
FIRST_POINTER = 240  # LUT entries >= 240 point to sub-tables, so exponents must stay below

LLAMA_LIKE = {
    r"model\.embed_tokens": [],
    r"model\.layers\.\d+": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"],
    r"lm_head": [],
}
DEFAULT_PATTERNS = {t: LLAMA_LIKE for t in ("llama", "mistral", "qwen2", "qwen3")}


def code_book(counts: dict[int, int]):
    """(codec, {symbol: (bits, value)}) with codes of at most 32 bits: while the
    Huffman code is longer, the k rarest symbols get count 1, k = 2, 3, ..."""
    try:
        from dahuffman import HuffmanCodec
    except ImportError:
        raise ImportError("writing official DFloat11 files needs dahuffman (pip install dahuffman)") from None

    def table_of(c):
        codec = HuffmanCodec.from_frequencies(c)
        return codec, codec.get_code_table()

    codec, table = table_of(counts)
    freq = np.array(list(counts.values()))
    keys = np.array(list(counts.keys()))
    k = 2
    while max(bits for bits, _ in table.values()) > MAX_CODE_BITS:
        limited = dict(counts)
        for key in keys[np.argpartition(freq, k)[:k]]:
            limited[key] = 1
        codec, table = table_of(limited)
        k += 1
    return codec, table


def luts_of(table) -> np.ndarray:
    """The hierarchical look-up tables (rows of 256) plus the code-length row."""
    codes = [(key, bits, format(val, "b").rjust(bits, "0")) for key, (bits, val) in table.items() if isinstance(key, int)]
    prefixes = [""]
    for _, bits, code in codes:
        p = code[: (bits - 1) // 8 * 8]
        if p not in prefixes:
            prefixes.append(p)
    prefixes.sort(key=len)
    luts = np.zeros((len(prefixes) + 1, 256), np.uint8)
    current = None  # carried from row to row, as the official builder does (unreachable entries)
    for row, p in enumerate(prefixes):
        entries = {}
        for key, bits, code in codes:
            if not code.startswith(p):
                continue
            level = len(p) // 8
            if (bits - 1) // 8 == level:
                entries[int(code[len(p) :].ljust(8, "0"), 2)] = key
            else:
                nxt = code[: len(p) + 8]
                if nxt not in prefixes:
                    raise FormatError("this code book cannot be written as official DFloat11 look-up tables")
                entries[int(code[len(p) : len(p) + 8], 2)] = 256 - prefixes.index(nxt)
        if current is None and 0 not in entries:
            raise FormatError("this code book cannot be written as official DFloat11 look-up tables")
        for byte in range(256):
            current = entries.get(byte, current)
            luts[row, byte] = current
    for key, bits, _ in codes:
        luts[-1, key] = bits
    return luts


def _or_codes(words: np.ndarray, starts: np.ndarray, L: np.ndarray, V: np.ndarray) -> None:
    """OR codes (value V, L <= 32 bits, at bit offsets `starts`, MSB first) into
    big-endian 64-bit `words`; a code spans at most two words."""
    word = starts // 64
    room = 64 - starts % 64
    fits = L <= room
    hi = np.where(fits, V << np.where(fits, room - L, 0).astype(np.uint64),
                  V >> np.where(fits, 0, L - room).astype(np.uint64))
    spill = np.where(fits, 0, L - room)
    lo = np.where(spill > 0, V << (64 - np.maximum(spill, 1)).astype(np.uint64), np.uint64(0))
    first = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
    words[word[first]] |= np.bitwise_or.reduceat(hi, first)
    words[word[first] + 1] |= np.bitwise_or.reduceat(lo, first)


def encode_unit(exponents: np.ndarray, table, eof, slice_values: int = 1 << 22):
    """(encoded bytes, packed gaps, output positions) of one unit's exponent bytes,
    in slices so memory stays a few times the slice, not the unit."""
    n = len(exponents)
    lens = np.zeros(256, np.int64)
    vals = np.zeros(256, np.uint64)
    for key, (bits, val) in table.items():
        if isinstance(key, int):
            lens[key], vals[key] = bits, val
    counts = np.bincount(exponents, minlength=256)
    if n == 0 or (lens[counts > 0] == 0).any():
        raise FormatError("a unit needs values, all of them in its code book")
    total = int(counts @ lens)
    eof_bits, eof_val = table[eof]
    words = np.zeros((total + eof_bits) // 64 + 2, np.uint64)
    window_bits, block_bits = 8 * BYTES_PER_THREAD, 8 * BYTES_PER_THREAD * THREADS_PER_BLOCK
    gaps, positions = [], []
    offset, last_start = 0, -1
    for a in range(0, n, slice_values):
        e = exponents[a : a + slice_values]
        L, V = lens[e], vals[e]
        starts = np.empty(len(e), np.int64)
        starts[0] = offset
        np.cumsum(L[:-1], out=starts[1:])
        starts[1:] += offset
        _or_codes(words, starts, L, V)
        # GPU index: per 64-bit thread window the offset of its first code, per
        # 512-thread block the index of its first value (codes <= 32 bits skip no window)
        for unit_bits, out, value in ((window_bits, gaps, False), (block_bits, positions, True)):
            w = np.arange(last_start // unit_bits + 1, starts[-1] // unit_bits + 1)
            idx = np.searchsorted(starts, w * unit_bits)
            out.extend((a + idx).tolist() if value else (starts[idx] - w * unit_bits).tolist())
        last_start = int(starts[-1])
        offset = int(starts[-1] + L[-1])
    tail = total % 8  # bits of a partial byte: the official encoder then codes EOF and writes one byte
    if tail:
        _or_codes(words, np.array([total]), np.array([eof_bits]), np.array([eof_val], np.uint64))
        if total // window_bits + 1 > len(gaps):
            gaps.append(total % window_bits)
        if total // block_bits + 1 > len(positions):
            positions.append(n)
    positions.append(n)
    encoded = words.astype(">u8").view(np.uint8)[: total // 8 + (1 if tail else 0)].copy()
    grid = -(-len(encoded) // (BYTES_PER_THREAD * THREADS_PER_BLOCK))
    gaps += [0] * (THREADS_PER_BLOCK * grid - len(gaps))
    gap_bits = ((np.array(gaps, np.uint8)[:, None] >> np.arange(4, -1, -1, dtype=np.uint8)) & 1).reshape(-1)
    return encoded, np.packbits(gap_bits), np.array(positions, np.uint32)


def unit_buffers(weights: list[bytes]) -> dict[str, np.ndarray]:
    """The six official buffers of one unit from its weights' bf16 bytes."""
    exponents, sign_mantissa = [], []
    for w in weights:
        e, sm = floats.split("BF16", w)
        exponents.append(e)
        sign_mantissa.append(sm)
    exps = np.concatenate(exponents)
    if exps.size and exps.max() >= FIRST_POINTER:
        raise FormatError(f"exponent {int(exps.max())} >= {FIRST_POINTER} cannot be written in the official format")
    symbols, counts = np.unique(exps, return_counts=True)
    codec, table = code_book(dict(zip(symbols.tolist(), counts.tolist())))
    encoded, gaps, positions = encode_unit(exps, table, codec._eof)
    sizes = np.array([len(e) for e in exponents], np.int64)
    return {
        "luts": luts_of(table),
        "encoded_exponent": encoded,
        "sign_mantissa": np.concatenate(sign_mantissa),
        "output_positions": positions.view(np.uint8),
        "gaps": gaps,
        "split_positions": np.cumsum(sizes)[:-1],
    }


def compress(src, dst, pattern_dict=None, progress: bool = True, overwrite: bool = False) -> dict:
    """A bf16 model directory -> an official DFloat11 directory (single model.safetensors).

    pattern_dict: {module-name regex: [attribute paths]} as the official tools take
    it; by default the Llama-family layout when config.json names such a model."""
    from .dfloat11 import _finish, _partial_dir

    src, dst = Path(src), Path(dst)
    cfg_path = src / "config.json"
    config = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    if pattern_dict is None:
        pattern_dict = DEFAULT_PATTERNS.get(config.get("model_type"))
        if pattern_dict is None:
            raise ValueError(f"no default pattern_dict for model type {config.get('model_type')!r}: pass one")
    files = sorted(src.rglob("*.safetensors"))
    opened = [SafetensorsFile(p) for p in files]
    try:
        where = {t.name: (f, t) for f in opened for t in f.tensors}
        modules = sorted({n.rsplit(".", i)[0] for n in where for i in range(1, n.count(".") + 1)})
        units = {}
        for pattern, attrs in pattern_dict.items():
            for m in modules:
                if re.fullmatch(pattern, m):
                    names = [f"{m}.{a}.weight" for a in attrs] or [f"{m}.weight"]
                    if all(n in where and where[n][1].dtype == "BF16" for n in names):
                        units[m] = names
        taken = {n for names in units.values() for n in names}
        tmp = _partial_dir(dst, overwrite)
        try:
            out = {}
            for unit, names in tqdm(units.items(), desc="official DF11", disable=not progress):
                for part, arr in unit_buffers([where[n][0].view(where[n][1]) for n in names]).items():
                    out[f"{unit}.{part}"] = arr
            dtypes = {np.uint8: "U8", np.uint32: "U32", np.int64: "I64"}
            entries = [(k, dtypes[v.dtype.type], v.shape) for k, v in out.items()]
            entries += [(n, t.dtype, t.shape) for n, (f, t) in where.items() if n not in taken]
            writer = SafetensorsWriter(tmp / "model.safetensors", entries, {"format": "pt"})
            try:
                for k, v in out.items():
                    writer.write(np.ascontiguousarray(v))
                for n, (f, t) in where.items():
                    if n not in taken:
                        writer.write(f.view(t))
                writer.close()
            except BaseException:
                writer.abort()
                raise
            for p in sorted(src.rglob("*")):
                rel = p.relative_to(src)
                if p.is_file() and p.suffix != ".safetensors" and not rel.name.endswith(".safetensors.index.json") \
                        and rel.as_posix() != "config.json":
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(p, tmp / rel)
            config[CONFIG_KEY] = {"version": VERSION, "threads_per_block": [THREADS_PER_BLOCK],
                                  "bytes_per_thread": BYTES_PER_THREAD, "pattern_dict": pattern_dict}
            (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            _finish(tmp, dst)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        for f in opened:
            f.close()
    return {"units": len(units), "compressed_weights": len(taken)}
