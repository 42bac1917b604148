"""Run a convolutional transform tile by tile, so memory stays bounded on big images.

Each tile is cut with a halo wider than the transform's receptive field; only
the tile's own part of the output is kept, so the result matches the untiled
transform up to float rounding (no seams). Tiles run one after another.
"""
from __future__ import annotations

import torch


def tiled(fn, x: torch.Tensor, up: int, down: int, tile: int, halo: int) -> torch.Tensor:
    """fn(x) for x (N x C x H x W) whose output is `up/down` times the input's size.

    tile and halo are in input positions and, like H and W, multiples of `down`."""
    n, _, h, w = x.shape
    if h <= tile + 2 * halo and w <= tile + 2 * halo:
        return fn(x)
    out = None
    for i0 in range(0, h, tile):
        for j0 in range(0, w, tile):
            i1, j1 = min(i0 + tile, h), min(j0 + tile, w)
            a0, b0 = max(i0 - halo, 0), max(j0 - halo, 0)
            piece = fn(x[..., a0:min(i1 + halo, h), b0:min(j1 + halo, w)])
            if out is None:
                out = piece.new_empty(n, piece.shape[1], h * up // down, w * up // down)
            s = lambda v: v * up // down  # noqa: E731  (input -> output coordinate)
            out[..., s(i0):s(i1), s(j0):s(j1)] = piece[..., s(i0 - a0):s(i1 - a0), s(j0 - b0):s(j1 - b0)]
    return out
