"""Factorized prior (entropy bottleneck): CompressAI's model, coded by entrozip's rANS."""
from .._compressai import EntropyBottleneck as _CompressAIEntropyBottleneck

from .coding import EntrozipCoding


class EntropyBottleneck(_CompressAIEntropyBottleneck, EntrozipCoding):
    """Non-parametric factorized density per channel (Ballé et al. 2018).

    forward(y) -> (y_hat, likelihoods) for training; update() builds the integer
    CDF tables; compress(y: N x C x ...) -> [bytes] per item; decompress(strings,
    spatial size) -> y_hat."""
