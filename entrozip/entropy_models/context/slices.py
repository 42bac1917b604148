"""Channel-slice + checkerboard context for a Gaussian conditional.

One model covers three classic designs:

    groups=[M], checkerboard=False    mean-scale hyperprior (Minnen et al. 2018, no
                                      autoregression): hyper features are (scales, means)
    groups=[M], checkerboard=True     checkerboard context (He et al. 2021)
    groups uneven, checkerboard=True  ELIC's space-channel context (He et al. 2022):
                                      e.g. 16, 16, 32, 64, M-128 channels
    groups even, checkerboard=False   channel-wise context (Minnen and Singh 2020)

With lrp=True, latent residual prediction (Minnen and Singh 2020) refines each
slice once it is decoded (a correction in [-1/2, 1/2] from the hyper features and
the slices so far), before later slices see it; subclasses may replace the channel
context network (`_channel_net`: S2LIC's ACGC, acgc.py).

Coding order: slice by slice; within a slice, anchors then non-anchors. Every
network on the decoder's path (channel context, spatial context, parameter
aggregation) is an IntegerNet, and the decoder-side loop is shared with the
encoder (`_code`), so both compute the same integers by construction.

Fixed point: decoded values, features, scales and means all carry FRAC
fractional bits (y_hat_q = symbol * 2**FRAC + mean_q).
"""
from __future__ import annotations

import numpy as np
import torch
from ..._compressai import quantize_ste
from torch import nn

from ..gaussian import GaussianConditional
from ..integer import IntegerNet, from_fixed
from ..rdoq import rd_round
from .checkerboard import anchor_mask, keep

FRAC = 8


def default_scale_table(levels: int = 64, low: float = 0.11, high: float = 256.0) -> torch.Tensor:
    """CompressAI's log-spaced Gaussian scale table."""
    return torch.exp(torch.linspace(torch.log(torch.tensor(low)), torch.log(torch.tensor(high)), levels))


class SliceContextGaussian(nn.Module):
    """y (N x M x H x W) given hyper features (N x hyper_channels x H x W).

    forward(y, hyper) -> (y_hat, likelihoods)                      training (float)
    compress(y, hyper_q) -> (steps, y_hat_q)   steps: [(symbols, indexes)] int32 arrays,
                                                one per coding step, in decoding order
    decompress(decode_step, hyper_q) -> y_hat_q  decode_step(i, indexes) -> symbols

    Each also takes an optional mean prior (N x M x H x W; float for training, FRAC
    fixed point for coding), added to every predicted mean: the networks then predict
    a correction to it (the video model passes the previous frame's latent).
    """

    def __init__(self, groups, hyper_channels: int, checkerboard: bool = True, hidden: int = 128, scale_table=None,
                 lrp: bool = False):
        super().__init__()
        self.groups = [int(g) for g in groups]
        if not self.groups or min(self.groups) < 1:
            raise ValueError("groups must be positive channel counts")
        self.checkerboard = bool(checkerboard)
        self.direct = len(self.groups) == 1 and not self.checkerboard
        if self.direct and hyper_channels != 2 * self.groups[0]:
            raise ValueError("without context, the hyper features are (scales, means): 2 * M channels")
        self.channel_nets, self.spatial_nets, self.param_nets = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for k, g in enumerate(self.groups):
            before = sum(self.groups[:k])
            if k:
                self.channel_nets.append(self._channel_net(before, 2 * g, hidden))
            if self.checkerboard:
                self.spatial_nets.append(IntegerNet(nn.Conv2d(g, 2 * g, 5, padding=2), in_frac_bits=FRAC, out_frac_bits=FRAC))
            if not self.direct:
                c_in = hyper_channels + (2 * g if k else 0) + (2 * g if self.checkerboard else 0)
                self.param_nets.append(IntegerNet(
                    nn.Conv2d(c_in, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                    nn.Conv2d(hidden, 2 * g, 1), in_frac_bits=FRAC, out_frac_bits=FRAC))
        # latent residual prediction (Minnen and Singh 2020): after slice k is decoded, a net
        # of the hyper features and every decoded slice adds a correction in [-1/2, 1/2]
        self.lrp_nets = nn.ModuleList(IntegerNet(
            nn.Conv2d(hyper_channels + sum(self.groups[:k + 1]), hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, g, 3, padding=1), in_frac_bits=FRAC, out_frac_bits=FRAC)
            for k, g in enumerate(self.groups)) if lrp else None
        self.gaussian_conditional = GaussianConditional(None)
        self.gaussian_conditional.update_scale_table(default_scale_table() if scale_table is None else scale_table)

    @property
    def channels(self) -> int:
        return sum(self.groups)

    def num_steps(self) -> int:
        return len(self.groups) * (2 if self.checkerboard else 1)

    def step_sizes(self, height: int, width: int) -> list[int]:
        """Symbols per batch item in each coding step for an H x W latent (decoding order),
        so a decoder can check every stream's length before it computes anything."""
        anchors = (height * width + 1) // 2
        passes = [anchors, height * width - anchors] if self.checkerboard else [height * width]
        return [g * n for g in self.groups for n in passes]

    def _channel_net(self, c_in: int, c_out: int, hidden: int) -> nn.Module:
        """The channel context of a slice: decoded earlier slices (c_in) -> c_out features;
        any module with forward / forward_int / freeze / frozen (an IntegerNet here)."""
        return IntegerNet(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, c_out, 3, padding=1),
                          in_frac_bits=FRAC, out_frac_bits=FRAC)

    def _residual(self, k, hyper, y_hat_upto, integer: bool):
        """LRP's correction of slice k from the hyper features and slices 0..k (None without LRP)."""
        if self.lrp_nets is None:
            return None
        r = self._run(self.lrp_nets[k], torch.cat([hyper, y_hat_upto], dim=1), integer)
        return r.clamp(-(1 << (FRAC - 1)), 1 << (FRAC - 1)) if integer else r.clamp(-0.5, 0.5)

    # -- the shared shape of both paths ---------------------------------------------------
    @staticmethod
    def _run(net, x, integer: bool):
        return net.forward_int(x) if integer else net(x)

    def _channel_context(self, k, y_hat_before, integer: bool):
        """Features of slice k from the decoded earlier slices (None for the first)."""
        return self._run(self.channel_nets[k - 1], y_hat_before, integer) if k else None

    def _params(self, k, hyper, chan, ctx, integer: bool, prior=None):
        """(scale, mean) of slice k from the hyper features, the channel context and
        the spatial context (None: zeros, the anchors' pass); `prior` (slice k of a mean
        prior, same fixed point) is added to the mean: the networks predict a correction."""
        if self.direct:
            scale, mean = hyper.chunk(2, dim=1)
        else:
            feats = [hyper] if chan is None else [hyper, chan]
            if self.checkerboard:
                n, _, h, w = hyper.shape
                feats.append(ctx if ctx is not None else hyper.new_zeros(n, 2 * self.groups[k], h, w))
            scale, mean = self._run(self.param_nets[k], torch.cat(feats, dim=1), integer).chunk(2, dim=1)
        return (scale, mean) if prior is None else (scale, mean + prior)

    # -- training -------------------------------------------------------------------------
    def forward(self, y: torch.Tensor, hyper: torch.Tensor, mean_prior: torch.Tensor | None = None):
        mask = anchor_mask(y.shape[-2], y.shape[-1], y.device)
        y_hats, likelihoods = [], []
        priors = [None] * len(self.groups) if mean_prior is None else mean_prior.split(self.groups, dim=1)
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            chan = self._channel_context(k, torch.cat(y_hats, dim=1) if k else None, integer=False)
            scale, mean = self._params(k, hyper, chan, None, integer=False, prior=priors[k])
            if self.checkerboard:
                anchors = quantize_ste(y_k - mean) + mean
                ctx = self.spatial_nets[k](keep(anchors, mask))
                scale_n, mean_n = self._params(k, hyper, chan, ctx, integer=False, prior=priors[k])
                scale, mean = torch.where(mask, scale, scale_n), torch.where(mask, mean, mean_n)
            _, lik = self.gaussian_conditional(y_k, scale, mean)
            y_hat_k = quantize_ste(y_k - mean) + mean
            r = self._residual(k, hyper, torch.cat([*y_hats, y_hat_k], dim=1), integer=False)
            y_hats.append(y_hat_k if r is None else y_hat_k + r)
            likelihoods.append(lik)
        return torch.cat(y_hats, dim=1), torch.cat(likelihoods, dim=1)

    def update(self, force: bool = False) -> bool:
        """Integer CDF tables and integer networks (once, after training)."""
        updated = self.gaussian_conditional.update_scale_table(self.gaussian_conditional.scale_table, force=force)
        for net in (*self.channel_nets, *self.spatial_nets, *self.param_nets, *(self.lrp_nets or ())):
            if force or not net.frozen:
                net.freeze()
                updated = True
        return updated

    # -- coding ---------------------------------------------------------------------------
    def _code(self, hyper_q: torch.Tensor, step, mean_prior_q: torch.Tensor | None = None) -> torch.Tensor:
        """The decoding order, shared by encoder and decoder. step(i, k, mask, indexes,
        mean_q) -> symbols (int64, N x g x P) for slice k at the positions of mask."""
        if hyper_q.dtype != torch.int64 or hyper_q.dim() != 4:
            raise TypeError("hyper_q: N x C x H x W int64 fixed point")
        n, _, h, w = hyper_q.shape
        y_hat_q = torch.zeros(n, self.channels, h, w, dtype=torch.int64, device=hyper_q.device)
        anchors = anchor_mask(h, w, hyper_q.device)
        passes = [anchors, ~anchors] if self.checkerboard else [torch.ones_like(anchors)]
        i, c0 = 0, 0
        for k, g in enumerate(self.groups):
            y_k = y_hat_q[:, c0:c0 + g]
            prior = None if mean_prior_q is None else mean_prior_q[:, c0:c0 + g]
            chan = self._channel_context(k, y_hat_q[:, :c0], integer=True)
            for p, mask in enumerate(passes):
                ctx = self.spatial_nets[k].forward_int(keep(y_k, anchors)) if p else None
                scale_q, mean_q = self._params(k, hyper_q, chan, ctx, integer=True, prior=prior)
                mean_sel = mean_q[:, :, mask]
                indexes = self.gaussian_conditional.indexes_from_fixed(scale_q[:, :, mask], FRAC)
                symbols = step(i, k, mask, indexes, mean_sel)
                y_k[:, :, mask] = symbols * (1 << FRAC) + mean_sel
                i += 1
            r = self._residual(k, hyper_q, y_hat_q[:, :c0 + g], integer=True)
            if r is not None:
                y_k += r
            c0 += g
        return y_hat_q

    @torch.no_grad()
    def compress(self, y: torch.Tensor, hyper_q: torch.Tensor, mean_prior_q: torch.Tensor | None = None,
                 rdoq: float = 0.0):
        """rdoq: kappa of rdoq.rd_round (bits a unit of squared latent error is worth); 0 rounds."""
        if not torch.isfinite(y).all():
            raise ValueError("the latent holds NaN or Inf")
        steps = []
        slices = y.split(self.groups, dim=1)
        model = self.gaussian_conditional._coding_model() if rdoq else None

        def encode_step(i, k, mask, indexes, mean_q):
            residual = slices[k][:, :, mask].double() - from_fixed(mean_q, FRAC, torch.float64)
            symbols = rd_round(residual, indexes, model, rdoq)
            steps.append((symbols.to(torch.int32).reshape(-1).cpu().numpy(), indexes.reshape(-1).cpu().numpy()))
            return symbols

        y_hat_q = self._code(hyper_q, encode_step, mean_prior_q)
        return steps, y_hat_q

    @torch.no_grad()
    def decompress(self, decode_step, hyper_q: torch.Tensor, mean_prior_q: torch.Tensor | None = None) -> torch.Tensor:
        def step(i, k, mask, indexes, mean_q):
            symbols = decode_step(i, indexes.reshape(-1).cpu().numpy())
            return torch.from_numpy(np.asarray(symbols, dtype=np.int64)).to(mean_q.device).reshape(mean_q.shape)

        return self._code(hyper_q, step, mean_prior_q)
