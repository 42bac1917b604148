"""Gaussian conditional (mean and scale): CompressAI's model, coded by entrozip's rANS."""
import torch
from .._compressai import GaussianConditional as _CompressAIGaussianConditional

from .coding import EntrozipCoding


class GaussianConditional(_CompressAIGaussianConditional, EntrozipCoding):
    """Per-element Gaussian with a scale table (Ballé et al. 2018, Minnen et al. 2018).

    forward(y, scales, means) -> (y_hat, likelihoods); update_scale_table(table) builds
    one integer CDF per table scale; build_indexes(scales) picks them from float scales,
    indexes_from_fixed(scales_q, frac_bits) from fixed-point ones (exact everywhere);
    compress(y, indexes, means) -> [bytes]; decompress(strings, indexes, means=...) -> y_hat.
    The indexes (and means) must be reproduced bit-exactly by the decoder: that is the
    job of the networks that predict the scales (entropy_models.integer), not of this layer."""

    def indexes_from_fixed(self, scales_q: torch.Tensor, frac_bits: int) -> torch.Tensor:
        """build_indexes for scales given as int64 fixed point (scale = scales_q * 2**-frac_bits).

        build_indexes counts table entries strictly below the scale; with an integer
        scale that is `scales_q > floor(table * 2**frac_bits)`, compared in integers."""
        table = self.scale_table[:-1].double().cpu()
        thresholds = torch.floor(table * 2.0 ** frac_bits).to(torch.int64).to(scales_q.device)
        return torch.bucketize(scales_q.to(torch.int64), thresholds, right=False).to(torch.int32)
