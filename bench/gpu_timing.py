"""Timing on the GPU for the bench scripts: CUDA events, best of a few runs."""
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
