"""Space-filling order: Morton (Z-order) codes of positions on a 2^21 grid per axis.

Gaussians that are neighbours in this order are mostly neighbours in space, so
delta coding along it and fixed-size blocks of it are spatially coherent.
"""
from __future__ import annotations

import numpy as np

BITS = 21


def _spread(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between each of the low 21 bits of v (uint64)."""
    v = v.astype(np.uint64) & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
                        (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def morton_codes(means: np.ndarray) -> np.ndarray:
    """N uint64 Morton codes of N x 3 positions, on their bounding box's 2^21 grid."""
    lo, hi = means.min(0), means.max(0)
    span = np.where(hi > lo, hi - lo, 1.0).astype(np.float64)
    return interleave(np.clip(((means - lo) / span * ((1 << BITS) - 1)).round(), 0, (1 << BITS) - 1))


def morton_order(means: np.ndarray) -> np.ndarray:
    """The permutation that sorts Gaussians along the Morton curve (stable)."""
    if len(means) == 0:
        return np.zeros(0, np.int64)
    return np.argsort(morton_codes(np.asarray(means, np.float64)), kind="stable")


def _compact(v: np.ndarray) -> np.ndarray:
    """Inverse of _spread: gather every third bit of v into the low 21 bits."""
    v = v.astype(np.uint64) & np.uint64(0x1249249249249249)
    for shift, mask in ((2, 0x10C30C30C30C30C3), (4, 0x100F00F00F00F00F), (8, 0x1F0000FF0000FF),
                        (16, 0x1F00000000FFFF), (32, 0x1FFFFF)):
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v


def interleave(grid: np.ndarray) -> np.ndarray:
    """N x 3 integer cells (< 2^21 each) -> N uint64 Morton codes."""
    g = grid.astype(np.uint64)
    return (_spread(g[:, 0]) << np.uint64(2)) | (_spread(g[:, 1]) << np.uint64(1)) | _spread(g[:, 2])


def deinterleave(codes: np.ndarray) -> np.ndarray:
    """N uint64 Morton codes -> N x 3 int64 cells."""
    c = codes.astype(np.uint64)
    return np.stack([_compact(c >> np.uint64(2)), _compact(c >> np.uint64(1)), _compact(c)], axis=1).astype(np.int64)
