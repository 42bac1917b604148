"""GPU decode of DFloat11-style tensors against a device-to-device copy, same run.

    python bench/bench_weights_gpu.py [--numel 218000000] [--out DIR]

Workload (generated on the GPU machine): one Student-t(4) x 0.012 bf16 tensor of
--numel values (a Llama-8B layer's worth), encoded by the CPU encoder, then
decoded on the GPU by the fused kernel (codecs/weights/gpu.py). Reported, for both stream layouts
(rans.encode's "compact" default and "gpu"): GB/s of bf16 written (target >= 750),
bits per weight, byte identity; and the copy's GB/s.
The official DFloat11 kernel is not run here yet (its package needs cupy and a
pkg_resources shim on the GPU machine): see the note in BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from entrozip.codecs.weights import dfloat11
from entrozip.codecs.weights.gpu import decode_tensor_cuda
from entrozip.rans import cuda as rcuda
from gpu_timing import timed  # bench/gpu_timing.py (scripts run from bench/)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numel", type=int, default=218_000_000)
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args()
    torch.manual_seed(0)
    t = torch.distributions.StudentT(4.0).sample((args.numel,)).cuda() * 0.012
    w = t.to(torch.bfloat16)
    del t
    data = w.view(torch.uint8).cpu().numpy()
    model = dfloat11.table_for("BF16", data)
    res = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d"), "numel": args.numel,
           "copy_s": timed(lambda: w.clone())}
    out = torch.empty(args.numel * 2, dtype=torch.uint8, device="cuda")
    for layout in ("compact", "gpu"):  # the stream's chunking policy (rans.encode)
        t0 = time.perf_counter()
        stream, raw = dfloat11.encode_tensor("BF16", data, model, layout=layout)
        enc_s = time.perf_counter() - t0
        s_dev = torch.frombuffer(bytearray(stream), dtype=torch.uint8).cuda()
        r_dev = torch.from_numpy(np.asarray(raw)).cuda()
        out.zero_()
        decode_s = timed(lambda: decode_tensor_cuda("BF16", args.numel, model, s_dev, r_dev, out))
        same = torch.equal(out, w.view(torch.uint8))
        rcuda.SHARED_TABLES = False  # the same kernel reading its tables from global memory
        global_s = timed(lambda: decode_tensor_cuda("BF16", args.numel, model, s_dev, r_dev, out))
        rcuda.SHARED_TABLES = True
        res[layout] = {"bits_per_weight": 8 * (len(stream) + len(raw)) / args.numel, "decode_s": decode_s,
                       "decode_global_tables_s": global_s, "identical": same and torch.equal(out, w.view(torch.uint8)),
                       "cpu_encode_s": enc_s}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_weights_gpu.json").write_text(json.dumps(res, indent=1))
    gb = 2 * args.numel / 1e9
    print(f"\n{res['device']}: {args.numel:,} bf16 values (Student-t(4) x 0.012); layouts compact | gpu")
    print(f"{'bits per weight':40} {res['compact']['bits_per_weight']:10.3f} {res['gpu']['bits_per_weight']:10.3f}")
    print(f"{'GPU decode, GB/s of bf16 out (>= 750)':40} {gb / res['compact']['decode_s']:10.0f} "
          f"{gb / res['gpu']['decode_s']:10.0f}")
    print(f"{'  tables in global memory':40} {gb / res['compact']['decode_global_tables_s']:10.0f} "
          f"{gb / res['gpu']['decode_global_tables_s']:10.0f}")
    print(f"{'identical bytes':40} {str(res['compact']['identical']):>10} {str(res['gpu']['identical']):>10}")
    print(f"{'d2d copy, GB/s read + written':40} {2 * gb / res['copy_s']:10.0f}")


if __name__ == "__main__":
    main()
