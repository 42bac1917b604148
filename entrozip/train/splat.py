"""Train a 3DGS scene from posed images with gsplat (CUDA only), then compress it.

    entrozip train splat ../shared/data/multiview/lego --out runs/lego

Recipe (short, one GPU run): random initial Gaussians in the cameras' common
view volume, gsplat's MCMC densification capped at `cap` Gaussians, Adam with
gsplat's default learning rates (position lr decayed 100x), loss 0.8 L1 +
0.2 (1 - SSIM), SH degree raised by one every 1000 steps, every `test_every`-th
view held out. Then `qat_steps` of quantisation-aware fine-tuning: colour,
opacity, log-scales, rotation and rest SH pass through the grids of splat
quality `qat_quality` (straight-through rounding), so the scene learns to live
on the values the codec will keep. At the end: the scene as an INRIA .ply, then
every splat quality compressed, decoded and rendered on the held-out views
against the ground-truth photos (PSNR / SSIM), next to the uncompressed
scene's and, where its extra packages import, gsplat's PngCompression.

Data: a transforms.json folder (NeRF-synthetic `camera_angle_x` or instant-ngp
`fl_x/fl_y/cx/cy/w/h`; Blender/OpenGL camera-to-world matrices; RGBA images
composited on the background; frames whose image is missing are skipped;
lens distortion coefficients are ignored).

gsplat compiles its CUDA extension on first use, so nothing here imports it
until a CUDA GPU has been seen.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import EntrozipError
from ..codecs.splat.cloud import GaussianCloud


@dataclass
class View:
    image: torch.Tensor  # H x W x 3 float in [0, 1]
    K: torch.Tensor      # 3 x 3
    viewmat: torch.Tensor  # 4 x 4 world-to-camera, OpenCV axes
    name: str


def _find_transforms(folder: Path) -> Path:
    for name in ("transforms_train.json", "transforms.json"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: no transforms_train.json or transforms.json")


def load_views(folder, downscale: int = 1, background=(1.0, 1.0, 1.0), max_side: int | None = None) -> list[View]:
    """Posed images of a transforms.json folder (see the module docstring)."""
    folder = Path(folder)
    meta = json.loads(_find_transforms(folder).read_text())
    views = []
    bg = np.asarray(background, np.float32)
    for frame in meta.get("frames", []):
        path = folder / frame["file_path"]
        if not path.suffix:
            path = path.with_suffix(".png")
        if not path.exists():
            continue
        with Image.open(path) as im:
            w0, h0 = im.size
            scale = downscale
            if max_side and max(w0, h0) / scale > max_side:
                scale = math.ceil(max(w0, h0) / max_side)
            im = im.convert("RGBA").resize((w0 // scale, h0 // scale), Image.LANCZOS) if scale > 1 else im.convert("RGBA")
            rgba = np.asarray(im, np.float32) / 255
        rgb = rgba[..., :3] * rgba[..., 3:] + bg * (1 - rgba[..., 3:])
        h, w = rgb.shape[:2]
        sx, sy = w / w0, h / h0
        if "camera_angle_x" in meta:
            fx = fy = 0.5 * w0 / math.tan(0.5 * meta["camera_angle_x"])
            cx, cy = w0 / 2, h0 / 2
        else:
            fx, fy = frame.get("fl_x", meta.get("fl_x")), frame.get("fl_y", meta.get("fl_y", meta.get("fl_x")))
            cx, cy = frame.get("cx", meta.get("cx", w0 / 2)), frame.get("cy", meta.get("cy", h0 / 2))
        K = torch.tensor([[fx * sx, 0, cx * sx], [0, fy * sy, cy * sy], [0, 0, 1]], dtype=torch.float32)
        c2w = np.array(frame["transform_matrix"], np.float64)
        c2w[:3, 1:3] *= -1  # OpenGL (y up, z back) -> OpenCV (y down, z forward)
        views.append(View(torch.from_numpy(rgb), K, torch.from_numpy(np.linalg.inv(c2w)).float(), path.name))
    if not views:
        raise ValueError(f"{folder}: no frame of its transforms has an image")
    return views


def scene_bounds(views) -> tuple[np.ndarray, float]:
    """(centre, radius): the point closest to every optical axis, and half the mean
    camera distance to it (the object sits inside)."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    origins = []
    for v in views:
        c2w = np.linalg.inv(v.viewmat.double().numpy())
        o, d = c2w[:3, 3], c2w[:3, 2] / np.linalg.norm(c2w[:3, 2])
        p = np.eye(3) - np.outer(d, d)
        a += p
        b += p @ o
        origins.append(o)
    centre = np.linalg.lstsq(a, b, rcond=None)[0]
    return centre, 0.5 * float(np.mean(np.linalg.norm(np.array(origins) - centre, axis=1)))


def _require_gpu():
    if not torch.cuda.is_available():
        raise EntrozipError("splat training renders with gsplat, which needs a CUDA GPU; torch sees none")
    import importlib.util

    if importlib.util.find_spec("gsplat") is None:  # (it compiles its CUDA extension on first use)
        raise EntrozipError("splat training needs gsplat (pip install gsplat)")


def to_cloud(params) -> GaussianCloud:
    p = {k: v.detach().float().cpu().numpy() for k, v in params.items()}
    return GaussianCloud(means=p["means"], sh_dc=p["sh0"][:, 0], sh_rest=p["shN"], opacity=p["opacities"],
                         log_scales=p["scales"], quats=p["quats"])


def render_gsplat(cloud_or_params, views, sh_degree: int, background, device="cuda"):
    """gsplat renders (C x H x W x 3) of the views; one call per view."""
    from gsplat import rasterization

    if isinstance(cloud_or_params, GaussianCloud):
        c = cloud_or_params
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float().to(device)  # noqa: E731
        params = {"means": t(c.means), "quats": t(c.quats), "scales": t(c.log_scales), "opacities": t(c.opacity),
                  "sh0": t(c.sh_dc[:, None]), "shN": t(c.sh_rest)}
        sh_degree = c.sh_degree
    else:  # a dict of tensors (training parameters, or gsplat's decompressed splats, which land on the CPU)
        params = {k: v.to(device) for k, v in cloud_or_params.items()}
    colors = torch.cat([params["sh0"], params["shN"]], 1)
    bg = torch.tensor(background, dtype=torch.float32, device=device)[None]
    out = []
    for v in views:
        h, w = v.image.shape[:2]
        img, _, _ = rasterization(params["means"], params["quats"], torch.exp(params["scales"]),
                                  torch.sigmoid(params["opacities"]), colors, v.viewmat[None].to(device),
                                  v.K[None].to(device), w, h, sh_degree=sh_degree, backgrounds=bg, packed=False)
        out.append(img[0].clamp(0, 1))
    return out


def _ste_round(x: torch.Tensor, step: float) -> torch.Tensor:
    return x + (torch.round(x / step) * step - x).detach()


def quantized_view(params, preset) -> dict:
    """The parameters as the codec's grids will keep them (straight-through gradients):
    positions and pruning are left alone, everything else is rounded to its step."""
    from ..codecs.splat.cloud import SH_C0

    out = dict(params)
    colour = _ste_round(0.5 + SH_C0 * params["sh0"], preset.color_step)
    out["sh0"] = (colour - 0.5) / SH_C0
    alpha = _ste_round(torch.sigmoid(params["opacities"]), preset.opacity_step)
    alpha = alpha.clamp(preset.opacity_step / 4, 1 - preset.opacity_step / 4)
    out["opacities"] = torch.log(alpha) - torch.log1p(-alpha)
    out["scales"] = _ste_round(params["scales"], preset.scale_step)
    q = torch.nn.functional.normalize(params["quats"], dim=1)  # smallest three, as gs3d codes them
    big = q.detach().abs().argmax(1, keepdim=True)
    q = torch.where(q.gather(1, big) < 0, -q, q)
    others = torch.ones_like(q, dtype=torch.bool).scatter_(1, big, False)
    rounded = _ste_round(q, preset.rotation_step)
    largest = torch.sqrt((1 - torch.where(others, rounded, 0).pow(2).sum(1, keepdim=True)).clamp_min(0))
    out["quats"] = torch.where(others, rounded, largest)
    out["shN"] = _ste_round(params["shN"], preset.sh_step)
    return out


def _gsplat_png_peer(cloud: GaussianCloud, out: Path, test, sh_degree, background, score) -> dict:
    """gsplat's PngCompression on the same scene (no PLAS sort; K-means needs torchpq)."""
    try:
        from gsplat.compression import PngCompression

        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float().cuda()  # noqa: E731
        splats = {"means": t(cloud.means), "scales": t(cloud.log_scales), "quats": t(cloud.quats),
                  "opacities": t(cloud.opacity), "sh0": t(cloud.sh_dc[:, None]), "shN": t(cloud.sh_rest)}
        folder = out / "gsplat_png"
        folder.mkdir(exist_ok=True)
        png = PngCompression(use_sort=False, verbose=False)
        png.compress(str(folder), splats)
        dec = png.decompress(str(folder))
        size = sum(f.stat().st_size for f in folder.iterdir())
        p, s = score(render_gsplat({k: v.float() for k, v in dec.items()}, test, sh_degree, background))
        return {"quality": "gsplat-png", "bytes": size, "ratio": cloud.nbytes_inria / size, "psnr": p, "ssim": s,
                "gaussians": len(dec["means"])}
    except Exception as exc:  # a peer that cannot run here is reported, not fatal
        return {"quality": "gsplat-png", "error": f"{type(exc).__name__}: {exc}"}


def _code_at(cloud: GaussianCloud, quality: int) -> tuple[int, GaussianCloud]:
    """(compressed bytes, decoded cloud) at one quality: a worker of the spawn pool below."""
    from ..codecs.splat import SplatCodec

    blob = SplatCodec(quality=quality).compress(cloud)
    return len(blob), SplatCodec().decompress(blob)


def code_every_quality(cloud: GaussianCloud, qualities) -> dict:
    """{quality: (bytes, decoded cloud)}, the qualities coded side by side in spawned
    processes (the codec is CPU work; spawn, not fork, beside a CUDA context)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    qualities = list(qualities)
    with ProcessPoolExecutor(max_workers=min(len(qualities), mp.cpu_count()),
                             mp_context=mp.get_context("spawn")) as pool:
        return dict(zip(qualities, pool.map(_code_at, [cloud] * len(qualities), qualities)))


def train(data, out, iterations: int = 7000, cap: int = 150_000, sh_degree: int = 3, test_every: int = 8,
          init_points: int = 100_000, max_side: int | None = 800, background=(1.0, 1.0, 1.0), seed: int = 0,
          qualities=None, qat_steps: int = 1000, qat_quality: int = 3, progress: bool = True) -> dict:
    """Train a scene on `data` (GPU), write OUT/scene.ply and OUT/splat_train.json."""
    _require_gpu()
    from gsplat import MCMCStrategy
    from pytorch_msssim import ssim

    from ..codecs.splat import QUALITIES, gs3d
    from ..codecs.splat.ply import write_ply

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    views = load_views(data, max_side=max_side, background=background)
    test = views[::test_every]
    train_views = [v for i, v in enumerate(views) if i % test_every] or views
    centre, radius = scene_bounds(views)
    dev = "cuda"
    n = init_points
    means = (torch.rand(n, 3) * 2 - 1) * radius + torch.from_numpy(centre).float()
    params = torch.nn.ParameterDict({
        "means": means, "scales": torch.full((n, 3), math.log(radius / 100)),
        "quats": torch.nn.functional.normalize(torch.randn(n, 4), dim=1),
        "opacities": torch.full((n,), math.log(0.1 / 0.9)), "sh0": torch.rand(n, 1, 3) * 0.5 - 0.25,
        "shN": torch.zeros(n, (sh_degree + 1) ** 2 - 1, 3)}).to(dev)
    lrs = {"means": 1.6e-4 * radius, "scales": 5e-3, "quats": 1e-3, "opacities": 5e-2, "sh0": 2.5e-3,
           "shN": 2.5e-3 / 20}
    optimizers = {k: torch.optim.Adam([{"params": params[k], "lr": lr, "name": k}], eps=1e-15)
                  for k, lr in lrs.items()}
    decay = 0.01 ** (1 / iterations)
    strategy = MCMCStrategy(cap_max=cap, refine_stop_iter=int(iterations * 0.9))
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state()
    bg = torch.tensor(background, dtype=torch.float32, device=dev)[None]
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    bar = tqdm(range(iterations + qat_steps), desc="train splat", disable=not progress)
    from gsplat import rasterization

    preset = gs3d.PRESETS[qat_quality]
    for step in bar:
        v = train_views[rng.integers(len(train_views))]
        gt = v.image.to(dev)
        h, w = gt.shape[:2]
        p = params if step < iterations else quantized_view(params, preset)
        img, _, info = rasterization(p["means"], p["quats"], torch.exp(p["scales"]),
                                     torch.sigmoid(p["opacities"]), torch.cat([p["sh0"], p["shN"]], 1),
                                     v.viewmat[None].to(dev), v.K[None].to(dev), w, h,
                                     sh_degree=min(step // 1000, sh_degree), backgrounds=bg, packed=False)
        img = img[0]
        l1 = (img - gt).abs().mean()
        loss = 0.8 * l1 + 0.2 * (1 - ssim(img.permute(2, 0, 1)[None], gt.permute(2, 0, 1)[None], data_range=1.0))
        loss = loss + 0.01 * torch.sigmoid(params["opacities"]).mean() + 0.01 * torch.exp(params["scales"]).mean()
        loss.backward()
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        if step < iterations:  # the Gaussian set is fixed during quantisation-aware fine-tuning
            optimizers["means"].param_groups[0]["lr"] *= decay
            strategy.step_post_backward(params, optimizers, state, step, info,
                                        lr=optimizers["means"].param_groups[0]["lr"])
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", gaussians=len(params["means"]))
    minutes = (time.perf_counter() - start) / 60
    cloud = to_cloud(params)
    write_ply(cloud, out / "scene.ply")

    def score(images):
        p = [float(-10 * torch.log10(((i - v.image.to(dev)) ** 2).mean())) for i, v in zip(images, test)]
        s = [float(ssim(i.permute(2, 0, 1)[None], v.image.to(dev).permute(2, 0, 1)[None], data_range=1.0))
             for i, v in zip(images, test)]
        return float(np.mean(p)), float(np.mean(s))

    with torch.no_grad():
        psnr, ssim_v = score(render_gsplat(cloud, test, sh_degree, background))
        rows = [{"quality": None, "bytes": cloud.nbytes_inria, "ratio": 1.0, "psnr": psnr, "ssim": ssim_v,
                 "gaussians": len(cloud)}]
        for q, (size, dec) in code_every_quality(cloud, qualities or range(1, QUALITIES + 1)).items():
            p, s = score(render_gsplat(dec, test, sh_degree, background))
            rows.append({"quality": q, "bytes": size, "ratio": cloud.nbytes_inria / size, "psnr": p,
                         "ssim": s, "psnr_loss": psnr - p, "gaussians": len(dec)})
        peer = _gsplat_png_peer(cloud, out, test, sh_degree, background, score)
        if "psnr" in peer:
            peer["psnr_loss"] = psnr - peer["psnr"]
        rows.append(peer)
    result = {"data": str(data), "iterations": iterations, "qat_steps": qat_steps, "qat_quality": qat_quality,
              "cap": cap, "minutes": minutes, "train_views": len(train_views),
              "test_views": len(test), "device": torch.cuda.get_device_name(), "rows": rows}
    (out / "splat_train.json").write_text(json.dumps(result, indent=1))
    return result
