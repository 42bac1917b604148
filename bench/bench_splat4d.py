"""4DGS scenes: the splat4d codec next to the lossless peers and frame-by-frame 3DGS coding, same run.

    python bench/bench_splat4d.py [--scenes fruit_drops_minimal,guitar.compressed] [--frames 24]
                                  [--steps 1500] [--cap 40000] [--out docs/results/splat4d] [--save DIR | --load DIR]

No trained 4DGS scene exists in ../shared/data, so each real 3DGS scene is set in
motion (eval.splat4d.animate: a twist and a travelling wave over `frames` frames of
a one-second clip) and a 4DGS HexPlane field is fitted to that motion
(train.splat4d.fit_field, `steps` Adam steps on the CPU). Scenes above `cap`
Gaussians keep every k-th one (the CPU renderer and the fit stay in minutes).

Per scene and quality: the coded size and its parts against the raw 4DGS scene
(INRIA .ply + float32 field), PSNR of renders of the decoded scene against the
uncompressed scene at 5 instants x 4 views (192 x 192), encode / decode seconds;
next to it, in the same run:
  - zlib -9 and xz of the raw scene's files (lossless);
  - frame-wise 3DGS: the splat codec on each of the clip's `frames` deformed frames
    at the same quality (what a codec without a motion model stores), PSNR at the
    same instants and views;
  - ablations at quality 3: the plane coder against order-0 coding of the same
    integers, and against coding the whole plane (no footprint); the MLP as float16.
Writes OUT/splat4d.json, OUT/splat4d.md and OUT/splat4d_rd.png.
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from entrozip.codecs.splat import SplatCodec, gs3d, gs4d, planes
from entrozip.codecs.splat.deform import FieldConfig, is_time_plane
from entrozip.codecs.splat.ply import inria_bytes, read_ply
from entrozip.codecs.splat.render import orbit_cameras, render
from entrozip.codecs.splat.scene4d import Scene4D
from entrozip.entropy_models import semistatic as ss
from entrozip.eval.bdrate import bd_rate
from entrozip.eval.harness import provenance_common
from entrozip.eval.splat import _psnr
from entrozip.eval.splat4d import animate, evaluate, table
from entrozip.train.splat4d import fit_field

INSTANTS, VIEWS, SIZE = 5, 4, 192


def raw_files(scene) -> bytes:
    from safetensors.numpy import save

    return inria_bytes(scene.canonical) + save(scene.field.arrays())


def ablations(scene, quality: int = 3) -> dict:
    """The plane coder against order-0 coding and against coding whole planes; the MLP
    against float16 (all at the steps the encoder chose at `quality`)."""
    f, cfg = scene.field, scene.field.config
    header, sections, _ = gs4d.encode(scene, gs4d.PRESETS[quality])
    canonical = {k[len(gs4d.CANONICAL_PREFIX):]: v for k, v in sections if k.startswith(gs4d.CANONICAL_PREFIX)}
    means = gs3d.decode(header["canonical"], canonical).means
    masks = gs4d.footprint(cfg, f.bounds.numpy(), means)
    values = [f.plane(s, p).detach().numpy() for s, p in cfg.plane_keys()]
    steps = header["plane_steps"]
    ints = [np.where(m, np.round(v / st), 0).astype(np.int64) for v, m, st in zip(values, masks, steps)]
    kinds = [is_time_plane(p) for _, p in cfg.plane_keys()]
    coded = sum(len(s) for s in planes.encode(ints, masks, kinds))
    order0 = len(ss.encode_ints(np.concatenate([q[:, m].ravel() for q, m in zip(ints, masks)])))
    whole = [np.round(v / st).astype(np.int64) for v, st in zip(values, steps)]
    no_footprint = sum(len(s) for s in planes.encode(whole, [np.ones(m.shape, bool) for m in masks], kinds))
    mlp = f.mlp_arrays()
    return {"quality": quality, "field_choice": header["field_choice"],
            "footprint_cells": int(sum(m.sum() for m in masks)),
            "plane_cells": int(sum(m.size for m in masks)), "planes_coded": coded, "planes_order0": order0,
            "planes_without_footprint": no_footprint, "mlp_coded": len(dict(sections)["mlp"]),
            "mlp_float16": 2 * int(sum(a.size for a in mlp.values()))}


def framewise(scene, frames: int, qualities, cams, reference) -> list[dict]:
    """The splat codec on every frame of the clip; PSNR at the evaluation instants."""
    instants = np.linspace(0, 1, INSTANTS, endpoint=False)
    clip = np.linspace(0, 1, frames, endpoint=False)
    out = []
    for q in qualities:
        codec = SplatCodec(quality=q)
        t0 = time.perf_counter()
        total = sum(len(codec.compress(scene.at(t))) for t in clip)
        enc = time.perf_counter() - t0
        psnr = [_psnr(ref, render(codec.decompress(codec.compress(scene.at(t))), cam))
                for t, row in zip(instants, reference) for ref, cam in zip(row, cams)]
        out.append({"quality": q, "bytes": total, "frames": frames, "psnr": float(np.mean(psnr)),
                    "psnr_min": float(np.min(psnr)), "encode_s": enc})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/splat")
    ap.add_argument("--scenes", default="fruit_drops_minimal,guitar.compressed")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--cap", type=int, default=40000)
    ap.add_argument("--qualities", default="1,2,3,4,5,6")
    ap.add_argument("--out", default="docs/results/splat4d")
    ap.add_argument("--save", default=None, help="also write each fitted scene as a 4DGS folder here "
                                                 "(input for entrozip compress / eval splat4d)")
    ap.add_argument("--load", default=None, help="read the fitted scenes a --save run wrote here instead of "
                                                 "fitting them again (same scenes: the fit is seeded)")
    args = ap.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"name": "splat4d", "meta": {**provenance_common(), "frames": args.frames, "steps": args.steps,
                                          "instants": INSTANTS, "views": VIEWS, "size": SIZE,
                                          "field": FieldConfig().to_json()}, "scenes": []}
    for name in args.scenes.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cloud, _ = read_ply(Path(args.data) / f"{name}.ply")
        source_n = len(cloud)
        if len(cloud) > args.cap:
            cloud = cloud.take(np.arange(0, len(cloud), -(-len(cloud) // args.cap)))
        times = np.linspace(0, 1, args.frames, endpoint=False)
        targets = animate(cloud, times)
        t0 = time.perf_counter()
        if args.load:
            scene = Scene4D.read(Path(args.load) / name)
            moved = np.array([scene.at(t).means - cloud.means for t in times])
            log = {"log": [{"position_rms": float(np.sqrt(((moved - targets["dx"]) ** 2).sum(-1).mean()))}],
                   "extent": float((cloud.means.max(0) - cloud.means.min(0)).max())}
        else:
            scene, log = fit_field(cloud, times, targets, steps=args.steps)
        fit_s = time.perf_counter() - t0
        if args.save:
            scene.write(Path(args.save) / name)
        motion = float(np.sqrt((targets["dx"] ** 2).sum(-1).mean()))
        raw = raw_files(scene)
        peers = {"raw": len(raw), "zlib9": len(zlib.compress(raw, 9)), "xz": len(lzma.compress(raw, preset=6))}
        rd = evaluate(scene, name, qualities, times=INSTANTS, views=VIEWS, size=SIZE)
        cams = orbit_cameras(scene.canonical, VIEWS, SIZE)
        reference = [[render(scene.at(t), cam) for cam in cams] for t in np.linspace(0, 1, INSTANTS, endpoint=False)]
        entry = {"scene": name, "source_gaussians": source_n, "gaussians": len(cloud),
                 "fit": {"seconds": None if args.load else fit_s, "loaded_from": args.load, "motion_rms": motion, "position_rms": log["log"][-1]["position_rms"],
                         "extent": log["extent"]},
                 "peers": peers, "records": rd["records"],
                 "framewise_3dgs": framewise(scene, args.frames, qualities, cams, reference),
                 "ablation": ablations(scene)}
        fw = entry["framewise_3dgs"]
        entry["bd_rate_vs_framewise_percent"] = None if len(fw) < 4 else bd_rate(  # needs 4 points a curve
            [f["bytes"] for f in fw], [f["psnr"] for f in fw], [r["bytes"] for r in rd["records"]],
            [r["psnr"] for r in rd["records"]])
        result["scenes"].append(entry)
        print(f"{name}: {len(cloud):,} Gaussians, fit {'loaded' if args.load else f'{fit_s:.0f} s'} (position RMS {entry['fit']['position_rms']:.4g} "
              f"of motion {motion:.4g}); raw {len(raw) / 1024:.0f} KiB, zlib {peers['zlib9'] / 1024:.0f}, "
              f"xz {peers['xz'] / 1024:.0f}")
        print(table(rd))
        for f in entry["framewise_3dgs"]:
            print(f"  frame-wise 3DGS q{f['quality']}: {f['bytes'] / 1024:.0f} KiB for {f['frames']} frames, "
                  f"PSNR {f['psnr']:.2f}")
        print("  ablation:", json.dumps(entry["ablation"]))
        if entry["bd_rate_vs_framewise_percent"] is not None:
            print(f"  BD-rate of splat4d against frame-wise 3DGS: {entry['bd_rate_vs_framewise_percent']:+.1f} %")
    (out / "splat4d.json").write_text(json.dumps(result, indent=1))
    (out / "splat4d.md").write_text(markdown(result))
    plot(result, out / "splat4d_rd.png")
    print(f"results: {out}/splat4d.json, splat4d.md, splat4d_rd.png")


def markdown(result: dict) -> str:
    lines = []
    for e in result["scenes"]:
        p = e["peers"]
        lines.append(f"### {e['scene']} ({e['gaussians']:,} Gaussians, {result['meta']['frames']} frames)\n")
        lines.append(f"raw 4DGS {p['raw'] / 1024:.0f} KiB, zlib -9 {p['zlib9'] / 1024:.0f} KiB "
                     f"({p['raw'] / p['zlib9']:.2f}x), xz {p['xz'] / 1024:.0f} KiB ({p['raw'] / p['xz']:.2f}x)\n")
        lines.append("| q | splat4d | x vs raw | canonical | planes | MLP | PSNR dB (min) | frame-wise 3DGS | PSNR dB "
                     "| splat4d / frame-wise |")
        lines.append("|" + "---|" * 10)
        for r, f in zip(e["records"], e["framewise_3dgs"]):
            lines.append(f"| {r['quality']} | {r['bytes'] / 1024:.1f} KiB | {r['ratio_vs_raw']:.1f} "
                         f"| {r['canonical_bytes'] / 1024:.1f} | {r['planes_bytes'] / 1024:.1f} "
                         f"| {r['mlp_bytes'] / 1024:.1f} | {r['psnr']:.2f} ({r['psnr_min']:.2f}) "
                         f"| {f['bytes'] / 1024:.0f} KiB | {f['psnr']:.2f} | {r['bytes'] / f['bytes']:.3f} |")
        if e["bd_rate_vs_framewise_percent"] is not None:
            lines.append(f"\nBD-rate against frame-wise 3DGS coding: {e['bd_rate_vs_framewise_percent']:+.1f} %")
        a = e["ablation"]
        lines.append(f"\nablation (q{a['quality']}): planes {a['planes_coded']:,} B; order 0 {a['planes_order0']:,} B; "
                     f"without the footprint ({a['footprint_cells']:,} of {a['plane_cells']:,} cells) "
                     f"{a['planes_without_footprint']:,} B; MLP {a['mlp_coded']:,} B (float16 {a['mlp_float16']:,} B)\n")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(result["scenes"]), figsize=(5.5 * len(result["scenes"]), 4), squeeze=False)
    for ax, e in zip(axes[0], result["scenes"]):
        ax.plot([r["bytes"] / 1024 for r in e["records"]], [r["psnr"] for r in e["records"]], "o-", label="splat4d")
        ax.plot([f["bytes"] / 1024 for f in e["framewise_3dgs"]], [f["psnr"] for f in e["framewise_3dgs"]], "s--",
                label=f"splat (3DGS) per frame, {result['meta']['frames']} frames")
        ax.set_xscale("log")
        ax.set_xlabel("KiB for the clip")
        ax.set_ylabel("PSNR vs uncompressed 4DGS (dB)")
        ax.set_title(e["scene"])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110)
    path.write_bytes(buf.getvalue())


if __name__ == "__main__":
    main()
