"""The splat4d harness: 4DGS scenes x qualities -> size, rendered quality over time.

There is no trained 4DGS scene in the shared data (4DGS trains from multi-view video
on a GPU), so the evaluation scene is made from a real trained 3DGS scene: `animate`
sets it in motion (a height-dependent twist about its vertical axis and a travelling
wave, every Gaussian's centre and orientation moved as a rigid piece of the surface),
and `train.splat4d.fit_field` fits a 4DGS HexPlane field to that motion. The codec
then sees what it would see from 4DGS: canonical Gaussians + planes + MLP, where
planes carry 4DGS's initial values wherever no Gaussian trained them.

Per (scene, quality): bytes against the raw scene (INRIA .ply + float32 field), and
PSNR of the decoded scene rendered against the uncompressed 4DGS scene at TIMES
instants x views (codecs/splat/render.py, CPU), plus encode / decode seconds.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..codecs.splat.cloud import GaussianCloud
from ..codecs.splat.codec4d import QUALITIES, Splat4DCodec
from ..codecs.splat.render import orbit_cameras, render
from ..codecs.splat.scene4d import Scene4D
from ..container import parse
from .harness import provenance_common
from .splat import _psnr  # PSNR of two renders, clipped to [0, 1]


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def animate(cloud: GaussianCloud, times, twist: float = 0.5, wave: float = 0.06) -> dict:
    """Targets for fit_field: {"dx": T x N x 3, "dq": T x N x 4}. The scene turns about the
    vertical (z) axis through its median by twist x sin(2 pi t) x height / radius radians and
    rises by wave x radius x sin(2 pi (t + x / radius)); radius = the 90th percentile distance."""
    m = cloud.means.astype(np.float64)
    centre = np.median(m, axis=0)
    radius = float(np.quantile(np.linalg.norm(m - centre, axis=1), 0.9)) or 1.0
    rel = m - centre
    height = rel[:, 2] / radius
    q = cloud.quats.astype(np.float64)
    dx, dq = [], []
    for t in np.asarray(times, np.float64):
        angle = twist * np.sin(2 * np.pi * t) * height
        c, s = np.cos(angle), np.sin(angle)
        moved = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
        moved[:, 2] += wave * radius * np.sin(2 * np.pi * (t + rel[:, 0] / radius))
        dx.append(moved - rel)
        turn = np.stack([np.cos(angle / 2), np.zeros_like(angle), np.zeros_like(angle), np.sin(angle / 2)], 1)
        dq.append(_quat_mul(turn, q) - q)
    return {"dx": np.array(dx, np.float32), "dq": np.array(dq, np.float32)}


def evaluate(scene: Scene4D, name: str, qualities=None, times: int = 5, views: int = 4, size: int = 192,
             progress: bool = True) -> dict:
    """Records per quality; every render compares with the uncompressed scene at the same instant."""
    qualities = list(qualities or range(1, QUALITIES + 1))
    instants = np.linspace(0, 1, times, endpoint=False)
    cams = orbit_cameras(scene.canonical, views, size)
    reference = [[render(scene.at(t), cam) for cam in cams] for t in instants]
    records = []
    for q in tqdm(qualities, desc=f"splat4d {name}", disable=not progress):
        codec = Splat4DCodec(quality=q)
        t0 = time.perf_counter()
        blob, kept = codec.compress_scene(scene)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = codec.decompress(blob)
        dec = time.perf_counter() - t0
        psnr = [_psnr(ref, render(out.at(t), cam)) for t, row in zip(instants, reference) for ref, cam in zip(row, cams)]
        parts = Splat4DCodec.describe(parse(blob))
        records.append({"scene": name, "quality": q, "gaussians": len(scene), "kept": len(out), "bytes": len(blob),
                        "raw_bytes": scene.nbytes_raw, "ratio_vs_raw": scene.nbytes_raw / len(blob),
                        "canonical_bytes": parts["canonical_bytes"], "planes_bytes": parts["planes_bytes"],
                        "mlp_bytes": parts["mlp_bytes"], "footprint_cells": parts["plane_footprint_cells"],
                        "psnr": float(np.mean(psnr)), "psnr_min": float(np.min(psnr)),
                        "encode_s": enc, "decode_s": dec})
    return {"name": "splat4d", "meta": {**provenance_common(), "times": times, "views": views, "size": size,
                                        "renderer": "entrozip.codecs.splat.render (CPU, pure torch)"},
            "records": records}


def table(result: dict) -> str:
    rows = ["| scene | q | kept | size | x vs raw 4DGS | canonical | planes | MLP | PSNR dB (min) | enc s | dec s |",
            "|" + "---|" * 11]
    for r in result["records"]:
        rows.append(f"| {r['scene']} | {r['quality']} | {r['kept']:,} / {r['gaussians']:,} | {r['bytes'] / 1024:.1f} KiB "
                    f"| {r['ratio_vs_raw']:.1f} | {r['canonical_bytes'] / 1024:.1f} KiB | {r['planes_bytes'] / 1024:.1f} KiB "
                    f"| {r['mlp_bytes'] / 1024:.1f} KiB | {r['psnr']:.2f} ({r['psnr_min']:.2f}) | {r['encode_s']:.2f} "
                    f"| {r['decode_s']:.2f} |")
    return "\n".join(rows) + "\n"


def save(result: dict, out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "splat4d.json").write_text(json.dumps(result, indent=1))
    (out / "splat4d.md").write_text(table(result))
    return out
