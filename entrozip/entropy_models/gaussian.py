"""Gaussian conditional (mean and scale): CompressAI's model, coded by entrozip's rANS."""
from compressai.entropy_models import GaussianConditional as _CompressAIGaussianConditional

from .coding import EntrozipCoding


class GaussianConditional(_CompressAIGaussianConditional, EntrozipCoding):
    """Per-element Gaussian with a scale table (Ballé et al. 2018, Minnen et al. 2018).

    forward(y, scales, means) -> (y_hat, likelihoods); update_scale_table(table) builds
    one integer CDF per table scale; build_indexes(scales) picks them;
    compress(y, indexes, means) -> [bytes]; decompress(strings, indexes, means=...) -> y_hat.
    The indexes (and means) must be reproduced bit-exactly by the decoder: that is the
    job of the networks that predict the scales, not of this layer."""
