"""Classic image codecs through Pillow, as entries of one table.

Adding a codec is one entry: Pillow format, save options, quality sweep. The
exact call is recorded with every result (`describe`), with the library version.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PillowCodec:
    name: str
    description: str
    format: str  # Pillow format name
    options: dict = field(default_factory=dict)
    qualities: tuple = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
    library: str = ""  # PIL.features name whose version is recorded

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, format=self.format, quality=int(quality), **self.options)
        return buf.getvalue()

    def decode(self, blob: bytes) -> np.ndarray:
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))

    def describe(self, quality: int) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"PIL.Image.save(format={self.format!r}, quality={quality}{opts})"

    def versions(self) -> dict:
        from PIL import __version__ as pillow, features

        out = {"pillow": pillow}
        if self.library:
            out[self.library] = features.version(self.library)
        return out


IMAGE_BASELINES = {
    "jpeg": PillowCodec("jpeg", "JPEG 4:2:0 (libjpeg-turbo via Pillow, optimized Huffman)", "JPEG",
                        {"subsampling": 2, "optimize": True}, library="jpg"),
    "jpeg444": PillowCodec("jpeg444", "JPEG 4:4:4 (libjpeg-turbo via Pillow, optimized Huffman)", "JPEG",
                           {"subsampling": 0, "optimize": True}, library="jpg"),
    "webp": PillowCodec("webp", "WebP lossy 4:2:0 (libwebp via Pillow, method 6)", "WEBP", {"method": 6},
                        library="webp"),
    "avif": PillowCodec("avif", "AVIF 4:4:4 (libavif via Pillow, speed 6)", "AVIF",
                        {"subsampling": "4:4:4", "speed": 6}, qualities=(10, 20, 30, 40, 50, 60, 70, 80, 90),
                        library="avif"),
    "avif420": PillowCodec("avif420", "AVIF 4:2:0 (libavif via Pillow, speed 6)", "AVIF",
                           {"subsampling": "4:2:0", "speed": 6}, qualities=(10, 20, 30, 40, 50, 60, 70, 80, 90),
                           library="avif"),
}
