"""PlayCanvas/SuperSplat "compressed.ply" as input (interop).

Layout: element `chunk` (one per 256 splats: min/max of position, of log-scale
and, optionally, of colour) and element `vertex` with four packed uint32:

    packed_position  x 11 | y 10 | z 11 bits, a fraction of the chunk's [min, max]
    packed_scale     the same for the log-scales
    packed_rotation  2 bits: which component is largest; three 10-bit components,
                     each sqrt(2) * (q / 1023 - 0.5), in order, the largest omitted
                     and rebuilt from the unit norm
    packed_color     r 8 | g 8 | b 8 | alpha 8; colour a fraction of the chunk's
                     colour range (or [0, 1]); alpha = sigmoid(opacity)

plus an optional element `sh` of uint8 rest coefficients, value (q + 0.5)/256 * 8 - 4
(0 meaning exactly 0). `quantization_steps` gives each splat's own packed step,
the yardstick for the position error of a re-encoding.
"""
from __future__ import annotations

import numpy as np

from ...errors import FormatError
from .cloud import SH_C0, GaussianCloud, degree_of_rest

CHUNK = 256
OPACITY_LOGIT_LIMIT = 20.0  # alpha 0 or 1 becomes a logit of -/+ 20 (alpha within 2e-9)
_BOUNDS = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
           "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z"]
_COLOR_BOUNDS = ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
_PACKED = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]


def is_supersplat(element_names) -> bool:
    return "chunk" in element_names and "vertex" in element_names


def _unorm(v: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return ((v >> np.uint32(shift)) & np.uint32((1 << bits) - 1)).astype(np.float64) / ((1 << bits) - 1)


def _unpack_111011(v: np.ndarray) -> np.ndarray:
    return np.stack([_unorm(v, 21, 11), _unorm(v, 11, 10), _unorm(v, 0, 11)], axis=1)


def _field(element, names, where):
    missing = [n for n in names if n not in element.data.dtype.names]
    if missing:
        raise FormatError(f"{where}: compressed.ply {element.name} lacks {', '.join(missing)}")
    return np.stack([np.asarray(element.data[n], np.float64) for n in names], axis=1)


def _chunks(data, where):
    chunk, vertex = data["chunk"], data["vertex"]
    n = len(vertex.data)
    if len(chunk.data) != -(-n // CHUNK):
        raise FormatError(f"{where}: {len(chunk.data)} chunks for {n} splats (need one per {CHUNK})")
    bounds = _field(chunk, _BOUNDS, where)
    if not np.isfinite(bounds).all():
        raise FormatError(f"{where}: compressed.ply chunk bounds hold NaN/Inf")
    return bounds, np.arange(n) // CHUNK


def quantization_steps(data, where: str = "compressed.ply") -> np.ndarray:
    """N x 3: each splat's packed position step (chunk extent / 2047, 1023, 2047)."""
    bounds, of = _chunks(data, where)
    return ((bounds[:, 3:6] - bounds[:, 0:3]) / np.array([2047.0, 1023.0, 2047.0]))[of]


def read_supersplat(data, where: str) -> GaussianCloud:
    """The scene of a parsed compressed.ply (plyfile.PlyData) as float attributes."""
    bounds, of = _chunks(data, where)
    vertex = data["vertex"]
    missing = [p for p in _PACKED if p not in vertex.data.dtype.names]
    if missing:
        raise FormatError(f"{where}: compressed.ply vertex lacks {', '.join(missing)}")
    pos, rot, scl, col = (np.asarray(vertex.data[p]).astype(np.uint32) for p in _PACKED)
    b = bounds[of]
    means = b[:, 0:3] + _unpack_111011(pos) * (b[:, 3:6] - b[:, 0:3])
    log_scales = b[:, 6:9] + _unpack_111011(scl) * (b[:, 9:12] - b[:, 6:9])

    abc = np.stack([(_unorm(rot, s, 10) - 0.5) * np.sqrt(2.0) for s in (20, 10, 0)], axis=1)
    largest = np.sqrt(np.clip(1.0 - (abc ** 2).sum(1), 0.0, 1.0))
    which = (rot >> np.uint32(30)).astype(np.int64)
    quats = np.empty((len(rot), 4))
    for k in range(4):  # component k: the rebuilt one where which == k, else the next stored one
        stored = abc[np.arange(len(rot)), np.clip(k - (which < k), 0, 2)]
        quats[:, k] = np.where(which == k, largest, stored)

    rgb = np.stack([_unorm(col, s, 8) for s in (24, 16, 8)], axis=1)
    if all(n in data["chunk"].data.dtype.names for n in _COLOR_BOUNDS):
        cb = _field(data["chunk"], _COLOR_BOUNDS, where)[of]
        rgb = cb[:, 0:3] + rgb * (cb[:, 3:6] - cb[:, 0:3])
    alpha = _unorm(col, 0, 8)
    with np.errstate(divide="ignore"):
        opacity = np.clip(np.log(alpha) - np.log1p(-alpha), -OPACITY_LOGIT_LIMIT, OPACITY_LOGIT_LIMIT)

    sh_rest = np.zeros((len(rot), 0, 3))
    if "sh" in [e.name for e in data.elements]:
        sh = data["sh"].data
        names = list(sh.dtype.names)
        if len(sh) != len(rot) or len(names) % 3:
            raise FormatError(f"{where}: compressed.ply sh element does not match its splats")
        try:
            k = len(names) // 3
            degree_of_rest(k)
        except ValueError as exc:
            raise FormatError(f"{where}: {exc}") from None
        q = np.stack([np.asarray(sh[n], np.float64) for n in names], axis=1)
        vals = np.where(q == 0, 0.0, (q + 0.5) / 256 * 8 - 4)
        sh_rest = vals.reshape(len(rot), 3, k).transpose(0, 2, 1)
    return GaussianCloud(means=means, sh_dc=(rgb - 0.5) / SH_C0, sh_rest=sh_rest, opacity=opacity,
                         log_scales=log_scales, quats=quats)
