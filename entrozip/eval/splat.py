"""The splat harness: scenes x qualities -> size, rendered quality, attribute errors.

Per (scene, quality) it records the coded size against the source file and the
scene as an INRIA float .ply (the issue's yardstick: pruning and the dropped
normals count), rendered PSNR / SSIM of the decoded scene against the source
scene over a fixed orbit (codecs/splat/render.py on the CPU: same cameras for
both), attribute-domain errors, and encode / decode seconds. Records are
appended to OUT/raw/splat.jsonl as made, so an interrupted run resumes.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..codecs.splat import QUALITIES, SplatCodec
from ..codecs.splat.cloud import SH_C0
from ..codecs.splat.render import orbit_cameras, render
from . import metrics
from .harness import provenance_common, resume_log


def scene_files(path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".ply")
    if not files:
        raise ValueError(f"{path} holds no .ply scenes")
    return files


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two renders (float, [0, 1] after clipping)."""
    return metrics.psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), peak=1.0)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from pytorch_msssim import ssim

    t = lambda x: torch.from_numpy(np.clip(x, 0, 1)).permute(2, 0, 1)[None].float()  # noqa: E731
    return float(ssim(t(a), t(b), data_range=1.0))


def attribute_errors(ref, out, tolerance=None) -> dict:
    """Errors of decoded attributes against the source Gaussians they came from."""
    alpha = lambda c: 1 / (1 + np.exp(-c.opacity.astype(np.float64)))  # noqa: E731
    col = lambda c: 0.5 + SH_C0 * c.sh_dc.astype(np.float64)  # noqa: E731
    pos = np.abs(out.means.astype(np.float64) - ref.means)
    q_ref, q_out = ref.normalized_quats().astype(np.float64), out.normalized_quats().astype(np.float64)
    angle = 2 * np.degrees(np.arccos(np.clip(np.abs((q_ref * q_out).sum(1)), 0, 1)))
    e = {"position_max": float(pos.max()),
         "color_rmse": float(np.sqrt(np.mean((col(out) - col(ref)) ** 2))),
         "alpha_rmse": float(np.sqrt(np.mean((alpha(out) - alpha(ref)) ** 2))),
         "log_scale_rmse": float(np.sqrt(np.mean((out.log_scales - ref.log_scales) ** 2))),
         "rotation_mean_degrees": float(angle.mean())}
    if tolerance is not None:
        e["position_max_over_source_step"] = float((pos / tolerance).max())
    if ref.sh_rest.size:
        e["sh_rest_rmse"] = float(np.sqrt(np.mean((out.sh_rest - ref.sh_rest) ** 2)))
    return e


def measure(path: Path, scene, quality: int, cams, reference_images) -> dict:
    """One (scene, quality) record; scene = SplatCodec.read_source(path)."""
    cloud, tolerance, source = scene
    codec = SplatCodec(quality=quality)
    t = time.perf_counter()
    blob, kept = codec.compress_scene(cloud, tolerance, source)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    out = codec.decompress(blob)
    dec = time.perf_counter() - t
    images = [render(out, cam) for cam in cams]
    psnr = [_psnr(r, i) for r, i in zip(reference_images, images)]
    return {"scene": path.name, "quality": quality, "gaussians": len(cloud), "kept": len(out),
            "bytes": len(blob), "source_bytes": source["bytes"], "inria_bytes": source["inria_bytes"],
            "ratio_vs_inria_ply": source["inria_bytes"] / len(blob), "ratio_vs_source": source["bytes"] / len(blob),
            "bits_per_source_gaussian": 8 * len(blob) / len(cloud),
            "psnr": float(np.mean(psnr)), "psnr_min": float(np.min(psnr)),
            "ssim": float(np.mean([_ssim(r, i) for r, i in zip(reference_images, images)])),
            "encode_s": enc, "decode_s": dec,
            **attribute_errors(cloud.take(kept), out, None if tolerance is None else tolerance[kept])}


def evaluate(dataset, out, qualities=None, views: int = 4, size: int = 256, progress: bool = True) -> dict:
    """Evaluate every .ply scene of `dataset` (a folder or one file) at `qualities`."""
    out = Path(out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    qualities = list(qualities or range(1, QUALITIES + 1))
    log = out / "raw" / "splat.jsonl"
    records = resume_log(log)
    done = {(r["scene"], r["quality"]) for r in records}
    scenes = scene_files(dataset)
    todo = [(p, q) for p in scenes for q in qualities if (p.name, q) not in done]
    bar = tqdm(total=len(todo), desc="splat eval", unit="run", disable=not progress)
    for path in scenes:
        mine = [q for p, q in todo if p == path]
        if not mine:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # properties a 3DGS scene does not have
            scene = SplatCodec().read_source(path)
        cams = orbit_cameras(scene[0], views, size)
        reference = [render(scene[0], cam) for cam in cams]
        for q in mine:
            rec = measure(path, scene, q, cams, reference)
            records.append(rec)
            with open(log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            bar.set_postfix(scene=path.name[:20], q=q, ratio=f"{rec['ratio_vs_inria_ply']:.1f}",
                            psnr=f"{rec['psnr']:.2f}")
            bar.update()
    bar.close()
    result = {"name": "splat", "description": "entrozip splat codec (post-training), rendered on a fixed orbit",
              "meta": {**provenance_common(), "dataset": str(dataset), "views": views, "size": size,
                       "renderer": "entrozip.codecs.splat.render (CPU, pure torch)"},
              "records": sorted(records, key=lambda r: (r["scene"], r["quality"]))}
    (out / "splat.json").write_text(json.dumps(result, indent=1))
    return result


def table(result: dict) -> str:
    """Markdown: one row per scene and quality."""
    rows = ["| scene | q | Gaussians kept | size | x vs INRIA .ply | x vs source | bits/Gaussian | PSNR dB | SSIM | "
            "pos. err / source step | enc s | dec s |", "|" + "---|" * 12]
    for r in result["records"]:
        step = r.get("position_max_over_source_step")
        rows.append(f"| {r['scene']} | {r['quality']} | {r['kept']:,} / {r['gaussians']:,} | {r['bytes'] / 1024:.0f} KiB "
                    f"| {r['ratio_vs_inria_ply']:.1f} | {r['ratio_vs_source']:.2f} | {r['bits_per_source_gaussian']:.1f} "
                    f"| {r['psnr']:.2f} | {r['ssim']:.4f} | {'-' if step is None else f'{step:.2f}'} "
                    f"| {r['encode_s']:.2f} | {r['decode_s']:.2f} |")
    return "\n".join(rows) + "\n"


def plot(result: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for scene in sorted({r["scene"] for r in result["records"]}):
        rs = sorted((r for r in result["records"] if r["scene"] == scene), key=lambda r: r["quality"])
        ax[0].plot([r["ratio_vs_inria_ply"] for r in rs], [r["psnr"] for r in rs], "o-", label=scene)
        ax[1].plot([r["bits_per_source_gaussian"] for r in rs], [r["ssim"] for r in rs], "o-", label=scene)
    ax[0].set(xscale="log", xlabel="compression ratio vs INRIA float .ply", ylabel="rendered PSNR vs source (dB)")
    ax[1].set(xlabel="bits per source Gaussian", ylabel="rendered SSIM vs source")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"entrozip splat, {result['meta']['views']} orbit views at {result['meta']['size']} px")
    fig.tight_layout()
    path = Path(out) / "splat_rd.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
