"""Reference and C++ write identical bytes, decode each other, and round-trip exactly."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import random_cdf_rows

from entrozip import FormatError, rans

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
fast = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_twins(symbols, model, indexes=None, chunk_size=None, lanes=None):
    """Both backends: same bytes, each decodes the other, exact round trip."""
    cpp = rans.encode(symbols, model, indexes, chunk_size=chunk_size, lanes=lanes)
    ref = rans.encode(symbols, model, indexes, chunk_size=chunk_size, lanes=lanes, backend="reference")
    assert cpp == ref
    expected = np.asarray(symbols, dtype=np.int64).reshape(-1)
    for backend in ("cpu", "reference"):
        out = rans.decode(cpp, model, indexes, backend=backend)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, expected)
    return cpp


@fast
@given(
    data=st.data(),
    alphabet=st.integers(1, 300),
    precision=st.integers(9, 16),
    n=st.integers(0, 1500),
    chunk_rows=st.one_of(st.none(), st.integers(1, 20)),
    lanes=st.sampled_from([None, 1, 2, 4, 8, 16, 32]),
)
def test_static_random(data, alphabet, precision, n, chunk_rows, lanes):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    offset = data.draw(st.integers(-1000, 1000))
    weights = rng.pareto(1.0, alphabet) + 1e-3
    symbols = rng.choice(alphabet, n, p=weights / weights.sum()).astype(np.int32) + offset
    model = rans.StaticModel.from_symbols(symbols, precision) if n else rans.StaticModel([1], precision)
    check_twins(symbols, model, chunk_size=None if chunk_rows is None else 32 * chunk_rows, lanes=lanes)


@fast
@given(data=st.data(), n=st.integers(0, 1200), num_cdfs=st.integers(1, 12), max_len=st.integers(2, 40),
       peaked=st.booleans(), precision=st.integers(8, 16))
def test_indexed_random_with_escapes(data, n, num_cdfs, max_len, peaked, precision):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    model = random_cdf_rows(rng, num_cdfs, max_len, precision, peaked)
    indexes = rng.integers(0, num_cdfs, n).astype(np.int32)
    symbols = (rng.integers(-3, max_len + 3, n) + model.offsets[indexes]).astype(np.int32)
    if n:  # extreme escapes: the whole int32 range, no clipping
        extremes = np.array([INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1, 0], np.int32)
        where = rng.integers(0, n, min(n, 5))
        symbols[where] = extremes[: len(where)]
    chunk = data.draw(st.one_of(st.none(), st.integers(1, 10).map(lambda r: 32 * r)))
    lanes = data.draw(st.sampled_from([None, 1, 4, 32]))
    check_twins(symbols, model, indexes, chunk, lanes)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 63, 64, 65, 1000, 4097])
def test_odd_lengths(n):
    rng = np.random.default_rng(n)
    symbols = rng.integers(0, 5, n).astype(np.int32)
    model = rans.StaticModel([5, 1, 3, 1, 9], precision=12)
    for chunk in (None, 32, 64, 96):
        for lanes in (None, 1, 2, 32):
            check_twins(symbols, model, chunk_size=chunk, lanes=lanes)


def test_one_symbol_alphabet_costs_nothing():
    symbols = np.full(10_000, 7, np.int32)
    model = rans.StaticModel.from_symbols(symbols)
    assert model.alphabet_size == 1 and model.freqs[0] == 1 << 16
    blob = check_twins(symbols, model)
    info = rans.stream_info(blob)
    assert info.lanes == 1 and len(blob) <= 16  # prefix + one lane state: zero information
    blob = check_twins(symbols, model, lanes=32)
    assert len(blob) <= 16 + 4 * 32


def test_probability_near_zero_and_one():
    rng = np.random.default_rng(1)
    counts = np.array([1, 10**12, 1, 1], np.int64)
    model = rans.StaticModel(counts, precision=16)
    assert (model.freqs >= 1).all() and model.freqs[1] == (1 << 16) - 3
    symbols = np.where(rng.random(20_000) < 0.001, rng.integers(0, 4, 20_000), 1).astype(np.int32)
    check_twins(symbols, model)
    check_twins(np.array([0, 2, 3, 0, 2, 3] * 50, np.int32), model)  # only the rare symbols


def test_many_tables(gaussian):
    model, scales = gaussian
    rng = np.random.default_rng(2)
    n = 5000
    idx = rng.integers(0, len(scales), n).astype(np.int32)
    sym = np.round(rng.normal(0, scales[idx] * 1.5)).astype(np.int32)  # some fall outside the tails
    check_twins(sym, model, idx)


def test_bytes_do_not_depend_on_threads(gaussian):
    model, scales = gaussian
    rng = np.random.default_rng(3)
    n = 300_000
    idx = rng.integers(0, len(scales), n).astype(np.int32)
    sym = np.round(rng.normal(0, scales[idx])).astype(np.int32)
    blobs = {rans.encode(sym, model, idx, threads=t, chunk_size=4096) for t in (1, 2, 3, 8)}
    assert len(blobs) == 1
    blob = blobs.pop()
    assert rans.stream_info(blob).num_chunks > 8
    for t in (1, 2, 5):
        np.testing.assert_array_equal(rans.decode(blob, model, idx, threads=t), sym)


def test_lanes_follow_the_stream_size(gaussian):
    model, scales = gaussian
    rng = np.random.default_rng(4)
    seen = []
    for n in (200, 2_000, 20_000, 200_000):
        idx = rng.integers(20, 50, n).astype(np.int32)
        sym = np.round(rng.normal(0, scales[idx])).astype(np.int32)
        blob = check_twins(sym, model, idx) if n <= 20_000 else rans.encode(sym, model, idx)
        seen.append(rans.stream_info(blob).lanes)
    assert seen == sorted(seen) and seen[0] < 8 and seen[-1] == 32
    with pytest.raises(ValueError, match="lanes"):
        rans.encode(sym, model, idx, lanes=3)


def test_inputs_numpy_dtypes_and_torch():
    torch = pytest.importorskip("torch")
    symbols = np.arange(100, dtype=np.int64) % 7
    model = rans.StaticModel.from_symbols(symbols.astype(np.uint8))
    blob = rans.encode(symbols, model)
    assert rans.encode(torch.from_numpy(symbols), model) == blob
    assert rans.encode(symbols.astype(np.int16).reshape(10, 10), model) == blob
    np.testing.assert_array_equal(rans.decode(blob, model), symbols)
    cdfs = torch.tensor([[0, 30000, 65535, 65536]], dtype=torch.int32)
    im = rans.IndexedModel(cdfs, torch.tensor([4]), torch.tensor([0]))
    s = torch.tensor([0, 1, 2, 5, -4], dtype=torch.int32)
    blob = rans.encode(s, im, torch.zeros(5, dtype=torch.int32))
    np.testing.assert_array_equal(rans.decode(blob, im, np.zeros(5, np.int32)), s.numpy())


def test_user_errors():
    model = rans.StaticModel([1, 0, 1], precision=8)
    with pytest.raises(ValueError, match="zero probability"):
        rans.encode(np.array([0, 1, 2]), model)
    with pytest.raises(ValueError, match="zero probability"):
        rans.encode(np.array([3]), model)
    with pytest.raises(ValueError, match="zero probability"):
        rans.encode(np.array([1]), model, backend="reference")
    with pytest.raises(ValueError, match="outside int32"):
        rans.encode(np.array([2**40]), model)
    with pytest.raises(TypeError, match="integers"):
        rans.encode(np.array([0.5]), model)
    with pytest.raises(ValueError, match="takes no `indexes`"):
        rans.encode(np.array([0]), model, np.array([0]))
    im = rans.IndexedModel(np.array([[0, 1, 256]]), [3], [0], precision=8)
    with pytest.raises(ValueError, match="needs `indexes`"):
        rans.encode(np.array([0]), im)
    with pytest.raises(ValueError, match="out of range"):
        rans.encode(np.array([0, 0]), im, np.array([0, 1]))
    with pytest.raises(ValueError, match="indexes"):
        rans.encode(np.array([0, 0]), im, np.array([0]))
    with pytest.raises(ValueError, match="strictly increasing"):
        rans.IndexedModel(np.array([[0, 5, 5, 256]]), [4], [0], precision=8)
    with pytest.raises(ValueError, match="end at 2"):
        rans.IndexedModel(np.array([[0, 5, 255]]), [3], [0], precision=8)
    with pytest.raises(ValueError, match="precision"):
        rans.StaticModel([1, 2], precision=17)


def test_wrong_model_and_kind_are_format_errors(gaussian):
    model, _ = gaussian
    sym = np.array([1, 2, 3, 4], np.int32)
    blob = rans.encode(sym, rans.StaticModel.from_symbols(sym))
    with pytest.raises(FormatError, match="different model"):
        rans.decode(blob, rans.StaticModel([1, 1, 1, 1, 1]))
    with pytest.raises(FormatError, match="static-model stream"):
        rans.decode(blob, model, np.zeros(4, np.int32))


@pytest.mark.parametrize("lanes", [8, 16, 32])
def test_simd_and_scalar_decoders_agree(lanes):
    """The AVX2 static decoder (where the CPU has it) and the scalar one: same
    symbols on good streams, same verdict on damaged ones."""
    from entrozip.rans import _native

    rng = np.random.default_rng(lanes)
    sym = np.minimum(rng.geometric(0.3, 50_003), 60).astype(np.int32) - 7
    for precision in (16, 11):
        model = rans.StaticModel.from_symbols(sym, precision)
        blob = rans.encode(sym, model, lanes=lanes, chunk_size=8192)
        damaged = [blob[:-2], blob[:40] + bytes([blob[40] ^ 1]) + blob[41:], blob[:-300] + bytes(300)]

        def run(simd):
            _native.cpu.set_simd(simd)
            try:
                results = [rans.decode(blob, model)]
                for d in damaged:
                    try:
                        results.append(rans.decode(d, model))
                    except FormatError as e:
                        results.append(str(e))
                return results
            finally:
                _native.cpu.set_simd(True)

        fast, slow = run(True), run(False)
        np.testing.assert_array_equal(fast[0], sym)
        for a, b in zip(fast, slow):
            assert type(a) is type(b)
            if isinstance(a, str):
                assert a == b
            else:
                np.testing.assert_array_equal(a, b)


def test_sampled_size_estimate_gives_the_same_layout_in_both_backends():
    """Streams of >= 2^16 symbols estimate their size from every 4th symbol."""
    rng = np.random.default_rng(7)
    sym = np.minimum(rng.geometric(0.05, 70_000), 200).astype(np.int32)
    model = rans.StaticModel.from_symbols(sym)
    blob = check_twins(sym, model)
    assert rans.stream_info(blob).lanes >= 16  # ~44 KB: wide lanes, chosen from the sampled estimate


@pytest.mark.parametrize("simd", [True, False])
def test_byte_symbols_in_and_out(simd):
    """uint8 symbols code without widening and decode straight to uint8 (both decoders)."""
    from entrozip.rans import _native

    rng = np.random.default_rng(8)
    sym = (np.minimum(rng.geometric(0.2, 100_001), 60) + 100).astype(np.uint8)
    model = rans.StaticModel.from_symbols(sym)
    blob = rans.encode(sym, model)
    assert blob == rans.encode(sym.astype(np.int32), model) == rans.encode(sym, model, backend="reference")
    _native.cpu.set_simd(simd)
    try:
        out = rans.decode(blob, model, dtype=np.uint8)
    finally:
        _native.cpu.set_simd(True)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, sym)
    np.testing.assert_array_equal(rans.decode(blob, model, dtype=np.uint8, backend="reference"), sym)
    with pytest.raises(ValueError, match="uint8"):
        rans.decode(rans.encode([300, 301], rans.StaticModel([1, 1], offset=300)), rans.StaticModel([1, 1], offset=300),
                    dtype=np.uint8)
