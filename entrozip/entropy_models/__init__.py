"""Entropy models: what turns latent tensors into (symbols, CDF indexes) and back.

The training paths are CompressAI's; the coding paths go through entrozip.rans
(one stream per batch item), with the integer CDF tables kept in the state dict.
"""
from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional
from .hyperprior import MeanScaleHyperprior

__all__ = ["EntropyBottleneck", "GaussianConditional", "MeanScaleHyperprior"]
