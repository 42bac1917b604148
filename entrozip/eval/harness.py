"""The image RD harness: codecs x qualities x images -> per-item records -> curves.

Per item it records bpp from the real coded size, RGB PSNR, MS-SSIM, encode and
decode seconds and peak Python-side memory (tracemalloc: numpy and Python
allocations; native library buffers are not seen). Records are appended to
OUT/raw/CODEC.jsonl as they are made, so an interrupted run resumes where it
stopped. Curves average the per-image values at each quality and are written in
CompressAI's results layout (OUT/CODEC.json) with provenance.
"""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from . import metrics
from .baselines import IMAGE_BASELINES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}


def resolve_codec(name: str, weights=None):
    """A codec of the harness by name: a classic baseline (baselines.py) or one of
    entrozip's image models (learned.py), with its weights from the folder `weights`
    when that folder holds NAME.json (else the shipped ones)."""
    from ..codecs.image.models import MODELS
    from ..codecs.image.weights import exported_models
    from .learned import LearnedImageCodec

    if name in IMAGE_BASELINES:
        return IMAGE_BASELINES[name]
    if name in MODELS:
        use = weights is not None and name in exported_models(weights)
        return LearnedImageCodec(name, weights=str(weights) if use else None)
    raise ValueError(f"unknown image codec {name!r}; available: {', '.join(sorted(IMAGE_BASELINES) + sorted(MODELS))}")


def dataset_images(path) -> list[Path]:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory")
    images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{path} holds no images")
    return images


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance_common() -> dict:
    """What produced a result: entrozip version and commit, date, device, libraries."""
    import torch

    return {
        "entrozip": __version__,
        "commit": _git_commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": "cpu",
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "libraries": {"numpy": np.__version__, "torch": torch.__version__},
        "weights_sha256": None,  # classic codecs carry no weights
    }


def provenance(codec, dataset: Path, n_images: int) -> dict:
    meta = provenance_common()
    versions = codec.versions()
    if "weights_id" in versions:  # a learned codec: which weights, on which device
        meta["weights_sha256"] = versions.pop("weights_id")
        meta["weights_trained"] = versions.pop("trained")
        meta["device"] = versions.pop("device")
        meta["rdoq"] = versions.pop("rdoq")  # the encoder's rounding of the latent (entropy_models/rdoq.py)
    meta["libraries"].update(versions)
    return {**meta, "dataset": dataset.name, "images": n_images}


def measure(codec, rgb: np.ndarray, quality: int) -> dict:
    """One item: code, decode, measure."""
    tracemalloc.start()
    t0 = time.perf_counter()
    blob = codec.encode(rgb, quality)
    t1 = time.perf_counter()
    back = codec.decode(blob)
    t2 = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    h, w = rgb.shape[:2]
    ssim = metrics.ms_ssim(rgb, back)
    return {
        "quality": quality,
        "bytes": len(blob),
        "bpp": 8 * len(blob) / (h * w),
        "psnr-rgb": metrics.psnr(rgb, back),
        "ms-ssim-rgb": ssim,
        "encoding_time": t1 - t0,
        "decoding_time": t2 - t1,
        "peak_memory_mb": peak / 2**20,
    }


def resume_log(path: Path) -> list[dict]:
    """The records of a run log (one JSON object a line), rewritten without the line an
    interruption may have cut short, so that appending resumes cleanly."""
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by an interruption: redone
                continue
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def curve(records: list[dict]) -> dict:
    """Mean of every metric per quality, in CompressAI's `results` layout."""
    out = {k: [] for k in ("quality", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time",
                           "peak_memory_mb")}
    for q in sorted({r["quality"] for r in records}):
        rows = [r for r in records if r["quality"] == q]
        out["quality"].append(q)
        for k in list(out)[1:]:
            vals = [r[k] for r in rows if r.get(k) is not None]
            out[k].append(float(np.mean(vals)) if vals else None)
    return out


def evaluate_codec(name: str, dataset, out, qualities=None, limit=None, progress: bool = True,
                   weights=None) -> dict:
    """Run (or resume) one codec over a dataset; returns its CompressAI-layout result.
    weights: a folder of exported weights for the learned models it holds."""
    from PIL import Image

    codec = resolve_codec(name, weights)
    dataset, out = Path(dataset), Path(out)
    images = dataset_images(dataset)[: limit or None]
    qualities = list(qualities or codec.qualities)
    raw = out / "raw" / f"{name}.jsonl"
    raw.parent.mkdir(parents=True, exist_ok=True)
    records = [r for r in resume_log(raw) if r["quality"] in qualities and r["image"] in {p.name for p in images}]
    done = {(r["image"], r["quality"]) for r in records}
    todo = [(p, q) for q in qualities for p in images if (p.name, q) not in done]
    with open(raw, "a") as log:
        for p, q in tqdm(todo, desc=name, disable=not progress):
            rgb = np.asarray(Image.open(p).convert("RGB"))
            rec = {"image": p.name, **measure(codec, rgb, q)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            records.append(rec)
    result = {
        "name": name,
        "description": codec.description,
        "meta": {**provenance(codec, dataset, len(images)),
                 "commands": {str(q): codec.describe(q) for q in qualities}},
        "results": curve(records),
    }
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result
