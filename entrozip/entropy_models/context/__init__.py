"""Context models: checkerboard (spatial, two passes) and channel slices."""
from .checkerboard import anchor_mask
from .slices import SliceContextGaussian

__all__ = ["anchor_mask", "SliceContextGaussian"]
