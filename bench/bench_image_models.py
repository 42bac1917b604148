"""Size and cost of the image models: parameters, MACs per pixel, Kodak coding time.

    python bench/bench_image_models.py [--models elic,s2lic,s2lic-paper] [--images 3] [--device cpu]
                                       [--out docs/results/s2lic]

Per model: parameters (transforms, entropy model; shipped bytes), multiply-accumulates
per pixel counted by torch's FlopCounterMode on a 256 x 256 input (convolutions and
matrix products, attention included; elementwise ops not counted) for the encoder
(analysis + hyper-analysis + entropy parameters) and the decoder (entropy parameters
+ synthesis), and the wall time of compress and decompress through the codec on the
first Kodak images on this machine (the weights the package has: coding time does not
depend on training). Writes image_models.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from entrozip import open_codec
from entrozip.codecs.image.models import MODELS, ImageModel
from entrozip.codecs.image.weights import load_model

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/kodak, or the git-ignored copy scripts/gpu_check.sh carries to the GPU machine
KODAK = next((p for p in (ROOT.parent / "shared" / "data" / "kodak", ROOT / ".kodak") if p.is_dir()), ROOT / ".kodak")


def macs(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2


def measure(name: str, images, device: str) -> dict:
    spec = MODELS[name]
    fresh = ImageModel(spec)
    parts = {"transforms": sum(p.numel() for m in (fresh.g_a, fresh.g_s) for p in m.parameters()),
             "entropy": sum(p.numel() for p in fresh.entropy.parameters())}
    state_bytes = sum(t.numel() * (2 if t.is_floating_point() else t.element_size()) for t in fresh.state_dict().values())
    del fresh
    net, wid, entry = load_model(name, device)
    x = torch.rand(1, 3, 256, 256, device=device)
    with torch.no_grad():
        enc = macs(lambda: net.compress(x, 3))
        out = net.compress(x, 3)
        dec = macs(lambda: net.decompress(out["z"], out["y"], out["z_shape"], 3))
    pixels = 256 * 256
    row = {"model": name, "weights_id": wid, "trained": bool(entry), "params": sum(parts.values()),
           "params_by_part": parts, "shipped_bytes_bf16": state_bytes,
           "encode_macs_per_pixel": enc / pixels, "decode_macs_per_pixel": dec / pixels, "kodak": []}
    for q in (1, 8) if images else ():
        codec = open_codec("image", model=name, quality=q, device=device)
        codec.compress(images[0][:64, :64])  # warm-up
        for path, rgb in zip(images.paths, images):
            t = time.perf_counter()
            blob = codec.compress(rgb)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            te = time.perf_counter() - t
            t = time.perf_counter()
            codec.decompress(blob)
            td = time.perf_counter() - t
            row["kodak"].append({"image": path.name, "quality": q, "encode_s": te, "decode_s": td,
                                 "bpp": 8 * len(blob) / (rgb.shape[0] * rgb.shape[1])})
    return row


class Images(list):
    paths: list


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="elic,s2lic,s2lic-paper")
    ap.add_argument("--images", type=int, default=3, help="Kodak images timed (0: none)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="docs/results/s2lic")
    args = ap.parse_args()
    images = Images()
    images.paths = sorted(KODAK.glob("*.png"))[: args.images]
    images.extend(np.asarray(Image.open(p).convert("RGB")) for p in images.paths)
    rows = [measure(m, images, args.device) for m in args.models.split(",") if m]
    machine = (torch.cuda.get_device_name() if args.device.startswith("cuda")
               else f"{os.cpu_count()}-core {platform.machine()} CPU, {torch.get_num_threads()} torch threads")
    res = {"date": time.strftime("%Y-%m-%d"), "machine": machine, "torch": torch.__version__, "models": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"image_models_{args.device.split(':')[0]}.json").write_text(json.dumps(res, indent=1))
    print(f"\n{machine}, torch {torch.__version__}; Kodak times: mean over {args.images} images at q1 and q8")
    print(f"{'model':12} {'params M':>9} {'transforms':>10} {'entropy':>8} {'MB bf16':>8} {'enc kMAC/px':>11} "
          f"{'dec kMAC/px':>11} {'encode s':>9} {'decode s':>9}")
    for r in rows:
        te = np.mean([k["encode_s"] for k in r["kodak"]]) if r["kodak"] else float("nan")
        td = np.mean([k["decode_s"] for k in r["kodak"]]) if r["kodak"] else float("nan")
        print(f"{r['model']:12} {r['params'] / 1e6:9.2f} {r['params_by_part']['transforms'] / 1e6:10.2f} "
              f"{r['params_by_part']['entropy'] / 1e6:8.2f} {r['shipped_bytes_bf16'] / 1e6:8.1f} "
              f"{r['encode_macs_per_pixel'] / 1e3:11.1f} {r['decode_macs_per_pixel'] / 1e3:11.1f} {te:9.2f} {td:9.2f}")


if __name__ == "__main__":
    main()
