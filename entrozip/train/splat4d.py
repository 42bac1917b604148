"""Fit a 4DGS deformation field to known Gaussian trajectories (CPU or GPU, torch).

4DGS learns its field from posed video through a rasterizer; where the motion of
every Gaussian is known (a scene animated by a simulation, a rig, or a tracker's
output) the field can be fitted to it directly, without rendering:

    loss = |dx - dx*|^2 / extent^2 + |dq - dq*|^2 + |ds - ds*|^2 + tv x TV(planes)

over random (Gaussian, instant) pairs. Shapes: times T, targets "dx" T x N x 3,
"dq" T x N x 4 and optionally "ds" T x N x 3, all relative to the canonical cloud.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..codecs.splat.cloud import GaussianCloud
from ..codecs.splat.deform import DeformationField, FieldConfig
from ..codecs.splat.scene4d import Scene4D


def fit_field(cloud: GaussianCloud, times, targets: dict, config: FieldConfig = FieldConfig(), steps: int = 600,
              batch: int = 8192, lr_planes: float = 5e-2, lr_mlp: float = 1e-2, tv: float = 1e-4, seed: int = 0,
              progress: bool = True, device: str = "cpu") -> tuple[Scene4D, dict]:
    """(scene, log) with the field fitted to `targets` at `times` (T floats in [0, 1])."""
    times = np.asarray(times, np.float32)
    dx = np.asarray(targets["dx"], np.float32)
    t_count, n = dx.shape[:2]
    if times.shape != (t_count,) or dx.shape != (t_count, n, 3) or n != len(cloud):
        raise ValueError(f"targets must be T x N x 3 with T = {len(times)} times and N = {len(cloud)} Gaussians")
    want = {"dx": dx, "dq": np.asarray(targets["dq"], np.float32),
            "ds": np.asarray(targets.get("ds", np.zeros_like(dx)), np.float32)}
    lo, hi = cloud.means.min(0), cloud.means.max(0)
    pad = 1e-3 * max(float((hi - lo).max()), 1e-6)
    bounds = np.stack([lo - pad, hi + pad])
    extent = float((hi - lo).max()) or 1.0
    torch.manual_seed(seed)
    field = DeformationField(config, bounds, seed=seed).to(device)
    means = torch.from_numpy(cloud.means).to(device)
    tt = torch.from_numpy(times).to(device)
    goal = {k: torch.from_numpy(v).to(device) for k, v in want.items()}
    plane_params = list(field.planes.parameters())
    others = [p for n_, p in field.named_parameters() if not n_.startswith("planes.")]
    opt = torch.optim.Adam([{"params": plane_params, "lr": lr_planes}, {"params": others, "lr": lr_mlp}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr_mlp * 0.05)
    g = torch.Generator(device="cpu").manual_seed(seed)
    log = []
    bar = tqdm(range(steps), desc="fit 4DGS field", disable=not progress, leave=False)
    for step in bar:
        ti = torch.randint(0, t_count, (batch,), generator=g).to(device)
        gi = torch.randint(0, n, (batch,), generator=g).to(device)
        out = field(means[gi], tt[ti])
        err_x = (out["dx"] - goal["dx"][ti, gi]).pow(2).sum(1).mean() / extent ** 2
        err_q = (out["dq"] - goal["dq"][ti, gi]).pow(2).sum(1).mean()
        err_s = (out["ds"] - goal["ds"][ti, gi]).pow(2).sum(1).mean()
        loss = err_x + err_q + err_s + tv * field.tv_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            rms = float(err_x.detach().sqrt()) * extent
            log.append({"step": step, "loss": float(loss.detach()), "position_rms": rms})
            bar.set_postfix(position_rms=f"{rms:.4g}")
    field = field.cpu().eval()
    return Scene4D(cloud, field), {"steps": steps, "extent": extent, "log": log}
