"""Video baselines through ffmpeg (the binary of the imageio-ffmpeg wheel >= 0.8,
which has libx264, libx265, libsvtav1 and libvvenc), one table entry per codec.

The source is decoded once to raw frames in its own YUV 4:2:0 format; each codec
encodes those frames at every quality of its sweep, the result is decoded back,
and the planes are compared: PSNR per plane and weighted (6 Y + U + V) / 8, RGB
PSNR after converting both with the source's colour matrix and range, MS-SSIM
where frames are large enough. bpp counts the whole output file. The exact
command lines are recorded with the results.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import metrics


@dataclass(frozen=True)
class FfmpegCodec:
    name: str
    description: str
    args: tuple  # encoder arguments; "{q}" is replaced by the quality
    qualities: tuple
    suffix: str = ".mp4"

    def command(self, ffmpeg: str, src_yuv: str, width: int, height: int, fps: str, out: str, q) -> list[str]:
        return [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                "-s", f"{width}x{height}", "-r", fps, "-i", src_yuv,
                *[a.replace("{q}", str(q)) for a in self.args], out]

    def made(self, row: dict) -> bool:
        """Whether a logged result row was encoded with this configuration (resume check)."""
        return " ".join(a.replace("{q}", str(row["quality"])) for a in self.args) in row.get("command", "")


# The learned codec's structure is low delay (an intra frame every 32, then frames that
# only reference earlier ones), so the plain names are the classic codecs in that
# structure; "-ra" are their usual random-access defaults (B-frames, reordering), for reference.
LD_GOP = 32
VIDEO_BASELINES = {
    "x264": FfmpegCodec("x264", "H.264 low delay (libx264 veryslow, zerolatency, GOP 32, no B, CRF)",
                        ("-c:v", "libx264", "-preset", "veryslow", "-tune", "zerolatency", "-g", str(LD_GOP),
                         "-bf", "0", "-crf", "{q}", "-pix_fmt", "yuv420p"), (18, 23, 28, 33, 38)),
    "x265": FfmpegCodec("x265", "HEVC low delay (libx265 veryslow, zerolatency, GOP 32, no B, CRF)",
                        ("-c:v", "libx265", "-preset", "veryslow", "-tune", "zerolatency", "-crf", "{q}",
                         "-pix_fmt", "yuv420p", "-x265-params",
                         f"keyint={LD_GOP}:min-keyint={LD_GOP}:bframes=0:log-level=error"), (18, 23, 28, 33, 38)),
    # SVT-AV1's low-delay prediction structure (pred-struct 1; its rate control is then CQP,
    # the CRF value read as the QP)
    "svtav1": FfmpegCodec("svtav1", "AV1 low delay (libsvtav1 preset 8, pred-struct 1, GOP 32, QP)",
                          ("-c:v", "libsvtav1", "-preset", "8", "-crf", "{q}", "-g", str(LD_GOP),
                           "-svtav1-params", "pred-struct=1", "-pix_fmt", "yuv420p"), (25, 32, 39, 46, 53)),
    # VVenC without picture reordering (GOP 8 of low-delay B frames, output order = coding
    # order), an intra frame every 32
    "vvenc": FfmpegCodec("vvenc", "VVC low delay (libvvenc preset faster, no reordering, GOP 32, QP)",
                         ("-c:v", "libvvenc", "-preset", "faster", "-qp", "{q}", "-vvenc-params",
                          f"IntraPeriod={LD_GOP}:DecodingRefreshType=none:PicReordering=0:GOPSize=8:POC0IDR=1",
                          "-pix_fmt", "yuv420p"), (22, 27, 32, 37, 42)),
    "x264-ra": FfmpegCodec("x264-ra", "H.264 (libx264, preset medium, CRF; B-frames, default GOP)",
                           ("-c:v", "libx264", "-preset", "medium", "-crf", "{q}", "-pix_fmt", "yuv420p"),
                           (18, 23, 28, 33, 38)),
    "x265-ra": FfmpegCodec("x265-ra", "HEVC (libx265, preset medium, CRF; B-frames, default GOP)",
                           ("-c:v", "libx265", "-preset", "medium", "-crf", "{q}", "-pix_fmt", "yuv420p",
                            "-x265-params", "log-level=error"), (18, 23, 28, 33, 38)),
    "svtav1-ra": FfmpegCodec("svtav1-ra", "AV1 (libsvtav1, preset 8, CRF; random access)",
                             ("-c:v", "libsvtav1", "-preset", "8", "-crf", "{q}", "-pix_fmt", "yuv420p"),
                             (25, 32, 39, 46, 53)),
    "vvenc-ra": FfmpegCodec("vvenc-ra", "VVC (libvvenc, preset faster, QP; random access)",
                            ("-c:v", "libvvenc", "-preset", "faster", "-qp", "{q}", "-pix_fmt", "yuv420p"),
                            (22, 27, 32, 37, 42)),
}


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImportError("video evaluation needs the imageio-ffmpeg wheel (>= 0.8): pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class Source:
    path: Path
    width: int
    height: int
    fps: str
    matrix: str
    full_range: bool
    frames: np.ndarray  # [n, h*w*3/2] uint8, yuv420p

    def planes(self, frames: np.ndarray):
        """(Y [n,h,w], U [n,h/2,w/2], V) views of yuv420p frames."""
        n, h, w = len(frames), self.height, self.width
        y = frames[:, : h * w].reshape(n, h, w)
        u = frames[:, h * w : h * w * 5 // 4].reshape(n, h // 2, w // 2)
        v = frames[:, h * w * 5 // 4 :].reshape(n, h // 2, w // 2)
        return y, u, v


def read_source(path, max_frames: int | None = None) -> Source:
    """Decode `path` to yuv420p frames; size, rate, colour matrix and range from ffmpeg's stream line."""
    ffmpeg, path = ffmpeg_exe(), Path(path)
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    m = re.search(r"Video: .*?, (\w+)(\(([^)]*)\))?, (\d+)x(\d+)", probe)
    if not m:
        raise ValueError(f"{path}: no video stream found")
    width, height = int(m.group(4)), int(m.group(5))
    if width % 2 or height % 2:
        raise ValueError(f"{path}: 4:2:0 evaluation needs even frame sizes, got {width}x{height}")
    colour = (m.group(3) or "").split(",")
    full_range = any(c.strip() in ("pc", "jpeg") for c in colour)
    matrix = "bt709" if any("709" in c for c in colour) else "bt2020" if any("2020" in c for c in colour) else "bt601"
    fps_m = re.search(r"(\d+(?:\.\d+)?) fps", probe)
    fps = fps_m.group(1) if fps_m else "25"
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path)]
    if max_frames:
        cmd += ["-frames:v", str(max_frames)]
    raw = subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    frame_bytes = width * height * 3 // 2
    frames = np.frombuffer(raw, np.uint8)[: len(raw) // frame_bytes * frame_bytes].reshape(-1, frame_bytes)
    if not len(frames):
        raise ValueError(f"{path}: no frames decoded")
    return Source(path, width, height, fps, matrix, full_range, frames)


def _rgb(src: Source, y, u, v) -> np.ndarray:
    """8-bit RGB of one frame's 4:2:0 planes (chroma repeated to full size), with the
    source's matrix and range."""
    up = lambda c: np.repeat(np.repeat(c, 2, 0), 2, 1)  # noqa: E731
    return metrics.ycbcr_to_rgb(np.stack([y, up(u), up(v)], -1), src.matrix, src.full_range)


def coded_out_of_order(ffmpeg: str, path) -> bool:
    """Whether a coded video reorders frames (a packet shows before one coded ahead of it):
    the test of a low-delay configuration, read from the packets' timestamps in coding order."""
    crc = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
                          "-c", "copy", "-f", "framecrc", "-"], capture_output=True, check=True, text=True).stdout
    pts = [int(line.split(",")[2]) for line in crc.splitlines() if line and not line.startswith("#")]
    return any(b < a for a, b in zip(pts, pts[1:]))


def measure(codec: FfmpegCodec, src: Source, q, workdir: Path) -> dict:
    ffmpeg = ffmpeg_exe()
    src_yuv = workdir / "source.yuv"
    if not src_yuv.exists():
        src_yuv.write_bytes(src.frames.tobytes())
    out = workdir / f"{codec.name}-{q}{codec.suffix}"
    cmd = codec.command(ffmpeg, str(src_yuv), src.width, src.height, src.fps, str(out), q)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    t1 = time.perf_counter()
    raw = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(out), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    t2 = time.perf_counter()
    dec = np.frombuffer(raw, np.uint8).reshape(-1, src.frames.shape[1])
    if dec.shape != src.frames.shape:
        raise RuntimeError(f"{codec.name} q={q}: decoded {len(dec)} frames, expected {len(src.frames)}")
    (ya, ua, va), (yb, ub, vb) = src.planes(src.frames), src.planes(dec)
    per_frame = []
    for i in range(len(dec)):
        py, pu, pv = metrics.psnr(ya[i], yb[i]), metrics.psnr(ua[i], ub[i]), metrics.psnr(va[i], vb[i])
        a_rgb, b_rgb = _rgb(src, ya[i], ua[i], va[i]), _rgb(src, yb[i], ub[i], vb[i])
        per_frame.append((metrics.weighted_yuv_psnr(py, pu, pv), py, pu, pv, metrics.psnr(a_rgb, b_rgb),
                          metrics.ms_ssim(a_rgb, b_rgb)))
    row = summarize(src, q, per_frame, out.stat().st_size, t1 - t0, t2 - t1, " ".join(cmd))
    row["reordered"] = coded_out_of_order(ffmpeg, out)
    return row


def summarize(src: Source, q, per_frame, size: int, enc_s: float, dec_s: float, command: str) -> dict:
    """One result row from per-frame (psnr-yuv, y, u, v, psnr-rgb, ms-ssim-rgb) tuples."""
    cols = list(zip(*per_frame))

    def mean(column):  # frames coded losslessly (inf) or too small for MS-SSIM (None) are left out
        vals = [v for v in column if v is not None and np.isfinite(v)]
        return float(np.mean(vals)) if vals else None

    n = len(per_frame)
    return {
        "quality": q, "frames": n, "bytes": size,
        "bpp": 8 * size / (n * src.width * src.height),
        "kbps": 8 * size / 1000 / (n / float(src.fps)),
        "psnr-yuv": mean(cols[0]), "psnr-y": mean(cols[1]), "psnr-u": mean(cols[2]), "psnr-v": mean(cols[3]),
        "psnr-rgb": mean(cols[4]), "ms-ssim-rgb": mean(cols[5]),
        "encoding_time": enc_s, "decoding_time": dec_s, "command": command,
    }


class LearnedVideo:
    """entrozip's own video codec in the same table: frames in as the source's RGB (its
    matrix and range), decoded RGB compared in RGB and, converted back the same way and
    4:2:0-subsampled, in YUV. bpp counts the whole .ezc file."""

    name = "stem"
    description = ("entrozip video: STEM (elic transforms for every frame + spatiotemporal entropy model), low delay, "
                   "intra refresh, rate-distortion optimised rounding")
    qualities = (1, 3, 5, 7)
    suffix = ".ezc"

    def __init__(self, intra_period: int = 32, inter_kinds: str | None = None, rdoq: float | None = None):
        from ..codecs.video import CODING_KINDS, VIDEO_RDOQ

        self.intra_period = intra_period
        self.inter_kinds = inter_kinds or ",".join(k.decode() for k in CODING_KINDS)
        self.rdoq = VIDEO_RDOQ if rdoq is None else float(rdoq)

    def options(self, q) -> str:
        return f"quality={q}, intra_period={self.intra_period}, inter_kinds={self.inter_kinds!r}, rdoq={self.rdoq:g}"

    def measure(self, src: Source, q, workdir: Path) -> dict:
        from ..codecs.video import VideoCodec

        codec = VideoCodec(quality=q, intra_period=self.intra_period, inter_kinds=self.inter_kinds.split(","),
                           rdoq=self.rdoq)
        ya, ua, va = src.planes(src.frames)
        rgb = [_rgb(src, ya[i], ua[i], va[i]) for i in range(len(src.frames))]
        t0 = time.perf_counter()
        blob = codec.compress(rgb, fps=src.fps)
        t1 = time.perf_counter()
        dec = list(codec.decompress(blob))
        t2 = time.perf_counter()
        per_frame = []
        for i, d in enumerate(dec):
            ycc = metrics.rgb_to_ycbcr(d, src.matrix, src.full_range).astype(np.float64)
            h, w = src.height, src.width
            yb = np.clip(np.rint(ycc[..., 0]), 0, 255)
            ub, vb = (np.clip(np.rint(ycc[..., c].reshape(h // 2, 2, w // 2, 2).mean((1, 3))), 0, 255) for c in (1, 2))
            py, pu, pv = metrics.psnr(ya[i], yb), metrics.psnr(ua[i], ub), metrics.psnr(va[i], vb)
            per_frame.append((metrics.weighted_yuv_psnr(py, pu, pv), py, pu, pv, metrics.psnr(rgb[i], d),
                              metrics.ms_ssim(rgb[i], d)))
        row = summarize(src, q, per_frame, len(blob), t1 - t0, t2 - t1,
                        f"entrozip.open_codec('video', {self.options(q)}) (CPU)")
        row["weights_id"] = self.weights_id()
        return row

    @staticmethod
    def weights_id() -> str:
        from ..codecs.video.weights import load_video_model

        return load_video_model()[1]

    def made(self, row: dict) -> bool:
        """Whether a logged row was coded by this codec with the weights the package has now."""
        return row.get("weights_id") == self.weights_id() and f"{self.options(row['quality'])})" in row["command"]


def codec_named(name: str):
    if name == LearnedVideo.name:
        return LearnedVideo()
    if name not in VIDEO_BASELINES:
        raise ValueError(f"unknown video codec {name!r}; available: stem, {', '.join(VIDEO_BASELINES)}")
    return VIDEO_BASELINES[name]


def evaluate(names, video, out, max_frames=None, progress: bool = True) -> dict:
    """Every codec of `names` over one video at its quality sweep; resumable (OUT/raw/*.jsonl)."""
    from .harness import provenance_common, resume_log

    out = Path(out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    src = read_source(video, max_frames)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ez-video-") as tmp:
        for name in names:
            codec = codec_named(name)
            raw = out / "raw" / f"{name}.jsonl"
            # rows of this clip and length, made by this very configuration (a changed command
            # line or, for stem, other weights are measured again)
            kept = [r for r in resume_log(raw)
                    if r.get("video") == src.path.name and r["frames"] == len(src.frames) and codec.made(r)]
            done = {r["quality"] for r in kept}
            with open(raw, "a") as log:
                for q in tqdm([q for q in codec.qualities if q not in done], desc=name, disable=not progress):
                    m = codec.measure(src, q, Path(tmp)) if hasattr(codec, "measure") else measure(codec, src, q, Path(tmp))
                    rec = {"video": src.path.name, **m}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    kept.append(rec)
            kept.sort(key=lambda r: r["quality"])
            keys = ("quality", "bpp", "kbps", "psnr-yuv", "psnr-y", "psnr-u", "psnr-v", "psnr-rgb", "ms-ssim-rgb",
                    "encoding_time", "decoding_time")
            results[name] = {
                "name": name,
                "description": codec.description,
                "meta": {**provenance_common(), "video": src.path.name, "frames": len(src.frames),
                         "size": [src.width, src.height], "fps": src.fps, "matrix": src.matrix,
                         "full_range": src.full_range, "commands": {str(r["quality"]): r["command"] for r in kept}},
                "results": {k: [r[k] for r in kept] for k in keys},
            }
            (out / f"{name}.json").write_text(json.dumps(results[name], indent=1))
    return results
