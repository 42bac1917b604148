"""`entrozip.weights`: the weights codec's public face (see entrozip/codecs/weights/)."""
from .codecs.weights import compress, convert, decompress, from_pretrained, info, read_manifest, verify

__all__ = ["compress", "decompress", "convert", "info", "verify", "read_manifest", "from_pretrained"]
