"""What the encoders' rate-distortion decisions buy: RD-optimised rounding and intra refresh.

    python bench/bench_encoder_rdo.py image [--models elic,s2lic] [--images 1,2,3] [--qualities 2,5,8]
                                            [--kappas 0,16,20,32]
    python bench/bench_encoder_rdo.py video [--video ../shared/data/video/carphone_qcif.mp4] [--frames 33]
                                            [--crop HxW] [--qualities 1,4,7] [--settings "P,R:0;P,R,I:0;P,R,I:20"]

Real files through the codecs' own options (decoded by a fresh codec, as a reader would):
for each setting, bpp, PSNR (RGB) and the objective every model was trained for at that
quality, rate + lambda x distortion = bpp + lambda_q x 255^2 x MSE, with its change against
the first setting. Images: Kodak files (`--kodak DIR`), each model and kappa of
entropy_models/rdoq.py (0 rounds to nearest). Video: the first N frames of a clip, optionally
a centred crop, each setting `INTER_KINDS:KAPPA` (the video codec's inter_kinds and rdoq),
with the frame kinds the encoder chose. JSON to --out.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def rd_point(rgbs, decoded, nbytes: int, quality: int) -> dict:
    """bpp, PSNR (of the MSE over every pixel) and the trained objective (default.rd_costs)."""
    from entrozip.codecs.image.default import rd_costs

    pixels = sum(r.shape[0] * r.shape[1] for r in rgbs)
    sq = sum(float(np.sum((d.astype(np.float64) - r) ** 2)) / 3 for r, d in zip(rgbs, decoded))
    bpp, psnr = 8 * nbytes / pixels, 10 * np.log10(255**2 * pixels / sq)
    return {"bpp": bpp, "psnr": psnr, "cost": rd_costs([quality], [bpp], [psnr])[quality]}


def bench_image(args) -> list[dict]:
    from PIL import Image

    import entrozip

    ids = [int(i) for i in args.images.split(",")]
    rgbs = [np.asarray(Image.open(Path(args.kodak) / f"kodim{i:02d}.png").convert("RGB")) for i in ids]
    rows = []
    for model in args.models.split(","):
        for q in (int(v) for v in args.qualities.split(",")):
            base = None
            for kappa in (float(k) for k in args.kappas.split(",")):
                codec = entrozip.open_codec("image", model=model, quality=q, rdoq=kappa, device="cpu")
                t0 = time.perf_counter()
                blobs = [codec.compress(r) for r in rgbs]
                enc = time.perf_counter() - t0
                dec = [entrozip.open_codec("image").decompress(b) for b in blobs]
                row = {"model": model, "quality": q, "kappa": kappa, "images": ids, "encode_s": enc,
                       **rd_point(rgbs, dec, sum(map(len, blobs)), q)}
                base = base or row["cost"]
                row["cost_change"] = row["cost"] / base - 1
                rows.append(row)
                print(f"{model:6} q{q} kappa {kappa:5g}  bpp {row['bpp']:.4f}  PSNR {row['psnr']:.3f}  "
                      f"cost {row['cost']:.4f} ({100 * row['cost_change']:+.2f} %)  encode {enc:.1f} s", flush=True)
    return rows


def bench_video(args) -> list[dict]:
    import entrozip
    from entrozip.container import parse
    from entrozip.codecs.video.ffmpeg_io import read_frames

    _, frames = read_frames(args.video, args.frames)
    frames = [np.asarray(f) for f in frames]
    if args.crop:
        ch, cw = (int(v) for v in args.crop.split("x"))
        h, w = frames[0].shape[:2]
        top, left = (h - ch) // 4 * 2, (w - cw) // 4 * 2
        frames = [np.ascontiguousarray(f[top:top + ch, left:left + cw]) for f in frames]
    rows = []
    for q in (int(v) for v in args.qualities.split(",")):
        base = None
        for setting in args.settings.split(";"):
            kinds, kappa = setting.split(":")
            codec = entrozip.open_codec("video", quality=q, inter_kinds=kinds.split(","), rdoq=float(kappa),
                                        device="cpu")
            t0 = time.perf_counter()
            blob = codec.compress(frames)
            enc = time.perf_counter() - t0
            dec = list(entrozip.open_codec("video").decompress(blob))
            row = {"video": Path(args.video).name, "frames": len(frames), "size": list(frames[0].shape[:2]),
                   "quality": q, "inter_kinds": kinds, "kappa": float(kappa), "encode_s": enc,
                   "frame_kinds": codec.describe(parse(blob))["frame_kinds"], **rd_point(frames, dec, len(blob), q)}
            base = base or row["cost"]
            row["cost_change"] = row["cost"] / base - 1
            rows.append(row)
            print(f"q{q} {kinds:6} kappa {float(kappa):4g}  bpp {row['bpp']:.4f}  PSNR {row['psnr']:.2f}  "
                  f"cost {row['cost']:.4f} ({100 * row['cost_change']:+.2f} %)  kinds {row['frame_kinds']}  "
                  f"encode {enc:.1f} s", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    im = sub.add_parser("image")
    im.add_argument("--kodak", default="../shared/data/kodak")
    im.add_argument("--models", default="elic,s2lic")
    im.add_argument("--images", default="1,2,3")
    im.add_argument("--qualities", default="2,5,8")
    im.add_argument("--kappas", default="0,16,20,32")
    vi = sub.add_parser("video")
    vi.add_argument("--video", default="../shared/data/video/carphone_qcif.mp4")
    vi.add_argument("--frames", type=int, default=33)
    vi.add_argument("--crop", default=None, help="HxW, centred (multiples of 2)")
    vi.add_argument("--qualities", default="1,4,7")
    vi.add_argument("--settings", default="P,R:0;P,R,I:0;P,R,I:20")
    for p in (im, vi):
        p.add_argument("--out", default="docs/results/rdo")
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    rows = bench_image(args) if args.what == "image" else bench_video(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "image" if args.what == "image" else f"video-{Path(args.video).stem}-{len(rows) and rows[0]['frames']}"
    (out / f"{name}.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "command": vars(args),
                                                  "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
