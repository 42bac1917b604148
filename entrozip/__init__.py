"""entrozip: a learned compression codec suite on one rANS entropy layer.

    import entrozip
    codec = entrozip.open_codec("bytes")
    blob = codec.compress(data)          # a complete .ezc file
    assert codec.decompress(blob) == data

The coder itself: `from entrozip import rans` (see entrozip/rans/__init__.py).
"""
from .codecs import available as available_codecs
from .codecs import open_codec
from .errors import EntrozipError, FormatError

__version__ = "0.1.0"
__all__ = ["EntrozipError", "FormatError", "open_codec", "available_codecs", "__version__"]
