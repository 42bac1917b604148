"""`entrozip.weights`: the weights codec's public face (see entrozip/codecs/weights/)."""
from .codecs.weights import compress, decompress, info, read_manifest, verify

__all__ = ["compress", "decompress", "info", "verify", "read_manifest"]
