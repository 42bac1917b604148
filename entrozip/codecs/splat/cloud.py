"""`GaussianCloud`: a trained 3DGS scene as plain numpy arrays (INRIA conventions).

Shapes (N Gaussians, SH degree d, K = (d + 1)^2 - 1 rest coefficients per colour):
    means      N x 3   float32   world position
    sh_dc      N x 3   float32   degree-0 SH coefficient per colour (f_dc_0..2)
    sh_rest    N x K x 3 float32 higher SH coefficients, [i, k, c] = f_rest_{c*K + k}
    opacity    N       float32   logit of the opacity (sigmoid gives alpha)
    log_scales N x 3   float32   log of the three standard deviations
    quats      N x 4   float32   rotation quaternion (w, x, y, z), any norm
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

SH_C0 = 0.28209479177387814  # Y_0^0: colour = 0.5 + SH_C0 * sh_dc
MAX_GAUSSIANS = 1 << 27


def sh_rest_count(degree: int) -> int:
    return (degree + 1) ** 2 - 1


def degree_of_rest(k: int) -> int:
    """The SH degree with k rest coefficients per colour (ValueError if none)."""
    for d in range(4):
        if sh_rest_count(d) == k:
            return d
    raise ValueError(f"{k} rest SH coefficients per colour match no SH degree 0..3")


@dataclass
class GaussianCloud:
    means: np.ndarray
    sh_dc: np.ndarray
    sh_rest: np.ndarray
    opacity: np.ndarray
    log_scales: np.ndarray
    quats: np.ndarray

    def __post_init__(self):
        n = len(self.means)
        if n > MAX_GAUSSIANS:
            raise ValueError(f"{n} Gaussians is more than the {MAX_GAUSSIANS} this codec takes")
        shapes = {"means": (n, 3), "sh_dc": (n, 3), "opacity": (n,), "log_scales": (n, 3), "quats": (n, 4)}
        for name, shape in shapes.items():
            a = np.ascontiguousarray(getattr(self, name), np.float32)
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
            setattr(self, name, a)
        rest = np.ascontiguousarray(self.sh_rest, np.float32)
        if rest.ndim != 3 or rest.shape[0] != n or rest.shape[2] != 3:
            raise ValueError(f"sh_rest must have shape ({n}, K, 3), got {rest.shape}")
        degree_of_rest(rest.shape[1])
        self.sh_rest = rest

    def __len__(self) -> int:
        return len(self.means)

    @property
    def sh_degree(self) -> int:
        return degree_of_rest(self.sh_rest.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def take(self, index) -> "GaussianCloud":
        """The Gaussians at `index` (an integer array or a boolean mask), in that order."""
        return GaussianCloud(**{k: v[index] for k, v in self.arrays().items()})

    def check_finite(self, what: str = "scene") -> None:
        """ValueError naming the first attribute that holds NaN or Inf."""
        for name, a in self.arrays().items():
            bad = ~np.isfinite(a)
            if bad.any():
                raise ValueError(f"{what}: {name} holds {int(bad.sum())} non-finite values (NaN/Inf)")

    def normalized_quats(self) -> np.ndarray:
        """Unit quaternions with w >= 0 (q and -q are the same rotation)."""
        q = self.quats.astype(np.float64)
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.where(norm > 0, q / np.where(norm > 0, norm, 1), np.array([1.0, 0, 0, 0]))
        return np.where(q[:, :1] < 0, -q, q).astype(np.float32)

    @property
    def nbytes_inria(self) -> int:
        """Payload bytes of this scene as an INRIA float .ply (normals included)."""
        return len(self) * 4 * (3 + 3 + 3 + 3 * self.sh_rest.shape[1] + 1 + 3 + 4)
