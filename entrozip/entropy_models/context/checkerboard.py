"""Checkerboard split of a latent (He et al., "Checkerboard Context Model", CVPR 2021).

Anchors are the positions with (row + col) even: they are coded first with no
spatial context; the other half (non-anchors) is then coded with a context
computed from the decoded anchors around it. Both halves decode in parallel.
"""
from __future__ import annotations

import torch


def anchor_mask(height: int, width: int, device=None) -> torch.Tensor:
    """H x W bool, True at anchors ((row + col) even)."""
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return (rows + cols) % 2 == 0


def keep(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (N x C x H x W) with the positions outside `mask` (H x W) set to zero."""
    return x * mask.to(x.dtype)
