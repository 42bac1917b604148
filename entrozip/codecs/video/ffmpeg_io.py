"""Video in and out through ffmpeg (the binary of the imageio-ffmpeg wheel), frame by frame.

    meta, frames = read_frames("clip.mp4", max_frames=96)   # frames: iterator of H x W x 3 uint8 RGB
    write_frames("out.y4m", frames, meta)                   # .y4m, lossless .mp4/.mkv, or a folder of PNGs

Frames stream through a pipe in both directions: memory holds one frame, whatever
the clip's length. Inputs: anything ffmpeg reads (mp4, mkv, y4m, ...), a folder of
PNG frames, or raw yuv420p given its size and rate (`raw_size=(w, h)`, `fps`).
The source's rate, colour matrix and range, sample aspect ratio and audio (stored
untouched, muxed back into mp4/mkv outputs) are kept in `meta`.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import FormatError

MAX_SIDE = 8192


def ffmpeg_exe() -> str:
    from ...eval.video import ffmpeg_exe as exe

    return exe()


def probe(path) -> dict:
    """Size, rate, colour matrix / range, sample aspect ratio and whether audio exists."""
    path = Path(path)
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    m = re.search(r"Video: .*?, (\w+)(\(([^)]*)\))?, (\d+)x(\d+)", text)
    if not m:
        raise FormatError(f"{path}: no video stream found")
    colour = (m.group(3) or "").split(",")
    fps = re.search(r"(\d+(?:\.\d+)?) (?:fps|tbr)", text)
    sar = re.search(r"SAR (\d+):(\d+)", text)
    return {"width": int(m.group(4)), "height": int(m.group(5)), "fps": fps.group(1) if fps else "25",
            "matrix": "bt709" if any("709" in c for c in colour) else "bt601",
            "range": "pc" if any(c.strip() in ("pc", "jpeg") for c in colour) else "tv",
            "sar": f"{sar.group(1)}:{sar.group(2)}" if sar else "1:1", "audio": "Audio:" in text}


def _png_folder(folder: Path, max_frames):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise FormatError(f"{folder}: no PNG frames")
    with Image.open(files[0]) as im:
        w, h = im.size
    meta = {"width": w, "height": h, "fps": "25", "matrix": "bt601", "range": "tv", "sar": "1:1", "audio": False}

    def frames():
        for f in files[:max_frames]:
            with Image.open(f) as im:
                a = np.asarray(im.convert("RGB"))
            if a.shape[:2] != (h, w):
                raise FormatError(f"{f}: frame size {a.shape[1]}x{a.shape[0]}, the first frame is {w}x{h}")
            yield a

    return meta, frames()


def read_frames(path, max_frames: int | None = None, raw_size=None, fps: str | None = None):
    """(meta, iterator of H x W x 3 uint8 RGB frames)."""
    path = Path(path)
    if path.is_dir():
        return _png_folder(path, max_frames)
    if raw_size is not None:
        w, h = map(int, raw_size)
        meta = {"width": w, "height": h, "fps": fps or "25", "matrix": "bt601", "range": "tv", "sar": "1:1",
                "audio": False}
        inp = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", meta["fps"], "-i", str(path)]
    else:
        meta = probe(path)
        if fps:
            meta["fps"] = fps
        inp = ["-i", str(path)]
    w, h = meta["width"], meta["height"]
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise FormatError(f"{path}: frame size {w}x{h} outside 1..{MAX_SIDE}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *inp]
    if max_frames:
        cmd += ["-frames:v", str(int(max_frames))]
    # the source's own matrix and range into full-range RGB
    cmd += ["-vf", f"scale=in_color_matrix={meta['matrix']}:in_range={meta['range']}:out_range=pc",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]

    def frames():
        size = w * h * 3
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            while True:
                buf = proc.stdout.read(size)
                if len(buf) < size:
                    break
                yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            if proc.wait() and not err.startswith("Broken pipe"):
                raise FormatError(f"ffmpeg could not read {path}: {err.strip()[:300]}")

    return meta, frames()


def extract_audio(path, dst: Path) -> bool:
    """Copy the source's audio stream untouched into dst (.mka); False if there is none."""
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-vn",
                        "-acodec", "copy", str(dst)], capture_output=True)
    return r.returncode == 0 and dst.exists() and dst.stat().st_size > 0


def write_frames(dst, frames, meta: dict, audio: bytes | None = None) -> int:
    """Write RGB frames to dst: a folder (PNG frames), .y4m (yuv420p, the source's matrix and
    range), or .mp4/.mkv (lossless: libx264rgb -qp 0), with the audio muxed back. Returns
    the number of frames written."""
    dst = Path(dst)
    w, h = meta["width"], meta["height"]
    if dst.suffix == "" or dst.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        n = 0
        for n, f in enumerate(frames, 1):
            Image.fromarray(f).save(dst / f"frame_{n - 1:06d}.png")
        return n
    sar = "setsar=" + meta.get("sar", "1:1").replace(":", "/")
    if dst.suffix.lower() == ".y4m":
        out = ["-vf", f"scale=out_color_matrix={meta.get('matrix', 'bt601')}:out_range={meta.get('range', 'tv')},{sar}",
               "-pix_fmt", "yuv420p", "-strict", "-1"]
    elif dst.suffix.lower() in (".mp4", ".mkv"):
        out = ["-vf", sar, "-c:v", "libx264rgb", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "rgb24"]
    else:
        raise ValueError(f"{dst}: write .y4m, .mp4, .mkv or a folder of PNG frames")
    with tempfile.TemporaryDirectory(prefix="ez-video-") as tmp:
        extra = []
        if audio and dst.suffix.lower() in (".mp4", ".mkv"):
            a = Path(tmp) / "audio.mka"
            a.write_bytes(audio)
            extra = ["-i", str(a), "-map", "0:v", "-map", "1:a", "-c:a", "copy"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", str(meta.get("fps", "25")), "-i", "-", *extra, *out, str(dst)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        n = 0
        try:
            for n, f in enumerate(frames, 1):
                proc.stdin.write(np.ascontiguousarray(f, np.uint8).tobytes())
        finally:
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait():
                raise RuntimeError(f"ffmpeg could not write {dst}: {err.strip()[:300]}")
    return n
