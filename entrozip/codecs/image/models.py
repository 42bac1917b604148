"""The learned image models: transforms + a hyperprior entropy model + gain units.

    x (N x 3 x H x W, [0, 1], H and W multiples of PAD)
      -> y = g_a(x) * gain[q]                      (N x M x H/16 x W/16)
      -> coded by entropy (Hyperprior: z, then y under its context model)
      -> x_hat = g_s(y_hat / gain[q])

One set of weights serves every quality: `gain` holds a learned per-channel gain
vector per quality (gain units, Cui et al. 2021), so a coarser or finer
quantisation of the same latent space is one index away.

Models (MODELS): "mbt2018-mean" (Minnen et al. 2018's mean-scale hyperprior, no
autoregression) and "elic" (ELIC's uneven channel groups + checkerboard, He et
al. 2022, on GDN transforms; CompressAI's layers); "s2lic" and "s2lic-paper"
(S2LIC, Wang et al. 2024: SwinV2 transforms, s2lic.py, and the ACGC context with
latent residual prediction, entropy_models/context/acgc.py) at a small size that
trains on short runs and at the paper's N = 192, M = 320.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._compressai import GDN, conv, deconv
from ...entropy_models import Hyperprior, SliceContextGaussian
from ...entropy_models.context.acgc import ACGCContextGaussian
from . import s2lic
from .tiling import tiled

PAD = 64  # y is H/16; z is H/64: both whole
QUALITIES = 8
# the rate-distortion trade-off each quality is trained for (CompressAI's bmshj2018 /
# mbt2018 recipes, q1 .. q8): loss = bpp + lambda x 255^2 x MSE; encoders that choose
# between coding modes weigh them the same way
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)


def to_input(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x Hp x Wp float in [0, 1], replicate-padded to multiples of PAD."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(rgb).copy()).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255)
    return F.pad(x, (0, -w % PAD, 0, -h % PAD), mode="replicate")


def z_shape(height: int, width: int) -> tuple[int, int]:
    """z's spatial size for an H x W image (y's is four times that)."""
    return -(-height // PAD) * PAD // 64, -(-width // PAD) * PAD // 64


@dataclass(frozen=True)
class ModelSpec:
    name: str
    N: int  # transform channels
    M: int  # latent channels
    groups: tuple  # channel slices of y
    checkerboard: bool
    summary: str
    transform: str = "gdn"  # "gdn" (CompressAI's GDN convs) or "swinv2" (s2lic.py)
    context: str = "slices"  # "slices" (conv channel context) or "acgc" (+ latent residual prediction)
    depths: tuple = ()  # SwinV2 blocks per resolution (swinv2 transforms)
    mlp_ratio: float = 2.0
    # the encoder's rounding of y: entropy_models/rdoq.py's kappa, 0 = round to nearest.
    # Measured per model (BENCHMARKS.md, "Rate-distortion optimised rounding"): elic 20
    # (3 Kodak images: rate + lambda x distortion -4.9 / -1.1 / -0.1 % at q2 / q5 / q8),
    # s2lic none (+1.9 % at kappa 20, -0.2 % at 96: its entropy model leaves nothing to take)
    rdoq: float = 0.0


MODELS = {
    "mbt2018-mean": ModelSpec("mbt2018-mean", 128, 192, (192,), False,
                              "mean-scale hyperprior (Minnen et al. 2018, no autoregression)"),
    "elic": ModelSpec("elic", 128, 192, (16, 16, 32, 64, 64), True,
                      "ELIC-style space-channel context: uneven slices + checkerboard (He et al. 2022)", rdoq=20.0),
    "s2lic": ModelSpec("s2lic", 96, 160, (32,) * 5, True,
                       "S2LIC (Wang et al. 2024), small: SwinV2 transforms + ACGC channel/global-inter attention "
                       "context, checkerboard, LRP", "swinv2", "acgc", (1, 1, 2, 1)),
    "s2lic-code": ModelSpec("s2lic-code", 96, 160, (32,) * 5, False,
                            "s2lic with the conditioning of the authors' released code: each slice in one pass "
                            "from the hyperprior and the earlier slices (no anchors of its own); to measure "
                            "against the paper's", "swinv2", "acgc", (1, 1, 2, 1)),
    "s2lic-paper": ModelSpec("s2lic-paper", 192, 320, (32,) * 10, True,
                             "S2LIC at the paper's size (N = 192, M = 320 as 10 slices of 32); no weights ship",
                             "swinv2", "acgc", (2, 2, 6, 2), 4.0),
}


def _analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


def _synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                         deconv(N, N), GDN(N, inverse=True), deconv(N, 3))


def hyper_analysis(spec: ModelSpec) -> nn.Sequential:
    """h_a: y (M channels) -> z (N channels, 1/4 of y's size)."""
    N, M = spec.N, spec.M
    return nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
                         conv(N, N))


def hyper_synthesis_layers(spec: ModelSpec) -> list:
    """The layers of h_s: z_hat -> 2M hyper features at y's size (an IntegerNet's)."""
    N, M = spec.N, spec.M
    return [deconv(N, M), nn.ReLU(), deconv(M, M * 3 // 2), nn.ReLU(), conv(M * 3 // 2, 2 * M, 3, 1)]


def _hyper(spec: ModelSpec, context_channels: int = 0) -> Hyperprior:
    """The hyperprior entropy model of y; context_channels of side features join h_s's."""
    y_class = ACGCContextGaussian if spec.context == "acgc" else SliceContextGaussian
    y_model = y_class(spec.groups, 2 * spec.M + context_channels, checkerboard=spec.checkerboard)
    return Hyperprior(hyper_analysis(spec), hyper_synthesis_layers(spec), spec.N, y_model)


class ImageModel(nn.Module):
    """forward(x, quality) -> {"x_hat", "likelihoods": {"y", "z"}} for training;
    compress(x, quality) -> streams; decompress(streams, quality, latent) -> x_hat."""

    # analysis tiles (pixels) and synthesis tiles (latent positions), with halos wider than
    # the receptive fields so the seams do not show; images below a tile run whole
    ANALYSIS_TILE, ANALYSIS_HALO = 1024, 64
    SYNTHESIS_TILE, SYNTHESIS_HALO = 64, 4

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        if spec.transform == "swinv2":
            self.g_a = s2lic.analysis(spec.N, spec.M, spec.depths, spec.mlp_ratio)
            self.g_s = s2lic.synthesis(spec.N, spec.M, spec.depths, spec.mlp_ratio)
            # halos of whole windows at every stage keep the window grids of the tiles aligned
            self.ANALYSIS_HALO, self.SYNTHESIS_HALO = 128, 8
        else:
            self.g_a = _analysis(spec.N, spec.M)
            self.g_s = _synthesis(spec.N, spec.M)
        self.entropy = _hyper(spec)
        # log gains: qualities 0 (coarsest) .. QUALITIES-1, spread over a factor 12 before training
        start = torch.linspace(-1.25, 1.25, QUALITIES).view(-1, 1)
        self.log_gain = nn.Parameter(start.repeat(1, spec.M))

    def gain(self, quality) -> torch.Tensor:
        """N x M x 1 x 1 (quality: int or N ints)."""
        q = torch.as_tensor(quality, device=self.log_gain.device).reshape(-1)
        return torch.exp(self.log_gain[q]).unsqueeze(-1).unsqueeze(-1)

    def forward(self, x: torch.Tensor, quality):
        y = self.g_a(x) * self.gain(quality)
        y_hat, likelihoods = self.entropy(y)
        return {"x_hat": self.g_s(y_hat / self.gain(quality)), "likelihoods": likelihoods}

    def update(self, force: bool = False) -> bool:
        return self.entropy.update(force=force)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return tiled(self.g_a, x, 1, 16, self.ANALYSIS_TILE, self.ANALYSIS_HALO)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return tiled(self.g_s, y_hat, 16, 1, self.SYNTHESIS_TILE, self.SYNTHESIS_HALO)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality: int, threads=None, rdoq: float | None = None) -> dict:
        """x: 1 x 3 x H x W (H, W multiples of PAD) -> Hyperprior.compress's dict. rdoq: y's
        rounding (entropy_models/rdoq.py), None: the model's own (ModelSpec.rdoq)."""
        y = self.analysis(x) * self.gain(quality)
        return self.entropy.compress(y, threads=threads, rdoq=self.spec.rdoq if rdoq is None else rdoq)

    @torch.no_grad()
    def synthesize(self, y_hat: torch.Tensor, quality: int) -> torch.Tensor:
        """x_hat in [0, 1] from a decoded latent."""
        return self.synthesis(y_hat / self.gain(quality)).clamp_(0, 1)

    @torch.no_grad()
    def decompress(self, z_strings, y_strings, z_shape, quality: int, threads=None) -> torch.Tensor:
        y_hat = self.entropy.decompress(z_strings, y_strings, z_shape, threads=threads)
        return self.synthesize(y_hat, quality)
