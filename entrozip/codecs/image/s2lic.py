"""S2LIC's transforms (Wang et al., arXiv 2403.14471): residual SwinV2 stages between
stride-2 convolutions, a dense-block feature enhancement at the input and output.

    g_a: x (N x 3 x H x W) -> conv3x3 -> DenseEnhancement -> [conv s2 -> RSwin] x 4 -> y (M x H/16 x W/16)
    g_s: y_hat -> RSwin(M) -> [deconv s2 -> RSwin] x 3 -> deconv s2 -> DenseEnhancement -> conv3x3 -> x_hat

Its entropy model (hyperprior + slices + checkerboard + ACGC + latent residual
prediction) is entropy_models/context/acgc.py, built by models.py. Choices the
paper leaves open, written down (README "S2LIC" lists them all): stage depths
per resolution are ModelSpec.depths (the last analysis stage and the first
synthesis stage run at M channels); heads = channels / 32; MLP ratio 2 (small)
or 4 (paper size); the dense blocks have 4 layers of 32 channels; downsampling
convs are 3x3 stride 2, upsampling CompressAI's 5x5 transposed convs.
"""
from __future__ import annotations

from compressai.models.utils import conv, deconv
from torch import nn

from .swin import DenseEnhancement, ResidualSwinStage


def analysis(N: int, M: int, depths, mlp_ratio: float) -> nn.Sequential:
    layers = [nn.Conv2d(3, N, 3, padding=1), DenseEnhancement(N)]
    for i, depth in enumerate(depths):
        c_out = M if i == len(depths) - 1 else N
        layers += [conv(N, c_out, 3, 2), ResidualSwinStage(c_out, depth, mlp_ratio=mlp_ratio)]
    return nn.Sequential(*layers)


def synthesis(N: int, M: int, depths, mlp_ratio: float) -> nn.Sequential:
    depths = tuple(reversed(depths))
    layers = [ResidualSwinStage(M, depths[0], mlp_ratio=mlp_ratio), deconv(M, N)]
    for depth in depths[1:]:
        layers += [ResidualSwinStage(N, depth, mlp_ratio=mlp_ratio), deconv(N, N)]
    layers += [DenseEnhancement(N), nn.Conv2d(N, 3, 3, padding=1)]
    return nn.Sequential(*layers)
