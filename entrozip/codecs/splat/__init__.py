"""`splat`: post-training compression of 3D Gaussian Splatting scenes (gs3d.py).

    codec = entrozip.open_codec("splat", quality=3)
    blob = codec.compress(cloud)                  # GaussianCloud -> a complete .ezc file
    cloud = codec.decompress(blob)                # -> GaussianCloud (write_ply makes a standard .ply)
    codec.compress_file("scene.ply", "scene.ezc") # INRIA .ply or SuperSplat compressed.ply

A compressed.ply input keeps its own precision: every position stays within the
source's packed quantisation step (the tolerance passed to gs3d.encode).

File (docs/FORMAT.md, "splat"): header {count, source_count, sh_degree, position
grid, steps, rvq_stages, sh, preset, quality, source}; sections "position",
"color", "opacity", "scale", "rotation" and, for SH degree > 0, "sh".
"""
from __future__ import annotations

from ...container import pack, parse, read_file
from ...errors import FormatError
from .. import check_quality, register
from . import gs3d
from .cloud import GaussianCloud
from .ply import read_ply, write_ply

QUALITIES = len(gs3d.PRESETS)
DEFAULT_QUALITY = gs3d.DEFAULT_QUALITY
SECTIONS = ("position", "color", "opacity", "scale", "rotation", "sh")


@register
class SplatCodec:
    codec_id = "splat"

    def __init__(self, model=None, quality=None, device=None, threads=None, seed: int = 0):
        if model is not None:
            raise ValueError("the splat codec has no models (it fits its codebooks per scene)")
        if device not in (None, "cpu", "auto"):
            raise ValueError("the splat codec runs on the CPU")
        self.quality = check_quality(DEFAULT_QUALITY if quality is None else quality, QUALITIES, "splat quality")
        self.threads = threads
        self.seed = seed

    def info(self) -> dict:
        return {"codec": self.codec_id, "quality": self.quality, "preset": gs3d.PRESETS[self.quality].__dict__}

    # ---------------------------------------------------------------- compress

    def compress(self, cloud: GaussianCloud, position_tolerance=None, source: dict | None = None) -> bytes:
        """A .ezc file of `cloud`; position_tolerance: optional N x 3 per-axis bound."""
        return self.compress_scene(cloud, position_tolerance, source)[0]

    def compress_scene(self, cloud: GaussianCloud, position_tolerance=None, source: dict | None = None):
        """(file bytes, kept): kept[i] is the input index of decoded Gaussian i."""
        header, sections, kept = gs3d.encode(cloud, gs3d.PRESETS[self.quality], seed=self.seed,
                                             position_tolerance=position_tolerance, threads=self.threads)
        header.update(quality=self.quality, source=source or {"format": "array"})
        return pack(self.codec_id, header, sections), kept

    def read_source(self, src):
        """(scene, position tolerance or None, source info) of a .ply file: a compressed.ply
        brings its own packed quantisation step as the position tolerance."""
        cloud, source = read_ply(src)
        tolerance = None
        if source["format"] == "supersplat":
            import plyfile

            from .supersplat import quantization_steps

            tolerance = quantization_steps(plyfile.PlyData.read(str(src)), str(src))
        info = {k: source[k] for k in ("format", "bytes")} | {"inria_bytes": cloud.nbytes_inria}
        return cloud, tolerance, info

    def compress_file(self, src, dst) -> None:
        blob = self.compress(*self.read_source(src))
        with open(dst, "wb") as f:
            f.write(blob)

    # ---------------------------------------------------------------- decompress

    def decompress(self, blob) -> GaussianCloud:
        return self._decode(parse(blob))

    def _decode(self, container) -> GaussianCloud:
        if container.codec != self.codec_id:
            raise FormatError(f"this is a {container.codec!r} file, not a splat scene")
        unknown = set(container.sections) - set(SECTIONS)
        if unknown:
            raise FormatError(f"splat file has unknown sections: {', '.join(sorted(unknown))}")
        return gs3d.decode(container.header, container.sections, threads=self.threads)

    def decompress_file(self, src, dst) -> None:
        write_ply(self._decode(read_file(src)), dst)

    @staticmethod
    def describe(container) -> dict:
        """Gaussians, bits per Gaussian for each attribute, and the ratio to the INRIA .ply."""
        h = container.header
        try:
            n, source_n = int(h["count"]), int(h["source_count"])
        except (KeyError, TypeError, ValueError):
            return {}
        out = {"gaussians": n, "pruned": source_n - n, "sh_degree": h.get("sh_degree"),
               "bits_per_gaussian": 8 * container.size / max(n, 1)}
        coded = 0
        for name in SECTIONS:
            if name in container.sections:
                coded += len(container.sections[name])
                out[f"{name}_bits"] = 8 * len(container.sections[name]) / max(n, 1)
        out["container_bits"] = 8 * (container.size - coded) / max(n, 1)  # JSON header, section table, CRCs
        inria = (h.get("source") or {}).get("inria_bytes")
        if inria:
            out["ratio_vs_inria_ply"] = inria / container.size
        return out


from . import codec4d  # noqa: E402,F401  (registers "splat4d": dynamic 4DGS scenes)
