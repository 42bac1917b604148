"""The CUDA coder's kernels on a CPU: entrozip/cuda_ext/csrc compiled with g++ against
warp_emu.hpp (a std::thread per CUDA thread, warp collectives as meetings of 32 threads).

    ext = cuda_emu.build()                  # ~1 minute the first time, cached after
    with cuda_emu.installed(ext):           # rans.cuda now runs the kernels on CPU tensors
        blob = rans.cuda.encode(torch.from_numpy(symbols), model)

Tests use it to check the kernels' code against the CPU coder on machines without a GPU.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build():
    """The emulated extension (compiled with torch's extension builder, cached by a hash of
    every source it includes)."""
    from torch.utils.cpp_extension import load

    from entrozip import cuda_ext

    h = hashlib.sha1(cuda_ext.source_hash().encode())
    for f in sorted(HERE.glob("*.[ch]pp")):
        h.update(f.read_bytes())
    return load(name=f"entrozip_rans_emu_{h.hexdigest()[:8]}", sources=[str(HERE / "rans_emu.cpp")],
                extra_include_paths=[str(HERE), str(cuda_ext.CSRC), str(cuda_ext.RANS_CSRC)],
                extra_cflags=["-O2", "-std=c++20"], extra_ldflags=["-pthread"], verbose=False)


@contextmanager
def installed(ext, eager_copies: bool = False):
    """rans.cuda (and the weights codec's GPU path) call `ext` with CPU tensors meanwhile;
    eager_copies: cp.async copies land at issue instead of when waited for."""
    from entrozip.rans import cuda

    ext.set_eager_copies(eager_copies)
    cuda.use_extension(ext, "cpu")
    try:
        yield ext
    finally:
        cuda.use_extension(None, "cuda")
