"""Where the CUDA coder's time goes: each decode kernel once, small enough for a profiler.

    python bench/profile_rans_gpu.py                 # kernel times (torch.profiler) + a table
    ncu --kernel-name regex:decode_chunks python bench/profile_rans_gpu.py --no-torch-profiler

Workloads (generated here, --mib Mi values each: 208 Mi = 218,103,808, the benches' Llama-8B layer): bf16-exponent bytes with static tables of
precision 16 and 12 (gpu layout), a DF11 tensor through the fused float decoder, the
same values as a Llama-8B-shaped block of seven tensors in one launch (CodedBlock), the
learned 64-table case, and a static encode (its kernels, the host round trip and the
chunk gather). Under Nsight Compute (`scripts/gpu_check.sh profile`) each decode launch
is one profiled kernel: occupancy, issue-slot use and warp stall reasons say whether a
row is bound by latency, issue or memory -- what the speed targets need next.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from entrozip import rans
from entrozip.codecs.weights import dfloat11
from entrozip.codecs.weights.gpu import CodedBlock, decode_tensor_cuda
from entrozip.rans import cuda
from bench_weights_gpu import LLAMA8B_LAYER  # bench/ (scripts run from bench/)


def workloads(mib: int):
    """(name, fn, output bytes) of each kernel to look at."""
    n = mib << 20
    g = torch.Generator(device="cuda").manual_seed(0)
    w = (torch.randn(n, device="cuda", generator=g) * 0.02).to(torch.bfloat16)
    exps = ((w.view(torch.int16) >> 7) & 0xFF).to(torch.uint8)
    out = []
    for precision in (16, 12):
        model = cuda.static_model_from_symbols(exps, precision)
        blob = rans.encode(exps, model, layout="gpu")
        out.append((f"static decode, precision {precision}", lambda b=blob, m=model: rans.decode(b, m, dtype=np.uint8),
                    n))
    data = w.view(torch.uint8).cpu().numpy()
    model = dfloat11.table_for("BF16", data)
    stream, raw = dfloat11.encode_tensor("BF16", data, model, layout="gpu")
    s_dev = torch.frombuffer(bytearray(stream), dtype=torch.uint8).cuda()
    r_dev = torch.from_numpy(np.asarray(raw)).cuda()
    buf = torch.empty(2 * n, dtype=torch.uint8, device="cuda")
    out.append(("DF11 fused decode (one tensor)", lambda: decode_tensor_cuda("BF16", n, model, s_dev, r_dev, buf), 2 * n))
    shapes = list(LLAMA8B_LAYER.values())
    scale = n / sum(a * b for a, b in shapes)
    items, at = [], 0
    for i, (a, b) in enumerate(shapes):
        rows = max(1, int(a * scale))
        part = data[2 * at:2 * (at + rows * b)]
        m = dfloat11.table_for("BF16", part)
        st, rw = dfloat11.encode_tensor("BF16", part, m, layout="gpu")
        items.append((f"w{i}", "BF16", (rows, b), m, st, bytes(rw)))
        at += rows * b
    block = CodedBlock(items, "cuda")
    bout = torch.empty(block.nbytes, dtype=torch.uint8, device="cuda")
    out.append(("DF11 block, 7 tensors, one launch", lambda: block.decode_into(bout), 2 * at))
    from bench_rans_gpu import gaussian_tables  # bench/ (scripts run from bench/)

    lm, _ = gaussian_tables()
    k = n // 4
    idx = torch.randint(0, 64, (k,), device="cuda", dtype=torch.int32, generator=g)
    vals = torch.randint(-3, 4, (k,), device="cuda", dtype=torch.int32, generator=g)
    lblob = rans.encode(vals, lm, idx, layout="gpu")
    out.append(("learned decode (64 tables)", lambda: rans.decode(lblob, lm, idx), 4 * k))
    m12 = cuda.static_model_from_symbols(exps, 12)
    out.append(("static encode, precision 12", lambda: rans.encode(exps, m12, layout="gpu"), n))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=208, help="values per workload in Mi (208: a Llama-8B layer, "
                    "the benches' size; at 64 a gpu-layout stream filled one 8-warp block per SM)")
    ap.add_argument("--no-torch-profiler", action="store_true", help="run each workload once (under ncu)")
    a = ap.parse_args()
    jobs = workloads(a.mib)
    for _, fn, _ in jobs:  # build and warm up every kernel first
        fn()
    torch.cuda.synchronize()
    if a.no_torch_profiler:
        for _, fn, _ in jobs:
            fn()
        torch.cuda.synchronize()
        return
    from torch.profiler import ProfilerActivity, profile

    print(f"\n{torch.cuda.get_device_name()}; {a.mib} MiB workloads; per workload: wall time of the call, "
          "and its CUDA kernels (torch.profiler)")
    for name, fn, nbytes in jobs:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
        wall = s.elapsed_time(e) / 1e3
        kernels = {}
        for ev in prof.events():
            dev_us = getattr(ev, "device_time", None) or getattr(ev, "cuda_time", 0)
            if ev.device_type == torch.autograd.DeviceType.CUDA and dev_us:
                kernels[ev.name[:60]] = kernels.get(ev.name[:60], 0) + dev_us
        print(f"{name:36} {1e3 * wall:8.2f} ms  {nbytes / wall / 1e9:7.1f} GB/s out")
        for kname, us in sorted(kernels.items(), key=lambda kv: -kv[1])[:4]:
            print(f"    {us / 1e3:8.3f} ms  {kname}")


if __name__ == "__main__":
    main()
