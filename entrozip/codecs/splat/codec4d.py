"""`splat4d`: post-training compression of 4DGS (dynamic Gaussian) scenes (gs4d.py).

    codec = entrozip.open_codec("splat4d", quality=3)
    blob = codec.compress(scene)                   # Scene4D -> a complete .ezc file
    scene = codec.decompress(blob)                 # -> Scene4D (scene.at(t): the Gaussians at time t)
    codec.compress_file("scene_dir", "scene.ezc")  # a folder: point_cloud.ply + deformation.safetensors

File (docs/FORMAT.md, "splat4d"): header {canonical: a splat header, field: {config,
bounds}, plane_steps, mlp_steps, plane_footprint_cells, field_choice, preset4d, quality,
source}; sections
"canonical.*" (the splat codec's), "planes.centre", "planes.tables", "planes.NN" (one per
pass), "mlp".
"""
from __future__ import annotations

from ...container import pack, parse, read_file
from ...errors import FormatError
from .. import check_quality, register
from . import gs4d
from .scene4d import Scene4D

QUALITIES = len(gs4d.PRESETS)


@register
class Splat4DCodec:
    codec_id = "splat4d"

    def __init__(self, model=None, quality=None, device=None, threads=None, seed: int = 0):
        if model is not None:
            raise ValueError("the splat4d codec has no models (it codes a scene's own field)")
        if device not in (None, "cpu", "auto"):
            raise ValueError("the splat4d codec runs on the CPU")
        self.quality = check_quality(gs4d.DEFAULT_QUALITY if quality is None else quality, QUALITIES,
                                     "splat4d quality")
        self.threads = threads
        self.seed = seed

    def info(self) -> dict:
        return {"codec": self.codec_id, "quality": self.quality, "preset": gs4d.PRESETS[self.quality].__dict__}

    def compress(self, scene: Scene4D, source: dict | None = None) -> bytes:
        return self.compress_scene(scene, source)[0]

    def compress_scene(self, scene: Scene4D, source: dict | None = None):
        """(file bytes, kept): kept[i] is the input index of decoded Gaussian i."""
        header, sections, kept = gs4d.encode(scene, gs4d.PRESETS[self.quality], seed=self.seed, threads=self.threads)
        header.update(quality=self.quality, source=source or {"format": "array", "raw_bytes": scene.nbytes_raw})
        return pack(self.codec_id, header, sections), kept

    def compress_file(self, src, dst) -> None:
        scene = Scene4D.read(src)
        blob = self.compress(scene, {"format": "4dgs-folder", "raw_bytes": scene.nbytes_raw})
        with open(dst, "wb") as f:
            f.write(blob)

    def decompress(self, blob) -> Scene4D:
        return self._decode(parse(blob))

    def _decode(self, container) -> Scene4D:
        if container.codec != self.codec_id:
            raise FormatError(f"this is a {container.codec!r} file, not a 4DGS scene")
        return gs4d.decode(container.header, container.sections, threads=self.threads)

    def decompress_file(self, src, dst) -> None:
        """dst: a folder (point_cloud.ply + deformation.safetensors)."""
        self._decode(read_file(src)).write(dst)

    @staticmethod
    def describe(container) -> dict:
        """Gaussians, bytes per part, and the ratio to the raw 4DGS scene."""
        h = container.header
        try:
            n = int(h["canonical"]["count"])
        except (KeyError, TypeError, ValueError):
            return {}
        parts = {"canonical": 0, "planes": 0, "mlp": 0}
        for name, data in container.sections.items():
            parts[name.split(".")[0]] = parts.get(name.split(".")[0], 0) + len(data)
        out = {"gaussians": n, **{f"{k}_bytes": v for k, v in parts.items()},
               "plane_footprint_cells": h.get("plane_footprint_cells")}
        raw = (h.get("source") or {}).get("raw_bytes")
        if raw:
            out["ratio_vs_raw"] = raw / container.size
        return out
