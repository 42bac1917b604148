"""The image codec on a GPU: Kodak encode/decode times and GPU<->CPU latent agreement.

    python bench/bench_image_gpu.py [--model elic] [--out docs/results]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="elic")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = ap.parse_args()
    from entrozip import open_codec
    from entrozip.eval.metrics import psnr

    rows = []
    for q in (1, 4, 8):
        gpu, cpu = (open_codec("image", model=args.model, quality=q, device=d) for d in ("cuda", "cpu"))
        enc, dec, dec_cpu, bpp, quality = [], [], [], [], []
        for path in sorted(KODAK.glob("*.png")):
            img = np.asarray(Image.open(path).convert("RGB"))
            gpu.compress(img)  # warm-up (first call per size builds kernels)
            torch.cuda.synchronize()
            t = time.perf_counter()
            blob = gpu.compress(img)
            torch.cuda.synchronize()
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = gpu.decompress(blob)
            torch.cuda.synchronize()
            dec.append(time.perf_counter() - t)
            t = time.perf_counter()
            cpu.decompress(blob)
            dec_cpu.append(time.perf_counter() - t)
            bpp.append(8 * len(blob) / (img.shape[0] * img.shape[1]))
            quality.append(psnr(img, out))
        rows.append({"quality": q, "bpp": float(np.mean(bpp)), "psnr": float(np.mean(quality)),
                     "gpu_encode_s": float(np.mean(enc)), "gpu_decode_s": float(np.mean(dec)),
                     "cpu_decode_s": float(np.mean(dec_cpu))})
    result = {"date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name(),
              "model": args.model, "command": "python bench/bench_image_gpu.py", "rows": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"image_gpu_{args.model}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['device']}, model {args.model}, Kodak (24 images)")
    print(f"{'q':>2} {'bpp':>7} {'PSNR':>7} {'GPU enc s':>10} {'GPU dec s':>10} {'CPU dec s':>10}")
    for r in rows:
        print(f"{r['quality']:2d} {r['bpp']:7.3f} {r['psnr']:7.2f} {r['gpu_encode_s']:10.3f} "
              f"{r['gpu_decode_s']:10.3f} {r['cpu_decode_s']:10.3f}")


if __name__ == "__main__":
    main()
