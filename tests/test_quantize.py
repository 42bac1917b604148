"""The static-table builder: deterministic, identical in both backends, and optimal."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrozip import rans
from entrozip.rans import _native, reference


def cost(counts, freqs, precision):
    """Exact coded size in bits of data with histogram `counts` under `freqs`."""
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    return float(np.sum(counts[present] * (precision - np.log2(np.asarray(freqs, np.float64)[present]))))


def brute_force_best(counts, precision):
    M = 1 << precision
    present = [k for k, c in enumerate(counts) if c]
    best = None
    for combo in itertools.product(range(1, M + 1), repeat=len(present)):
        if sum(combo) != M:
            continue
        f = [0] * len(counts)
        for k, v in zip(present, combo):
            f[k] = v
        c = cost(counts, f, precision)
        if best is None or c < best - 1e-9:
            best = c
    return best


def test_log2_fixed_matches_between_backends_and_math():
    for v in list(range(1, 300)) + [1023, 1024, 1025, 65535, 65536, 65537]:
        assert _native.cpu.log2_fixed(v) == reference.log2_fixed(v)
        assert abs(reference.log2_fixed(v) / 2**48 - np.log2(v)) < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=400), st.integers(9, 16), st.integers(0, 2**32 - 1))
def test_backends_build_identical_tables(counts, precision, seed):
    counts[seed % len(counts)] += 1  # at least one present symbol
    c = np.array(counts, np.uint64)
    a = _native.cpu.quantize_counts(c, precision)
    b = reference.quantize_counts(c, precision)
    np.testing.assert_array_equal(a, b)
    assert int(a.sum()) == 1 << precision
    assert ((a > 0) == (c > 0)).all()


@pytest.mark.parametrize("seed", range(25))
def test_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    precision = int(rng.integers(3, 5))
    counts = (rng.pareto(0.7, k) * 100).astype(np.int64) + rng.integers(0, 2, k)
    if not counts.any():
        counts[0] = 1
    freqs = rans.quantize_counts(counts, precision)
    assert cost(counts, freqs, precision) <= brute_force_best(counts.tolist(), precision) + 1e-6


def test_exact_tables_are_kept():
    rng = np.random.default_rng(5)
    freqs = rng.integers(1, 50, 200)
    freqs[0] += (1 << 14) - freqs.sum()
    np.testing.assert_array_equal(rans.quantize_counts(freqs, 14), freqs)


def test_large_alphabet_and_huge_counts():
    rng = np.random.default_rng(6)
    counts = rng.integers(0, 2**40, 65536, dtype=np.int64)
    counts[::7] = 0
    f = rans.quantize_counts(counts, 16)
    assert f.sum() == 1 << 16 and ((f > 0) == (counts > 0)).all()


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        rans.quantize_counts([0, 0], 8)
    with pytest.raises(ValueError, match="does not fit"):
        rans.quantize_counts(np.ones(300, np.int64), 8)
    with pytest.raises(ValueError, match="non-negative"):
        rans.quantize_counts([3, -1], 8)
