"""Bjøntegaard deltas between two rate-distortion curves.

BD-rate: the average rate difference (%) at equal quality, over the quality
range both curves cover: log-rate is interpolated as a function of distortion
(PSNR in dB, or MS-SSIM in dB), integrated over the overlap, and the mean
difference d of log10-rates gives (10^d - 1) * 100. BD-PSNR swaps the roles.

Two interpolations: "pchip" (piecewise cubic Hermite, monotone, as in the
current JVET/VCEG common test conditions; the default) and "cubic" (the original
VCEG-M33 third-order polynomial fit). tests/test_eval.py checks both against the
`bjontegaard` package on the same points.
"""
from __future__ import annotations

import numpy as np


def _curve(rate, dist):
    rate, dist = np.asarray(rate, np.float64), np.asarray(dist, np.float64)
    if rate.shape != dist.shape or rate.ndim != 1 or len(rate) < 4:
        raise ValueError("a curve needs at least 4 (rate, distortion) points")
    if (rate <= 0).any() or not np.isfinite(rate).all() or not np.isfinite(dist).all():
        raise ValueError("rates must be positive and all values finite")
    order = np.argsort(dist)
    return np.log10(rate[order]), dist[order]


def _integral(x, y, lo, hi, method: str) -> float:
    """Integral over [lo, hi] of the curve y(x) interpolated from the points."""
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        if np.any(np.diff(x) <= 0):
            raise ValueError("pchip needs strictly increasing values of the integration variable")
        return float(PchipInterpolator(x, y).integrate(lo, hi))
    raise ValueError(f"method must be 'pchip' or 'cubic', got {method!r}")


def bd_rate(rate_anchor, dist_anchor, rate_test, dist_test, method: str = "pchip") -> float:
    """Average rate change (%) of the test curve against the anchor at equal distortion
    (negative: the test needs fewer bits)."""
    la, da = _curve(rate_anchor, dist_anchor)
    lt, dt = _curve(rate_test, dist_test)
    lo, hi = max(da[0], dt[0]), min(da[-1], dt[-1])
    if lo >= hi:
        raise ValueError("the curves do not overlap in quality")
    diff = (_integral(dt, lt, lo, hi, method) - _integral(da, la, lo, hi, method)) / (hi - lo)
    return float((10**diff - 1) * 100)


def bd_psnr(rate_anchor, dist_anchor, rate_test, dist_test, method: str = "pchip") -> float:
    """Average distortion gain (dB) of the test curve at equal rate."""
    la, da = _curve(rate_anchor, dist_anchor)
    lt, dt = _curve(rate_test, dist_test)
    oa, ot = np.argsort(la), np.argsort(lt)
    la, da, lt, dt = la[oa], da[oa], lt[ot], dt[ot]
    lo, hi = max(la[0], lt[0]), min(la[-1], lt[-1])
    if lo >= hi:
        raise ValueError("the curves do not overlap in rate")
    return float((_integral(lt, dt, lo, hi, method) - _integral(la, da, lo, hi, method)) / (hi - lo))
