"""`video`: learned video coding with STEM (model.py), one .ezc file per clip.

    codec = entrozip.open_codec("video", quality=4, intra_period=32)   # inter_kinds "P,R,M,I"
    codec.compress_file("clip.mp4", "clip.ezc")          # frames stream through
    codec.decompress_file("clip.ezc", "clip.y4m")        # or .mp4 (lossless) / a PNG folder
    blob = codec.compress(frames, fps="25")              # frames: iterable of H x W x 3 uint8
    for frame in codec.decompress(blob): ...

File (docs/FORMAT.md, "video"):
    header   {"model": "stem", "image_model", "quality", "weights": weights_id, "size": [H, W],
              "intra_period", "fps", "matrix", "range", "sar"}
    sections "f000000", "f000001", ... one per frame, in order: pack_parts of
             [b"I", b"P" or b"R", the z stream, one rANS stream per y coding step], or for
             an M frame the same + [motion field rows, motion field stream] (motion.py)
             "audio" (optional: the source's audio stream, untouched, Matroska)
             "index" (last): JSON {"frames": n, "intra": [frame numbers]}
Low-delay order: a P (or R) frame is coded against the previous frame's decoded latent,
an M frame against the analysis of the previous decoded frame moved by its motion field;
an I frame (the first, at most intra_period frames after the last one, and wherever
coding intra costs less: intra refresh) against nothing, so decoding can start at any
I frame (`decompress(..., start=k)`).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from ...container import ContainerWriter, pack_parts, parse, read_file, unpack_parts
from ...entropy_models.rdoq import check_kappa
from ...errors import FormatError
from .. import register
from ..image import check_quality, pick_device
from ..image.models import to_input, z_shape
from . import motion
from .model import INTER_KINDS

MODEL = "stem"
DEFAULT_QUALITY = 4
DEFAULT_INTRA_PERIOD = 32
FRAME_KINDS = {b"I": True, **{k: False for k in INTER_KINDS}}  # intra or not
REFRESH = b"I"  # among the encoder's kinds: a frame may be coded intra where that costs less
CODING_KINDS = (*INTER_KINDS, REFRESH)
# rd_round's kappa for every frame kind: on carphone (33 frames, P,R,I) rate + lambda x
# distortion fell 9.7 / 7.1 / 1.8 % at q1 / q4 / q7 against plain rounding (BENCHMARKS.md)
VIDEO_RDOQ = 20.0


def frame_name(i: int) -> str:
    return f"f{i:06d}"


class _Chain:
    """One inter kind's coding of a group of pictures, kept until the GOP's choice."""

    def __init__(self, ref, x=None):
        self.ref = ref  # the previous decoded latent (int64 fixed point)
        self.x = x  # the previous decoded frame (VideoModel.decoded_frame), once computed
        self.sections: list[tuple[str, bytes]] = []
        self.cost = 0.0  # rate + lambda x distortion over the GOP
        self.intra: list[int] = []  # frames this chain refreshed intra


@register
class VideoCodec:
    codec_id = "video"

    def __init__(self, model=None, quality=None, device=None, threads=None, intra_period=None, max_frames=None,
                 inter_kinds=None, rdoq=None):
        if model not in (None, MODEL):
            raise ValueError(f"unknown video model {model!r}; available: {MODEL}")
        # how a frame between intra periods may be coded: P, R and M are each tried as a chain
        # over the group of pictures, the chain of least rate + lambda x distortion kept; with
        # I (intra refresh) a frame is coded intra wherever that costs less (compress_to)
        self.inter_kinds = CODING_KINDS if inter_kinds is None else tuple(
            k.encode() if isinstance(k, str) else k for k in inter_kinds)
        if not self.inter_kinds or any(k not in CODING_KINDS for k in self.inter_kinds) \
                or len(set(self.inter_kinds)) != len(self.inter_kinds):
            raise ValueError(f"inter_kinds must be distinct kinds among {[k.decode() for k in CODING_KINDS]}")
        # the latents' rounding: rate-distortion optimised (entropy_models/rdoq.py), 0 rounds
        self.rdoq = VIDEO_RDOQ if rdoq is None else check_kappa(rdoq)
        self.quality = check_quality(DEFAULT_QUALITY if quality is None else quality)
        self.intra_period = DEFAULT_INTRA_PERIOD if intra_period is None else int(intra_period)
        if self.intra_period < 1:
            raise ValueError("intra_period must be >= 1")
        self.device = pick_device(device)
        self.threads = threads
        self.max_frames = max_frames

    def _model(self):
        from .weights import load_video_model

        return load_video_model(self.device)

    def info(self) -> dict:
        _, wid, entry = self._model()
        return {"codec": self.codec_id, "model": MODEL, "quality": self.quality, "device": self.device,
                "weights": wid, "trained": bool(entry), "intra_period": self.intra_period,
                "inter_kinds": ",".join(k.decode() for k in self.inter_kinds), "rdoq": self.rdoq}

    # ---------------------------------------------------------------- compress
    def compress_to(self, fileobj, frames, meta: dict, audio: bytes | None = None, progress: bool = False) -> int:
        """Stream frames (H x W x 3 uint8) into an .ezc written to fileobj; returns the count."""
        from tqdm.auto import tqdm

        model, wid, _ = self._model()
        h, w = int(meta["height"]), int(meta["width"])
        header = {"model": MODEL, "image_model": model.spec.name, "quality": self.quality, "weights": wid,
                  "size": [h, w], "intra_period": self.intra_period, "fps": str(meta.get("fps", "25")),
                  "matrix": meta.get("matrix", "bt601"), "range": meta.get("range", "tv"),
                  "sar": meta.get("sar", "1:1")}
        writer = ContainerWriter(fileobj, self.codec_id, header)
        q, intra, n = self.quality - 1, [], 0
        # One chain of inter frames per inter kind, side by side (each frame's latent is
        # computed once); at the next intra frame the group of pictures keeps the chain of
        # least total rate + lambda x distortion. Per GOP, not per frame: a frame's reference
        # shapes every later frame's cost, and a greedy per-frame choice between P and R was
        # measured worse (BENCHMARKS). With intra refresh, a chain codes a frame intra where
        # that costs less than its inter kind (the latent residual fails under large motion:
        # BENCHMARKS, "intra refresh"); where every chain would, a new GOP starts there, as
        # at a forced intra frame, since nothing after it depends on the chains before it.
        kinds = [k for k in self.inter_kinds if k != REFRESH]
        refresh = REFRESH in self.inter_kinds
        costed = refresh or len(kinds) > 1
        chains: dict[bytes, _Chain] = {}
        last_intra = 0

        def flush():
            if chains:
                best = min(chains.values(), key=lambda c: c.cost)
                for name, payload in best.sections:
                    writer.add(name, payload)
                intra.extend(best.intra)
                chains.clear()

        def start_gop(out):
            nonlocal last_intra
            flush()
            writer.add(frame_name(n), pack_parts([b"I", out["z"][0], *out["y"]]))
            intra.append(n)
            last_intra = n
            chains.update({k: _Chain(out["y_hat_q"], out.get("x_hat")) for k in kinds})

        def code_inter(y, x, kind, chain):
            if kind != b"M":
                return model.code_latent(y, chain.ref, kind, threads=self.threads, rdoq=self.rdoq)
            if chain.x is None:
                chain.x = model.decoded_frame(chain.ref, q)
            return model.code_motion(y, x, chain.x, q, threads=self.threads, rdoq=self.rdoq)

        bar = tqdm(frames, desc="video compress", unit="frame", disable=not progress)
        for n, rgb in enumerate(bar):
            rgb = np.asarray(rgb)
            if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
                raise ValueError(f"frame {n}: expected {h}x{w}x3 uint8, got {rgb.shape} {rgb.dtype}")
            x = to_input(rgb, self.device)
            y = model.latent(x, q)
            if n == 0 or n - last_intra >= self.intra_period:
                start_gop(model.code_latent(y, None, threads=self.threads, rdoq=self.rdoq))
                continue
            i_out = model.code_latent(y, None, threads=self.threads, rdoq=self.rdoq) if refresh else None
            i_cost = model.frame_cost(i_out, x, q, (h, w)) if refresh else None
            tried = {}
            for kind, chain in chains.items():
                out = code_inter(y, x, kind, chain)
                tried[kind] = out, model.frame_cost(out, x, q, (h, w)) if costed else 0.0
            if refresh and all(i_cost < cost for _, cost in tried.values()):
                start_gop(i_out)
                continue
            for kind, (out, cost) in tried.items():
                chain = chains[kind]
                if refresh and i_cost < cost:
                    out, cost = i_out, i_cost
                    chain.intra.append(n)
                chain.ref, chain.x = out["y_hat_q"], out.get("x_hat")
                chain.sections.append((frame_name(n), pack_parts([out["kind"], out["z"][0], *out["y"],
                                                                  *out.get("side", ())])))
                chain.cost += cost
        flush()
        if not intra:
            raise ValueError("no frames to compress")
        count = n + 1
        if audio:
            writer.add("audio", audio)
        writer.add("index", json.dumps({"frames": count, "intra": intra}).encode())
        writer.close()
        return count

    def compress(self, frames, fps: str = "25") -> bytes:
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise ValueError("no frames to compress")
        first = np.asarray(first)
        meta = {"height": first.shape[0], "width": first.shape[1], "fps": fps}
        buf = io.BytesIO()

        def chain():
            yield first
            yield from frames

        self.compress_to(buf, chain(), meta)
        return buf.getvalue()

    def compress_file(self, src, dst, max_frames=None, keep_audio: bool = True, progress: bool = True,
                      raw_size=None, fps=None) -> dict:
        import tempfile
        import warnings

        from .ffmpeg_io import extract_audio, read_frames

        meta, frames = read_frames(src, max_frames or self.max_frames, raw_size=raw_size, fps=fps)
        audio = None
        if meta.get("audio"):
            if keep_audio:
                with tempfile.TemporaryDirectory(prefix="ez-audio-") as tmp:
                    a = Path(tmp) / "audio.mka"
                    audio = a.read_bytes() if extract_audio(src, a) else None
            else:
                warnings.warn(f"{src}: its audio is dropped (keep_audio=False)", stacklevel=2)
        try:
            with open(dst, "wb") as f:
                n = self.compress_to(f, frames, meta, audio, progress)
        except BaseException:
            Path(dst).unlink(missing_ok=True)  # no half-written file is left behind
            raise
        return {"frames": n, "bytes": Path(dst).stat().st_size, **meta}

    # ---------------------------------------------------------------- decompress
    @staticmethod
    def _open(blob):
        c = blob if hasattr(blob, "sections") else parse(blob)
        if c.codec != VideoCodec.codec_id:
            raise FormatError(f"this is a {c.codec!r} file, not video")
        hd = c.header
        if hd.get("model") != MODEL:
            raise FormatError(f"video model {hd.get('model')!r} is not {MODEL!r}")
        size = hd.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 0 < v <= 8192 for v in size)):
            raise FormatError(f"video header has a bad frame size {size!r}")
        try:
            check_quality(hd.get("quality"))
        except ValueError as e:
            raise FormatError(f"video header: {e}") from None
        try:
            index = json.loads(bytes(c.section("index")))
            frames, intra = int(index["frames"]), [int(i) for i in index["intra"]]
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(f"video index is unreadable: {e}") from None
        if frames < 0 or len(intra) > frames + 1:
            raise FormatError("video index is inconsistent")
        return c, hd, frames, intra

    def decompress(self, blob, start: int = 0):
        """Iterator of H x W x 3 uint8 frames, from frame `start` (an intra frame) on."""
        c, hd, frames, intra = self._open(blob)
        model, wid, _ = self._model()
        if hd.get("weights") != wid:
            raise FormatError(f"this file was written with video weights {hd.get('weights')}; "
                              f"these are {wid}")
        if start and start not in intra:
            raise ValueError(f"decoding can start at an intra frame ({intra[:8]}...), not at {start}")
        h, w = hd["size"]
        zs = z_shape(h, w)
        steps = model.image.entropy.y_model.num_steps()  # every y stream is bounded by its indexes
        q = hd["quality"] - 1
        hb, wb = 4 * zs[0], 4 * zs[1]  # motion blocks: one per latent element
        prev = prev_x = None
        for i in range(start, frames):
            name = frame_name(i)
            parts = unpack_parts(c.section(name), None, f"frame {i}")
            kind = bytes(parts[0]) if parts else b""
            if kind not in FRAME_KINDS:
                raise FormatError(f"frame {i}: unknown frame kind {kind!r}")
            expected = 2 + steps + (2 if kind == b"M" else 0)  # M: + the motion field's rows and stream
            if len(parts) != expected:
                raise FormatError(f"frame {i} holds {len(parts)} parts; its reader expects {expected}")
            if FRAME_KINDS[kind] != (i in intra):
                raise FormatError(f"frame {i}: its kind does not match the index")
            if not FRAME_KINDS[kind] and prev is None:
                raise FormatError(f"frame {i}: a P frame with no frame before it")
            try:
                ref = None if FRAME_KINDS[kind] else prev
                if kind == b"M":
                    field = motion.decode_field(parts[-2], parts[-1], hb, wb)
                    ref = model.motion_reference(prev_x, field, q)
                prev = model.decompress_frame([bytes(parts[1])], [bytes(p) for p in parts[2:2 + steps]], zs,
                                              ref, threads=self.threads, kind=kind)
            except FormatError as e:
                raise FormatError(f"frame {i}: {e}") from None
            prev_x = model.decoded_frame(prev, q)
            yield prev_x[0, :, :h, :w].permute(1, 2, 0).mul(255).round().to(torch.uint8).cpu().numpy()

    def decompress_file(self, src, dst, progress: bool = True) -> int:
        from tqdm.auto import tqdm

        from .ffmpeg_io import write_frames

        c = read_file(src)
        _, hd, frames, _ = self._open(c)
        meta = {"height": hd["size"][0], "width": hd["size"][1], "fps": hd.get("fps", "25"),
                "matrix": hd.get("matrix", "bt601"), "range": hd.get("range", "tv"), "sar": hd.get("sar", "1:1")}
        audio = bytes(c.sections["audio"]) if "audio" in c.sections else None
        it = tqdm(self.decompress(c), total=frames, desc="video decompress", unit="frame", disable=not progress)
        return write_frames(dst, it, meta, audio)

    @staticmethod
    def describe(container) -> dict:
        _, hd, frames, intra = VideoCodec._open(container)
        present = [container.sections[frame_name(i)] for i in range(frames) if frame_name(i) in container.sections]
        sizes = [len(s) for s in present]
        kinds = {}
        for s in present:
            try:
                k = bytes(unpack_parts(s, None, "frame")[0]).decode("ascii", "replace")
            except FormatError:
                k = "damaged"
            kinds[k] = kinds.get(k, 0) + 1
        h, w = hd["size"]
        return {"frames": frames, "intra_frames": len(intra), "frame_kinds": kinds, "size": f"{w}x{h}",
                "quality": hd["quality"],
                "fps": hd.get("fps"), "bytes_per_frame": round(sum(sizes) / len(sizes)) if sizes else 0,
                "bpp": round(8 * sum(sizes) / (max(frames, 1) * h * w), 4)}
