"""Entropy models: what turns latent tensors into (symbols, CDF indexes) and back.

The training paths are CompressAI's (noise / STE, likelihoods); the coding paths
go through entrozip.rans. Everything that chooses a CDF at decode time is exact
on every device: integer CDF tables kept in the state dict, and integer networks
(entropy_models.integer) for hyper-synthesis and context models.
"""
import importlib

_EXPORTS = {"EntropyBottleneck": ".factorized", "GaussianConditional": ".gaussian", "Hyperprior": ".hyperprior",
            "IntegerNet": ".integer", "SliceContextGaussian": ".context", "anchor_mask": ".context"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import on first use: the learned models pull in CompressAI (seconds to import),
    which codecs without a learned prior (splat: semistatic) never need."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
