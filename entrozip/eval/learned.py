"""entrozip's own image models as entries of the RD harness (same face as baselines.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LearnedImageCodec:
    model: str
    device: str | None = None
    weights: str | None = None  # a folder of exported weights instead of the shipped ones
    _codecs: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.model

    @property
    def qualities(self) -> tuple:
        from ..codecs.image.models import QUALITIES

        return tuple(range(1, QUALITIES + 1))

    @property
    def description(self) -> str:
        from ..codecs.image.models import MODELS

        return f"entrozip image codec, model {self.model}: {MODELS[self.model].summary}"

    def _codec(self, quality: int):
        from ..codecs import open_codec

        if quality not in self._codecs:
            self._codecs[quality] = open_codec("image", model=self.model, quality=quality, device=self.device,
                                               weights=self.weights)
        return self._codecs[quality]

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        return self._codec(quality).compress(rgb)

    def decode(self, blob: bytes) -> np.ndarray:
        return next(iter(self._codecs.values())).decompress(blob)  # the file names model and quality

    def describe(self, quality: int) -> str:
        extra = f", weights={self.weights!r}" if self.weights else ""
        return (f"entrozip.open_codec('image', model={self.model!r}, quality={quality}{extra}).compress(rgb)"
                f"  # rdoq={self._codec(quality).rdoq:g}")

    def versions(self) -> dict:
        info = self._codec(self.qualities[0]).info()
        return {"weights_id": info["weights"], "trained": info["trained"], "device": info["device"],
                "rdoq": info["rdoq"]}
