"""Frozen inputs of the golden streams (tests/golden/*). Never change these: the
committed files were made from them, and test_golden.py decodes the files back
to exactly these values. A new format version adds new cases and files."""
import numpy as np

from entrozip import rans


def static_case():
    i = np.arange(40_000, dtype=np.int64)
    symbols = ((i * i * 7 + 3 * i) % 37 + (i % 5 == 0) * ((i // 5) % 11) - 5).astype(np.int32)
    return symbols, rans.StaticModel.from_symbols(symbols, precision=14)


def indexed_model():
    rows, lengths = [], []
    for c in range(6):
        n = 4 + 5 * c  # symbols incl. the escape
        counts = np.array([(k + 1) * (n - k) ** 2 + c for k in range(n)], np.int64)
        freqs = rans.quantize_counts(counts, 16)
        rows.append(np.concatenate([[0], np.cumsum(freqs)]))
        lengths.append(n + 1)
    cdfs = np.zeros((6, max(lengths)), np.int32)
    for c, r in enumerate(rows):
        cdfs[c, : len(r)] = r
    return rans.IndexedModel(cdfs, lengths, [-2, -1, 0, -5, 3, -10])


def indexed_case(n):
    i = np.arange(n, dtype=np.int64)
    indexes = ((i * 13 + i // 7) % 6).astype(np.int32)
    symbols = ((i * 31 + (i * i) % 17) % 9 - 3).astype(np.int64)
    symbols[::501] = 2**31 - 1  # escapes, both tails and the extremes
    symbols[250::501] = -(2**31)
    symbols[100::777] = 1000
    return symbols.astype(np.int32), indexes, indexed_model()


BYTES_TEXT = b"entrozip golden file: the bytes codec, format v1.\n" * 40 + bytes(range(256))

# name -> (symbols, model, indexes, encode kwargs)
def rans_cases():
    s, m = static_case()
    big_sym, big_idx, im = indexed_case(30_000)
    small_sym, small_idx, _ = indexed_case(700)
    return {
        "rans_v1_static.bin": (s, m, None, {"chunk_size": 8192, "lanes": 32}),
        "rans_v1_indexed.bin": (big_sym, im, big_idx, {"chunk_size": 4096, "lanes": 32}),
        "rans_v1_indexed_auto.bin": (small_sym, im, small_idx, {}),
    }


IMAGE_MODELS = ("mbt2018-mean", "elic")
IMAGE_QUALITY = 5


def image_case() -> np.ndarray:
    """A 40 x 56 crop of the bundled kodim23 (the package data is frozen too)."""
    from entrozip.demo import load_image

    return np.ascontiguousarray(load_image()[0][200:240, 300:356])


def image_latent_digest(blob: bytes, device: str = "cpu") -> str:
    """sha256 of the decoded fixed-point latent of an image file: exact on every device."""
    from entrozip import open_codec

    return open_codec("image", device=device).latent_digest(blob)
