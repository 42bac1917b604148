"""The CUDA coder against nvCOMP's ANS and a device-to-device copy, same run, same GPU.

    python bench/bench_rans_gpu.py [--out DIR] [--mib 256]

Workloads are generated on the GPU machine itself:
  static   bf16 exponent bytes of N(0, 0.02) weights (--mib MiB), one static table;
  learned  64M symbols, 64 Gaussian CDF tables (CompressAI scale table), Laplace values;
  kodak    the largest y stream of the bundled Kodak photo coded by the shipped image model
           (captured from the real encoder).
Reported: decode and encode throughput end to end (API call) and kernel only, size over
the order-0 entropy, CPU-identical bytes, and the peers. A short table is printed last.
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
    return lay.n, torch.tensor(cuda.chunk_rows(lay), dtype=torch.int64, device="cuda").reshape(-1, 5)


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


def bench_static(mib: int) -> dict:
    n = mib << 20
    w = (torch.randn(n, device="cuda") * 0.02).to(torch.bfloat16)
    exps = ((w.view(torch.int16) >> 7) & 0xFF).to(torch.uint8)
    model = cuda.static_model_from_symbols(exps)
    ext = cuda._ext()
    tab = cuda.tables(model, "cuda")
    blob = rans.encode(exps, model)
    nsym, chunks = kernel_decode_args(blob, model)
    sample = exps[: 1 << 22]
    cpu_same = bytes(rans.encode(sample, model).cpu().numpy()) == rans.encode(sample.cpu().numpy(), model)
    out = {
        "symbols": n, "bytes": blob.numel(), "entropy_bytes": entropy_bytes(exps),
        "decode_s": timed(lambda: rans.decode(blob, model, dtype=np.uint8)),
        "decode_kernel_s": timed(lambda: ext.decode_static(blob, chunks, nsym, tab.enc, tab.slot_fb, tab.slot_val,
                                                           tab.offset, tab.precision, True)),
        "encode_s": timed(lambda: rans.encode(exps, model)),
        "copy_s": timed(lambda: exps.clone()),
        "cpu_identical_4M": cpu_same,
        "nvcomp": nvcomp_ans(exps),
    }
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


def bench_indexed(n: int, model, idx: torch.Tensor, vals: torch.Tensor) -> dict:
    ext = cuda._ext()
    tab = cuda.tables(model, "cuda")
    blob = rans.encode(vals, model, idx)
    nsym, chunks = kernel_decode_args(blob, model, idx)
    sample = slice(0, min(n, 1 << 21))
    cpu_same = bytes(rans.encode(vals[sample], model, idx[sample]).cpu().numpy()) == \
        rans.encode(vals[sample].cpu().numpy(), model, idx[sample].cpu().numpy())
    out = {
        "symbols": n, "bytes": blob.numel(),
        "decode_s": timed(lambda: rans.decode(blob, model, idx)),
        "decode_kernel_s": timed(lambda: ext.decode_indexed(blob, chunks, nsym, tab.enc, tab.cdf, tab.base,
                                                            tab.offsets, tab.maxv, tab.bucket, idx, tab.precision,
                                                            tab.bucket_bits)),
        "encode_s": timed(lambda: rans.encode(vals, model, idx)),
        "cpu_identical": cpu_same,
    }
    assert torch.equal(rans.decode(blob, model, idx), vals)
    return out


def kodak_latent():
    """(symbols, model, indexes) of the largest y stream the image codec writes for kodim23."""
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
    return max(captured, key=lambda c: c[0].size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    res = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
    res["static"] = bench_static(args.mib)
    model, _ = gaussian_tables()
    n = 64 << 20
    g = torch.Generator(device="cuda").manual_seed(0)
    idx = torch.randint(0, 64, (n,), device="cuda", dtype=torch.int32, generator=g)
    scale = torch.exp(torch.linspace(np.log(0.11), np.log(256), 64, device="cuda"))[idx.long()]
    vals = torch.round(torch.distributions.Laplace(0.0, 1.0).sample((n,)).cuda() * scale / 1.4).to(torch.int32)
    res["learned"] = bench_indexed(n, model, idx, vals)
    sym, km, kidx = kodak_latent()
    res["kodak"] = bench_indexed(sym.size, km, torch.from_numpy(kidx).cuda(), torch.from_numpy(sym).cuda())
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_rans_gpu.json").write_text(json.dumps(res, indent=1))
    s, l, k = res["static"], res["learned"], res["kodak"]
    gb = s["symbols"] / 1e9
    print(f"\n{res['device']}")
    print(f"{'workload':34} {'entrozip':>12} {'kernel':>12} {'peer':>14}")
    print(f"{'static decode GB/s (>= 800)':34} {gb / s['decode_s']:12.0f} {gb / s['decode_kernel_s']:12.0f} "
          f"{(gb / s['nvcomp']['decode_s']) if 'decode_s' in s['nvcomp'] else float('nan'):14.0f}")
    print(f"{'static encode GB/s (>= 500)':34} {gb / s['encode_s']:12.0f} {'':>12} "
          f"{(gb / s['nvcomp']['encode_s']) if 'encode_s' in s['nvcomp'] else float('nan'):14.0f}")
    print(f"{'d2d copy GB/s':34} {2 * gb / s['copy_s']:12.0f}")
    nv = s["nvcomp"]
    print(f"{'static size over entropy (<= 1 %)':34} {100 * (s['bytes'] / s['entropy_bytes'] - 1):11.2f}% "
          f"{'':>12} {(100 * (nv['bytes'] / s['entropy_bytes'] - 1)) if 'bytes' in nv else float('nan'):13.2f}%")
    print(f"{'learned decode Gsym/s (>= 150)':34} {l['symbols'] / 1e9 / l['decode_s']:12.1f} "
          f"{l['symbols'] / 1e9 / l['decode_kernel_s']:12.1f}")
    print(f"{'learned encode Gsym/s':34} {l['symbols'] / 1e9 / l['encode_s']:12.1f}")
    print(f"{'kodak latent decode us (<= 50)':34} {1e6 * k['decode_s']:12.1f} {1e6 * k['decode_kernel_s']:12.1f}")
    print(f"{'bytes identical to the CPU coder':34} {str(s['cpu_identical_4M'] and l['cpu_identical'] and k['cpu_identical']):>12}")
    if "error" in nv:
        print(f"nvCOMP did not run: {nv['error']}")


if __name__ == "__main__":
    main()
