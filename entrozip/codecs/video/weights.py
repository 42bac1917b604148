"""The video model's weights: the shipped image model + the inter entropy model's own.

Shipped files hold only what the video model adds (`temporal.*`, `inter.h_a.*` and
`inter.y_model.param_nets.*`: the temporal prior, the inter hyper-analysis and the inter
parameter networks; the inter hyperprior's other parts are the image model's), as safetensors beside this file with
`manifest.json`; the image part is the image codec's shipped `elic` — with its transforms
replaced by the video model's own (`image.g_a.*`, `image.g_s.*`, a second file) when they
were fine-tuned on clips (the manifest entry's "own" lists the key groups). Without
shipped video weights the inter model is the intra model copied (temporal
features at zero weight): it codes correctly, at intra efficiency, and says so
(`trained: False`). A stream records `weights_id`, the hash of the whole model's
state after update(), so it only decodes with the weights that wrote it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch

from ...errors import FormatError
from ..image.weights import load_model as load_image_model
from ..image.weights import load_state, read_weights_file, rebuild_in_bf16, weights_id, write_weights_file
from .model import VideoModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGE_MODEL = "elic"
NAME = "stem"
INIT_SEED = 20261127
OWN = ("temporal.", "inter.h_a.", "inter.y_model.param_nets.")  # the keys the video weights files hold (the rest is shared)
# After `train video --transforms`: the video model's own analysis and synthesis transforms
# too (fine-tuned on clips; every frame, intra included, goes through them), in a second file.
TRANSFORMS = ("image.g_a.", "image.g_s.")


def own_prefixes(entry: dict) -> tuple[str, ...]:
    """The key prefixes a manifest entry's files hold: OWN, plus TRANSFORMS when it says so."""
    own = tuple(entry.get("own", OWN))
    if own not in (OWN, OWN + TRANSFORMS):
        raise FormatError(f"video weights: unknown key groups {list(own)}")
    return own


def manifest() -> dict:
    path = WEIGHTS_DIR / "manifest.json"
    return json.loads(path.read_text())["models"] if path.exists() else {}


def initial_video_model() -> VideoModel:
    """The image model (the shipped one, as the image codec loads it: a private copy) + a
    seeded inter model started from the intra one (VideoModel.init_inter_from_intra)."""
    import copy

    image = copy.deepcopy(load_image_model(IMAGE_MODEL)[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        video = VideoModel(image)
    video.init_inter_from_intra()
    return video


def export_weights(video: VideoModel, dst_dir, meta: dict, transforms: bool = False) -> dict:
    """Write the video model's own weights (parameters bf16, buffers as they are less what
    freezing derives, after rebuilding tables and integer nets from the bf16 parameters): OWN in NAME.0, and with
    `transforms` its fine-tuned g_a / g_s in NAME.1 (each file < 16 MiB). Returns the manifest entry."""
    dst_dir = Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    fresh = initial_video_model()
    state = rebuild_in_bf16(video, fresh)
    files = []
    for i, prefixes in enumerate((OWN, TRANSFORMS) if transforms else (OWN,)):
        fname = f"{NAME}.{i}.safetensors"
        write_weights_file({k: v for k, v in state.items() if k.startswith(prefixes)}, dst_dir / fname,
                           {"model": NAME, "format": "entrozip-video-weights-v1"})
        files.append(fname)
    own = OWN + TRANSFORMS if transforms else OWN
    entry = {"files": files, "own": list(own), "weights_id": weights_id(fresh), "image_model": IMAGE_MODEL, **meta}
    (dst_dir / f"{NAME}.json").write_text(json.dumps(entry, indent=1) + "\n")
    return entry


def ship(src_dir) -> dict:
    """Copy exported video weights into the package and record them in manifest.json."""
    import shutil

    src_dir = Path(src_dir)
    entry = json.loads((src_dir / f"{NAME}.json").read_text())
    WEIGHTS_DIR.mkdir(exist_ok=True)
    for f in entry["files"]:
        shutil.copy2(src_dir / f, WEIGHTS_DIR / f)
    (WEIGHTS_DIR / "manifest.json").write_text(json.dumps({"models": {NAME: entry}}, indent=1) + "\n")
    load_video_model.cache_clear()
    return entry


def load_own_weights(video: VideoModel, folder, files, own: tuple[str, ...] = OWN) -> None:
    """Load the video model's own weights (exported files in `folder`, holding the key
    groups `own`: own_prefixes(entry)) into `video`."""
    state = {}
    for f in files:
        state.update(read_weights_file(Path(folder) / f))
    load_state(video, state, "video weights files", own)


def resume_source(resume) -> tuple[Path, dict]:
    """(folder, manifest entry) of the video weights to resume training from: "package" (the
    shipped ones) or a folder holding an export (stem.json + its files)."""
    if str(resume) == "package":
        entry = manifest().get(NAME)
        if not entry:
            raise ValueError("no video weights are shipped to resume from")
        return WEIGHTS_DIR, entry
    folder = Path(resume)
    if not (folder / f"{NAME}.json").exists():
        raise ValueError(f"{folder}: no {NAME}.json (an exported video model) to resume from")
    return folder, json.loads((folder / f"{NAME}.json").read_text())


@lru_cache(maxsize=2)
def load_video_model(device: str = "cpu") -> tuple[VideoModel, str, dict]:
    """(model in eval mode with tables and integer nets built, weights_id, manifest entry or {})."""
    entry = manifest().get(NAME, {})
    video = initial_video_model()
    if entry:
        load_own_weights(video, WEIGHTS_DIR, entry["files"], own_prefixes(entry))
    video.eval()
    video.update(force=not entry)
    wid = weights_id(video)
    if entry and entry.get("weights_id") not in (None, wid):
        raise FormatError(f"shipped video weights hash to {wid}, the manifest says {entry['weights_id']}")
    return video.to(device), wid, entry
