"""The 4DGS deformation field (Wu et al., CVPR 2024): a HexPlane of feature planes + a small MLP.

A dynamic scene is a canonical 3DGS cloud plus this field. At time t in [0, 1] a
Gaussian whose canonical centre is x gets

    f(x, t)      = concat over scales s of  prod over the six pairs p of  bilinear(plane[s][p], (x, t)_p)
    (dx, ds, dq) = heads(trunk(f))
    centre x + dx, log-scales s + ds, quaternion q + dq (renormalised by whoever renders)

The six coordinate pairs are (x,y) (x,z) (y,z) (x,t) (y,t) (z,t). Spatial axes are
normalised to [-1, 1] by the scene bounds, time by [0, 1]; a pair's spatial axes
have `resolution x multiplier` cells, the time axis `time_resolution` at every
scale (as in K-planes). Lookups are `grid_sample(align_corners=True)`: a point
reads the 2 x 2 cells around it, so only cells next to some Gaussian's canonical
centre are ever read (`footprint`).

Shapes (C channels, scale multiplier m, R = resolution x m, T = time_resolution):
    plane (a, b)  C x R_b x R_a  float32   (grid_sample layout: the last axis runs along a)
    spatial pair: C x R x R;  time pair (a, t): C x T x R
Parameters initialise as 4DGS does: spatial planes uniform in [0.1, 0.5], time
planes 1 (a static scene multiplies its spatial features by one).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PAIRS = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
HEADS = (("dx", 3), ("ds", 3), ("dq", 4))
MAX_CELLS = 1 << 24  # plane values of one field (4DGS's HyperNeRF config: 14.6M); bounds what a header can ask for


@dataclass(frozen=True)
class FieldConfig:
    channels: int = 16            # features per plane
    resolution: int = 32          # spatial cells per axis at multiplier 1
    time_resolution: int = 16     # time cells (every scale)
    multires: tuple = (1, 2)      # spatial multipliers, coarse to fine
    width: int = 64               # MLP width

    def __post_init__(self):
        object.__setattr__(self, "multires", tuple(int(m) for m in self.multires))
        ints = (self.channels, self.resolution, self.time_resolution, self.width, *self.multires)
        if not self.multires or len(self.multires) > 4 or any(not 1 <= int(v) <= 4096 for v in ints):
            raise ValueError(f"invalid deformation field config: {self}")
        if min(self.resolution, self.time_resolution) < 2:
            raise ValueError("a plane needs at least 2 cells per axis")
        if self.cells() > MAX_CELLS:
            raise ValueError(f"a field of {self.cells()} plane cells is more than {MAX_CELLS}")

    def plane_keys(self) -> list[tuple[int, int]]:
        """(scale, pair) of every plane, scale-major: the order of the field's planes everywhere."""
        return [(s, p) for s in range(len(self.multires)) for p in range(len(PAIRS))]

    def plane_shape(self, scale: int, pair: int) -> tuple[int, int, int]:
        r = self.resolution * self.multires[scale]
        a, b = PAIRS[pair]
        return (self.channels, self.time_resolution if b == 3 else r, r)

    def cells(self) -> int:
        return sum(int(np.prod(self.plane_shape(s, p))) for s, p in self.plane_keys())

    def to_json(self) -> dict:
        return asdict(self) | {"multires": list(self.multires)}

    @classmethod
    def from_json(cls, d) -> "FieldConfig":
        return cls(**{k: (tuple(v) if k == "multires" else int(v)) for k, v in dict(d).items()})


def plane_name(scale: int, pair: int) -> str:
    return f"planes.{scale}.{pair}"


def is_time_plane(pair: int) -> bool:
    return PAIRS[pair][1] == 3


class DeformationField(nn.Module):
    """HexPlane + MLP. `bounds`: 2 x 3 (min, max) of the canonical centres."""

    def __init__(self, config: FieldConfig, bounds, seed: int = 0):
        super().__init__()
        self.config = config
        b = torch.as_tensor(np.asarray(bounds, np.float64), dtype=torch.float32)
        if b.shape != (2, 3) or not torch.isfinite(b).all() or (b[1] <= b[0]).any():
            raise ValueError(f"bounds must be 2 x 3 finite (min, max) with max > min, got {b.tolist()}")
        self.register_buffer("bounds", b)
        g = torch.Generator().manual_seed(seed)
        planes = []
        for s, p in config.plane_keys():
            shape = config.plane_shape(s, p)
            init = torch.ones(shape) if is_time_plane(p) else torch.rand(shape, generator=g) * 0.4 + 0.1
            planes.append(nn.Parameter(init))
        self.planes = nn.ParameterList(planes)
        w, feat = config.width, config.channels * len(config.multires)
        with torch.random.fork_rng(devices=[]):  # the MLP's init from `seed` too, the global RNG untouched
            torch.manual_seed(seed)
            self.trunk = nn.Linear(feat, w)
            self.heads = nn.ModuleDict({name: nn.Sequential(nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, k))
                                        for name, k in HEADS})
        with torch.no_grad():  # a new field moves nothing
            for head in self.heads.values():
                head[-1].weight.mul_(0.01)
                head[-1].bias.zero_()

    def plane(self, scale: int, pair: int) -> torch.Tensor:
        return self.planes[scale * len(PAIRS) + pair]

    def normalise(self, xyz: torch.Tensor) -> torch.Tensor:
        lo, hi = self.bounds[0], self.bounds[1]
        return (xyz - lo) / (hi - lo) * 2 - 1

    def features(self, xyz: torch.Tensor, t) -> torch.Tensor:
        """N x (C x scales) features of canonical centres xyz (N x 3) at times t (scalar or N)."""
        u = self.normalise(xyz)
        t = torch.as_tensor(t, dtype=u.dtype).expand(len(u)) * 2 - 1
        coords = torch.cat([u, t[:, None]], 1)
        out = []
        for s in range(len(self.config.multires)):
            f = 1.0
            for p, (a, b) in enumerate(PAIRS):
                grid = coords[:, [a, b]].view(1, -1, 1, 2)
                f = f * F.grid_sample(self.plane(s, p)[None], grid, align_corners=True)[0, :, :, 0].T
            out.append(f)
        return torch.cat(out, 1)

    def forward(self, xyz: torch.Tensor, t) -> dict[str, torch.Tensor]:
        """{"dx": N x 3, "ds": N x 3, "dq": N x 4} at time t."""
        h = self.trunk(self.features(xyz, t))
        return {name: head(h) for name, head in self.heads.items()}

    def tv_loss(self) -> torch.Tensor:
        """Total variation of every plane: the smoothness prior 4DGS trains with."""
        loss = 0.0
        for p in self.planes:
            loss = loss + (p[:, 1:] - p[:, :-1]).pow(2).mean() + (p[:, :, 1:] - p[:, :, :-1]).pow(2).mean()
        return loss

    # ---------------------------------------------------------------- arrays

    def mlp_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()
                if not k.startswith("planes.") and k != "bounds"}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every tensor by name: planes.S.P, trunk.*, heads.*; float32."""
        out = {plane_name(s, p): self.plane(s, p).detach().cpu().numpy().astype(np.float32)
               for s, p in self.config.plane_keys()}
        return out | self.mlp_arrays()

    @classmethod
    def from_arrays(cls, config: FieldConfig, bounds, arrays: dict) -> "DeformationField":
        """A field from `arrays` (every name of `arrays()`, right shapes, finite); ValueError otherwise."""
        return cls(config, bounds).load_arrays(arrays)

    def load_arrays(self, arrays: dict) -> "DeformationField":
        """Set every tensor from `arrays` (as from_arrays checks them) and return self."""
        targets = {plane_name(s, p): self.plane(s, p) for s, p in self.config.plane_keys()}
        targets |= {k: v for k, v in self.named_parameters() if not k.startswith("planes.")}
        missing, extra = sorted(set(targets) - set(arrays)), sorted(set(arrays) - set(targets))
        if missing or extra:
            raise ValueError(f"deformation tensors: missing {missing[:4]}, unexpected {extra[:4]}")
        for name, target in targets.items():
            a = np.asarray(arrays[name])
            if a.shape != tuple(target.shape):
                raise ValueError(f"deformation tensor {name} has shape {a.shape}, expected {tuple(target.shape)}")
            if not np.isfinite(a).all():
                raise ValueError(f"deformation tensor {name} holds NaN/Inf")
            with torch.no_grad():
                target.copy_(torch.from_numpy(np.ascontiguousarray(a, np.float32)))
        return self

    def metadata(self) -> dict:
        return {"config": self.config.to_json(), "bounds": self.bounds.tolist()}

    def metadata_json(self) -> str:
        return json.dumps(self.metadata())
