"""Turning user inputs (numpy arrays, CPU torch tensors, lists) into flat int32 arrays."""
from __future__ import annotations

import numpy as np

_INT32 = np.iinfo(np.int32)


def to_numpy(x, name: str) -> np.ndarray:
    """numpy view of `x`; CPU torch tensors are shared, not copied."""
    if type(x).__module__.startswith("torch"):
        if x.device.type != "cpu":
            raise ValueError(
                f"{name} is on {x.device}: the CPU coder takes CPU data; give the GPU coder "
                "every array (symbols, indexes, stream) on the GPU, or move them with .cpu()"
            )
        x = x.detach().numpy()
    return np.asarray(x)


def as_int32(x, name: str) -> np.ndarray:
    """Flat, C-contiguous int32 copy-or-view of an integer array; values must fit int32."""
    a = to_numpy(x, name)
    if a.size == 0:
        return np.zeros(0, np.int32)
    if a.dtype == np.int32:
        return np.ascontiguousarray(a.reshape(-1))
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    lo, hi = int(a.min()), int(a.max())
    if lo < _INT32.min or hi > _INT32.max:
        raise ValueError(f"{name} holds values outside int32 ({lo} .. {hi})")
    return np.ascontiguousarray(a.reshape(-1), dtype=np.int32)
