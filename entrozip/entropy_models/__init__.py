"""Entropy models: what turns latent tensors into (symbols, CDF indexes) and back.

The training paths are CompressAI's (noise / STE, likelihoods); the coding paths
go through entrozip.rans. Everything that chooses a CDF at decode time is exact
on every device: integer CDF tables kept in the state dict, and integer networks
(entropy_models.integer) for hyper-synthesis and context models.
"""
import warnings

with warnings.catch_warnings():  # compressai's import-time torch.jit.script deprecation, not ours to fix
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    import compressai.entropy_models  # noqa: F401
    import compressai.layers  # noqa: F401

from .context import SliceContextGaussian, anchor_mask
from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional
from .hyperprior import Hyperprior
from .integer import IntegerNet

__all__ = ["EntropyBottleneck", "GaussianConditional", "Hyperprior", "IntegerNet", "SliceContextGaussian",
           "anchor_mask"]
