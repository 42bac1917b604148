"""Exact fixed-point twins of the attention ops on the entropy-parameter path.

The ACGC context (context/acgc.py) gates features with sigmoids, normalises
attention with a softmax and samples features bilinearly at learned offsets.
In float these move by an ulp from device to device, and an ulp near a bin edge
picks another CDF. Here each op has a float form (training) and an integer form
(coding) that computes the same function to fixed-point precision, using only
int64 adds, multiplies, shifts, floor divisions and table lookups: identical on
every CPU and GPU, in any summation order.

Fixed point: values carry `frac` fractional bits (X = x * 2**frac); gates and
attention weights are Q15 (1.0 = 2**15). The two tables (sigmoid, exp) are
integer buffers of the module that owns them, so a decoder reads them from the
weights file and never recomputes them.
"""
from __future__ import annotations

import torch

Q = 15  # gate / weight precision: 1.0 == 1 << Q
LUT_RANGE = 8  # sigmoid table covers [-8, 8]; the exp table exp(-t) for t in [0, 2 * LUT_RANGE]


def sigmoid_table(frac: int) -> torch.Tensor:
    """int64 [2 * LUT_RANGE * 2**frac + 1]: round(sigmoid(i / 2**frac) * 2**Q), i from -RANGE."""
    i = torch.arange(-LUT_RANGE << frac, (LUT_RANGE << frac) + 1, dtype=torch.float64)
    return torch.round(torch.sigmoid(i / (1 << frac)) * (1 << Q)).to(torch.int64)


def exp_table(frac: int) -> torch.Tensor:
    """int64 [2 * LUT_RANGE * 2**frac + 1]: round(exp(-t / 2**frac) * 2**Q), t >= 0."""
    t = torch.arange(0, (2 * LUT_RANGE << frac) + 1, dtype=torch.float64)
    return torch.round(torch.exp(-t / (1 << frac)) * (1 << Q)).to(torch.int64)


def sigmoid_int(x: torch.Tensor, table: torch.Tensor, frac: int) -> torch.Tensor:
    """Q15 sigmoid of int64 fixed-point x (saturating beyond +-LUT_RANGE)."""
    r = LUT_RANGE << frac
    return table.to(x.device)[x.clamp(-r, r) + r]


def sigmoid_float(x: torch.Tensor) -> torch.Tensor:
    """The training twin: sigmoid with the table's saturation."""
    return torch.sigmoid(x.clamp(-LUT_RANGE, LUT_RANGE))


def scale_int(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """x * gate (gate Q15), rounded half up: same fixed point as x."""
    return (x * gate + (1 << (Q - 1))) >> Q


def div_round(num: torch.Tensor, den) -> torch.Tensor:
    """round(num / den) for int64 num and positive den, halves up (exact)."""
    return torch.div(2 * num + den, 2 * den, rounding_mode="floor")


def spatial_mean_int(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W int64 -> N x C x 1 x 1: the rounded mean over H x W."""
    return div_round(x.sum(dim=(2, 3), keepdim=True), x.shape[2] * x.shape[3])


def channel_mean_int(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W int64 -> N x 1 x H x W: the rounded mean over channels."""
    return div_round(x.sum(dim=1, keepdim=True), x.shape[1])


def softmax_int(logits: torch.Tensor, table: torch.Tensor, frac: int, dim: int = 1) -> torch.Tensor:
    """Q15 softmax of int64 fixed-point logits along `dim` (exp(-t) beyond 2 * RANGE is 0;
    the largest logit always weighs exp(0), so the sum is never zero)."""
    t = (logits.amax(dim=dim, keepdim=True) - logits).clamp(max=2 * LUT_RANGE << frac)
    e = table.to(logits.device)[t]
    return div_round(e << Q, e.sum(dim=dim, keepdim=True))


def softmax_float(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The training twin: softmax with the table's cut-off (terms below exp(-2 * RANGE) drop)."""
    t = logits.amax(dim=dim, keepdim=True).detach() - logits
    e = torch.where(t <= 2 * LUT_RANGE, torch.exp(-t), torch.zeros_like(t))
    return e / e.sum(dim=dim, keepdim=True)


def _corners(v: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor):
    """The four integer-neighbour samples of v (N x C x H x W) at positions (row + oy, col + ox),
    oy / ox integer N x P x H x W; zeros outside the map. Returns a list of N x C x P x H x W."""
    n, c, h, w = v.shape
    rows = torch.arange(h, device=v.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=v.device).view(1, 1, 1, w)
    flat = v.reshape(n, c, h * w)
    out = []
    for dy in (0, 1):
        for dx in (0, 1):
            r, q = rows + oy + dy, cols + ox + dx
            inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
            idx = (r.clamp(0, h - 1) * w + q.clamp(0, w - 1)).reshape(n, 1, -1).expand(n, c, -1)
            s = flat.gather(2, idx).reshape(n, c, *oy.shape[1:])
            out.append(s * inside.unsqueeze(1))
    return out


def bilinear_int(v: torch.Tensor, off_y: torch.Tensor, off_x: torch.Tensor, frac: int) -> torch.Tensor:
    """v (N x C x H x W int64, any fixed point) sampled at (row + off_y, col + off_x);
    offsets int64 N x P x H x W with `frac` fractional bits. -> N x C x P x H x W, v's fixed point."""
    one = 1 << frac
    fy, fx = off_y & (one - 1), off_x & (one - 1)  # floor-based fractions, 0 <= f < one
    c00, c01, c10, c11 = _corners(v, off_y >> frac, off_x >> frac)
    fy, fx = fy.unsqueeze(1), fx.unsqueeze(1)
    acc = (c00 * (one - fx) + c01 * fx) * (one - fy) + (c10 * (one - fx) + c11 * fx) * fy
    return (acc + (1 << (2 * frac - 1))) >> (2 * frac)


def bilinear_float(v: torch.Tensor, off_y: torch.Tensor, off_x: torch.Tensor) -> torch.Tensor:
    """The training twin (differentiable in v and the offsets): N x C x P x H x W."""
    iy, ix = torch.floor(off_y), torch.floor(off_x)
    fy, fx = (off_y - iy).unsqueeze(1), (off_x - ix).unsqueeze(1)
    c00, c01, c10, c11 = _corners(v, iy.long(), ix.long())
    return (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy
