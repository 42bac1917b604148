"""Residual vector quantisation (R-VQ, as Compact3DGS uses for scale and rotation).

Stage s quantises what stages 0..s-1 left: x ~ sum_s codebooks[s][indices[:, s]].
Codebooks are stored as float16 and every residual is computed against the
stored (float16) codewords, so the encoder's reconstruction is the decoder's,
and decoding (a lookup and a float32 sum in stage order) is exact everywhere.

Cost: stages x log2(size) bits per vector before entropy coding; k-means is
O(iters x N x size x D) per stage, in row blocks (bounded memory).
"""
from __future__ import annotations

import numpy as np

ROWS = 1 << 15


def nearest(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword (squared L2) for each row of x; ties to the lowest index."""
    c = codebook.astype(np.float32)
    cc = (c * c).sum(1)
    out = np.empty(len(x), np.int64)
    for i in range(0, len(x), ROWS):
        xb = x[i:i + ROWS].astype(np.float32)
        out[i:i + ROWS] = np.argmin(cc[None, :] - 2.0 * xb @ c.T, axis=1)
    return out


def kmeans(x: np.ndarray, size: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """`size` centroids of the rows of x (Lloyd, seeded by distinct samples; empty
    clusters take the worst-fitted points)."""
    n = len(x)
    size = min(size, n)
    centroids = x[rng.choice(n, size, replace=False)].astype(np.float64)
    for _ in range(iters):
        idx = nearest(x, centroids)
        counts = np.bincount(idx, minlength=size)
        sums = np.zeros_like(centroids)
        np.add.at(sums, idx, x)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            err = ((x - centroids[idx]) ** 2).sum(1)
            centroids[empty] = x[np.argsort(-err, kind="stable")[: int(empty.sum())]]
    return centroids


def fit_rvq(x: np.ndarray, stages: int, size: int, iters: int = 10, seed: int = 0):
    """(codebooks float16 stages x size' x D, indices N x stages int64) for N x D rows x."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    residual = x.copy()
    books, indices = [], []
    for _ in range(stages):
        book = kmeans(residual, size, iters, rng).astype(np.float16)
        idx = nearest(residual, book)
        residual -= book.astype(np.float32)[idx]
        books.append(book)
        indices.append(idx)
    k = min(size, len(x))
    books = np.stack(books) if books else np.zeros((0, k, x.shape[1]), np.float16)
    return books, np.stack(indices, axis=1) if indices else np.zeros((len(x), 0), np.int64)


def decode_rvq(codebooks: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """N x D float32: the sum of each row's codewords, stage by stage."""
    out = np.zeros((indices.shape[0], codebooks.shape[2]), np.float32)
    for s in range(codebooks.shape[0]):
        out += codebooks[s].astype(np.float32)[indices[:, s]]
    return out
