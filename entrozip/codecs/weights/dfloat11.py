"""DFloat11-style lossless weights: model directory in, smaller model directory out.

Layout of a compressed directory (format "entrozip-df11", version 1; docs/FORMAT.md):

* every file that is not a safetensors file is copied as it is, except
  config.json, which gains an `entrozip_df11_config` entry describing what is
  compressed (the original text is kept in the manifest and restored on decompress);
* each `X.safetensors` becomes a `X.safetensors` (same relative path, so sharded
  index files stay valid) holding, per floating-point tensor NAME,
  `NAME/ez.sym` (the symbol bytes as a static rANS stream), `NAME/ez.raw` (the raw
  bits) and, when the tensor has its own table, `NAME/ez.table`; tensors that do
  not pay (other dtypes, fewer than 64 values) are stored under their own name.
  Tables are chosen per tensor: its own, or one shared by the file's tensors of
  the same dtype (`__entrozip__/table.DTYPE`), whichever codes smaller. The file's
  `__metadata__` keeps the source header byte for byte and a record per tensor
  (dtype, shape, table, SHA-256 of the original bytes);
* `entrozip_weights.json`, the manifest, is written last; the directory is built
  under a hidden `.NAME.partial` name and renamed when complete.

Decompressing rebuilds every safetensors file byte-identical to the source, and
checks every tensor's SHA-256 on the way.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ... import rans
from ...rans import stream as rans_stream
from ...errors import FormatError
from . import floats, official
from .safetensors_io import SafetensorsFile, SafetensorsWriter, TensorInfo

FORMAT = "entrozip-df11"
VERSION = 1
MANIFEST = "entrozip_weights.json"
CONFIG_KEY = "entrozip_df11_config"
SHARED_TABLE = "__entrozip__/table."
MIN_CODED_VALUES = 64
# 12-bit tables: on MiniLM-bf16 they code smaller than 16-bit ones (10.622 vs 10.623
# bits/weight: less rANS rounding loss outweighs coarser rare exponents) and decode
# 2x faster (a 4096-slot table stays in L1).
PRECISION = 12


# ------------------------------------------------------------------ helpers

def _table_for(hist: np.ndarray) -> rans.StaticModel:
    present = np.flatnonzero(hist)
    lo, hi = int(present[0]), int(present[-1])
    return rans.StaticModel(hist[lo : hi + 1], PRECISION, lo)


def _cost_q8(model: rans.StaticModel, hist: np.ndarray) -> int:
    """Coded size, in 1/256 bits, of symbol bytes with 256-bin histogram `hist` under
    `model` (which covers them): the coder's own integer estimate."""
    lo = model.offset
    return model.cost_q8_of_histogram(hist[lo : lo + model.alphabet_size])


def table_for(dtype: str, data) -> rans.StaticModel:
    """The best static table for one tensor's symbol bytes."""
    return _table_for(floats.histogram(dtype, data))


def encode_tensor(dtype: str, data, model: rans.StaticModel, threads=None, hist=None,
                  layout: str = "compact") -> tuple[bytes, np.ndarray]:
    """(rANS stream of the symbol bytes, raw bytes) of one tensor's little-endian data.
    `hist` (its symbol histogram, if known) spares the stream's size-estimate pass;
    `layout` is the stream's chunking policy (rans.encode: "gpu" decodes faster on a GPU)."""
    symbols, raw = floats.split(dtype, data, _n_threads(threads))
    chunking = {"layout": layout}
    if hist is not None:
        chunking = dict(zip(("lanes", "chunk_size"), rans.layout(len(symbols), _cost_q8(model, hist), layout)))
    return rans.encode(symbols, model, threads=threads, **chunking), raw


def decode_tensor(dtype: str, numel: int, model: rans.StaticModel, stream, raw, threads=None,
                  out: np.ndarray | None = None) -> np.ndarray:
    """The tensor's original bytes (uint8 array) from encode_tensor's output, written
    into `out` when given (a reused scratch buffer)."""
    if dtype not in floats.LAYOUTS:
        raise FormatError(f"dtype {dtype} is not a coded float type")
    code = floats.LAYOUTS[dtype]
    layout = rans.check_stream(stream, model, max_symbols=numel)
    if layout.n != numel or len(memoryview(raw).cast("B")) != numel * floats.RAW_BYTES[code]:
        raise FormatError(f"coded tensor does not hold {numel} values")
    if out is None:
        out = np.empty(numel * floats.WORD_BYTES[code], np.uint8)
    elif out.dtype != np.uint8 or out.nbytes != numel * floats.WORD_BYTES[code]:
        raise ValueError("out must be a uint8 array of the tensor's size")
    floats.decode_merge(dtype, model, layout, raw, out, _n_threads(threads))
    return out


def _n_threads(threads) -> int:
    return max(1, int(threads or os.cpu_count() or 1))


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _partial_dir(dst: Path, overwrite: bool) -> Path:
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists (pass overwrite=True / --force to replace it)")
    tmp = dst.with_name(f".{dst.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _finish(tmp: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def _files(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file())


@dataclass
class _Plan:
    info: TensorInfo
    hist: np.ndarray | None = None  # None: stored as is
    own: rans.StaticModel | None = None


@dataclass
class FileSummary:
    tensors: int = 0
    coded: int = 0
    original_bytes: int = 0
    compressed_bytes: int = 0
    by_dtype: dict = field(default_factory=dict)  # dtype -> [values, original bytes, compressed bytes]

    def add(self, dtype: str, values: int, original: int, compressed: int) -> None:
        row = self.by_dtype.setdefault(dtype, [0, 0, 0])
        row[0] += values
        row[1] += original
        row[2] += compressed
        self.original_bytes += original
        self.compressed_bytes += compressed


# ----------------------------------------------------------------- compress

def _in_order(pool, fn, items, window: int):
    """fn(item) for every item on `pool`, results yielded in order, at most `window`
    in flight (memory stays bounded by a few tensors)."""
    pending = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for fut in pending:
        yield fut.result()


def _compress_file(src: Path, dst: Path, threads: int, bar, layout: str = "compact") -> FileSummary:
    summary = FileSummary()
    with SafetensorsFile(src) as f:
        expected = 0
        for t in f.tensors:
            if t.begin != expected:
                raise FormatError(f"{src}: tensor data is not contiguous at {t.name!r}; cannot rebuild it exactly")
            expected = t.end
        if expected != len(f.data):
            raise FormatError(f"{src}: {len(f.data) - expected} bytes after the last tensor")
        # Pass 1: symbol histograms, then one table choice per tensor.
        plans, shared_hist = [], {}
        for t in f.tensors:
            plan = _Plan(t)
            if t.dtype in floats.LAYOUTS and t.numel >= MIN_CODED_VALUES:
                plan.hist = floats.histogram(t.dtype, f.view(t))
                shared_hist[t.dtype] = shared_hist.get(t.dtype, 0) + plan.hist
                f.release(t)  # resident memory stays bounded by the tensors in flight
            plans.append(plan)
        shared = {dt: _table_for(h) for dt, h in shared_hist.items()}
        for p in plans:
            if p.hist is not None:
                own = _table_for(p.hist)
                own_q8 = _cost_q8(own, p.hist) + 8 * 256 * len(own.to_bytes())
                if own_q8 < _cost_q8(shared[p.info.dtype], p.hist):
                    p.own = own
        used_shared = sorted({p.info.dtype for p in plans if p.hist is not None and p.own is None})
        entries = [(SHARED_TABLE + dt, "U8", None) for dt in used_shared]
        records = {}
        for p in plans:
            t = p.info
            rec = {"dtype": t.dtype, "shape": list(t.shape), "sha256": "0" * 64}  # hashed in pass 2
            if p.hist is None:
                rec["table"] = None
                entries.append((t.name, t.dtype, t.shape))
            else:
                rec["table"] = "own" if p.own is not None else "shared"
                if p.own is not None:
                    entries.append((t.name + "/ez.table", "U8", None))
                entries.append((t.name + "/ez.sym", "U8", None))
                entries.append((t.name + "/ez.raw", "U8", (t.numel * floats.RAW_BYTES[floats.LAYOUTS[t.dtype]],)))
            records[t.name] = rec

        def metadata():
            return {
                "format": FORMAT,
                "version": str(VERSION),
                "source_header": f.header_bytes.decode("utf-8"),
                "tensors": json.dumps(records, separators=(",", ":")),
            }

        def code(p: _Plan):
            """(sha256, parts to write) of one tensor; runs on the pool (GIL released inside)."""
            t = p.info
            view = f.view(t)
            digest = _sha256(view)
            if p.hist is None:
                return digest, [view]
            stream, raw = encode_tensor(t.dtype, view, p.own or shared[t.dtype], threads, p.hist, layout)
            return digest, ([p.own.to_bytes()] if p.own is not None else []) + [stream, raw]

        # Pass 2: hash, split and code on a pool; write in order as results come.
        writer = SafetensorsWriter(dst, entries, metadata())
        try:
            for dt in used_shared:
                writer.write(shared[dt].to_bytes())
            with ThreadPoolExecutor(threads) as pool:
                for p, (digest, parts) in zip(plans, _in_order(pool, code, plans, 2 * threads)):
                    t = p.info
                    records[t.name]["sha256"] = digest
                    for part in parts:
                        writer.write(part)
                    f.release(t)
                    summary.tensors += 1
                    summary.coded += p.hist is not None
                    summary.add(t.dtype, t.numel, t.nbytes, sum(len(memoryview(x).cast("B")) for x in parts))
                    bar.update(t.nbytes)
            writer.close(metadata())
        except BaseException:
            writer.abort()
            raise
    for dt in used_shared:  # shared tables count once per file, under their dtype
        summary.add(dt, 0, 0, len(shared[dt].to_bytes()))
    return summary


def compress_file(src, dst, threads=None) -> FileSummary:
    """Compress one safetensors file into one `entrozip-df11` file (a CompressedFile), as
    compress() does each file of a directory; used for files that ship alone, e.g. the
    package's own model weights. dst must not be src."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ValueError("compress_file writes a new file; dst must differ from src")
    with tqdm(disable=True) as bar:
        return _compress_file(src, dst, _n_threads(threads), bar)


def is_compressed_file(path) -> bool:
    """True when the safetensors file at `path` is an `entrozip-df11` file (format metadata)."""
    with SafetensorsFile(path) as f:
        return f.metadata.get("format") == FORMAT


def compress(src, dst, threads=None, progress: bool = True, overwrite: bool = False,
             layout: str = "compact") -> dict:
    """Compress the model directory `src` (safetensors, sharded or not) into `dst`.

    Streams tensor by tensor: memory stays bounded by the largest tensor, not the
    model. Returns the manifest (sizes per file and dtype).

    layout: the streams' chunking (rans.encode). "compact" spends ~0.2 % of the exponent
    stream on framing; "gpu" ~0.7 % for 3.3x the chunks; "latency" caps chunks at 512
    rows (+0.4 % of the whole file over compact, ~12x shorter chunks): a GPU launch
    lasts as long as its longest chunk, and keep_compressed inference decodes every
    weight per token. Any layout decodes everywhere."""
    rans_stream.check_layout(layout)
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a directory")
    if (src / MANIFEST).exists():
        raise ValueError(f"{src} is already an entrozip weights directory")
    files = _files(src)
    shards = [p for p in files if p.suffix == ".safetensors"]
    if not shards:
        raise ValueError(f"{src} holds no .safetensors file")
    workers = _n_threads(threads)
    tmp = _partial_dir(dst, overwrite)
    try:
        per_file = {}
        total = sum(p.stat().st_size for p in shards)
        with tqdm(total=total, unit="B", unit_scale=True, desc="compress", disable=not progress) as bar:
            for p in files:
                rel = p.relative_to(src)
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                if p.suffix == ".safetensors":
                    per_file[rel.as_posix()] = _compress_file(p, out, workers, bar, layout).__dict__
                elif rel.as_posix() != "config.json":
                    shutil.copy2(p, out)
        original = sum(s["original_bytes"] for s in per_file.values())
        compressed = sum(s["compressed_bytes"] for s in per_file.values())
        config_text = (src / "config.json").read_text() if (src / "config.json").is_file() else None
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "layout": layout,
            "files": per_file,
            "original_tensor_bytes": original,
            "compressed_tensor_bytes": compressed,
            "config_json": config_text,
        }
        if config_text is not None:
            config = json.loads(config_text)
            config[CONFIG_KEY] = {
                "format": FORMAT,
                "version": VERSION,
                "manifest": MANIFEST,
                "dtypes": sorted({dt for s in per_file.values() for dt in s["by_dtype"]}),
                "original_tensor_bytes": original,
                "compressed_tensor_bytes": compressed,
            }
            (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _finish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


# --------------------------------------------------------------- decompress

def read_manifest(path) -> dict:
    """The manifest of a compressed directory; FormatError if it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory")
    m = path / MANIFEST
    if not m.is_file():
        if official.is_official(path):
            raise FormatError(f"{path} is an official DFloat11 directory, not an entrozip one")
        raise FormatError(f"{path} is not an entrozip weights directory (no {MANIFEST})")
    try:
        manifest = json.loads(m.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{m}: not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise FormatError(f"{m} is not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise FormatError(f"{m}: format version {manifest.get('version')} is not supported (this entrozip reads {VERSION})")
    return manifest


class CompressedFile:
    """One compressed safetensors file: tensors decoded one at a time, checked."""

    def __init__(self, path):
        self.file = SafetensorsFile(path)
        meta = self.file.metadata
        if meta.get("format") != FORMAT or meta.get("version") != str(VERSION):
            raise FormatError(f"{path} is not an {FORMAT} v{VERSION} file")
        try:
            self.records = json.loads(meta["tensors"])
            self.source_header = meta["source_header"].encode("utf-8")
            source = json.loads(self.source_header)
        except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
            raise FormatError(f"{path}: metadata is damaged") from None
        source.pop("__metadata__", None)
        if not isinstance(source, dict) or set(source) != set(self.records):
            raise FormatError(f"{path}: the source header and the tensor records disagree")
        self.path = path
        # original tensors in their original data order
        self.order = sorted(source, key=lambda n: tuple(source[n]["data_offsets"]))
        self.source = source

    def _part(self, name: str) -> memoryview:
        t = self.file.by_name.get(name)
        if t is None:
            raise FormatError(f"{self.path}: missing tensor {name!r}")
        return self.file.view(t)

    def coded_parts(self, name: str) -> tuple[rans.StaticModel, memoryview, memoryview]:
        """(table, rANS stream, raw bits) of a coded tensor, as views into the file."""
        rec = self.records[name]
        own = rec["table"] == "own"
        table = self._part(name + "/ez.table" if own else SHARED_TABLE + rec["dtype"])
        return rans.StaticModel.from_bytes(table), self._part(name + "/ez.sym"), self._part(name + "/ez.raw")

    def tensor_bytes(self, name: str, threads=None) -> memoryview:
        """The original bytes of tensor `name`, checked against its SHA-256."""
        rec = self.records[name]
        dtype, numel = rec["dtype"], int(np.prod(rec["shape"], dtype=np.int64))
        if rec["table"] is None:
            data = self._part(name)
        else:
            try:
                out = decode_tensor(dtype, numel, *self.coded_parts(name), threads)
            except FormatError as e:
                raise FormatError(f"{self.path}: tensor {name!r}: {e}") from None
            data = out  # a fresh array: callers may keep it without a copy
        if _sha256(data) != rec["sha256"]:
            raise FormatError(f"{self.path}: tensor {name!r} fails its SHA-256 check (corrupted file)")
        return data

    def release(self, name: str) -> None:
        """Drop the file pages of tensor `name`'s parts (see SafetensorsFile.release)."""
        for part in (name, name + "/ez.sym", name + "/ez.raw", name + "/ez.table"):
            if part in self.file.by_name:
                self.file.release(self.file.by_name[part])

    def tensor_parts_bytes(self, name: str) -> int:
        rec = self.records[name]
        if rec["table"] is None:
            return self.file.by_name[name].nbytes
        parts = [name + "/ez.sym", name + "/ez.raw"] + ([name + "/ez.table"] if rec["table"] == "own" else [])
        return sum(self.file.by_name[p].nbytes for p in parts if p in self.file.by_name)

    def write_original(self, dst: Path, threads: int, bar) -> None:
        """The source safetensors file, byte for byte; tensors decoded on a pool."""
        offset = 0
        for name in self.order:
            begin, end = self.source[name]["data_offsets"]
            if begin != offset:
                raise FormatError(f"{self.path}: source layout is not contiguous at {name!r}")
            offset = end
        with open(dst, "wb") as out, ThreadPoolExecutor(threads) as pool:
            out.write(struct.pack("<Q", len(self.source_header)) + self.source_header)
            decode = lambda name: self.tensor_bytes(name, threads)  # noqa: E731
            for name, data in zip(self.order, _in_order(pool, decode, self.order, 2 * threads)):
                begin, end = self.source[name]["data_offsets"]
                if len(data) != end - begin:
                    raise FormatError(f"{self.path}: tensor {name!r} has the wrong size")
                out.write(data)
                self.release(name)
                bar.update(len(data))

    def close(self) -> None:
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def decompress(src, dst, threads=None, progress: bool = True, overwrite: bool = False) -> None:
    """Rebuild the original model directory from a compressed one, byte for byte.
    Official DFloat11 directories are accepted too (decoded to one bf16 model.safetensors)."""
    src, dst = Path(src), Path(dst)
    if not (src / MANIFEST).is_file() and official.is_official(src):
        return official.decompress(src, dst, threads, progress, overwrite)
    manifest = read_manifest(src)
    workers = _n_threads(threads)
    tmp = _partial_dir(dst, overwrite)
    try:
        total = sum(int(s.get("original_bytes", 0)) for s in manifest["files"].values())
        with tqdm(total=total, unit="B", unit_scale=True, desc="decompress", disable=not progress) as bar:
            for p in _files(src):
                rel = p.relative_to(src).as_posix()
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                if rel in manifest["files"]:
                    with CompressedFile(p) as cf:
                        cf.write_original(out, workers, bar)
                elif rel == "config.json" and manifest.get("config_json") is not None:
                    out.write_text(manifest["config_json"])
                elif rel != MANIFEST:
                    shutil.copy2(p, out)
        missing = [f for f in manifest["files"] if not (src / f).is_file()]
        if missing:
            raise FormatError(f"{src}: missing compressed files {missing}")
        _finish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------ info / verify

def info(path) -> dict:
    """Sizes and bits per weight of a compressed directory (entrozip's or official), per
    tensor and per dtype."""
    path = Path(path)
    if not (path / MANIFEST).is_file() and official.is_official(path):
        with official.OfficialDirectory(path) as od:
            return od.info()
    manifest = read_manifest(path)
    tensors, by_dtype = [], {}
    for rel in manifest["files"]:
        with CompressedFile(path / rel) as cf:
            for name in cf.order:
                rec = cf.records[name]
                numel = int(np.prod(rec["shape"], dtype=np.int64))
                size = cf.tensor_parts_bytes(name)
                tensors.append({"file": rel, "name": name, "dtype": rec["dtype"], "values": numel, "bytes": size,
                                "bits_per_value": 8 * size / numel if numel else 0.0,
                                "table": rec["table"] or "stored"})
                row = by_dtype.setdefault(rec["dtype"], {"values": 0, "bytes": 0})
                row["values"] += numel
                row["bytes"] += size
            for t in cf.file.tensors:  # tables shared by a file's tensors of one dtype
                if t.name.startswith(SHARED_TABLE):
                    by_dtype.setdefault(t.name[len(SHARED_TABLE):], {"values": 0, "bytes": 0})["bytes"] += t.nbytes
    for row in by_dtype.values():
        row["bits_per_value"] = 8 * row["bytes"] / row["values"] if row["values"] else 0.0
    return {"path": str(path), "original_tensor_bytes": manifest["original_tensor_bytes"],
            "compressed_tensor_bytes": manifest["compressed_tensor_bytes"], "by_dtype": by_dtype, "tensors": tensors}


def verify(original, compressed, threads=None, progress: bool = True) -> list[str]:
    """Differences between a model directory and its compressed form ([] = identical).

    Every tensor is decoded and compared with the original's bytes; every other
    file byte for byte (config.json against the text the manifest restores). For an
    official DFloat11 directory, the tensors are compared by name."""
    original, compressed = Path(original), Path(compressed)
    if not (compressed / MANIFEST).is_file() and official.is_official(compressed):
        return _verify_official(original, compressed)
    manifest = read_manifest(compressed)
    problems = []
    src_files = {p.relative_to(original).as_posix(): p for p in _files(original)}
    for rel, p in src_files.items():
        q = compressed / rel
        if rel.endswith(".safetensors"):
            if rel not in manifest["files"]:
                problems.append(f"{rel}: not in the compressed directory")
                continue
            with SafetensorsFile(p) as a, CompressedFile(q) as b:
                if a.header_bytes != b.source_header:
                    problems.append(f"{rel}: header differs")
                for t in tqdm(a.tensors, desc=rel, disable=not progress, leave=False):
                    if t.name not in b.records:
                        problems.append(f"{rel}: tensor {t.name!r} missing")
                    elif bytes(b.tensor_bytes(t.name, threads)) != bytes(a.view(t)):
                        problems.append(f"{rel}: tensor {t.name!r} differs")
        elif rel == "config.json" and manifest.get("config_json") is not None:
            if p.read_text() != manifest["config_json"]:
                problems.append("config.json: differs from the one recorded")
        elif not q.is_file() or q.read_bytes() != p.read_bytes():
            problems.append(f"{rel}: missing or different")
    extra = set(manifest["files"]) - set(src_files)
    problems += [f"{rel}: not in the original directory" for rel in sorted(extra)]
    return problems


def convert(src, dst, threads=None, progress: bool = True, overwrite: bool = False, pattern_dict=None) -> dict:
    """Between the official DFloat11 format and entrozip's, whichever way `src` is:
    official -> entrozip (smaller: rANS instead of Huffman, no GPU-only index), or
    entrozip -> official (files the official loader reads; `pattern_dict` names the
    units, by default the Llama-family layout). Goes through a temporary bf16 directory."""
    import tempfile

    from . import official_writer

    src, dst = Path(src), Path(dst)
    ours = (src / MANIFEST).is_file()
    if not ours and not official.is_official(src):
        raise ValueError(f"{src} is neither an official DFloat11 nor an entrozip weights directory")
    with tempfile.TemporaryDirectory(prefix=".ez-convert-", dir=dst.parent if dst.parent.exists() else None) as tmp:
        plain = Path(tmp) / "bf16"
        if ours:
            decompress(src, plain, threads, progress)
            return official_writer.compress(plain, dst, pattern_dict, progress, overwrite)
        official.decompress(src, plain, threads, progress)
        return compress(plain, dst, threads, progress, overwrite)


def _verify_official(original: Path, compressed: Path) -> list[str]:
    """Tensor-by-tensor comparison of a model directory with an official DFloat11 one."""
    want = {}
    opened = [SafetensorsFile(p) for p in sorted(original.rglob("*.safetensors"))]
    try:
        for f in opened:
            for t in f.tensors:
                want[t.name] = (f, t)
        problems, seen = [], set()
        with official.OfficialDirectory(compressed) as od:
            for name, dtype, shape, data in od.iter_tensors():
                seen.add(name)
                if name not in want:
                    problems.append(f"{name}: not in the original directory")
                    continue
                f, t = want[name]
                if (t.dtype, tuple(t.shape)) != (dtype, tuple(shape)) or bytes(f.view(t)) != bytes(data):
                    problems.append(f"{name}: differs")
        problems += [f"{name}: missing from the official directory" for name in sorted(set(want) - seen)]
        return problems
    finally:
        for f in opened:
            f.close()
