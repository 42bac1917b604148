"""Video coding speed on the GPU against the CPU, same run, and cross-device decoding.

    python bench/bench_video_gpu.py [--frames 16] [--size 512x768] [--out DIR]

Frames: a window drifting over the bundled Kodak photo (no ffmpeg needed, so the
GPU machine needs no extra wheel). Each device compresses the clip (one I frame,
then P frames) and decompresses it; the GPU's file is also decoded on the CPU.
Reported: frames per second both ways, bytes, and whether the GPU file decodes on
the CPU to frames within 2 levels of the GPU's own decode (same latents; the float
synthesis may move a last bit).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import entrozip


def clip(n: int, h: int, w: int) -> list[np.ndarray]:
    photo = np.asarray(Image.open(Path(entrozip.__file__).parent / "data" / "kodim23.png").convert("RGB"))
    if photo.shape[0] < photo.shape[1] and h > w:
        photo = photo.transpose(1, 0, 2)
    h, w = min(h, photo.shape[0] - n), min(w, photo.shape[1] - 2 * n)
    return [np.ascontiguousarray(photo[t:t + h, 2 * t:2 * t + w]) for t in range(n)]


def run(device: str, frames, quality: int) -> dict:
    codec = entrozip.open_codec("video", quality=quality, device=device, intra_period=len(frames))
    codec.compress(frames[:2])  # warm-up (model load, kernels)
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    blob = codec.compress(frames)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    out = list(codec.decompress(blob))
    dec = time.perf_counter() - t
    return {"blob": blob, "frames_out": out, "encode_fps": len(frames) / enc, "decode_fps": len(frames) / dec}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", default="512x768")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--out", default="docs/results")
    a = ap.parse_args()
    h, w = map(int, a.size.split("x"))
    frames = clip(a.frames, h, w)
    res = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu only",
           "date": time.strftime("%Y-%m-%d"), "frames": len(frames), "size": list(frames[0].shape[:2])}
    runs = {d: run(d, frames, a.quality) for d in (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]}
    if "cuda" in runs:
        cpu_dec = list(entrozip.open_codec("video", device="cpu").decompress(runs["cuda"]["blob"]))
        res["gpu_file_on_cpu_max_diff"] = int(max(np.abs(x.astype(int) - y.astype(int)).max()
                                                 for x, y in zip(cpu_dec, runs["cuda"]["frames_out"])))
    for d, r in runs.items():
        res[d] = {"bytes": len(r["blob"]), "encode_fps": r["encode_fps"], "decode_fps": r["decode_fps"],
                  "bpp": 8 * len(r["blob"]) / (len(frames) * frames[0].shape[0] * frames[0].shape[1])}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "bench_video_gpu.json").write_text(json.dumps(res, indent=1))
    print(f"\n{res['device']}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, quality {a.quality}")
    print(f"{'device':8} {'encode fps':>10} {'decode fps':>10} {'bpp':>8}")
    for d in runs:
        print(f"{d:8} {res[d]['encode_fps']:10.2f} {res[d]['decode_fps']:10.2f} {res[d]['bpp']:8.4f}")
    if "gpu_file_on_cpu_max_diff" in res:
        print(f"GPU file decoded on the CPU: max pixel difference {res['gpu_file_on_cpu_max_diff']} (latents exact)")


if __name__ == "__main__":
    main()
