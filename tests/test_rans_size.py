"""Coded size vs the ideal information content under the quantised model.

Bound: within 1 % of sum(-log2 p) for streams whose ideal size is >= 64 KB,
and within 1 % + 256 bytes below that (chunk framing and the stream prefix).
"""
import numpy as np
import pytest

from entrozip import rans


def within_bound(label, blob_len, ideal_bytes):
    bound = ideal_bytes * 1.01 + (0 if ideal_bytes >= 65536 else 256)
    print(f"{label}: {blob_len} bytes, ideal {ideal_bytes:.0f}, overhead {blob_len / ideal_bytes - 1:+.3%}")
    assert blob_len <= bound, f"{label}: {blob_len} > {bound:.0f}"


@pytest.mark.parametrize("n, scale_range", [(1 << 20, (0.11, 64)), (300_000, (0.11, 0.5)), (20_000, (0.5, 4)),
                                            (3_000, (0.2, 2))])
def test_learned_sizes(gaussian, n, scale_range):
    model, scales = gaussian
    rng = np.random.default_rng(n)
    s = np.exp(rng.uniform(*np.log(scale_range), n))
    idx = np.clip(np.searchsorted(scales, s), 0, len(scales) - 1).astype(np.int32)
    sym = np.round(rng.normal(0, s)).astype(np.int32)
    blob = rans.encode(sym, model, idx)
    within_bound(f"gaussian n={n} scales={scale_range}", len(blob), model.ideal_bits(sym, idx) / 8)


@pytest.mark.parametrize("n, p", [(4 << 20, 0.35), (200_000, 0.9), (5_000, 0.5), (100, 0.3)])
def test_static_sizes(n, p):
    rng = np.random.default_rng(n)
    sym = np.minimum(rng.geometric(p, n), 255).astype(np.int32)
    model = rans.StaticModel.from_symbols(sym)
    blob = rans.encode(sym, model)
    within_bound(f"geometric n={n} p={p}", len(blob), model.ideal_bits(sym) / 8)


def test_framing_shrinks_with_larger_chunks(gaussian):
    model, scales = gaussian
    rng = np.random.default_rng(9)
    idx = rng.integers(0, 40, 200_000).astype(np.int32)
    sym = np.round(rng.normal(0, scales[idx])).astype(np.int32)
    sizes = [len(rans.encode(sym, model, idx, lanes=32, chunk_size=c)) for c in (1024, 8192, 65536, 200_000)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] - sizes[-1] > 100 * 128  # ~195 chunks of 32 lane states saved


def test_gpu_layout_trades_a_bounded_framing_for_many_full_warp_chunks():
    """layout="gpu": 32 lanes, one chunk per ~150 framings of payload, size still within
    1 % + the framing budget (4W + 5 bytes per chunk); the stream says so and decodes."""
    rng = np.random.default_rng(11)
    sym = np.minimum(rng.geometric(0.35, 1 << 20), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym)
    compact, gpu = rans.encode(sym, model), rans.encode(sym, model, layout="gpu")
    ci, gi = rans.stream_info(compact), rans.stream_info(gpu)
    assert gi.lanes == 32 and gi.num_chunks >= 3 * ci.num_chunks
    assert abs(gi.num_chunks - len(gpu) // (150 * 133)) <= 2
    ideal = model.ideal_bits(sym) / 8
    assert len(gpu) <= ideal * 1.01 and len(gpu) - len(compact) <= gi.num_chunks * 133
    np.testing.assert_array_equal(rans.decode(gpu, model, dtype=np.uint8), sym)
    assert gpu == rans.encode(sym, model, layout="gpu", backend="reference")
    with pytest.raises(ValueError, match="layout"):
        rans.encode(sym, model, layout="fast")


def test_latency_layout_caps_the_rows_of_every_chunk():
    """layout="latency": the gpu layout with no chunk over 512 rows of 32 lanes (a launch
    lasts as long as its longest chunk); more framing, same symbols, same on every backend."""
    rng = np.random.default_rng(12)
    sym = np.minimum(rng.geometric(0.35, 1 << 20), 255).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym)
    gpu, lat = rans.encode(sym, model, layout="gpu"), rans.encode(sym, model, layout="latency")
    gi, li = rans.stream_info(gpu), rans.stream_info(lat)
    assert li.lanes == 32 and li.chunk_symbols <= 512 * 32 and li.num_chunks == -(-sym.size // li.chunk_symbols)
    assert li.num_chunks > gi.num_chunks and len(gpu) < len(lat) <= len(gpu) + li.num_chunks * 133
    np.testing.assert_array_equal(rans.decode(lat, model, dtype=np.uint8), sym)
    assert lat == rans.encode(sym, model, layout="latency", backend="reference")
    small = sym[:5000]  # below the cap: the gpu layout's chunking
    assert rans.encode(small, model, layout="latency") == rans.encode(small, model, layout="gpu")
