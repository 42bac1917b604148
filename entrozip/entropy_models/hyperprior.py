"""Mean-scale hyperprior (Ballé et al. 2018, Minnen et al. 2018) as one entropy model.

    z = h_a(y), coded with a factorized prior; (scales, means) = h_s(z_hat);
    y coded with a Gaussian conditional given (scales, means).

The transforms are the caller's modules. Decoding reproduces the CDF indexes and
means from z_hat through h_s, so h_s must give bit-identical outputs wherever the
stream is decoded: an integer / fixed-point h_s gives that across devices; a
float one only on the machine that encoded.
"""
from __future__ import annotations

import torch
from torch import nn

from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional


def default_scale_table(levels: int = 64, low: float = 0.11, high: float = 256.0) -> torch.Tensor:
    """CompressAI's log-spaced Gaussian scale table."""
    return torch.exp(torch.linspace(torch.log(torch.tensor(low)), torch.log(torch.tensor(high)), levels))


class MeanScaleHyperprior(nn.Module):
    """y (N x M x H x W) <-> two streams per item: z under a factorized prior, y under
    Gaussians whose scales and means h_s predicts from z_hat.

    h_a: M -> Z channels (downsampling as it likes); h_s: Z -> 2M channels
    (scales then means) at y's resolution."""

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int, scale_table=None):
        super().__init__()
        self.h_a, self.h_s = h_a, h_s
        self.entropy_bottleneck = EntropyBottleneck(z_channels)
        self.gaussian_conditional = GaussianConditional(None)
        self.gaussian_conditional.update_scale_table(default_scale_table() if scale_table is None else scale_table)

    def _params(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        return scales, means

    def forward(self, y: torch.Tensor):
        """Training: (y_hat, {"y": likelihoods, "z": likelihoods})."""
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self._params(z_hat)
        y_hat, y_lik = self.gaussian_conditional(y, scales, means)
        return y_hat, {"y": y_lik, "z": z_lik}

    def update(self, force: bool = False) -> bool:
        """Build the integer CDF tables of both priors (once, after training)."""
        a = self.entropy_bottleneck.update(force=force)
        b = self.gaussian_conditional.update_scale_table(self.gaussian_conditional.scale_table, force=force)
        return a or b

    @torch.no_grad()
    def compress(self, y: torch.Tensor) -> dict:
        """{"strings": [y streams, z streams], "shape": z's spatial size}."""
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        scales, means = self._params(z_hat)
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_strings = self.gaussian_conditional.compress(y, indexes, means)
        return {"strings": [y_strings, z_strings], "shape": tuple(z.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings, shape) -> torch.Tensor:
        y_strings, z_strings = strings
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        scales, means = self._params(z_hat)
        indexes = self.gaussian_conditional.build_indexes(scales)
        return self.gaussian_conditional.decompress(y_strings, indexes, means=means)
