"""Is it the transforms or the entropy model? The PSNR an image model's transform pair
reaches without quantization (its ceiling), beside the PSNR with the latent rounded at
each quality (what coding gets, before the entropy model's side information).

    python scripts/transform_ceiling.py --model s2lic [--weights DIR] [--dataset ../shared/data/kodak]
        [--images 24] [--qualities 1,4,8] [--json out.json]

When the rounded PSNR at the top quality sits within a few tenths of a dB of the ceiling,
more bits cannot buy quality: the synthesis (or analysis) limits, not the entropy model.
"Rounded" rounds the latent itself; coding rounds it around the entropy model's means and
adds the latent residual prediction, so it lands close to, not exactly on, these numbers.

Analysis or synthesis? `--latent-steps N` also optimizes the latent itself for MSE through
the fixed synthesis (N Adam steps from g_a's, no quantization): the PSNR the synthesis reaches
with the best latent it can be given. Its gain over the ceiling is the analysis's
amortization gap; what it still lacks is the synthesis's own limit. Backward passes through
whole images are slow on a CPU: `--crop 256` optimizes a centre crop instead.

    python scripts/transform_ceiling.py --model s2lic --images 2 --crop 256 --latent-steps 150
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """The suite's RGB PSNR (entrozip.eval.metrics), on [0, 1] tensors before 8-bit rounding."""
    from entrozip.eval.metrics import psnr as psnr_of_arrays

    return psnr_of_arrays(a.numpy(), b.numpy(), peak=1.0)


@torch.no_grad()
def ceiling(model, x: torch.Tensor, qualities) -> dict:
    """x: 1 x 3 x H x W in [0, 1], H and W multiples of models.PAD. Returns {"ceiling": dB of
    g_s(g_a(x)), q: dB of g_s(round(g_a(x) * gain[q]) / gain[q]) for q in qualities (1-based)}."""
    y = model.analysis(x)  # tiled as coding tiles it
    out = {"ceiling": psnr(model.synthesis(y).clamp(0, 1), x)}
    for q in qualities:
        g = model.gain(q - 1)
        out[q] = psnr(model.synthesis(torch.round(y * g) / g).clamp(0, 1), x)
    return out


def synthesis_ceiling(model, x: torch.Tensor, steps: int, lr: float = 1e-2) -> float:
    """x: 1 x 3 x H x W in [0, 1], H and W multiples of models.PAD. dB of g_s(y*) where y*
    starts at the latent ceiling() measures (the analysis as coding tiles it) and takes
    `steps` Adam steps on MSE(g_s(y), x); the model is untouched."""
    with torch.no_grad():
        y = model.analysis(x)
    y.requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            opt.zero_grad()
            torch.mean((model.g_s(y) - x) ** 2).backward()
            opt.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    with torch.no_grad():
        return psnr(model.g_s(y).clamp(0, 1), x)


def main() -> None:
    from entrozip.codecs.image.io import to_rgb
    from entrozip.codecs.image.models import PAD, to_input
    from entrozip.codecs.image.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="s2lic")
    ap.add_argument("--weights", help="a folder of exported weights instead of the shipped ones")
    ap.add_argument("--dataset", default="../shared/data/kodak")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--qualities", default="1,4,8")
    ap.add_argument("--latent-steps", type=int, default=0,
                    help="also the synthesis's ceiling: the latent optimized this many Adam steps")
    ap.add_argument("--crop", type=int, help="a centre crop of this size (multiple of 64) instead of whole images")
    ap.add_argument("--json", type=Path, help="also write the per-image numbers here")
    args = ap.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    model, wid, _ = load_model(args.model, weights_dir=args.weights)
    paths = sorted(Path(args.dataset).glob("*.png"))[: args.images]
    if not paths:
        raise SystemExit(f"{args.dataset}: no PNG images")
    if args.crop is not None and (args.crop <= 0 or args.crop % PAD):
        raise SystemExit(f"--crop must be a positive multiple of {PAD}")
    rows = []
    for path in tqdm(paths, desc=f"{args.model} ceiling"):
        x = to_input(to_rgb(Image.open(path))[0])  # as the codec reads it
        h, w = (x.shape[-2] // PAD) * PAD, (x.shape[-1] // PAD) * PAD  # whole windows, no padding
        if args.crop:
            if args.crop > min(h, w):
                raise SystemExit(f"{path.name}: smaller than --crop {args.crop}")
            top, left = (h - args.crop) // 2 // PAD * PAD, (w - args.crop) // 2 // PAD * PAD
            h, w, x = args.crop, args.crop, x[..., top:, left:]
        x = x[..., :h, :w]
        row = {"image": path.name, **{str(k): v for k, v in ceiling(model, x, qualities).items()}}
        if args.latent_steps:
            row["synthesis"] = synthesis_ceiling(model, x, args.latent_steps)
        rows.append(row)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
    where = f"{args.crop}² centre crops" if args.crop else "whole images"
    print(f"{args.model} (weights {wid}), {len(rows)} images ({where}), mean PSNR RGB (dB):")
    extra = [f"latent optimized ({args.latent_steps} steps)"] if args.latent_steps else []
    print("| unquantized | " + " | ".join([f"q{q} rounded" for q in qualities] + extra) + " |")
    print("|---:|" + "---:|" * (len(qualities) + len(extra)))
    cells = [f"{mean[str(q)]:.2f}" for q in qualities] + ([f"{mean['synthesis']:.2f}"] if extra else [])
    print(f"| {mean['ceiling']:.2f} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "weights_id": wid, "crop": args.crop,
                                         "latent_steps": args.latent_steps, "mean": mean, "images": rows}, indent=1))


if __name__ == "__main__":
    main()
