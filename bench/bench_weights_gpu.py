"""GPU decode of DFloat11-style tensors against a device-to-device copy, same run.

    python bench/bench_weights_gpu.py [--numel 218000000] [--out DIR]

Workload (generated on the GPU machine): one Student-t(4) x 0.012 bf16 tensor of
--numel values (a Llama-8B layer's worth), encoded by the CPU encoder, then
decoded on the GPU by the fused kernel (codecs/weights/gpu.py). Reported: GB/s of
bf16 written (target >= 750), the copy's GB/s, bits per weight, byte identity.
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
    t0 = time.perf_counter()
    model = dfloat11.table_for("BF16", data)
    stream, raw = dfloat11.encode_tensor("BF16", data, model)
    enc_s = time.perf_counter() - t0
    s_dev = torch.frombuffer(bytearray(stream), dtype=torch.uint8).cuda()
    r_dev = torch.from_numpy(np.asarray(raw)).cuda()
    out = torch.empty(args.numel * 2, dtype=torch.uint8, device="cuda")
    decode_s = timed(lambda: decode_tensor_cuda("BF16", args.numel, model, s_dev, r_dev, out))
    same = torch.equal(out, w.view(torch.uint8))
    copy_s = timed(lambda: w.clone())
    bits = 8 * (len(stream) + len(raw)) / args.numel
    res = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d"), "numel": args.numel,
           "bits_per_weight": bits, "decode_s": decode_s, "copy_s": copy_s, "identical": same,
           "cpu_encode_s": enc_s}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_weights_gpu.json").write_text(json.dumps(res, indent=1))
    gb = 2 * args.numel / 1e9
    print(f"\n{res['device']}: {args.numel:,} bf16 values, {bits:.3f} bits/weight, identical {same}")
    print(f"{'GPU decode, GB/s of bf16 out (>= 750)':40} {gb / decode_s:10.0f}")
    print(f"{'d2d copy, GB/s read + written':40} {2 * gb / copy_s:10.0f}")


if __name__ == "__main__":
    main()
