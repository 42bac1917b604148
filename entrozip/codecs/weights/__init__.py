"""Lossless LLM weights (DFloat11-style): exponents entropy-coded, the rest raw.

Directory to directory (a model is a directory of tensors), reusing the rANS
coder and the format conventions rather than the single-file container:

    from entrozip import weights
    weights.compress("llama-bf16/", "llama-df11/")
    weights.decompress("llama-df11/", "llama-bf16-again/")   # byte-identical files
"""
from .dfloat11 import compress, convert, decompress, info, read_manifest, verify
from .loading import from_pretrained

__all__ = ["compress", "decompress", "convert", "info", "verify", "read_manifest", "from_pretrained"]
