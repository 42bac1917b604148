"""STEM: one autoencoder for raw frames + a spatiotemporal entropy model.

After Sun et al., "Spatiotemporal Entropy Model is All You Need for Learned Video
Compression" (arXiv 2104.06083): every frame, intra or inter, goes through the same
analysis / synthesis transforms (the image model's), so all latents live in one space
and no motion estimation or residual image is needed. What differs is how a latent
is entropy-coded:

    intra  y_t | z_t                                  the image model's own hyperprior
                                                      + channel/checkerboard context
    inter  y_t | z_t, T(y_hat_{t-1})                  the same hyperprior (h_a, h_s, z prior),
                                                      channel and checkerboard context nets,
                                                      with its own parameter networks, which
                                                      also see a temporal prior: an IntegerNet
                                                      on the previous decoded latent (2M
                                                      features, fixed point); here
                                                      z_t = h_a(y_t - y_hat_{t-1}): the side
                                                      information says where the frame changed
    motion y_t - g_a(warp(x_hat_{t-1}, motion field))   the latent residual against the analysis of
                                                      a block-motion-compensated prediction
                                                      (motion.py), coded with the intra model

The inter y model is the image codec's SliceContextGaussian (channel slices + a
parallel checkerboard, not a serial masked convolution), predicting a scale and a
mean per element; the mean is the previous decoded latent plus the networks'
correction (a mean prior), so the coded symbol is the latent's residual against
the temporal-and-spatial prediction from the first training step on. Only T, the inter h_a and the inter parameter networks are the
video model's own (~5 MB shipped); everything else is shared with the image model.
Every network that picks a CDF is an IntegerNet: the decoder, on any device,
reproduces the encoder's indexes bit for bit.

Shapes: frames N x 3 x H x W in [0, 1] (H, W multiples of 64); latents N x M x H/16 x W/16.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ...entropy_models.context.slices import FRAC
from ...entropy_models.integer import IntegerNet
from ..image.models import LAMBDAS, ImageModel, _hyper

INTER_KINDS = (b"P", b"R", b"M")  # how an inter frame's latent is coded (VideoModel.code_latent)


def temporal_prior(M: int, N: int) -> IntegerNet:
    """T: y_hat_{t-1} (M channels, FRAC fixed point) -> 2M features at the same size."""
    return IntegerNet(nn.Conv2d(M, N, 3, padding=1), nn.ReLU(), nn.Conv2d(N, N, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(N, 2 * M, 3, padding=1), in_frac_bits=FRAC, out_frac_bits=FRAC)


class VideoModel(nn.Module):
    """The image model (transforms, gains, intra entropy model) + the inter entropy model.

    forward(frames, quality) -> per-frame {"x_hat", "likelihoods"} for training;
    compress_frame / decompress_frame code one frame given the previous decoded latent."""

    def __init__(self, image: ImageModel):
        super().__init__()
        self.image = image
        spec = image.spec
        self.temporal = temporal_prior(spec.M, spec.N)
        self.inter = _hyper(spec, context_channels=2 * spec.M)
        intra = image.entropy  # shared: everything but h_a and the parameter networks
        self.inter.h_a = copy.deepcopy(intra.h_a)  # its own: it analyses the latent's change
        self.inter.h_s, self.inter.entropy_bottleneck = intra.h_s, intra.entropy_bottleneck
        y, y_intra = self.inter.y_model, intra.y_model
        y.channel_nets, y.spatial_nets = y_intra.channel_nets, y_intra.spatial_nets
        y.gaussian_conditional = y_intra.gaussian_conditional
        # z of the latent's change, not of the latent: measured on carphone (16 P frames,
        # untrained inter model) -1.3 / -7.1 / -7.5 % bytes at q1 / q4 / q8; encoder only
        self.inter.analysis_of_residual = True

    @property
    def spec(self):
        return self.image.spec

    @torch.no_grad()
    def init_inter_from_intra(self) -> None:
        """Start the inter parameter networks as the intra ones: zero weight on the temporal
        features, and the mean half of each output at zero, so mean = the prior (the
        previous latent) and the scales are the intra model's."""
        intra, inter = self.image.entropy.state_dict(), self.inter.state_dict()  # views of the live tensors
        two_m = 2 * self.spec.M
        for name, dst in inter.items():
            src = intra.get(name)
            if src is None:
                continue
            if src.shape == dst.shape:
                dst.copy_(src)
            elif name.endswith("layers.0.conv.weight") and dst.shape[1] == src.shape[1] + two_m:
                dst.zero_()
                dst[:, :two_m] = src[:, :two_m]  # h_s features
                dst[:, 2 * two_m:] = src[:, two_m:]  # channel and spatial context
        for net in self.inter.y_model.param_nets:
            last = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
            half = last.out_channels // 2
            last.weight[half:] = 0
            last.bias[half:] = 0

    def own_parameters(self):
        """The video model's own parameters (the image model's stay frozen): T, the inter
        hyper-analysis (encoder only) and the inter parameter networks."""
        return [*self.temporal.parameters(), *self.inter.h_a.parameters(),
                *self.inter.y_model.param_nets.parameters()]

    def forward(self, frames: torch.Tensor, quality, train_transforms: bool = False):
        """frames: T x N x 3 x H x W. Frame 0 is intra, the rest inter, each conditioned on
        the previous frame's decoded latent. Returns a list of per-frame dicts."""
        image = self.image
        gain = image.gain(quality)
        out, y_prev = [], None
        for t in range(frames.shape[0]):
            with torch.set_grad_enabled(train_transforms and torch.is_grad_enabled()):
                y = image.g_a(frames[t]) * gain
            if t == 0:
                with torch.set_grad_enabled(train_transforms and torch.is_grad_enabled()):
                    y_hat, lik = image.entropy(y)
            else:
                y_hat, lik = self.inter(y, context=self.temporal(y_prev), mean_prior=y_prev)
            x_hat = image.g_s(y_hat / gain) if train_transforms else None
            out.append({"y_hat": y_hat, "x_hat": x_hat, "likelihoods": lik, "intra": t == 0})
            y_prev = y_hat
        return out

    def update(self, force: bool = False) -> bool:
        updated = self.image.update(force=force)
        if force or not self.temporal.frozen:
            self.temporal.freeze()
            updated = True
        return self.inter.update(force=force) or updated

    # ---------------------------------------------------------------- coding, one frame
    @torch.no_grad()
    def latent(self, x: torch.Tensor, quality: int) -> torch.Tensor:
        """x: 1 x 3 x H x W -> the frame's latent y at `quality` (the image model's analysis and gain)."""
        return self.image.analysis(x) * self.image.gain(quality)

    @torch.no_grad()
    def motion_reference(self, prev_x: torch.Tensor, field: torch.Tensor, quality: int) -> torch.Tensor:
        """An M frame's reference latent (int64 FRAC fixed point): the analysis of the previous
        decoded frame moved by the motion field. prev_x: 1 x 3 x H x W, the previous frame as
        decoded (padded, on 8-bit levels: VideoModel.decoded_frame); field: motion.py.
        Float arithmetic: across devices it may differ in its last fixed-point bits, which
        moves the reconstruction by rounding noise but never the parse (the residual's CDFs
        do not depend on it)."""
        from ...entropy_models.integer import to_fixed
        from .motion import compensate

        return to_fixed(self.latent(compensate(prev_x, field), quality), FRAC)

    @torch.no_grad()
    def code_motion(self, y: torch.Tensor, x: torch.Tensor, prev_x: torch.Tensor, quality: int, threads=None,
                    rdoq: float = 0.0, half: bool = True) -> dict:
        """An M frame: the motion field of x (1 x 3 x H x W, padded) from prev_x (the previous
        frame as decoded: decoded_frame), then y coded against motion_reference(). Returns
        code_latent's dict with "side": the coded field (motion.encode_field). half: as
        motion.estimate."""
        from . import motion

        field = motion.estimate(x, prev_x, motion.motion_lambda(LAMBDAS[quality]), half=half)
        out = self.code_latent(y, self.motion_reference(prev_x, field, quality), b"M", threads, rdoq)
        return {**out, "side": motion.encode_field(field)}

    @torch.no_grad()
    def code_latent(self, y: torch.Tensor, prev_q: torch.Tensor | None, kind: bytes = b"P", threads=None,
                    rdoq: float = 0.0) -> dict:
        """Code latent y given the previous decoded latent (int64 FRAC fixed point; None: an
        intra frame). Returns Hyperprior.compress's dict (with "y_hat_q") and "kind":
            b"I"  intra: the image model's own entropy model
            b"P"  the spatiotemporal entropy model (temporal prior + hyperprior + context)
            b"R"  the latent residual y - y_prev coded with the intra model: its hyperprior
                  then describes where the frame changed (wins at high rates).
            b"M"  as R, against motion_reference() instead of y_prev (pass it as prev_q).
        rdoq: the latent's rounding (entropy_models/rdoq.py; 0 rounds)."""
        if prev_q is None:
            return {**self.image.entropy.compress(y, threads=threads, rdoq=rdoq), "kind": b"I"}
        if kind == b"P":
            out = self.inter.compress(y, threads=threads, context_q=self.temporal.forward_int(prev_q),
                                      mean_prior_q=prev_q, rdoq=rdoq)
        elif kind in (b"R", b"M"):
            from ...entropy_models.integer import from_fixed

            out = self.image.entropy.compress(y - from_fixed(prev_q, FRAC), threads=threads, rdoq=rdoq)
            out["y_hat_q"] = prev_q + out["y_hat_q"]
        else:
            raise ValueError(f"inter frame kinds are {INTER_KINDS}, not {kind!r}")
        return {**out, "kind": kind}

    @torch.no_grad()
    def compress_frame(self, x: torch.Tensor, quality: int, prev_q: torch.Tensor | None, threads=None,
                       kind: bytes = b"P", rdoq: float = 0.0) -> dict:
        """x: 1 x 3 x H x W: latent() then code_latent()."""
        return self.code_latent(self.latent(x, quality), prev_q, kind, threads, rdoq)

    @torch.no_grad()
    def frame_cost(self, out: dict, x: torch.Tensor, quality: int, size=None) -> float:
        """Bits + lambda x 255^2 x squared error of a coded frame over `size` (H, W): the
        objective the model was trained for, on real bytes and the real reconstruction.
        The bits include out["side"] (an M frame's motion field), where present. Leaves the
        decoded frame (decoded_frame, padded) in out["x_hat"]: the next M frame's reference,
        which the encoder would otherwise synthesize again."""
        h, w = size or x.shape[-2:]
        bits = 8 * (len(out["z"][0]) + sum(len(s) for s in out["y"]) + sum(len(s) for s in out.get("side", ())))
        x_hat = self.decoded_frame(out["y_hat_q"], quality)
        out["x_hat"] = x_hat
        mse = (x_hat[..., :h, :w] - x[..., :h, :w]).square().mean().item()
        return bits + LAMBDAS[quality] * 255 ** 2 * mse * h * w

    @torch.no_grad()
    def decompress_frame(self, z_strings, y_strings, z_shape, prev_q: torch.Tensor | None, threads=None,
                         kind: bytes = b"P"):
        """The decoded latent (int64 FRAC fixed point) of one frame of `kind` (I when prev_q is None)."""
        if prev_q is None:
            return self.image.entropy.decompress(z_strings, y_strings, z_shape, threads=threads, fixed=True)
        if kind in (b"R", b"M"):  # for M, prev_q is motion_reference()
            return prev_q + self.image.entropy.decompress(z_strings, y_strings, z_shape, threads=threads, fixed=True)
        if kind != b"P":
            raise ValueError(f"unknown inter frame kind {kind!r}")
        return self.inter.decompress(z_strings, y_strings, z_shape, threads=threads,
                                     context_q=self.temporal.forward_int(prev_q), mean_prior_q=prev_q, fixed=True)

    @torch.no_grad()
    def decoded_frame(self, y_hat_q: torch.Tensor, quality: int) -> torch.Tensor:
        """The frame a decoder outputs, padded: synthesize() on 8-bit levels (1 x 3 x H x W)."""
        return self.synthesize(y_hat_q, quality).mul_(255).round_().div_(255)

    @torch.no_grad()
    def synthesize(self, y_hat_q: torch.Tensor, quality: int) -> torch.Tensor:
        from ...entropy_models.integer import from_fixed

        return self.image.synthesize(from_fixed(y_hat_q, FRAC), quality)
