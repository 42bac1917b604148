"""S2LIC's transforms (Wang et al., arXiv 2403.14471): residual SwinV2 stages between
stride-2 convolutions, a dense-block feature enhancement at the input and output.

    g_a: x (N x 3 x H x W) -> conv3x3 (3 -> F) -> DenseEnhancement(F) -> conv s2 (F -> N) -> RSwin(N)
         -> [conv s2 -> RSwin] x 3 (the last at M channels) -> y (M x H/16 x W/16)
    g_s: y_hat -> RSwin(M) -> deconv s2 (M -> N) -> [RSwin(N) -> deconv s2] x 3 (the last N -> F)
         -> DenseEnhancement(F) -> conv3x3 (F -> 3) -> x_hat

Its entropy model (hyperprior + slices + checkerboard + ACGC + latent residual
prediction) is entropy_models/context/acgc.py, built by models.py. Choices the
paper leaves open, written down (README "S2LIC" lists them all): stage depths
per resolution are ModelSpec.depths (the last analysis stage and the first
synthesis stage run at M channels); heads = channels / 32; MLP ratio 2 (small)
or 4 (paper size); the dense blocks run at full resolution on F = N / 2 channels
with 4 layers of F / 3 channels each (at N channels they cost ~190 kMAC per pixel,
two thirds of the small model's encoder); downsampling convs are 3x3 stride 2,
upsampling CompressAI's 5x5 transposed convs.
"""
from __future__ import annotations

from ..._compressai import conv, deconv
from torch import nn

from .swin import DenseEnhancement, ResidualSwinStage


def enhancement_channels(N: int) -> int:
    """F: the width of the full-resolution dense blocks."""
    return N // 2


def analysis(N: int, M: int, depths, mlp_ratio: float) -> nn.Sequential:
    F = enhancement_channels(N)
    layers = [nn.Conv2d(3, F, 3, padding=1), DenseEnhancement(F, growth=F // 3)]
    c_in = F
    for i, depth in enumerate(depths):
        c_out = M if i == len(depths) - 1 else N
        layers += [conv(c_in, c_out, 3, 2), ResidualSwinStage(c_out, depth, mlp_ratio=mlp_ratio)]
        c_in = c_out
    return nn.Sequential(*layers)


def synthesis(N: int, M: int, depths, mlp_ratio: float) -> nn.Sequential:
    F = enhancement_channels(N)
    depths = tuple(reversed(depths))
    layers = [ResidualSwinStage(M, depths[0], mlp_ratio=mlp_ratio), deconv(M, N)]
    for i, depth in enumerate(depths[1:]):
        last = i == len(depths) - 2
        layers += [ResidualSwinStage(N, depth, mlp_ratio=mlp_ratio), deconv(N, F if last else N)]
    layers += [DenseEnhancement(F, growth=F // 3), nn.Conv2d(F, 3, 3, padding=1)]
    return nn.Sequential(*layers)
