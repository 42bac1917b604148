"""Writing official DFloat11 directories (dfloat11 0.5.x layout), fast.

The official encoder walks every exponent in a Python loop (~4 MB/s); here the
same loop runs in C++ (csrc/df11_huffman.cpp), and the gaps are packed with
numpy. The code book is the official one (dahuffman's Huffman code, lengths
limited to 32 bits the official way), so units come out byte-identical to the
official encoder's, which the tests check against a fixture it made.
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
from .official import CONFIG_KEY, copy_side_files
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


def encode_unit(exponents: np.ndarray, table, eof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(encoded bytes, packed gaps, output positions) of one unit's exponent bytes."""
    from .official import _df11

    if len(exponents) == 0:
        raise FormatError("a unit needs values")
    lens = np.zeros(256, np.uint8)
    vals = np.zeros(256, np.uint32)
    for key, (bits, val) in table.items():
        if isinstance(key, int):
            lens[key], vals[key] = bits, val
    eof_bits, eof_val = table[eof]
    try:
        encoded, gaps, positions = _df11.encode_exponents(
            np.ascontiguousarray(exponents, np.uint8), lens, vals, eof_bits, eof_val,
            8 * BYTES_PER_THREAD, 8 * BYTES_PER_THREAD * THREADS_PER_BLOCK)
    except ValueError as e:
        raise FormatError(str(e)) from None
    grid = -(-len(encoded) // (BYTES_PER_THREAD * THREADS_PER_BLOCK))
    gaps = np.concatenate([gaps, np.zeros(THREADS_PER_BLOCK * grid - len(gaps), np.uint8)])
    gap_bits = ((gaps[:, None] >> np.arange(4, -1, -1, dtype=np.uint8)) & 1).reshape(-1)  # 5 bits each, MSB first
    return encoded, np.packbits(gap_bits), positions


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
    counts = np.bincount(exps, minlength=256)
    present = np.flatnonzero(counts)
    codec, table = code_book(dict(zip(present.tolist(), counts[present].tolist())))
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
            copy_side_files(src, tmp)
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
