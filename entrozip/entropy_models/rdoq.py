"""Rate-distortion optimised rounding of a latent: the encoder's choice, unseen by decoders.

A Gaussian-conditional latent is coded as symbols s = round(r) of its residual r = y - mean.
Rounding minimises the latent's error, not rate + lambda x distortion: where r lies just past
a half, the value one step toward zero often saves more bits than its added error costs. rd_round
chooses, element by element (greedy: the effect of a choice on later elements' contexts is not
followed), between s0 = round(r) and s1 = s0 - sign(s0):

    s1 replaces s0  when  bits(s1) + kappa (r - s1)^2  <  bits(s0) + kappa (r - s0)^2

with bits from the very CDF rows the coder uses (IndexedModel.symbol_bits) and kappa the bits
one unit of squared latent error is worth. Latents are in each quality's gained units, where
the training objective's quantisation step is 1 at every quality, so one kappa serves every
quality of a model; it is measured per model (image: ModelSpec.rdoq; video: VIDEO_RDOQ;
BENCHMARKS.md, "Encoder decisions").
Cost: two table look-ups per element. Any integer decodes, so files stay valid either way.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import rans


def check_kappa(value) -> float:
    """value as a kappa (the codecs' `rdoq` option): a finite number >= 0, else ValueError."""
    kappa = float(value)
    if not (math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"rdoq (kappa) must be a finite number >= 0, got {value!r}")
    return kappa


def rd_round(residual: torch.Tensor, indexes: torch.Tensor, model: rans.IndexedModel, kappa: float) -> torch.Tensor:
    """residual: float64 (any shape), indexes: the CDF row of each element (same shape) ->
    int64 symbols (same shape, on residual's device), clamped to the int32 range the coder
    takes. kappa = 0 is plain rounding."""
    kappa = check_kappa(kappa)
    lim = 2**31 - 1
    s0 = torch.round(residual).clamp(-lim, lim)
    if kappa == 0 or residual.numel() == 0:
        return s0.to(torch.int64)
    s1 = s0 - torch.sign(s0)
    r = residual.detach().cpu().numpy().reshape(-1)
    a, b = s0.cpu().numpy().reshape(-1), s1.cpu().numpy().reshape(-1)
    idx = indexes.reshape(-1).cpu().numpy().astype(np.int32)
    cost0 = model.symbol_bits(a.astype(np.int32), idx) + kappa * (r - a) ** 2
    cost1 = model.symbol_bits(b.astype(np.int32), idx) + kappa * (r - b) ** 2
    take = torch.from_numpy((a != 0) & (cost1 < cost0)).reshape(s0.shape).to(s0.device)
    return torch.where(take, s1, s0).to(torch.int64)
