"""Decoders fed random, truncated and bit-flipped input raise FormatError (or, for a
rANS stream without a checksum, return the right number of symbols) and never
crash or hang. A short pass runs in the suite; `pytest --run-slow -k fuzz`
runs a long one (FUZZ_ROUNDS, default 20000)."""
import os

import numpy as np
import pytest
from conftest import random_cdf_rows

from entrozip import FormatError, open_codec, rans
from entrozip.container import parse


def corpus():
    rng = np.random.default_rng(11)
    model = random_cdf_rows(rng, 6, 20)
    idx = rng.integers(0, 6, 700).astype(np.int32)
    sym = (rng.integers(-3, 22, 700) + model.offsets[idx]).astype(np.int32)
    sym[::97] = 2**31 - 1  # escapes
    static_sym = rng.integers(0, 40, 3000).astype(np.int32)
    static = rans.StaticModel.from_symbols(static_sym)
    return [
        (rans.encode(sym, model, idx, chunk_size=128), model, idx),
        (rans.encode(static_sym, static, chunk_size=256), static, None),
        (rans.encode(static_sym[:5], static), static, None),
    ]


def mutate(rng, blob: bytes) -> bytes:
    b = bytearray(blob)
    kind = rng.integers(4)
    if kind == 0 and len(b):  # bit flips
        for _ in range(rng.integers(1, 4)):
            b[rng.integers(len(b))] ^= 1 << rng.integers(8)
    elif kind == 1:  # truncation
        b = b[: rng.integers(len(b) + 1)]
    elif kind == 2 and len(b):  # random bytes over a span
        at = rng.integers(len(b))
        span = rng.integers(1, 16)
        b[at : at + span] = rng.integers(0, 256, min(span, len(b) - at), dtype=np.uint8).tobytes()
    else:  # pure noise
        b = bytearray(rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes())
    return bytes(b)


def fuzz_rans(rounds: int, backend: str):
    rng = np.random.default_rng(12)
    cases = corpus()
    outcomes = {"error": 0, "decoded": 0}
    for r in range(rounds):
        blob, model, idx = cases[r % len(cases)]
        damaged = mutate(rng, blob)
        try:
            out = rans.decode(damaged, model, idx, backend=backend)
        except FormatError:
            outcomes["error"] += 1
            continue
        outcomes["decoded"] += 1
        assert out.dtype == np.int32
        if idx is not None:
            assert len(out) == len(idx)
    return outcomes


def fuzz_container(rounds: int):
    rng = np.random.default_rng(13)
    codec = open_codec("bytes")
    blob = codec.compress(b"entrozip fuzz corpus " * 200 + bytes(range(256)))
    for _ in range(rounds):
        damaged = mutate(rng, blob)
        if damaged == blob:
            continue
        with pytest.raises(FormatError):  # CRCs catch every change
            codec.decompress(damaged)
        with pytest.raises(FormatError):
            parse(damaged)


def test_fuzz_rans_short():
    out = fuzz_rans(3000, "cpu")
    assert out["error"] > 2500  # the end-of-chunk checks catch nearly all damage


def test_fuzz_rans_reference_short():
    fuzz_rans(300, "reference")


def test_fuzz_container_short():
    fuzz_container(500)


@pytest.mark.slow
def test_fuzz_long():
    rounds = int(os.environ.get("FUZZ_ROUNDS", "20000"))
    fuzz_rans(rounds, "cpu")
    fuzz_container(rounds // 4)


def test_fuzz_weights_tensor_decoder():
    """Damaged coded tensors: FormatError (or, rarely, a wrong tensor that the
    directory tools then reject by SHA-256), never a crash."""
    from entrozip.codecs.weights import dfloat11

    rng = np.random.default_rng(14)
    values = (rng.standard_t(4, 50_000) * 0.02).astype(np.float32)
    data = (values.view(np.uint32) >> 16).astype("<u2").tobytes()  # bf16 by truncation
    model = dfloat11.table_for("BF16", data)
    stream, raw = dfloat11.encode_tensor("BF16", data, model, threads=2)
    assert dfloat11.decode_tensor("BF16", 50_000, model, stream, raw).tobytes() == data
    errors = 0
    for _ in range(300):
        damaged = mutate(rng, stream)
        try:
            out = dfloat11.decode_tensor("BF16", 50_000, model, damaged, raw, threads=2)
            assert len(out) == len(data)
        except FormatError:
            errors += 1
    assert errors > 250


def test_fuzz_official_dfloat11_decoder():
    """Damaged official exponent streams and look-up tables: FormatError or a
    decoded unit of the right size, never a crash or a read out of bounds."""
    from pathlib import Path

    from entrozip.codecs.weights import official
    from entrozip.codecs.weights.safetensors_io import SafetensorsFile

    path = Path(__file__).parent / "golden" / "official_df11" / "model.safetensors"
    with SafetensorsFile(path) as f:
        parts = {p: bytes(f.view(f.by_name[f"model.layers.0.{p}"])) for p in official.UNIT_PARTS}
    n = len(parts["sign_mantissa"])
    rng = np.random.default_rng(15)
    errors = 0
    for r in range(300):
        damaged = dict(parts)
        key = "luts" if r % 3 == 0 else "encoded_exponent"
        damaged[key] = mutate(rng, parts[key])
        try:
            out = official.decode_unit(damaged, "fuzz", "model.layers.0")
            assert len(out) == 2 * n
        except FormatError:
            errors += 1
    assert errors > 100


def fuzz_sections(codec, blob: bytes, rounds: int, seed: int, check) -> int:
    """Damage one section a round (in turn), repack with valid CRCs so the decoder itself must
    notice, and decode: FormatError (counted) or an output that passes `check`, never another
    exception. Returns the number of FormatErrors."""
    from entrozip.container import pack

    c = parse(blob)
    names = list(c.sections)
    rng = np.random.default_rng(seed)
    errors = 0
    for r in range(rounds):
        target = names[r % len(names)]
        sections = [(k, mutate(rng, bytes(v)) if k == target else bytes(v)) for k, v in c.sections.items()]
        try:
            check(codec.decompress(pack(c.codec, c.header, sections)))
        except FormatError:
            errors += 1
    return errors


def test_fuzz_splat4d_sections():
    """Damaged sections of a 4DGS file: FormatError or a scene of the stated size."""
    from test_splat4d import make_scene

    codec = open_codec("splat4d", quality=2)
    blob = codec.compress(make_scene(300, seed=21))
    count = parse(blob).header["canonical"]["count"]

    def check(out):
        assert len(out) == count

    assert fuzz_sections(codec, blob, 120, 16, check) > 60


def test_fuzz_video_sections():
    """Damaged sections of a video file (frames and index): FormatError or every frame at the
    stated size."""
    from conftest import moving_frames

    codec = open_codec("video", quality=2)
    blob = codec.compress(moving_frames(64, 64, 3, seed=4))

    def check(out):
        frames = list(out)
        assert len(frames) == 3 and all(f.shape == (64, 64, 3) for f in frames)

    assert fuzz_sections(codec, blob, 24, 17, check) > 12
