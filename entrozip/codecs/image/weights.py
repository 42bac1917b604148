"""Which weights an image model runs with, and their identity.

Shipped weights live beside this file as safetensors with `manifest.json`
(how each was trained and its measured RD). A model without shipped weights
runs with a seeded initialisation: it codes and decodes correctly, with the
rate-distortion of an untrained network, and says so (`trained: False`).

Every stream records `weights_id`, a hash of the full state dict after
update() (float weights, integer networks, CDF tables), so a file only ever
decodes with the exact weights that wrote it.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch

from ...errors import FormatError
from .models import MODELS, ImageModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
INIT_SEED = 20261126


def manifest() -> dict:
    path = WEIGHTS_DIR / "manifest.json"
    return json.loads(path.read_text())["models"] if path.exists() else {}


def weights_id(model: torch.nn.Module) -> str:
    """sha256 (first 16 hex digits) of every tensor of the state dict, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def _check_name(name: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown image model {name!r}; available: {', '.join(MODELS)}")


@lru_cache(maxsize=4)
def load_model(name: str, device: str = "cpu") -> tuple[ImageModel, str, dict]:
    """(model in eval mode with its tables built, weights_id, manifest entry or {})."""
    _check_name(name)
    entry = manifest().get(name, {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = ImageModel(MODELS[name])
    if entry:
        from safetensors.torch import load_file

        state = load_file(str(WEIGHTS_DIR / entry["file"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    model.eval()
    model.update(force=not entry)
    wid = weights_id(model)
    if entry and entry.get("weights_id") not in (None, wid):
        raise FormatError(f"shipped weights of {name} hash to {wid}, the manifest says {entry['weights_id']}")
    return model.to(device), wid, entry
