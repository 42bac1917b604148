"""entrozip's CUDA kernels: built at first use where a CUDA GPU is present, cached.

    from entrozip import cuda_ext
    ext = cuda_ext.load("rans")       # EntrozipError without a CUDA GPU

Nothing compiles at import, at install (unless ENTROZIP_BUILD_CUDA=1 asks for it:
setup.py), or on a machine where only nvcc exists: `load` asks torch for a GPU first,
then takes the install-time build if there is one. The build goes through torch's JIT extension
builder (ninja, cached under TORCH_EXTENSIONS_DIR or ~/.cache/torch_extensions),
so it needs no network and works with the GPU machine's torch >= 2.11 / CUDA 13.
Kernels are compiled for the GPU that is present (TORCH_CUDA_ARCH_LIST to override).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import EntrozipError

CSRC = Path(__file__).resolve().parent / "csrc"
RANS_CSRC = Path(__file__).resolve().parent.parent / "rans" / "csrc"  # rans_core.hpp, shared with the CPU coder
SOURCES = {"rans": ["rans_cuda.cu"]}


def available() -> bool:
    import torch

    return torch.cuda.is_available()


def source_hash() -> str:
    """8 hex digits over every kernel source and header (csrc/ and rans_core.hpp)."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted(CSRC.iterdir()) + [RANS_CSRC / "rans_core.hpp"]:
        if f.suffix in (".cu", ".cuh", ".hpp"):
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:8]


@lru_cache(maxsize=None)
def load(name: str):
    """The compiled extension `name` (compiling it on first use)."""
    if name not in SOURCES:
        raise ValueError(f"unknown CUDA extension {name!r}; have {', '.join(SOURCES)}")
    if not available():
        raise EntrozipError("the CUDA coder needs a CUDA GPU; torch sees none (use the CPU backend)")
    import importlib

    try:  # built at install (ENTROZIP_BUILD_CUDA=1)
        return importlib.import_module(f"{__name__}._{name}_cuda")
    except ImportError:
        pass
    from torch.utils.cpp_extension import load as build

    # torch's build cache keys on the listed sources only: the name carries a hash of the
    # headers they include too, so that a changed header is never served a stale build
    return build(name=f"entrozip_{name}_cuda_{source_hash()}", sources=[str(CSRC / s) for s in SOURCES[name]],
                 extra_include_paths=[str(RANS_CSRC)],
                 extra_cuda_cflags=["-O3", "--expt-relaxed-constexpr"],  # torch adds its own -std
                 extra_cflags=["-O3"], verbose=False)
