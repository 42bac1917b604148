"""The image codec on a GPU: Kodak coding times and the GPU<->CPU agreement rate.

    python bench/bench_image_gpu.py [--models elic,s2lic] [--qualities 1,4,8] [--images N]
                                    [--out docs/results/gpu]

Per model and quality, over the Kodak images (../shared/data/kodak, or .kodak carried to
the GPU machine): GPU encode / decode and CPU decode times, bpp, PSNR, and how often a
file decodes to a different latent on the other device — a GPU-written file decoded on
the CPU and a CPU-written file decoded on the GPU, compared as exact fixed-point latents.
Every mismatch is a file that would not decode right across devices (the entropy-model
issue wants 0; the S2LIC issue asks for the rate where a module resists).
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KODAK = next((p for p in (ROOT.parent / "shared" / "data" / "kodak", ROOT / ".kodak") if p.is_dir()), ROOT / ".kodak")


def timed(fn, *args):
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t = time.perf_counter()
    out = fn(*args)
    sync()
    return out, time.perf_counter() - t


def run_model(model: str, qualities, images, device: str = "cuda") -> list[dict]:
    from entrozip import open_codec
    from entrozip.eval.metrics import psnr

    rows = []
    for q in qualities:
        gpu, cpu = (open_codec("image", model=model, quality=q, device=d) for d in (device, "cpu"))
        enc, dec, dec_cpu, bpp, quality, mismatches = [], [], [], [], [], []
        for path in images:
            img = np.asarray(Image.open(path).convert("RGB"))
            gpu.compress(img)  # warm-up (first call per size builds kernels)
            blob, t = timed(gpu.compress, img)
            enc.append(t)
            out, t = timed(gpu.decompress, blob)
            dec.append(t)
            t = time.perf_counter()
            cpu.decompress(blob)
            dec_cpu.append(time.perf_counter() - t)
            bpp.append(8 * len(blob) / (img.shape[0] * img.shape[1]))
            quality.append(psnr(img, out))
            cpu_blob = cpu.compress(img)
            for name, b in (("gpu->cpu", blob), ("cpu->gpu", cpu_blob)):
                if gpu.latent_digest(b) != cpu.latent_digest(b):
                    mismatches.append(f"{path.name} {name}")
        rows.append({"model": model, "quality": q, "images": len(images), "bpp": float(np.mean(bpp)),
                     "psnr": float(np.mean(quality)), "gpu_encode_s": float(np.mean(enc)),
                     "gpu_decode_s": float(np.mean(dec)), "cpu_decode_s": float(np.mean(dec_cpu)),
                     "cross_device_files": 2 * len(images), "cross_device_mismatches": mismatches})
        print(f"  {model} q{q}: {len(mismatches)} / {2 * len(images)} files differ across devices", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="elic,s2lic")
    ap.add_argument("--qualities", default="1,4,8")
    ap.add_argument("--images", type=int, default=24, help="the first N Kodak images")
    ap.add_argument("--device", default="cuda", help="the first device (cpu: a self-check of this script)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "gpu"))
    args = ap.parse_args()
    images = sorted(KODAK.glob("*.png"))[: args.images]
    if not images:
        raise SystemExit(f"no Kodak images under {KODAK}")
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = [r for m in args.models.split(",") for r in run_model(m, qualities, images, args.device)]
    device = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    result = {"date": datetime.date.today().isoformat(), "device": device,
              "cpu_threads": torch.get_num_threads(), "images": [p.name for p in images],
              "command": "python bench/bench_image_gpu.py " + " ".join(
                  f"--{k} {v}" for k, v in vars(args).items() if k != "out"), "rows": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "image_gpu.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['device']}, Kodak ({len(images)} images), CPU side {result['cpu_threads']} threads")
    print(f"{'model':13} {'q':>2} {'bpp':>7} {'PSNR':>7} {'GPU enc s':>10} {'GPU dec s':>10} "
          f"{'CPU dec s':>10} {'x-device':>9}")
    for r in rows:
        print(f"{r['model']:13} {r['quality']:2d} {r['bpp']:7.3f} {r['psnr']:7.2f} {r['gpu_encode_s']:10.3f} "
              f"{r['gpu_decode_s']:10.3f} {r['cpu_decode_s']:10.3f} "
              f"{len(r['cross_device_mismatches']):>3}/{r['cross_device_files']:<3}")


if __name__ == "__main__":
    main()
