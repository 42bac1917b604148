"""Hyperprior (Ballé et al. 2018) as one entropy model for y.

    z = h_a(y)                  coded under a factorized prior (EntropyBottleneck)
    hyper = h_s(z_hat)          an IntegerNet: exact on any device
    y | hyper                   coded by a SliceContextGaussian (plain, checkerboard,
                                channel-wise or both)

Streams: one z stream per batch item; one y stream per coding step (slices x
checkerboard passes) for the whole batch.

Side information: `context` (training, float) / `context_q` (coding, FRAC fixed
point) — features at y's resolution that the decoder has too, such as a temporal
prior from the previous frame's latent — are concatenated after h_s's features;
y_model's hyper_channels count both. `mean_prior` / `mean_prior_q` (y's shape) is
added to every predicted mean (y_model codes the residual against it).

`analysis_of_residual` (encoder only): with a mean prior, z = h_a(y - mean_prior), so the
side information describes where and how much y departs from its prior (a video frame
from the previous one) instead of y itself. The decoder never runs h_a, so this changes
what an encoder writes, not the format or how a stream decodes.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import rans
from .context.slices import FRAC, SliceContextGaussian
from .factorized import EntropyBottleneck
from .integer import IntegerNet, from_fixed, to_fixed

Z_FRAC = 4  # fractional bits of z_hat (symbols + the prior's medians) into h_s


class Hyperprior(nn.Module):
    """h_a: M -> z_channels (encoder only, any float module); h_s_layers: the layers of
    an IntegerNet z_channels -> hyper features at y's resolution; y_model: what codes y."""

    def __init__(self, h_a: nn.Module, h_s_layers, z_channels: int, y_model: SliceContextGaussian):
        super().__init__()
        self.h_a = h_a
        self.h_s = IntegerNet(*h_s_layers, in_frac_bits=Z_FRAC, out_frac_bits=FRAC)
        self.entropy_bottleneck = EntropyBottleneck(z_channels)
        self.y_model = y_model
        self.analysis_of_residual = False

    def analyse(self, y: torch.Tensor, mean_prior: torch.Tensor | None) -> torch.Tensor:
        """z before quantisation: h_a of y, or of y's residual against its mean prior."""
        if self.analysis_of_residual and mean_prior is not None:
            return self.h_a(y - mean_prior)
        return self.h_a(y)

    def forward(self, y: torch.Tensor, context: torch.Tensor | None = None, mean_prior: torch.Tensor | None = None):
        """Training: (y_hat, {"y": likelihoods, "z": likelihoods})."""
        z_hat, z_lik = self.entropy_bottleneck(self.analyse(y, mean_prior))
        hyper = self.h_s(z_hat)
        y_hat, y_lik = self.y_model(y, hyper if context is None else torch.cat([hyper, context], dim=1), mean_prior)
        return y_hat, {"y": y_lik, "z": z_lik}

    def update(self, force: bool = False) -> bool:
        """Integer CDF tables and integer networks (once, after training)."""
        updated = self.entropy_bottleneck.update(force=force)
        if force or not self.h_s.frozen:
            self.h_s.freeze()
            updated = True
        return self.y_model.update(force=force) or updated

    def _hyper_q(self, z_hat: torch.Tensor, context_q: torch.Tensor | None = None) -> torch.Tensor:
        hyper_q = self.h_s.forward_int(to_fixed(z_hat, Z_FRAC))
        return hyper_q if context_q is None else torch.cat([hyper_q, context_q], dim=1)

    @torch.no_grad()
    def compress(self, y: torch.Tensor, threads: int | None = None, backend: str | None = None,
                 context_q: torch.Tensor | None = None, mean_prior_q: torch.Tensor | None = None,
                 rdoq: float = 0.0) -> dict:
        """{"z": [bytes] per item, "y": [bytes] per step, "z_shape": (h, w),
        "steps": [(symbols, indexes)], "y_hat": float y_hat}. rdoq: y's rounding (rdoq.py; 0 rounds)."""
        z = self.analyse(y, None if mean_prior_q is None else from_fixed(mean_prior_q, FRAC))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        hyper_q = self._hyper_q(z_hat, context_q)
        if hyper_q.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"h_s gives {tuple(hyper_q.shape[-2:])}, y is {tuple(y.shape[-2:])}")
        steps, y_hat_q = self.y_model.compress(y, hyper_q, mean_prior_q, rdoq=rdoq)
        model = self.y_model.gaussian_conditional._coding_model()
        y_strings = [rans.encode(s, model, i, threads=threads, backend=backend) for s, i in steps]
        return {"z": z_strings, "y": y_strings, "z_shape": tuple(z.shape[-2:]), "steps": steps,
                "y_hat": from_fixed(y_hat_q, FRAC), "y_hat_q": y_hat_q}

    @torch.no_grad()
    def decompress(self, z_strings, y_strings, z_shape, threads: int | None = None, backend: str | None = None,
                   context_q: torch.Tensor | None = None, mean_prior_q: torch.Tensor | None = None,
                   fixed: bool = False) -> torch.Tensor:
        """y_hat (float; with fixed=True the FRAC fixed-point int64 it comes from) from
        compress's streams."""
        if len(y_strings) != self.y_model.num_steps():
            raise ValueError(f"{len(y_strings)} y streams; this model codes {self.y_model.num_steps()}")
        z_hat = self.entropy_bottleneck.decompress(z_strings, tuple(z_shape))
        model = self.y_model.gaussian_conditional._coding_model()

        def decode_step(i, indexes):
            return rans.decode(y_strings[i], model, indexes, threads=threads, backend=backend)

        y_hat_q = self.y_model.decompress(decode_step, self._hyper_q(z_hat, context_q), mean_prior_q)
        return y_hat_q if fixed else from_fixed(y_hat_q, FRAC)
