"""entrozip: a learned compression codec suite on one rANS entropy layer."""
from .errors import EntrozipError, FormatError

__version__ = "0.1.0"
__all__ = ["EntrozipError", "FormatError", "__version__"]
