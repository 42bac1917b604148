"""Block motion for M frames: estimate (encoder), compensate (both sides), code the field.

An M frame's latent is coded as a residual against the analysis of a motion-compensated
prediction, g_a(compensate(x_hat_{t-1}, field)): the autoencoder still codes the raw frame,
and motion only moves the reference that the entropy model's residual is taken against
(model.py, VideoModel.motion_reference). One vector per BLOCK x BLOCK pixel block, which
is one latent element (the transforms downsample by 16).

Shapes: frames 1 x 3 x H x W in [0, 1] with H, W multiples of BLOCK; a motion field is an
int64 tensor 2 x H/BLOCK x W/BLOCK of (dy, dx) in half pixels, |dy|, |dx| <= 2 x SEARCH.
A half-pixel position is the mean of its two or four neighbours (bilinear); a vector may
point outside the reference, whose pixels are then the nearest edge pixels (edge clamp).

The field is coded in raster order as its difference from the median of the left, top
and top-right vectors (the left one alone in the first row; the top-left stands in for
the top-right at the right edge; zero where none exists). The differences, dy then dx
per block, are one rANS stream under two rows of a fixed family of tables (field_model:
a zero share times a two-sided geometric tail, built in integers, so every platform
builds the same CDFs); the frame sends the two row numbers, one byte each. Sending the
frame's own histogram instead cost 124 B a frame on carphone (q1) where the family costs
~90: the table was a third of it.

Measured on carphone (8 frames after an I frame, q1 / q4 / q7; rate + lambda x distortion
with the field's bytes counted, against R frames): whole-pixel vectors -13 / -18 / -9 %;
half pixels then +0.3 / -6 / -4 % more, and a rate weight that grows at low qualities
(motion_lambda) -5 % more at q1; quarter pixels and overlapped blocks (OBMC) gained
nothing (+0.5 % each at q4). BENCHMARKS.md has the clips.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ... import rans
from ...errors import FormatError

BLOCK = 16
SUBPEL = 2  # vector units per pixel: half pixels
SEARCH = 16  # the largest vector component, in pixels
LIMIT = SUBPEL * SEARCH  # ... in field units
FIELD_PRECISION = 12
FIELD_SUPPORT = 24  # differences beyond +-24 half pixels take the escape (+ their exact value)
ZERO_SHARES = tuple(range(1, 16))  # P(difference = 0) = share / 16
DECAYS = (64, 96, 128, 160, 192, 216, 232, 244)  # the tail's ratio, / 256


def blocks(height: int, width: int) -> tuple[int, int]:
    if height % BLOCK or width % BLOCK:
        raise ValueError(f"frame size {height}x{width} is not a multiple of {BLOCK}")
    return height // BLOCK, width // BLOCK


def motion_lambda(lmbda: float) -> float:
    """The estimator's rate weight, SAD (8-bit luma) per unit of vector difference, for a
    model trained at rate + lmbda x 255^2 x MSE: grows as the square root of the SSE a bit
    is worth, the classic rule (H.264's lambda_motion = sqrt(lambda_mode)); the factor 8 was
    the best of 2 / 4 / 8 / 12 on carphone across q1 / q4 / q7."""
    return 8.0 * (1.0 / lmbda) ** 0.5


def luma(x: torch.Tensor) -> torch.Tensor:
    """1 x 3 x H x W in [0, 1] -> H x W float64 luma (BT.601 weights) in 0..255, on the CPU."""
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * w).sum(1)[0].double().mul(255).cpu()


def _median_predictor(v: np.ndarray, by: int, bx: int) -> tuple[int, int]:
    """The predicted vector of block (by, bx) from its coded neighbours (v: Hb x Wb x 2)."""
    wb = v.shape[1]
    if by == 0:
        return (int(v[0, bx - 1, 0]), int(v[0, bx - 1, 1])) if bx else (0, 0)
    zero = np.zeros(2, np.int64)
    left = v[by, bx - 1] if bx else zero
    top = v[by - 1, bx]
    topright = v[by - 1, bx + 1] if bx + 1 < wb else (v[by - 1, bx - 1] if bx else zero)
    m = np.sort(np.stack([left, top, topright]), axis=0)[1]  # the middle one, per component
    return int(m[0]), int(m[1])


def compensate(ref: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """The prediction: each block of ref moved by its vector. ref: 1 x C x H x W; field:
    2 x H/BLOCK x W/BLOCK (half pixels) -> 1 x C x H x W. Gathers and exact halvings: the
    same values on every device for the same ref."""
    _, _, h, w = ref.shape
    hb, wb = blocks(h, w)
    if tuple(field.shape) != (2, hb, wb):
        raise ValueError(f"motion field of shape {tuple(field.shape)} for a {h}x{w} frame")
    f = field.to(ref.device, torch.long).repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)
    py = torch.arange(h, device=ref.device).view(h, 1) * SUBPEL + f[0]
    px = torch.arange(w, device=ref.device).view(1, w) * SUBPEL + f[1]
    y0, x0 = py.div(SUBPEL, rounding_mode="floor"), px.div(SUBPEL, rounding_mode="floor")
    y1, x1 = y0 + (py % SUBPEL != 0), x0 + (px % SUBPEL != 0)  # the same pixel at whole positions
    y0, y1 = y0.clamp_(0, h - 1) * w, y1.clamp_(0, h - 1) * w
    x0, x1 = x0.clamp_(0, w - 1), x1.clamp_(0, w - 1)
    flat = ref.reshape(-1, h * w)
    at = lambda rows, cols: flat.index_select(1, (rows + cols).view(-1))  # noqa: E731
    out = (at(y0, x0) + at(y0, x1)) + (at(y1, x0) + at(y1, x1))
    return (out * 0.25).view(ref.shape)


@torch.no_grad()
def estimate(x: torch.Tensor, ref: torch.Tensor, lam: float, half: bool = True) -> torch.Tensor:
    """The motion field that predicts x from ref (encoder only), SAD over 8-bit luma:
      1. whole pixels: per block in raster order (so each block sees its neighbours' final
         vectors), the vector within +-SEARCH of least SAD + lam x |v - p|_1, p the vector
         it is coded against (a rate proxy), zero winning ties;
      2. half pixels: a move of at most half a pixel per component where that lowers the
         SAD by more than lam / 4.
    The whole padded frame counts: its latent, padding included, is what is coded.
    half=False stops after step 1 (bench/bench_video_motion.py compares the two).
    x, ref: 1 x 3 x H x W -> 2 x H/BLOCK x W/BLOCK int64 half pixels, on x's device."""
    _, _, h, w = x.shape
    hb, wb = blocks(h, w)
    cur, prev = luma(x).float(), luma(ref).float()
    pad = F.pad(prev[None, None], (SEARCH,) * 4, mode="replicate")[0, 0]
    grid = [(dy, dx) for dy in range(-SEARCH, SEARCH + 1) for dx in range(-SEARCH, SEARCH + 1)]
    sad = torch.empty(len(grid), hb, wb)
    for k, (dy, dx) in enumerate(grid):
        cand = pad[SEARCH + dy:SEARCH + dy + h, SEARCH + dx:SEARCH + dx + w]
        sad[k] = (cur - cand).abs_().view(hb, BLOCK, wb, BLOCK).sum((1, 3))
    sad = sad.numpy().astype(np.float64)
    dys, dxs = (np.array(g) * SUBPEL for g in zip(*grid))
    zero = len(grid) // 2
    v = np.zeros((hb, wb, 2), np.int64)
    for by in range(hb):
        for bx in range(wb):
            py, px = _median_predictor(v, by, bx)
            cost = sad[:, by, bx] + lam / SUBPEL * (np.abs(dys - py) + np.abs(dxs - px))
            k = int(np.argmin(cost))
            v[by, bx] = (0, 0) if cost[k] == cost[zero] else (dys[k], dxs[k])
    field = torch.from_numpy(v).permute(2, 0, 1).contiguous()
    if not half:
        return field.to(x.device)
    # half pixels: (0, 0) first, so that it wins ties (argmin takes the first)
    steps = torch.tensor([(0, 0)] + [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)])
    sad = torch.empty(len(steps), hb, wb)
    for k, step in enumerate(steps):
        cand = (field + step.view(2, 1, 1)).clamp(-LIMIT, LIMIT)
        sad[k] = (cur - compensate(prev[None, None], cand)[0, 0]).abs_().view(hb, BLOCK, wb, BLOCK).sum((1, 3))
    sad[1:] += lam / 4
    field = (field + steps[sad.argmin(0)].permute(2, 0, 1)).clamp(-LIMIT, LIMIT)
    return field.to(x.device)


@lru_cache(maxsize=1)
def field_model() -> rans.IndexedModel:
    """The family of tables for field differences: row z * len(DECAYS) + r codes
    difference 0 with weight ZERO_SHARES[z] / 16 and difference +-m with a two-sided
    geometric tail of ratio DECAYS[r] / 256 up to +-FIELD_SUPPORT, the rest of the tail on
    the escape. Integer arithmetic and rans.quantize_counts only: the same CDFs everywhere."""
    base, width = 1 << 24, 2 * FIELD_SUPPORT + 1
    cdfs = []
    for share in ZERO_SHARES:
        for decay in DECAYS:
            counts = [0] * (width + 1)  # + the escape
            counts[FIELD_SUPPORT] = share * base // 16
            tail = (base - counts[FIELD_SUPPORT]) * (256 - decay) // 512  # each of +-1
            for m in range(1, FIELD_SUPPORT + 1):
                counts[FIELD_SUPPORT - m] = counts[FIELD_SUPPORT + m] = max(1, tail)
                tail = tail * decay // 256
            counts[width] = max(1, 2 * tail * 256 // (256 - decay))  # beyond the support
            freqs = rans.quantize_counts(np.array(counts, np.uint64), FIELD_PRECISION).astype(np.int64)
            cdfs.append(np.concatenate([[0], np.cumsum(freqs)]))
    n = len(cdfs)
    return rans.IndexedModel(np.array(cdfs), [width + 2] * n, [-FIELD_SUPPORT] * n, FIELD_PRECISION)


def _differences(v: np.ndarray) -> np.ndarray:
    """Hb x Wb x 2 vectors -> their differences from the median predictor, same shape."""
    hb, wb, _ = v.shape
    diff = np.empty((hb, wb, 2), np.int64)
    for by in range(hb):
        for bx in range(wb):
            py, px = _median_predictor(v, by, bx)
            diff[by, bx] = v[by, bx, 0] - py, v[by, bx, 1] - px
    return diff


def encode_field(field: torch.Tensor) -> list[bytes]:
    """field: 2 x Hb x Wb -> [the two rows of field_model() (dy's, dx's), one byte each,
    the rANS stream of the median-predicted differences]. Each row is the one that codes
    its component in the fewest bits."""
    v = field.permute(1, 2, 0).cpu().numpy().astype(np.int64)
    if np.abs(v).max(initial=0) > LIMIT:
        raise ValueError(f"motion vectors are limited to +-{SEARCH} pixels")
    diff = _differences(v).reshape(-1, 2)
    model = field_model()
    rows = []
    for c in range(2):  # an escape's payload costs the same under every row: ideal_bits decides
        ones = np.ones(len(diff), np.int32)
        rows.append(min(range(model.num_cdfs), key=lambda r: model.ideal_bits(diff[:, c], r * ones)))
    indexes = np.tile(np.array(rows, np.int32), len(diff))
    return [bytes(rows), rans.encode(diff.reshape(-1).astype(np.int32), model, indexes, threads=1)]


def decode_field(rows, stream, hb: int, wb: int) -> torch.Tensor:
    """The inverse of encode_field for an Hb x Wb field. FormatError for any damage the
    stream's checks catch, for a row beyond the family and for a vector beyond +-SEARCH
    pixels."""
    model = field_model()
    rows = bytes(rows)
    if len(rows) != 2 or max(rows) >= model.num_cdfs:
        raise FormatError(f"motion field names tables {list(rows)}; there are {model.num_cdfs}")
    indexes = np.tile(np.frombuffer(rows, np.uint8).astype(np.int32), hb * wb)
    diff = np.asarray(rans.decode(bytes(stream), model, indexes, threads=1), np.int64).reshape(hb, wb, 2)
    v = np.zeros((hb, wb, 2), np.int64)
    for by in range(hb):
        for bx in range(wb):
            py, px = _median_predictor(v, by, bx)
            v[by, bx] = py + diff[by, bx, 0], px + diff[by, bx, 1]
            if abs(v[by, bx, 0]) > LIMIT or abs(v[by, bx, 1]) > LIMIT:
                raise FormatError(f"motion vector {tuple(v[by, bx].tolist())} beyond +-{SEARCH} pixels")
    return torch.from_numpy(v).permute(2, 0, 1).contiguous()
