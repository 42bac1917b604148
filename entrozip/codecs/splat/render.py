"""A small pure-torch 3DGS rasterizer: the CPU reference for evaluation and tests.

It follows the 3DGS image formation (EWA splatting): each Gaussian projects to a
2D Gaussian (covariance J W Sigma W^T J^T + 0.3 I, the same low-pass as the
reference CUDA rasterizer), colours come from the view-dependent SH, and pixels
composite front to back, alpha = min(0.99, opacity * exp(-d^T Sigma2D^-1 d / 2)),
skipping alpha < 1/255. Work is binned into 16 x 16 tiles; each tile composites
its depth-sorted Gaussians in one batched tensor op (pixels x Gaussians), so
memory is bounded (BATCH Gaussians x 256 pixels at a time).

Cameras are OpenCV style (x right, y down, z forward): Camera(world_to_cam 4 x 4,
fx, fy, cx, cy, width, height). `orbit_cameras` gives a fixed set of views around
a scene that has no cameras of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .cloud import SH_C0, GaussianCloud

TILE = 16
NEAR = 0.01
BATCH = 2048  # Gaussians composited at once per tile (then stop if every pixel is opaque)
OPAQUE = 1e-4  # transmittance below which a pixel takes no more colour
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
       1.445305721320277, -0.5900435899266435)


@dataclass(frozen=True)
class Camera:
    world_to_cam: np.ndarray  # 4 x 4
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def position(self) -> np.ndarray:
        r, t = self.world_to_cam[:3, :3], self.world_to_cam[:3, 3]
        return -r.T @ t


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera 4 x 4 of a camera at `eye` looking at `target` (OpenCV axes)."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    if abs(f @ up) > 0.99:
        up = np.array([1.0, 0, 0]) if abs(f[0]) < 0.9 else np.array([0, 1.0, 0])
    r = np.cross(f, up)
    r /= np.linalg.norm(r)
    d = np.cross(f, r)  # image y points down
    m = np.eye(4)
    m[:3, :3] = np.stack([r, d, f])
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def orbit_cameras(cloud: GaussianCloud, count: int = 8, size: int = 256, fov_degrees: float = 50.0,
                  distance: float = 2.5) -> list[Camera]:
    """`count` views from directions spread evenly over a sphere (Fibonacci) around the
    scene's median, at `distance` x its 90th-percentile radius; the same scene gives
    the same cameras, so a decoded scene is seen exactly as its source."""
    m = cloud.means.astype(np.float64)
    centre = np.median(m, axis=0)
    radius = float(np.quantile(np.linalg.norm(m - centre, axis=1), 0.9)) or 1.0
    f = size / (2 * np.tan(np.radians(fov_degrees) / 2))
    cams = []
    golden = np.pi * (3 - np.sqrt(5))
    for i in range(count):
        z = 1 - 2 * (i + 0.5) / count
        r = np.sqrt(1 - z * z)
        d = np.array([r * np.cos(golden * i), r * np.sin(golden * i), z])
        cams.append(Camera(look_at(centre + distance * radius * d, centre), f, f, size / 2, size / 2, size, size))
    return cams


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """N x 4 (w, x, y, z), any norm -> N x 3 x 3 rotations."""
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1).view(-1, 3, 3)


def sh_to_rgb(sh_dc: torch.Tensor, sh_rest: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Colour seen along unit `dirs` (N x 3): 0.5 + sum_k SH_k(dir) c_k, clamped at 0."""
    rgb = SH_C0 * sh_dc
    k = sh_rest.shape[1]
    if k:
        x, y, z = (dirs[:, i:i + 1] for i in range(3))
        basis = [-_C1 * y, _C1 * z, -_C1 * x]
        if k > 3:
            xx, yy, zz = x * x, y * y, z * z
            basis += [_C2[0] * x * y, _C2[1] * y * z, _C2[2] * (2 * zz - xx - yy), _C2[3] * x * z,
                      _C2[4] * (xx - yy)]
        if k > 8:
            basis += [_C3[0] * y * (3 * xx - yy), _C3[1] * x * y * z, _C3[2] * y * (4 * zz - xx - yy),
                      _C3[3] * z * (2 * zz - 3 * xx - 3 * yy), _C3[4] * x * (4 * zz - xx - yy),
                      _C3[5] * z * (xx - yy), _C3[6] * x * (xx - 3 * yy)]
        rgb = rgb + sum(b * sh_rest[:, i] for i, b in enumerate(basis))
    return (rgb + 0.5).clamp_min(0)


def _project(cloud: GaussianCloud, cam: Camera):
    """Visible Gaussians' pixel centres, inverse 2D covariances (conics), radii, depth,
    colour and opacity."""
    dev = torch.float64
    means = torch.from_numpy(cloud.means).to(dev)
    w2c = torch.from_numpy(cam.world_to_cam).to(dev)
    t = means @ w2c[:3, :3].T + w2c[:3, 3]
    z = t[:, 2]
    keep = z > NEAR
    t, z = t[keep], z[keep]
    idx = torch.nonzero(keep).squeeze(1)
    rot = quat_to_matrix(torch.from_numpy(cloud.quats[idx.numpy()]).to(dev))
    s = torch.from_numpy(cloud.log_scales[idx.numpy()]).to(dev).exp()
    m = rot * s[:, None, :]
    sigma = m @ m.transpose(1, 2)
    x, y = t[:, 0], t[:, 1]
    j = torch.zeros(len(t), 2, 3, dtype=dev)
    j[:, 0, 0] = cam.fx / z
    j[:, 0, 2] = -cam.fx * x / (z * z)
    j[:, 1, 1] = cam.fy / z
    j[:, 1, 2] = -cam.fy * y / (z * z)
    jw = j @ w2c[:3, :3]
    cov = jw @ sigma @ jw.transpose(1, 2) + 0.3 * torch.eye(2, dtype=dev)
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    det = a * c - b * b
    conic = torch.stack([c / det, -b / det, a / det], 1)
    mid = (a + c) / 2
    radius = torch.ceil(3 * torch.sqrt(mid + torch.sqrt((mid * mid - det).clamp_min(0.1))))
    px = torch.stack([cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy], 1)
    on = (px[:, 0] + radius > 0) & (px[:, 0] - radius < cam.width) & (px[:, 1] + radius > 0) & \
         (px[:, 1] - radius < cam.height) & (det > 0)
    sel = idx[on]
    dirs = means[sel] - torch.from_numpy(cam.position).to(dev)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    rgb = sh_to_rgb(torch.from_numpy(cloud.sh_dc[sel.numpy()]).to(dev),
                    torch.from_numpy(cloud.sh_rest[sel.numpy()]).to(dev), dirs)
    opacity = torch.sigmoid(torch.from_numpy(cloud.opacity[sel.numpy()]).to(dev))
    return px[on], conic[on], radius[on], z[on], rgb, opacity


def render(cloud: GaussianCloud, cam: Camera, background=(0.0, 0.0, 0.0)) -> np.ndarray:
    """H x W x 3 float32 image of `cloud` seen by `cam`, values in [0, 1] before clipping."""
    px, conic, radius, depth, rgb, opacity = _project(cloud, cam)
    tw, th = -(-cam.width // TILE), -(-cam.height // TILE)
    image = torch.tensor(background, dtype=torch.float64).repeat(cam.height, cam.width, 1)
    if len(px) == 0:
        return image.float().numpy()
    x0 = ((px[:, 0] - radius) // TILE).clamp(0, tw - 1).long()
    x1 = ((px[:, 0] + radius) // TILE).clamp(0, tw - 1).long()
    y0 = ((px[:, 1] - radius) // TILE).clamp(0, th - 1).long()
    y1 = ((px[:, 1] + radius) // TILE).clamp(0, th - 1).long()
    order = torch.argsort(depth, stable=True)
    # (tile, Gaussian) pairs, Gaussians in depth order within each tile
    nx, ny = (x1 - x0 + 1)[order], (y1 - y0 + 1)[order]
    count = nx * ny
    g = torch.repeat_interleave(order, count)
    k = torch.arange(int(count.sum())) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    nxr = torch.repeat_interleave(nx, count)
    tile = (y0[g] + k // nxr) * tw + x0[g] + k % nxr
    tile, perm = torch.sort(tile, stable=True)
    g = g[perm]
    bounds = torch.searchsorted(tile, torch.arange(tw * th + 1))
    bg = torch.tensor(background, dtype=torch.float32)
    # compositing in float32: image error ~1e-6, far below one 8-bit level
    px, conic, rgb, opacity = px.float(), conic.float(), rgb.float(), opacity.float()
    for t in range(tw * th):
        lo, hi = int(bounds[t]), int(bounds[t + 1])
        if lo == hi:
            continue
        ty, tx = divmod(t, tw)
        ys = torch.arange(ty * TILE, min((ty + 1) * TILE, cam.height), dtype=torch.float32)
        xs = torch.arange(tx * TILE, min((tx + 1) * TILE, cam.width), dtype=torch.float32)
        pix = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2).flip(1) + 0.5
        acc = torch.zeros(len(pix), 3)
        trans = torch.ones(len(pix))
        for s in range(lo, hi, BATCH):
            if s > lo and bool((trans < OPAQUE).all()):
                break
            gi = g[s:min(hi, s + BATCH)]
            d = pix[:, None, :] - px[gi][None]
            cn = conic[gi]
            power = -0.5 * (cn[:, 0] * d[..., 0] ** 2 + cn[:, 2] * d[..., 1] ** 2) - cn[:, 1] * d[..., 0] * d[..., 1]
            alpha = (opacity[gi] * torch.exp(power.clamp_max(0))).clamp_max(0.99)
            alpha = torch.where((alpha >= 1 / 255) & (power <= 0), alpha, torch.zeros_like(alpha))
            tr = trans[:, None] * torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
            acc += (tr * alpha) @ rgb[gi]
            trans = tr[:, -1] * (1 - alpha[:, -1])
        out = acc + trans[:, None] * bg
        image[int(ys[0]):int(ys[-1]) + 1, int(xs[0]):int(xs[-1]) + 1] = out.view(len(ys), len(xs), 3).double()
    return image.float().numpy()
