import numpy as np
import pytest

from entrozip import rans


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run long fuzz and stress tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def random_cdf_rows(rng, num_cdfs, max_len, precision=16, peaked=False):
    """Valid quantised CDF rows (CompressAI layout, zero padded) with random lengths."""
    lengths = rng.integers(2, max_len + 1, num_cdfs).astype(np.int32)
    cdfs = np.zeros((num_cdfs, int(lengths.max())), np.int32)
    for c, n in enumerate(lengths):
        if peaked:  # one symbol near p = 1, the rest near p = 0
            counts = np.ones(n - 1, np.int64)
            counts[rng.integers(n - 1)] = 1 << 40
        else:
            counts = rng.integers(1, 1000, n - 1) * (rng.random(n - 1) < 0.8) + 1
        freqs = rans.quantize_counts(counts, precision)
        cdfs[c, :n] = np.concatenate([[0], np.cumsum(freqs)])
    offsets = rng.integers(-20, 20, num_cdfs).astype(np.int32)
    return rans.IndexedModel(cdfs, lengths, offsets, precision)


def gaussian_model(num_scales=64, precision=16):
    """CompressAI-style Gaussian conditional tables: scales log-spaced 0.11 .. 256."""
    from math import erf, sqrt

    scales = np.exp(np.linspace(np.log(0.11), np.log(256), num_scales))
    rows, lengths, offsets = [], [], []
    for s in scales:
        tail = int(np.ceil(s * 8)) + 1
        xs = np.arange(-tail, tail + 1)
        upper = np.array([erf((v + 0.5) / (s * sqrt(2))) for v in xs])
        lower = np.array([erf((v - 0.5) / (s * sqrt(2))) for v in xs])
        pmf = np.append(0.5 * (upper - lower), 1e-9)
        freqs = rans.quantize_counts(np.maximum(1, pmf * 2.0**40).astype(np.uint64), precision)
        rows.append(np.concatenate([[0], np.cumsum(freqs)]))
        lengths.append(len(freqs) + 1)
        offsets.append(-tail)
    cdfs = np.zeros((num_scales, max(lengths)), np.int32)
    for i, r in enumerate(rows):
        cdfs[i, : len(r)] = r
    return rans.IndexedModel(cdfs, lengths, offsets, precision), scales


@pytest.fixture(scope="session")
def gaussian():
    return gaussian_model()
