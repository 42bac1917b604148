"""Quality metrics on 8-bit images (H x W x 3 uint8 arrays)."""
from __future__ import annotations

import math

import numpy as np

MS_SSIM_MIN_SIDE = 161  # pytorch-msssim's 5 scales with an 11-tap window need > 160 pixels


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all samples (RGB PSNR for H x W x 3); inf for identical inputs."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM of two RGB uint8 images (pytorch-msssim, data range 255); None when
    a side is shorter than the 161 pixels the five scales need."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None

    def t(x):  # float32: differences to float64 stay below 1e-6
        return torch.from_numpy(np.array(x, dtype=np.float32)).permute(2, 0, 1)[None]

    with torch.no_grad():
        return float(_ms_ssim(t(a), t(b), data_range=255.0))


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on the dB scale used in RD plots: -10 log10(1 - MS-SSIM)."""
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


# YCbCr conversion matrices (Kr, Kb) for video metrics.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """8-bit RGB -> Y, Cb, Cr planes as float64 on the 8-bit code scale."""
    kr, kb = MATRICES[matrix]
    x = rgb.astype(np.float64) / 255.0
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    if full_range:
        return np.stack([255 * y, 255 * cb + 128, 255 * cr + 128], -1)
    return np.stack([16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr], -1)


def ycbcr_to_rgb(ycbcr: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """Y, Cb, Cr planes (H x W x 3, 8-bit code scale) -> 8-bit RGB; inverse of rgb_to_ycbcr."""
    kr, kb = MATRICES[matrix]
    x = ycbcr.astype(np.float64)
    if full_range:
        y, cb, cr = x[..., 0] / 255, (x[..., 1] - 128) / 255, (x[..., 2] - 128) / 255
    else:
        y, cb, cr = (x[..., 0] - 16) / 219, (x[..., 1] - 128) / 224, (x[..., 2] - 128) / 224
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], -1) * 255), 0, 255).astype(np.uint8)


def weighted_yuv_psnr(y: float, u: float, v: float) -> float:
    """The usual video summary: (6 PSNR_Y + PSNR_U + PSNR_V) / 8."""
    return (6 * y + u + v) / 8


def psnr_yuv(a_yuv: np.ndarray, b_yuv: np.ndarray, peak: float = 255.0) -> tuple[float, float, float, float]:
    """(weighted, Y, U, V) PSNR of same-size YCbCr planes (H x W x 3)."""
    y, u, v = (psnr(a_yuv[..., c], b_yuv[..., c], peak) for c in range(3))
    return weighted_yuv_psnr(y, u, v), y, u, v
