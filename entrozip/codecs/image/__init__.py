"""`image`: learned lossy image coding (models.py), one .ezc file per image.

    codec = entrozip.open_codec("image", quality=4)     # model: default.py picks per quality
    blob = codec.compress(pil_image_or_uint8_array)     # a complete .ezc file
    array = codec.decompress(blob)                      # H x W x 3 uint8 (H x W for grayscale)

Without a model named, each quality uses the shipped model with the smallest measured
Kodak rate-distortion cost at that quality's lambda (default.py; `entrozip info --models`
lists the choice). The file names its model, so decoding never depends on the choice.

File (docs/FORMAT.md, "image"):
    header   {"model", "quality", "weights": weights_id, "size": [H, W], "mode"}
    sections "z" (rANS stream), "y" (varint count, varint lengths, one rANS stream
             per coding step), "alpha" (PNG, only for images with transparency)
"""
from __future__ import annotations


import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ... import rans
from ...container import pack, pack_parts, parse, read_file, unpack_parts
from ...entropy_models.rdoq import check_kappa
from ...errors import EntrozipError, FormatError
from .. import check_quality as check_quality_in, register
from .default import default_model
from .io import MAX_PIXELS, restore, to_pil, to_rgb
from .models import MODELS, QUALITIES, to_input, z_shape

DEFAULT_QUALITY = 4


def pick_device(device) -> str:
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EntrozipError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return str(device)


def check_quality(quality) -> int:
    return check_quality_in(quality, QUALITIES)


@register
class ImageCodec:
    codec_id = "image"

    def __init__(self, model=None, quality=None, device=None, threads=None, weights=None, rdoq=None):
        """weights: a folder of exported weights for `model` (entrozip train image --out)
        instead of the shipped ones; files written with them decode only with them.
        rdoq: the encoder's rounding of the latent (entropy_models/rdoq.py's kappa; 0 rounds
        to nearest; None: the model's measured default, ModelSpec.rdoq)."""
        self.weights = None if weights is None else str(weights)
        self.quality = check_quality(DEFAULT_QUALITY if quality is None else quality)
        self.model_named = model is not None
        self.model_name = model if model is not None else self._unnamed_model()
        if self.model_name not in MODELS:
            raise ValueError(f"unknown image model {self.model_name!r}; available: {', '.join(MODELS)}")
        self.device = pick_device(device)
        self.threads = threads
        self.rdoq = MODELS[self.model_name].rdoq if rdoq is None else check_kappa(rdoq)

    def _unnamed_model(self) -> str:
        """The shipped default at this quality, or the one model an exported folder holds."""
        from .weights import exported_models

        if self.weights is None:
            return default_model(self.quality)
        held = exported_models(self.weights)
        if len(held) != 1:
            raise ValueError(f"{self.weights} holds exported weights of {', '.join(held) or 'no image model'}: "
                             "name the model")
        return held[0]

    def _model(self, name: str):
        from .weights import exported_models, load_model

        # the exported weights serve this codec's model (load_model says so if they are missing)
        # and any other model they hold (a file may name another model)
        own = self.weights is not None and (name == self.model_name or name in exported_models(self.weights))
        return load_model(name, self.device, self.weights if own else None)

    def info(self) -> dict:
        model, wid, entry = self._model(self.model_name)
        chosen = ("named" if self.model_named else "the one in --weights" if self.weights
                  else "default: the smallest Kodak RD cost at this quality")
        return {"codec": self.codec_id, "model": self.model_name, "model_choice": chosen, "quality": self.quality,
                "device": self.device, "weights": wid, "trained": bool(entry), "rdoq": self.rdoq,
                "summary": MODELS[self.model_name].summary}

    # ---------------------------------------------------------------- compress
    def compress(self, image) -> bytes:
        rgb, mode, alpha = to_rgb(image)
        model, wid, _ = self._model(self.model_name)
        h, w = rgb.shape[:2]
        out = model.compress(to_input(rgb, self.device), self.quality - 1, threads=self.threads, rdoq=self.rdoq)
        header = {"model": self.model_name, "quality": self.quality, "weights": wid, "size": [h, w], "mode": mode}
        sections = [("z", out["z"][0]), ("y", pack_parts(out["y"]))]
        if alpha is not None:
            sections.append(("alpha", alpha))
        return pack(self.codec_id, header, sections)

    def compress_file(self, src, dst) -> None:
        try:
            with Image.open(src) as im:
                im.load()
                blob = self.compress(im)
        except (UnidentifiedImageError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise EntrozipError(f"{src}: not an image Pillow can read ({exc})") from None
        with open(dst, "wb") as f:
            f.write(blob)

    # ---------------------------------------------------------------- decompress
    def _header(self, container):
        h = container.header
        try:
            name, quality, wid = h["model"], h["quality"], h["weights"]
            height, width = (int(v) for v in h["size"])
            mode = h["mode"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("image file header lacks model/quality/weights/size/mode") from None
        if name not in MODELS:
            raise FormatError(f"image file uses model {name!r}, which this entrozip does not have")
        try:
            quality = check_quality(quality)
        except ValueError as exc:
            raise FormatError(f"image file header: {exc}") from None
        if not (1 <= height and 1 <= width and height * width <= MAX_PIXELS):
            raise FormatError(f"image file header has an invalid size {height} x {width}")
        if mode not in ("RGB", "L", "RGBA", "LA"):
            raise FormatError(f"image file header has an unknown mode {mode!r}")
        return name, quality, wid, height, width, mode

    @staticmethod
    def describe(container) -> dict:
        """Where the bytes go: entropy-coded payload, coder framing, container, alpha."""
        h = container.header
        try:
            pixels = int(h["size"][0]) * int(h["size"][1])
            streams = [container.section("z")] + unpack_parts(container.section("y"), None, "the y section")
            framing = sum(rans.stream_info(s).framing_bytes for s in streams)
        except (KeyError, TypeError, ValueError, EntrozipError):
            return {}
        coded = sum(len(s) for s in streams)
        alpha = len(container.sections.get("alpha", b""))
        return {"bpp": 8 * container.size / pixels, "payload_bytes": coded - framing, "framing_bytes": framing,
                "y_streams": len(streams) - 1, "alpha_bytes": alpha,
                "container_bytes": container.size - coded - alpha}

    def decompress(self, blob) -> np.ndarray:
        return self._decode(parse(blob))

    def _latent(self, container):
        """Check the file against its model and decode the latent exactly:
        (y_hat, model, quality, height, width, mode)."""
        if container.codec != self.codec_id:
            raise FormatError(f"this is a {container.codec!r} file, not an image")
        name, quality, wid, height, width, mode = self._header(container)
        model, have, _ = self._model(name)
        if wid != have:
            hint = "" if self.weights else " (files written with exported weights decode with those: --weights DIR)"
            raise FormatError(f"image file was written with {name} weights {wid}; these are {have}{hint}")
        y_streams = unpack_parts(container.section("y"), model.entropy.y_model.num_steps(), "the y section")
        zh, zw = z_shape(height, width)
        z_stream = container.section("z")
        # every stream's symbol count must match the header's size before anything is computed
        expected = [model.entropy.entropy_bottleneck.channels * zh * zw]
        expected += model.entropy.y_model.step_sizes(zh * 4, zw * 4)
        for i, (stream, n) in enumerate(zip([z_stream, *y_streams], expected)):
            have = rans.stream_info(stream).num_symbols
            if have != n:
                what = "the z stream" if i == 0 else f"y stream {i - 1}"
                raise FormatError(f"image file: {what} holds {have} symbols; a {height} x {width} image needs {n}")
        y_hat = model.entropy.decompress([z_stream], y_streams, (zh, zw), threads=self.threads)
        return y_hat, model, quality, height, width, mode

    def decode_latent(self, blob) -> torch.Tensor:
        """The decoded latent y_hat of a file (1 x M x H/16 x W/16; exact on every device)."""
        return self._latent(parse(blob))[0]

    def latent_digest(self, blob) -> str:
        """sha256 of a file's decoded latent in fixed point: the same on every device, so two
        devices agree on a file exactly when their digests match."""
        import hashlib

        from ...entropy_models.context.slices import FRAC

        fixed = torch.round(self.decode_latent(blob).double() * 2**FRAC).to(torch.int64).cpu()
        return hashlib.sha256(fixed.numpy().astype("<i8").tobytes()).hexdigest()

    def _decode(self, container) -> np.ndarray:
        y_hat, model, quality, height, width, mode = self._latent(container)
        x_hat = model.synthesize(y_hat, quality - 1)
        rgb = x_hat[0, :, :height, :width].mul(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        alpha = container.sections.get("alpha")
        return restore(rgb, mode, None if alpha is None else bytes(alpha))

    def decompress_file(self, src, dst) -> None:
        to_pil(self._decode(read_file(src))).save(dst, format="PNG")
