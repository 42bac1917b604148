"""GPU decode of DFloat11-style tensors against a device-to-device copy, same run.

    python bench/bench_weights_gpu.py [--numel 218103808] [--out DIR]

Workload (generated on the GPU machine): one Student-t(4) x 0.012 bf16 tensor of
--numel values (a Llama-8B layer's worth), encoded by the CPU encoder, then
decoded on the GPU by the fused kernel (codecs/weights/gpu.py). Reported, for each stream layout
(rans.encode's "compact" default, "gpu", "latency"): GB/s of bf16 written (target >= 750)
with the table (precision 12) in shared memory as a byte per slot + a (freq, start) pair per
symbol (the default) or as one word per slot, and in global memory; bits per weight, byte identity; the copy's GB/s;
and a Llama-8B layer's seven weights decoded in one launch vs seven.

The official DFloat11 kernel runs beside it when the `dfloat11` package (its wheel,
scripts/gpu_wheels.sh: .whl/common) and cupy are there: the same tensor written in the
official format by our writer (codecs/weights/official_writer.py: one unit, Huffman
exponents, 512 threads x 8 bytes), decoded by the package's own decode.ptx loaded with
cupy (the package itself is not imported: its __init__ wants pkg_resources and
transformers), timed the same way, bytes compared with the original.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from entrozip.codecs.weights import dfloat11, floats
from entrozip.codecs.weights.gpu import decode_tensor_cuda
from entrozip.rans import cuda as rcuda
from gpu_timing import timed  # bench/gpu_timing.py (scripts run from bench/)


def official_kernel(data: np.ndarray, w: torch.Tensor) -> dict:
    """Decode `data` (bf16 bytes) with the official DFloat11 kernel; {} with the reason if absent."""
    import importlib.util

    from entrozip.codecs.weights import official_writer as ow

    spec = importlib.util.find_spec("dfloat11")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return {"skipped": "the dfloat11 package is not installed"}
    try:
        import cupy as cp
    except ImportError:
        return {"skipped": "cupy is not installed"}
    ptx = Path(list(spec.submodule_search_locations)[0]) / "decode.ptx"
    kernel = cp.RawModule(path=str(ptx)).get_function("decode")
    t0 = time.perf_counter()
    buf = ow.unit_buffers([data.tobytes()])
    encode_s = time.perf_counter() - t0
    dev = {k: torch.from_numpy(np.ascontiguousarray(v)).cuda() for k, v in buf.items() if k != "split_positions"}
    n, n_bytes, n_luts = data.size // 2, dev["encoded_exponent"].numel(), dev["luts"].shape[0]
    positions = buf["output_positions"].view(np.uint32)
    shared = ow.THREADS_PER_BLOCK * 4 + 4 + int((positions[1:].astype(np.int64) - positions[:-1]).max()) * 2
    grid = (-(-n_bytes // (ow.THREADS_PER_BLOCK * ow.BYTES_PER_THREAD)),)
    out = torch.empty(n, dtype=torch.bfloat16, device="cuda")

    def decode():
        with cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
            kernel(grid, (ow.THREADS_PER_BLOCK,), (dev["luts"].data_ptr(), dev["encoded_exponent"].data_ptr(),
                   dev["sign_mantissa"].data_ptr(), dev["output_positions"].data_ptr(), dev["gaps"].data_ptr(),
                   out.data_ptr(), cp.uint32(n_luts), cp.uint32(n_bytes), cp.uint32(n)), shared_mem=shared)

    decode_s = timed(decode)
    compressed = sum(int(v.nbytes) for k, v in buf.items() if k != "split_positions")
    return {"decode_s": decode_s, "bits_per_weight": 8 * compressed / n, "cpu_encode_s": encode_s,
            "shared_bytes": shared, "identical": torch.equal(out.view(torch.uint8), w.view(torch.uint8))}


LLAMA8B_LAYER = {"q_proj": (4096, 4096), "k_proj": (1024, 4096), "v_proj": (1024, 4096), "o_proj": (4096, 4096),
                 "gate_proj": (14336, 4096), "up_proj": (14336, 4096), "down_proj": (4096, 14336)}  # 218,103,808


def block_launch(data: np.ndarray, w: torch.Tensor) -> dict:
    """The same values cut into a Llama-8B layer's seven weights, each with its own table
    (gpu layout): one launch per weight (decode_tensor_cuda) vs the whole block in one
    launch (CodedBlock, as the keep_compressed loader decodes)."""
    from entrozip.codecs.weights.gpu import CodedBlock

    items, at = [], 0
    for name, shape in LLAMA8B_LAYER.items():
        n = shape[0] * shape[1]
        if at + n > data.size // 2:
            return {"skipped": f"--numel below a Llama-8B layer ({sum(a * b for a, b in LLAMA8B_LAYER.values()):,})"}
        part = data[2 * at:2 * (at + n)]
        model = dfloat11.table_for("BF16", part)
        stream, raw = dfloat11.encode_tensor("BF16", part, model, layout="gpu")
        items.append((name, "BF16", shape, model, stream, bytes(raw)))
        at += n
    block = CodedBlock(items, "cuda")
    out = torch.zeros(block.nbytes, dtype=torch.uint8, device="cuda")
    for status in block.decode_into(out):
        rcuda.check_status(status)
    views = block.views(out)
    same = all(torch.equal(views[n].reshape(-1).view(torch.int16), w[o:o + views[n].numel()].view(torch.int16))
               for n, o in zip(LLAMA8B_LAYER, np.cumsum([0] + [a * b for a, b in LLAMA8B_LAYER.values()])))
    one_s = timed(lambda: block.decode_into(out))
    cu = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8).cuda()  # noqa: E731
    dev = [(cu(st), cu(r), m, s[0] * s[1], torch.empty(2 * s[0] * s[1], dtype=torch.uint8, device="cuda"))
           for _, _, s, m, st, r in items]
    per_s = timed(lambda: [decode_tensor_cuda("BF16", n, m, sd, rd, o) for sd, rd, m, n, o in dev])
    return {"numel": at, "one_launch_s": one_s, "per_tensor_s": per_s, "identical": bool(same),
            "chunks": int(sum(len(launch.plan.chunks) for launch, _, _ in block.groups))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numel", type=int, default=sum(a * b for a, b in LLAMA8B_LAYER.values()))
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
    for layout in ("compact", "gpu", "latency"):  # the stream's chunking policy (rans.encode)
        t0 = time.perf_counter()
        stream, raw = dfloat11.encode_tensor("BF16", data, model, layout=layout)
        enc_s = time.perf_counter() - t0
        s_dev = torch.frombuffer(bytearray(stream), dtype=torch.uint8).cuda()
        r_dev = torch.from_numpy(np.asarray(raw)).cuda()
        out.zero_()
        decode_s = timed(lambda: decode_tensor_cuda("BF16", args.numel, model, s_dev, r_dev, out))
        same = torch.equal(out, w.view(torch.uint8))
        # the kernel alone: chunk rows and tables prepared once, no parse and no status wait
        chunks = torch.from_numpy(rcuda.chunk_rows(rcuda._layout_of(s_dev, model, None))).cuda()
        tab = rcuda.tables(model, "cuda")
        kernel_s = timed(lambda: rcuda._ext().decode_float(
            s_dev, chunks, tab.enc, tab.slot_fb, tab.slot_val, tab.slot_sym, tab.sym_fs, rcuda.slot_entry(tab),
            tab.offset, tab.precision, floats.LAYOUTS["BF16"], r_dev, out, True))
        forms = {}  # (shared, fused): global tables; shared one word per slot; shared byte + pair tables
        for shared, fused in ((False, False), (True, True), (True, False)):
            with rcuda.decoder_tables(shared, fused):
                forms[shared, fused] = timed(lambda: decode_tensor_cuda("BF16", args.numel, model, s_dev, r_dev, out))
        res[layout] = {"bits_per_weight": 8 * (len(stream) + len(raw)) / args.numel, "decode_s": decode_s,
                       "decode_kernel_s": kernel_s, "chunks": int(chunks.shape[0]),
                       "decode_global_tables_s": forms[False, False], "decode_fused_tables_s": forms[True, True],
                       "decode_two_tables_s": forms[True, False],
                       "identical": same and torch.equal(out, w.view(torch.uint8)),
                       "cpu_encode_s": enc_s}
    res["block"] = block_launch(data, w)
    try:
        res["official"] = official_kernel(data, w)
    except Exception as e:  # the peer failing must not lose our numbers
        res["official"] = {"skipped": f"{type(e).__name__}: {e}"}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_weights_gpu.json").write_text(json.dumps(res, indent=1))
    gb = 2 * args.numel / 1e9
    lays = ("compact", "gpu", "latency")
    print(f"\n{res['device']}: {args.numel:,} bf16 values (Student-t(4) x 0.012); layouts {' | '.join(lays)}")
    print(f"{'bits per weight':40}" + "".join(f" {res[k]['bits_per_weight']:10.3f}" for k in lays))
    print(f"{'GPU decode, GB/s of bf16 out (>= 750)':40}" + "".join(f" {gb / res[k]['decode_s']:10.0f}" for k in lays))
    print(f"{'  the kernel alone':40}" + "".join(f" {gb / res[k]['decode_kernel_s']:10.0f}" for k in lays))
    print(f"{'  chunks':40}" + "".join(f" {res[k]['chunks']:10d}" for k in lays))
    print(f"{'  tables in global memory':40}" + "".join(f" {gb / res[k]['decode_global_tables_s']:10.0f}"
                                                       for k in lays))
    for key, what in (("decode_fused_tables_s", "shared, one word per slot"),
                      ("decode_two_tables_s", "shared, byte + pair tables (default)")):
        print(f"{'  ' + what:40}" + "".join(f" {gb / res[k][key]:10.0f}" for k in lays))
    print(f"{'identical bytes':40}" + "".join(f" {str(res[k]['identical']):>10}" for k in lays))
    print(f"{'d2d copy, GB/s read + written':40} {2 * gb / res['copy_s']:10.0f}")
    blk = res["block"]
    if "one_launch_s" in blk:
        gbb = 2 * blk["numel"] / 1e9
        print(f"{'a Llama-8B layer, 7 tables, gpu layout':40} one launch {gbb / blk['one_launch_s']:.0f} GB/s, "
              f"7 launches {gbb / blk['per_tensor_s']:.0f} GB/s, identical {blk['identical']}")
    off = res["official"]
    if "decode_s" in off:
        print(f"{'official DFloat11 kernel, GB/s (same run)':40} {gb / off['decode_s']:10.0f}   "
              f"{off['bits_per_weight']:.3f} bits/weight, identical {off['identical']}")
    else:
        print(f"official DFloat11 kernel: not run ({off['skipped']})")


if __name__ == "__main__":
    main()
