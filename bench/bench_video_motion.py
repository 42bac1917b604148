"""What motion compensation buys the video codec: R frames against M frames.

    python bench/bench_video_motion.py [--video ../shared/data/video/carphone_qcif.mp4]
        [--frames 9] [--qualities 1,4,7] [--crop HxW] [--out docs/results/video/motion.json]

Real coding (rANS streams) of one I frame then N-1 inter frames of one kind, each chain
against its own previous decoded frame, at several qualities:
  R          the latent residual against the previous decoded latent (intra model)
  M, whole   the latent residual against g_a(previous decoded frame moved by whole-pixel
             block vectors), the field's bytes counted
  M          the same with half-pixel vectors: the codec's M frames
  I          every frame intra (the reference point)
Reported per chain: mean bytes per inter frame (latent + motion field), PSNR (RGB) and
rate + lambda x distortion, the objective the encoder minimises (VideoModel.frame_cost).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def run_chain(model, xs, quality: int, kind: str, size) -> dict:
    from entrozip.codecs.video import VIDEO_RDOQ

    q = quality - 1
    first = model.code_latent(model.latent(xs[0], q), None, rdoq=VIDEO_RDOQ)
    model.frame_cost(first, xs[0], q, size)
    ref, x_prev = first["y_hat_q"], first["x_hat"]
    latent_bytes, field_bytes, costs, mse = [], [], [], []
    t0 = time.perf_counter()
    for x in xs[1:]:
        y = model.latent(x, q)
        if kind == "I":
            out = model.code_latent(y, None, rdoq=VIDEO_RDOQ)
        elif kind == "R":
            out = model.code_latent(y, ref, b"R", rdoq=VIDEO_RDOQ)
        else:
            out = model.code_motion(y, x, x_prev, q, rdoq=VIDEO_RDOQ, half=kind == "M")
        costs.append(model.frame_cost(out, x, q, size))
        h, w = size
        mse.append((out["x_hat"][..., :h, :w] - x[..., :h, :w]).square().mean().item())
        latent_bytes.append(len(out["z"][0]) + sum(len(s) for s in out["y"]))
        field_bytes.append(sum(len(s) for s in out.get("side", ())))
        ref, x_prev = out["y_hat_q"], out["x_hat"]
    return {"latent_bytes": float(np.mean(latent_bytes)), "field_bytes": float(np.mean(field_bytes)),
            "psnr": float(np.mean([10 * np.log10(1 / m) for m in mse])), "cost": float(np.mean(costs)),
            "seconds_per_frame": (time.perf_counter() - t0) / (len(xs) - 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default="../shared/data/video/carphone_qcif.mp4")
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--qualities", default="1,4,7")
    p.add_argument("--crop", default=None, help="HxW: a centred crop of every frame")
    p.add_argument("--out", default="docs/results/video/motion.json")
    args = p.parse_args(argv)

    import torch

    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.video.ffmpeg_io import read_frames
    from entrozip.codecs.video.weights import load_video_model

    torch.manual_seed(0)
    model, wid, _ = load_video_model("cpu")
    meta, frames = read_frames(args.video, args.frames)
    frames = [np.asarray(f) for f in frames]
    if args.crop:
        ch, cw = map(int, args.crop.lower().split("x"))
        h, w = frames[0].shape[:2]
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        frames = [np.ascontiguousarray(f[y0:y0 + ch, x0:x0 + cw]) for f in frames]
    size = frames[0].shape[:2]
    xs = [to_input(f) for f in frames]
    rows = []
    print(f"{Path(args.video).name}, {len(frames)} frames of {size[1]}x{size[0]} (1 I, then one kind), "
          f"video weights {wid}")
    print("| quality | kind | bytes / inter frame (latent + field) | PSNR dB | rate + lambda x D | vs R |")
    print("|---:|---|---:|---:|---:|---:|")
    for quality in map(int, args.qualities.split(",")):
        res = {k: run_chain(model, xs, quality, k, size) for k in ("R", "M whole", "M", "I")}
        for kind, r in res.items():
            rows.append({"quality": quality, "kind": kind, **r})
            change = 100 * (r["cost"] / res["R"]["cost"] - 1)
            print(f"| {quality} | {kind} | {r['latent_bytes'] + r['field_bytes']:,.0f} ({r['latent_bytes']:,.0f} + "
                  f"{r['field_bytes']:,.0f}) | {r['psnr']:.2f} | {r['cost']:,.0f} | {change:+.1f} % |", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"video": Path(args.video).name, "frames": len(frames), "crop": args.crop,
                               "weights_id": wid, "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
