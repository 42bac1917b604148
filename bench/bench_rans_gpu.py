"""The CUDA coder against nvCOMP's ANS and a device-to-device copy, same run, same GPU.

    python bench/bench_rans_gpu.py [--out DIR] [--mib 256]

Workloads are generated on the GPU machine itself:
  static   bf16 exponent bytes of N(0, 0.02) weights (--mib MiB), one static table;
  learned  64M symbols, 64 Gaussian CDF tables (CompressAI scale table), Laplace values;
  kodak    the y streams of the bundled Kodak photo as the shipped image model codes them
           (captured from the real encoder): the largest alone, and all of them decoded
           in one batch launch (the whole latent).
Each workload is coded with both layout policies (rans.encode(layout=...)): "compact"
(the default, framing ~0.2 %, what the CPU writes unless asked) and "gpu" (framing
~0.67 %, thousands of 32-lane chunks). Reported: decode and encode throughput end to end
(API call) and kernel only, size over the order-0 entropy, CPU-identical bytes, and the
peers. A short table is printed last.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from entrozip import rans
from entrozip.rans import cuda
from gpu_timing import timed  # bench/gpu_timing.py (scripts run from bench/)


def entropy_bytes(sym: torch.Tensor) -> float:
    counts = torch.bincount(sym.reshape(-1).long() - int(sym.min())).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(counts[counts > 0] * torch.log2(p)).sum() / 8)


def kernel_decode_args(blob, model, indexes=None):
    """The kernel's own arguments, prepared once (to time the kernel alone)."""
    lay = cuda._layout_of(blob, model, None if indexes is None else indexes.numel())
    return lay.n, torch.from_numpy(cuda.chunk_rows(lay)).cuda()


def nvcomp_ans(data: torch.Tensor):
    """(compressed bytes, encode s, decode s) of nvCOMP's ANS, or the reason it did not run."""
    try:
        from nvidia import nvcomp

        codec = nvcomp.Codec(algorithm="ANS")
        arr = nvcomp.as_array(data)
        comp = codec.encode(arr)
        enc = timed(lambda: codec.encode(arr))
        dec = timed(lambda: codec.decode(comp))
        return {"bytes": int(comp.buffer_size), "encode_s": enc, "decode_s": dec}
    except Exception as exc:  # the peer is optional on the GPU machine
        return {"error": f"{type(exc).__name__}: {exc}"}


def api_profile(fn) -> dict:
    """Where one API call's time goes (torch.profiler, after a warm-up): its wall time, the
    GPU time of each kernel and copy it ran (microseconds, summed by name), and the rest:
    the host work and waits that the GPU sat idle through."""
    try:
        from torch.profiler import ProfilerActivity, profile

        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            wall = time.perf_counter() - t0
        device = {}
        for e in prof.key_averages():
            us = getattr(e, "self_device_time_total", None)
            if us is None:
                us = getattr(e, "self_cuda_time_total", 0)
            if us > 0:
                device[e.key[:60]] = round(float(us), 1)
        busy = sum(device.values())
        return {"wall_us": round(wall * 1e6, 1), "device_us": dict(sorted(device.items(), key=lambda kv: -kv[1])),
                "idle_us": round(wall * 1e6 - busy, 1)}
    except Exception as exc:  # the profile is diagnostic: the bench's numbers stand without it
        return {"error": f"{type(exc).__name__}: {exc}"}


def encode_phases(sym: torch.Tensor, model, layout: str, idx=None) -> dict:
    """The encode call's GPU work, phase by phase (each timed alone, its inputs prepared once):
    the size estimate (one pass over the sampled symbols), the encode kernel, the placing
    (running sum of the chunk sizes + gather_chunks). What the API call adds beyond their sum
    is host work and its two waits (estimate, sizes)."""
    ext, tab = cuda._ext(), cuda.tables(model, sym.device)
    stride = rans.stream.estimate_stride(sym.numel())
    plan = cuda._EncodePlan(model, [sym], cuda._layouts(tab, model, [sym], [idx], None, None, layout), idx is not None)
    rows, place = plan.upload(sym.device)[:2]
    if idx is None:
        enc = lambda: ext.encode_static(sym, rows, plan.scratch_bytes, tab.enc, tab.offset, tab.precision)  # noqa: E731
    else:
        enc = lambda: ext.encode_indexed(sym, rows, plan.scratch_bytes, tab.enc, tab.cdf, tab.base,  # noqa: E731
                                         tab.offsets, tab.maxv, tab.bucket, idx, tab.precision, tab.bucket_bits)
    scratch, start, size, _ = enc()
    out = torch.empty(int(size.sum()) + plan.header_total, dtype=torch.uint8, device=sym.device)
    return {"encode_estimate_s": timed(lambda: cuda._estimate_stats(tab, model, sym, idx, stride)),
            "encode_kernel_s": timed(enc),
            "encode_place_s": timed(lambda: ext.gather(scratch, start, size, torch.cumsum(size, 0), place, out))}


def bench_static(mib: int, layout: str, precision: int = 16) -> dict:
    """precision: the static table's (16: the coder's default; 12: what DF11 uses for its
    exponent bytes -- 4.5 KB of decoder tables against 66.5 KB, so many more warps share
    an SM, at the same size here: 0.66 vs 0.67 % over entropy on 16M symbols, CPU)."""
    n = mib << 20
    w = (torch.randn(n, device="cuda", generator=torch.Generator(device="cuda").manual_seed(1)) * 0.02)
    exps = ((w.to(torch.bfloat16).view(torch.int16) >> 7) & 0xFF).to(torch.uint8)
    del w
    model = cuda.static_model_from_symbols(exps, precision)
    ext = cuda._ext()
    tab = cuda.tables(model, "cuda")
    blob = rans.encode(exps, model, layout=layout)
    nsym, chunks = kernel_decode_args(blob, model)
    sample = exps[: 1 << 22]
    cpu_same = bytes(rans.encode(sample, model, layout=layout).cpu().numpy()) == \
        rans.encode(sample.cpu().numpy(), model, layout=layout)
    out = {
        "layout": layout, "precision": precision, "chunks": int(chunks.shape[0]),
        "symbols": n, "bytes": blob.numel(), "entropy_bytes": entropy_bytes(exps),
        "decode_s": timed(lambda: rans.decode(blob, model, dtype=np.uint8)),
        "decode_kernel_s": timed(lambda: ext.decode_static(blob, chunks, nsym, tab.enc, tab.slot_fb, tab.slot_val,
                                                           tab.slot_sym, tab.sym_fs, cuda.slot_entry(tab),
                                                           tab.offset, tab.precision, True, True)),
        "decode_kernel_global_tables_s": timed(lambda: ext.decode_static(
            blob, chunks, nsym, tab.enc, tab.slot_fb, tab.slot_val, tab.slot_sym, tab.sym_fs, tab.slot_entry,
            tab.offset, tab.precision, True, False)),
        "encode_s": timed(lambda: rans.encode(exps, model, layout=layout)),
        **encode_phases(exps, model, layout),
        "encode_profile": api_profile(lambda: rans.encode(exps, model, layout=layout)),
        "decode_profile": api_profile(lambda: rans.decode(blob, model, dtype=np.uint8)),
        "copy_s": timed(lambda: exps.clone()),
        "cpu_identical_4M": cpu_same,
    }
    if tab.slot_entry.numel():  # precision <= 12: time the one-word-per-slot and the two-table forms
        for key, entry in (("decode_kernel_fused_s", tab.slot_entry), ("decode_kernel_unfused_s", tab.slot_entry[:0])):
            out[key] = timed(lambda: ext.decode_static(blob, chunks, nsym, tab.enc, tab.slot_fb, tab.slot_val,
                                                       tab.slot_sym, tab.sym_fs, entry, tab.offset, tab.precision,
                                                       True, True))
    if layout == "compact" and precision == 16:
        out["nvcomp"] = nvcomp_ans(exps)
    torch.testing.assert_close(rans.decode(blob, model, dtype=np.uint8), exps, rtol=0, atol=0)
    return out


def gaussian_tables():
    """The 64 CDF tables of CompressAI's Gaussian conditional (its default scale table),
    exactly as the image models code with them."""
    from entrozip.entropy_models import GaussianConditional
    from entrozip.entropy_models.context.slices import default_scale_table

    gc = GaussianConditional(None)
    gc.update_scale_table(default_scale_table())
    gc.update()
    return gc._coding_model(), default_scale_table()


def bench_indexed(n: int, model, idx: torch.Tensor, vals: torch.Tensor, layout: str) -> dict:
    ext = cuda._ext()
    tab = cuda.tables(model, "cuda")
    blob = rans.encode(vals, model, idx, layout=layout)
    nsym, chunks = kernel_decode_args(blob, model, idx)
    sample = slice(0, min(n, 1 << 21))
    cpu_same = bytes(rans.encode(vals[sample], model, idx[sample], layout=layout).cpu().numpy()) == \
        rans.encode(vals[sample].cpu().numpy(), model, idx[sample].cpu().numpy(), layout=layout)
    out = {
        "layout": layout, "precision": int(tab.precision), "chunks": int(chunks.shape[0]), "symbols": n, "bytes": blob.numel(),
        "decode_s": timed(lambda: rans.decode(blob, model, idx)),
        "decode_kernel_s": timed(lambda: ext.decode_indexed(blob, chunks, nsym, tab.enc, tab.cdf, tab.base,
                                                            tab.offsets, tab.maxv, tab.bucket, idx, tab.precision,
                                                            tab.bucket_bits, True)),
        "decode_kernel_global_tables_s": timed(lambda: ext.decode_indexed(
            blob, chunks, nsym, tab.enc, tab.cdf, tab.base, tab.offsets, tab.maxv, tab.bucket, idx, tab.precision,
            tab.bucket_bits, False)),
        "encode_s": timed(lambda: rans.encode(vals, model, idx, layout=layout)),
        **encode_phases(vals, model, layout, idx),
        "encode_profile": api_profile(lambda: rans.encode(vals, model, idx, layout=layout)),
        "decode_profile": api_profile(lambda: rans.decode(blob, model, idx)),
        "cpu_identical": cpu_same,
    }
    assert torch.equal(rans.decode(blob, model, idx), vals)
    return out


def bench_latent_batch(streams, layout: str) -> dict:
    """Every y stream of one image (one model) decoded in one launch: the whole latent."""
    model = streams[0][1]
    vals = [torch.from_numpy(s).cuda() for s, _, _ in streams]
    idxs = [torch.from_numpy(i).cuda() for _, _, i in streams]
    blobs = cuda.encode_batch(vals, model, idxs, layout=layout)
    rows, byte0, sym0 = [], 0, 0
    for b, v in zip(blobs, vals):
        lay = cuda._layout_of(b, model, v.numel())
        rows.append(cuda.chunk_rows(lay, byte0, sym0))
        byte0, sym0 = byte0 + b.numel(), sym0 + lay.n
    data, idx = torch.cat(blobs), torch.cat(idxs)
    chunks = torch.from_numpy(np.concatenate(rows)).cuda()
    ext, tab = cuda._ext(), cuda.tables(model, "cuda")
    got = cuda.decode_batch(blobs, model, idxs)
    assert all(torch.equal(g, v) for g, v in zip(got, vals))
    return {"layout": layout, "streams": len(blobs), "chunks": int(chunks.shape[0]), "symbols": sym0,
            "bytes": int(data.numel()),
            "decode_s": timed(lambda: cuda.decode_batch(blobs, model, idxs)),
            "decode_kernel_s": timed(lambda: ext.decode_indexed(data, chunks, sym0, tab.enc, tab.cdf, tab.base,
                                                                tab.offsets, tab.maxv, tab.bucket, idx,
                                                                tab.precision, tab.bucket_bits, True)),
            "decode_kernel_global_tables_s": timed(lambda: ext.decode_indexed(
                data, chunks, sym0, tab.enc, tab.cdf, tab.base, tab.offsets, tab.maxv, tab.bucket, idx,
                tab.precision, tab.bucket_bits, False))}


def kodak_latent():
    """[(symbols, model, indexes)] of the y streams the image codec writes for kodim23, the
    group sharing the largest stream's model (the Gaussian conditional of y)."""
    from PIL import Image

    import entrozip
    from entrozip import rans as r

    captured = []
    real = r.encode

    def spy(symbols, model, indexes=None, **kw):
        if indexes is not None:
            captured.append((np.asarray(symbols).copy(), model, np.asarray(indexes).copy()))
        return real(symbols, model, indexes, **kw)

    r.encode = spy
    try:
        path = Path(entrozip.__file__).parent / "data" / "kodim23.png"
        entrozip.open_codec("image", quality=4, device="cpu").compress(Image.open(path))
    finally:
        r.encode = real
    big = max(captured, key=lambda c: c[0].size)
    return big, [c for c in captured if c[1].fingerprint == big[1].fingerprint]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    layouts = ("compact", "gpu")
    res = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
    res["static"] = {lay: bench_static(args.mib, lay) for lay in layouts}
    res["static_p12"] = bench_static(args.mib, "gpu", precision=12)
    model, _ = gaussian_tables()
    n = 64 << 20
    g = torch.Generator(device="cuda").manual_seed(0)
    idx = torch.randint(0, 64, (n,), device="cuda", dtype=torch.int32, generator=g)
    scale = torch.exp(torch.linspace(np.log(0.11), np.log(256), 64, device="cuda"))[idx.long()]
    vals = torch.round(torch.distributions.Laplace(0.0, 1.0).sample((n,)).cuda() * scale / 1.4).to(torch.int32)
    res["learned"] = {lay: bench_indexed(n, model, idx, vals, lay) for lay in layouts}
    del idx, scale, vals
    (sym, km, kidx), group = kodak_latent()
    res["kodak"] = {lay: bench_indexed(sym.size, km, torch.from_numpy(kidx).cuda(), torch.from_numpy(sym).cuda(), lay)
                    for lay in layouts}
    res["kodak_latent"] = {lay: bench_latent_batch(group, lay) for lay in layouts}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_rans_gpu.json").write_text(json.dumps(res, indent=1))
    print_table(res)


def print_table(res):
    s, l, k, kl = res["static"], res["learned"], res["kodak"], res["kodak_latent"]
    nv = s["compact"].get("nvcomp", {})
    gb = s["compact"]["symbols"] / 1e9
    print(f"\n{res['device']}, torch {res['torch']}; entrozip layouts compact | gpu; kernel = the decode kernel alone")
    print(f"{'workload':36} {'compact':>9} {'kernel':>9} {'gpu':>9} {'kernel':>9} {'nvCOMP':>9}")

    def row(label, key, fn, peer=float("nan"), src=s):
        c, g_ = src["compact"], src["gpu"]
        kc = fn(c, "decode_kernel_s") if key == "decode_s" else float("nan")
        kg = fn(g_, "decode_kernel_s") if key == "decode_s" else float("nan")
        print(f"{label:36} {fn(c, key):9.1f} {kc:9.1f} {fn(g_, key):9.1f} {kg:9.1f} {peer:9.1f}")

    row("static decode GB/s (>= 800)", "decode_s", lambda r, k: gb / r[k], gb / nv["decode_s"] if "decode_s" in nv
        else float("nan"))
    row("static encode GB/s (>= 500)", "encode_s", lambda r, k: gb / r[k], gb / nv["encode_s"] if "encode_s" in nv
        else float("nan"))
    for key, what in (("encode_estimate_s", "size estimate"), ("encode_kernel_s", "encode kernel"),
                      ("encode_place_s", "placing (sum + gather)")):
        print(f"{'  encode: ' + what + ' GB/s':36} {gb / s['compact'][key]:9.1f} {'':9} {gb / s['gpu'][key]:9.1f}")
    print(f"{'static decode, tables in global mem':36} {'':9} {gb / s['compact']['decode_kernel_global_tables_s']:9.1f}"
          f" {'':9} {gb / s['gpu']['decode_kernel_global_tables_s']:9.1f}")
    p12 = res["static_p12"]
    print(f"{'static decode GB/s, precision 12':36} {'':9} {'':9} {gb / p12['decode_s']:9.1f} "
          f"{gb / p12['decode_kernel_s']:9.1f}   ({100 * (p12['bytes'] / p12['entropy_bytes'] - 1):.2f} % over entropy)")
    for key, what in (("decode_kernel_fused_s", "one word per slot"), ("decode_kernel_unfused_s", "byte + pair tables")):
        print(f"{'  ' + what:36} {'':9} {'':9} {'':9} {gb / p12[key]:9.1f}")
    ent = s["compact"]["entropy_bytes"]
    print(f"{'static size over entropy % (<= 1)':36} {100 * (s['compact']['bytes'] / ent - 1):9.2f} {'':9} "
          f"{100 * (s['gpu']['bytes'] / ent - 1):9.2f} {'':9} "
          f"{(100 * (nv['bytes'] / ent - 1)) if 'bytes' in nv else float('nan'):9.2f}")
    print(f"{'d2d copy GB/s (read + write)':36} {2 * gb / s['compact']['copy_s']:9.0f}")
    row("learned decode Gsym/s (>= 150)", "decode_s", lambda r, k: r["symbols"] / 1e9 / r[k], src=l)
    print(f"{'learned decode, tables in global mem':36} {'':9} "
          f"{l['compact']['symbols'] / 1e9 / l['compact']['decode_kernel_global_tables_s']:9.1f} {'':9} "
          f"{l['gpu']['symbols'] / 1e9 / l['gpu']['decode_kernel_global_tables_s']:9.1f}")
    row("learned encode Gsym/s", "encode_s", lambda r, k: r["symbols"] / 1e9 / r[k], src=l)
    for key, what in (("encode_estimate_s", "size estimate"), ("encode_kernel_s", "encode kernel"),
                      ("encode_place_s", "placing")):
        print(f"{'  encode: ' + what + ' Gsym/s':36} {l['compact']['symbols'] / 1e9 / l['compact'][key]:9.1f} {'':9} "
              f"{l['gpu']['symbols'] / 1e9 / l['gpu'][key]:9.1f}")
    row("kodak largest stream decode us", "decode_s", lambda r, k: 1e6 * r[k], src=k)
    row(f"kodak latent ({kl['gpu']['streams']} streams) decode us", "decode_s", lambda r, k: 1e6 * r[k], src=kl)
    print(f"{'  latent, tables in global mem, us':36} {'':9} {1e6 * kl['compact']['decode_kernel_global_tables_s']:9.1f}"
          f" {'':9} {1e6 * kl['gpu']['decode_kernel_global_tables_s']:9.1f}")
    print(f"{'chunks (static, learned, latent)':36} {s['compact']['chunks']:>9} {l['compact']['chunks']:>9} "
          f"{kl['compact']['chunks']:>9} | {s['gpu']['chunks']} {l['gpu']['chunks']} {kl['gpu']['chunks']}")
    same = all(r[lay][key] for r, key in ((s, "cpu_identical_4M"), (l, "cpu_identical"), (k, "cpu_identical"))
               for lay in ("compact", "gpu")) and p12["cpu_identical_4M"]
    print(f"{'bytes identical to the CPU coder':36} {str(same):>9}")
    for name, r in (("static gpu", s["gpu"]), ("learned gpu", l["gpu"])):
        for what in ("encode", "decode"):
            p = r.get(f"{what}_profile", {})
            if "wall_us" in p:
                top = ", ".join(f"{k.split('(')[0][:28]} {v:.0f}" for k, v in list(p["device_us"].items())[:4])
                print(f"  {name} {what} call: {p['wall_us']:.0f} us wall, GPU idle {p['idle_us']:.0f} us; {top}")
    if "error" in nv:
        print(f"nvCOMP did not run: {nv['error']}")


if __name__ == "__main__":
    main()
