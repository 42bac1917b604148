"""Codec registry: every codec registers under the id its container records.

`entrozip.open_codec(kind, ...)` returns a codec object with
`compress(x) -> bytes`, `decompress(bytes) -> x`, `info()`,
`compress_file(src, dst)` and `decompress_file(src, dst)`. The CLI and the
evaluation harness talk only to this face; `codec_for_file` finds the codec
of a file from its container alone.
"""
from __future__ import annotations

import numpy as np

from ..container import read_file
from ..errors import FormatError

_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: `cls.codec_id` becomes openable by name and readable from files."""
    if cls.codec_id in _REGISTRY:
        raise ValueError(f"codec id {cls.codec_id!r} registered twice")
    _REGISTRY[cls.codec_id] = cls
    return cls


def check_quality(quality, qualities: int, what: str = "quality") -> int:
    """`quality` as an int in 1..qualities (bools and non-integers refused), else ValueError."""
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= qualities:
        raise ValueError(f"{what} must be an integer in 1..{qualities}, got {quality!r}")
    return int(quality)


def _load_builtin() -> None:
    from . import bytes_codec, image, splat, video  # noqa: F401  (register themselves)


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def open_codec(kind: str, model=None, quality=None, device=None, **options):
    """The codec registered as `kind`, configured for compression."""
    _load_builtin()
    try:
        cls = _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown codec {kind!r}; available: {', '.join(available())}") from None
    return cls(model=model, quality=quality, device=device, **options)


def describe(container) -> dict:
    """What the codec that wrote `container` says about it (sizes by part), or {}."""
    _load_builtin()
    cls = _REGISTRY.get(container.codec)
    return cls.describe(container) if cls is not None and hasattr(cls, "describe") else {}


def codec_for_file(path, **options):
    """The codec that wrote container file `path` (FormatError if none here can read it)."""
    _load_builtin()
    codec_id = read_file(path, verify=False).codec
    if codec_id not in _REGISTRY:
        raise FormatError(f"{path}: written by codec {codec_id!r}, which this entrozip does not have")
    return _REGISTRY[codec_id](**options)
