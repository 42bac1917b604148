"""The image codec at scale on the CPU: a 4096 x 4096 mosaic of Kodak photos, and Kodak timings.

    python bench/bench_image_scale.py [--model elic] [--quality 4] [--size 4096] [--out docs/results]
                                      [--weights DIR] [--kodak 24]

Compress and decompress run in fresh processes so each reports its own peak
resident memory (VmHWM). The transforms run in tiles (models.py: analysis 1024 px
tiles with 64 px halos, synthesis 64-latent tiles with 4-latent halos; S2LIC's
halos are 128 px and 8 latents, whole windows at every stage), so the
PSNR in 16-pixel bands around tile borders is compared with the PSNR of the
interior. Kodak: encode/decode seconds per image (kodim01..24, one process).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"

STEP = r"""
import sys, time
import numpy as np
from PIL import Image
from entrozip import open_codec
mode, model, quality, src, dst, weights = sys.argv[1:7]
codec = open_codec("image", model=model, quality=int(quality), weights=weights or None)
codec.info()  # load the weights before the clock starts
t = time.perf_counter()
if mode == "compress":
    codec.compress_file(src, dst)
else:
    codec.decompress_file(src, dst)
seconds = time.perf_counter() - t
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(seconds, hwm / 1024)
"""


def mosaic(size: int) -> np.ndarray:
    """size x size RGB made of Kodak photos (landscape ones), row by row, offset so that
    photo seams do not fall on the codec's tile borders (multiples of 1024)."""
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(KODAK.glob("*.png"))]
    photos = [p for p in photos if p.shape[1] > p.shape[0]]
    out = np.zeros((size, size, 3), np.uint8)
    k = 0
    for y in range(-200, size, 512):
        for x in range(-300, size, 768):
            p = photos[k % len(photos)]
            k += 1
            y0, x0 = max(y, 0), max(x, 0)
            y1, x1 = min(y + 512, size), min(x + 768, size)
            out[y0:y1, x0:x1] = p[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255**2 / mse) if mse > 0 else float("inf")


def band_mask(size: int, tile: int, band: int = 16) -> np.ndarray:
    """True within `band` pixels of an internal tile border."""
    near = np.zeros(size, bool)
    for edge in range(tile, size, tile):
        near[max(edge - band, 0):edge + band] = True
    return near[:, None] | near[None, :]


def run_step(*args) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", STEP, *map(str, args)], capture_output=True, text=True, check=True)
    seconds, mib = out.stdout.split()[-2:]
    return float(seconds), float(mib)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="elic")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--weights", default="", help="a folder of exported weights (default: the shipped ones)")
    ap.add_argument("--kodak", type=int, default=24, help="Kodak images timed after the mosaic (0: none)")
    args = ap.parse_args()

    from entrozip import open_codec

    codec = open_codec("image", model=args.model, quality=args.quality, weights=args.weights or None)
    info = codec.info()
    result = {"date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPU threads, no GPU", "command": " ".join(["python"] + sys.argv),
              "model": args.model, "quality": args.quality, "weights": info["weights"], "trained": info["trained"]}
    with tempfile.TemporaryDirectory() as tmp:
        src, ezc, back = Path(tmp) / "big.png", Path(tmp) / "big.ezc", Path(tmp) / "back.png"
        img = mosaic(args.size)
        Image.fromarray(img).save(src)
        enc_s, enc_mib = run_step("compress", args.model, args.quality, src, ezc, args.weights)
        dec_s, dec_mib = run_step("decompress", args.model, args.quality, ezc, back, args.weights)
        rec = np.asarray(Image.open(back))
        bands = band_mask(args.size, codec._model(args.model)[0].ANALYSIS_TILE)
        result["big"] = {"size": args.size, "bytes": ezc.stat().st_size, "bpp": 8 * ezc.stat().st_size / args.size**2,
                         "encode_s": enc_s, "decode_s": dec_s, "encode_peak_MiB": enc_mib, "decode_peak_MiB": dec_mib,
                         "psnr": psnr(img, rec), "psnr_tile_bands": psnr(img[bands], rec[bands]),
                         "psnr_interior": psnr(img[~bands], rec[~bands])}
    times = []
    for path in sorted(KODAK.glob("*.png"))[: args.kodak]:
        a = np.asarray(Image.open(path).convert("RGB"))
        t = time.perf_counter()
        blob = codec.compress(a)
        t_enc = time.perf_counter() - t
        t = time.perf_counter()
        b = codec.decompress(blob)
        times.append((t_enc, time.perf_counter() - t, 8 * len(blob) / (a.shape[0] * a.shape[1]), psnr(a, b)))
    if times:
        t = np.array(times)
        result["kodak"] = {"images": len(times), "encode_s_mean": t[:, 0].mean(), "decode_s_mean": t[:, 1].mean(),
                           "bpp_mean": t[:, 2].mean(), "psnr_mean": t[:, 3].mean()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"image_scale_{args.model}.json").write_text(json.dumps(result, indent=1) + "\n")
    big, k = result["big"], result.get("kodak")
    print(f"model {args.model} q{args.quality}, weights {info['weights']} ({'trained' if info['trained'] else 'UNTRAINED'})")
    print(f"{'case':22} {'encode s':>9} {'decode s':>9} {'peak MiB':>9} {'bpp':>7} {'PSNR':>7}")
    print(f"{f'{args.size}x{args.size} mosaic':22} {big['encode_s']:9.1f} {big['decode_s']:9.1f} "
          f"{max(big['encode_peak_MiB'], big['decode_peak_MiB']):9.0f} {big['bpp']:7.3f} {big['psnr']:7.2f}")
    print(f"  tile-border bands {big['psnr_tile_bands']:.2f} dB vs interior {big['psnr_interior']:.2f} dB")
    if times:
        print(f"{f'Kodak (mean of {len(times)})':22} {k['encode_s_mean']:9.2f} {k['decode_s_mean']:9.2f} {'':>9} "
              f"{k['bpp_mean']:7.3f} {k['psnr_mean']:7.2f}")


if __name__ == "__main__":
    main()
