"""Timing on the GPU for the bench scripts: CUDA events, best of a few runs."""
import os

import torch


def timed(fn, reps: int = 10) -> float:
    """Best-of seconds of fn() on the GPU, after one warm-up run."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        best = min(best, a.elapsed_time(b) / 1e3)
    return best


def one_chunk_per_warp(fn) -> float:
    """timed(fn) with the decoder's warps on one chunk each instead of two interleaved
    (ENTROZIP_RANS_CHUNKS_PER_WARP=1, read at every launch): what the pairing buys."""
    os.environ["ENTROZIP_RANS_CHUNKS_PER_WARP"] = "1"
    try:
        return timed(fn)
    finally:
        del os.environ["ENTROZIP_RANS_CHUNKS_PER_WARP"]
