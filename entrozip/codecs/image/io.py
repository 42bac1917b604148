"""Images in and out of the image codec: what is coded, what is kept aside.

Coded: 8-bit RGB. Accepted and restored: grayscale ("L", coded as RGB and
averaged back), alpha ("LA", "RGBA", palette transparency: the alpha plane is
stored losslessly as PNG in its own section, or not at all when fully opaque), palette and CMYK images
(converted to RGB). 16-bit grayscale is reduced to 8 bits with a warning; float
images are refused. EXIF orientation is applied before coding.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from ...errors import EntrozipError

MAX_PIXELS = 1 << 26  # 8192 x 8192: decoding one needs ~13 GiB on a CPU (4096^2: 3.3 GiB)


def to_rgb(image) -> tuple[np.ndarray, str, bytes | None]:
    """(H x W x 3 uint8, source mode "RGB" | "L" | "RGBA" | "LA", alpha PNG or None)."""
    if isinstance(image, np.ndarray):
        image = _from_array(image)
    elif not isinstance(image, Image.Image):
        raise TypeError("an image is a PIL image or an H x W (x 1, 3, 4) uint8 array")
    image = ImageOps.exif_transpose(image)
    if image.width * image.height == 0:
        raise EntrozipError("the image is empty (0 pixels)")
    if image.width * image.height > MAX_PIXELS:
        raise EntrozipError(f"the image has {image.width * image.height:,} pixels; the limit is {MAX_PIXELS:,}")
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        warnings.warn(f"{mode} image reduced to 8 bits per sample for coding", stacklevel=3)
        arr = np.asarray(image, dtype=np.int64)
        peak = 65535 if mode != "I" or arr.max(initial=0) > 255 else 255
        image, mode = Image.fromarray((arr * 255 // peak).clip(0, 255).astype(np.uint8), "L"), "L"
    elif mode == "F":
        raise EntrozipError("floating-point images are not supported; convert to 8-bit first")
    elif mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        image, mode = image.convert("RGB" if mode != "1" else "L"), "RGB" if mode != "1" else "L"
    elif mode == "PA":
        image, mode = image.convert("RGBA"), "RGBA"
    alpha = None
    if mode in ("RGBA", "LA"):
        buf = io.BytesIO()
        image.getchannel("A").save(buf, format="PNG", optimize=True)
        alpha = buf.getvalue()
        if np.all(np.asarray(image.getchannel("A")) == 255):
            alpha = None  # fully opaque: restored as 255 without storing it
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return rgb, mode, alpha


def _from_array(a: np.ndarray) -> Image.Image:
    if a.dtype != np.uint8:
        raise TypeError(f"image arrays must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return Image.fromarray(a, "L")
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(a), "RGB" if a.shape[2] == 3 else "RGBA")
    raise TypeError(f"image arrays are H x W, H x W x 1, x 3 or x 4; got shape {a.shape}")


def restore(rgb: np.ndarray, mode: str, alpha: bytes | None) -> np.ndarray:
    """The decoded array in the source's layout: H x W ("L"), H x W x 2 ("LA"), x 3, x 4."""
    base = rgb.astype(np.uint16).mean(axis=2).round().astype(np.uint8) if mode in ("L", "LA") else rgb
    if mode not in ("LA", "RGBA"):
        return base
    if alpha is None:  # fully opaque
        return np.dstack([base, np.full(rgb.shape[:2], 255, np.uint8)])
    try:
        a = np.asarray(Image.open(io.BytesIO(alpha)).convert("L"))
    except Exception as exc:  # Pillow raises many kinds on damaged PNG
        raise EntrozipError(f"the alpha section is not a valid PNG: {exc}") from None
    if a.shape != rgb.shape[:2]:
        raise EntrozipError(f"the alpha plane is {a.shape}, the image {rgb.shape[:2]}")
    return np.dstack([base, a])


def to_pil(array: np.ndarray) -> Image.Image:
    modes = {2: "L", 3: {2: "LA", 3: "RGB", 4: "RGBA"}}
    mode = modes[2] if array.ndim == 2 else modes[3][array.shape[2]]
    return Image.fromarray(array, mode)
