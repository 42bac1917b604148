"""Loads the compiled C++ backend; entrozip still imports when it is missing."""
from __future__ import annotations

try:
    from . import _rans_cpu as cpu
    _IMPORT_ERROR = None
except ImportError as e:  # not built (e.g. a source checkout without `pip install`)
    cpu = None
    _IMPORT_ERROR = e


def require_cpu():
    if cpu is None:
        raise ImportError(
            "entrozip's C++ rANS backend (entrozip.rans._rans_cpu) is not built: "
            f"reinstall with `pip install -e .` ({_IMPORT_ERROR}); "
            "backend='reference' works without it, slowly"
        )
    return cpu
