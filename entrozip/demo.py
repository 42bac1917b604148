"""`entrozip demo`: the bundled Kodak photo (kodim23, 768x512 RGB) through entrozip.

1. The image codec: compress to a complete .ezc file and back, at a few
   qualities; bpp, PSNR and times (`run_image`).
2. The coder alone, size vs ideal and speed (`run`), with two models:
   * one static table over the raw pixel bytes;
   * left-neighbour residuals, one indexed CDF per colour channel (the
     learned-codec call pattern: a CDF index per symbol).
"""
from __future__ import annotations

import time
from importlib import resources

import numpy as np

from . import rans

BUNDLED_IMAGE = "kodim23.png"


def load_image(path=None) -> tuple[np.ndarray, str]:
    from PIL import Image

    if path is None:
        with resources.as_file(resources.files("entrozip") / "data" / BUNDLED_IMAGE) as p:
            return np.asarray(Image.open(p).convert("RGB")), BUNDLED_IMAGE
    return np.asarray(Image.open(path).convert("RGB")), str(path)


def residual_model(pixels: np.ndarray):
    """(symbols, indexes, IndexedModel): left-neighbour residuals in [-255, 255], a CDF per channel."""
    x = pixels.astype(np.int32)
    res = np.diff(x, axis=1, prepend=0)  # first column keeps its value
    symbols = res.reshape(-1)
    indexes = np.broadcast_to(np.arange(3, dtype=np.int32), res.shape).reshape(-1)
    rows = []
    for c in range(3):
        hist = np.bincount(res[..., c].reshape(-1) + 255, minlength=512)
        # 511 residual values + the escape slot (unused here, but part of the semantics)
        rows.append(rans.quantize_counts(hist + 1, 16))  # +1: every CDF entry needs frequency >= 1
    cdfs = np.stack([np.concatenate([[0], np.cumsum(r)]) for r in rows]).astype(np.int32)
    model = rans.IndexedModel(cdfs, np.full(3, cdfs.shape[1], np.int32), np.full(3, -255, np.int32))
    return symbols, indexes, model


def run_image(path=None, model=None, qualities=(1, 4, 8), device=None, threads=None, out=print) -> list[dict]:
    """Compress and decompress the photo with the image codec; one row per quality."""
    from .codecs import open_codec
    from .eval.metrics import psnr

    pixels, name = load_image(path)
    h, w, _ = pixels.shape
    rows, described = [], set()
    for q in qualities:
        codec = open_codec("image", model=model, quality=q, device=device, threads=threads)
        info = codec.info()
        if info["model"] not in described:  # without a model named, qualities may differ in model
            described.add(info["model"])
            state = "trained" if info["trained"] else "UNTRAINED (seeded initialisation, no shipped weights yet)"
            out(f"image codec: model {info['model']} ({info['summary']}), weights {info['weights']}: {state}; "
                f"device {info['device']}")
        if not rows:
            out(f"{'quality':>7} {'model':>8} {'bytes':>9} {'bpp':>7} {'PSNR dB':>8} {'encode s':>9} {'decode s':>9}")
        t = time.perf_counter()
        blob = codec.compress(pixels)
        t_enc = time.perf_counter() - t
        t = time.perf_counter()
        back = codec.decompress(blob)
        t_dec = time.perf_counter() - t
        row = {"quality": q, "model": info["model"], "bytes": len(blob), "bpp": 8 * len(blob) / (h * w), "psnr": psnr(pixels, back),
               "encode_s": t_enc, "decode_s": t_dec, "shape_ok": back.shape == pixels.shape}
        rows.append(row)
        out(f"{q:7d} {info['model']:>8} {len(blob):9,} {row['bpp']:7.3f} {row['psnr']:8.2f} {t_enc:9.2f} {t_dec:9.2f}")
    return rows


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(path=None, threads=None, repeats: int = 3, out=print) -> list[dict]:
    pixels, name = load_image(path)
    h, w, _ = pixels.shape
    raw = pixels.size
    out(f"entrozip demo: {name}, {w}x{h} RGB, {raw:,} bytes of pixels")
    static = rans.StaticModel.from_symbols(pixels)
    res_sym, res_idx, res_model = residual_model(pixels)
    cases = [
        ("pixels, one static table", pixels.reshape(-1), static, None, len(static.to_bytes())),
        ("left residuals, 3 indexed CDFs", res_sym, res_model, res_idx, 0),
    ]
    rows = []
    out(f"{'model':32} {'bytes':>9} {'ideal':>9} {'vs ideal':>9} {'ratio':>6} {'enc MB/s':>9} {'dec MB/s':>9}  lossless")
    for label, sym, model, idx, table_bytes in cases:
        blob = rans.encode(sym, model, idx, threads=threads)
        back = rans.decode(blob, model, idx, threads=threads)
        ok = bool(np.array_equal(back, sym))
        t_enc = _best_time(lambda: rans.encode(sym, model, idx, threads=threads), repeats)
        t_dec = _best_time(lambda: rans.decode(blob, model, idx, threads=threads), repeats)
        ideal = (model.ideal_bits(sym) if idx is None else model.ideal_bits(sym, idx)) / 8
        row = {
            "model": label,
            "bytes": len(blob),
            "ideal_bytes": ideal,
            "overhead": len(blob) / ideal - 1,
            "ratio": raw / (len(blob) + table_bytes),
            "encode_MBps": raw / t_enc / 1e6,
            "decode_MBps": raw / t_dec / 1e6,
            "lossless": ok,
        }
        rows.append(row)
        out(
            f"{label:32} {len(blob):9,} {ideal:9,.0f} {row['overhead']:+8.2%} {row['ratio']:6.2f}"
            f" {row['encode_MBps']:9.0f} {row['decode_MBps']:9.0f}  {'yes' if ok else 'NO'}"
        )
    out("MB/s counts one byte per pixel channel; 'vs ideal' compares with sum(-log2 p) under the quantised model.")
    return rows
