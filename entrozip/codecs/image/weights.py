"""Which weights an image model runs with, and their identity.

Shipped weights live beside this file as safetensors with `manifest.json`
(how each was trained and its measured RD). A model without shipped weights
runs with a seeded initialisation: it codes and decodes correctly, with the
rate-distortion of an untrained network, and says so (`trained: False`).

The files are the suite's own lossless DFloat11 files (codecs/weights/dfloat11.py:
the bf16 weights' exponents rANS-coded, every tensor checked by its SHA-256 on load),
~2/3 the size of plain safetensors; plain safetensors files load too.

Every stream records `weights_id`, a hash of the full state dict after
update() (float weights, integer networks, CDF tables), so a file only ever
decodes with the exact weights that wrote it. The files leave out what the
integer networks derive exactly from the float weights (integer.DERIVED_BUFFERS);
loading freezes them again and the manifest's weights_id checks the result.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch

from ...entropy_models.integer import derived_buffer_names, freeze_integer_nets
from ...errors import FormatError
from .models import MODELS, ImageModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
INIT_SEED = 20261126
MAX_SHARD_BYTES = 15 << 20  # shipped files stay under 16 MiB


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


def write_weights_file(tensors: dict, path, metadata: dict) -> None:
    """Write `tensors` as one shipped weights file: safetensors, then DFloat11-coded into
    `path` (plain bytes go through a temporary file beside it)."""
    from safetensors.torch import save_file

    from ..weights import dfloat11

    path = Path(path)
    plain = path.with_name(f".{path.name}.plain")
    try:
        save_file(tensors, str(plain), metadata=metadata)
        dfloat11.compress_file(plain, path)
    finally:
        plain.unlink(missing_ok=True)


def read_weights_file(path) -> dict:
    """The tensors of one weights file (write_weights_file's, or plain safetensors)."""
    from safetensors.torch import load_file

    from ..weights import dfloat11
    from ..weights.loading import iter_file_tensors, to_torch

    if not dfloat11.is_compressed_file(path):
        return load_file(str(path))
    return {name: to_torch(path, name, dtype, shape, data) for name, dtype, shape, data in iter_file_tensors(path)}


def load_state(model: torch.nn.Module, state: dict, what: str, prefixes: tuple[str, ...] = ("",)) -> None:
    """Load `state` (floats as float32) into `model`: it must hold every key of `model` that
    starts with one of `prefixes` and no other, except derived integer-net buffers, which
    are then frozen again from the floats."""
    derived = derived_buffer_names(model)
    expected = {k for k in model.state_dict() if k.startswith(prefixes)}
    missing = expected - set(state) - derived
    unexpected = set(state) - expected
    if missing or unexpected:
        raise FormatError(f"{what} do not match the model: missing {sorted(missing)[:3]}, "
                          f"unexpected {sorted(unexpected)[:3]}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
    if (expected & derived) - set(state):
        freeze_integer_nets(model)


def load_weights(model: ImageModel, files) -> None:
    """Load exported weights (export_weights' files) into `model`, as float32 + integers."""
    state = {}
    for f in files:
        state.update(read_weights_file(f))
    load_state(model, state, "weights files")


def rebuild_in_bf16(model: torch.nn.Module, fresh: torch.nn.Module) -> dict:
    """Load `model`'s state into `fresh` (same architecture) with every parameter rounded to
    bf16, rebuild its tables and integer networks from those (update(force=True)), and
    return the state to ship: parameters as bf16, buffers as they are, less the integer
    nets' derived buffers (the loader freezes them again)."""
    params = {n for n, _ in fresh.named_parameters()}
    state = {k: (v.detach().cpu().to(torch.bfloat16).float() if k in params else v.detach().cpu())
             for k, v in model.state_dict().items()}
    fresh.load_state_dict(state, strict=True)
    fresh.eval()
    fresh.update(force=True)
    derived = derived_buffer_names(fresh)
    return {k: (v.to(torch.bfloat16) if k in params else v).contiguous()
            for k, v in fresh.state_dict().items() if k not in derived}


def export_weights(model: ImageModel, name: str, dst_dir, meta: dict) -> dict:
    """Write `model` as shipped weights: parameters in bf16, buffers as they are (CDF
    tables, fixed-point lookup tables, float32 ranges) less what freezing derives, sharded
    into DFloat11-coded files (write_weights_file) of under MAX_SHARD_BYTES each.

    The tables and integer networks are rebuilt from the bf16 parameters first, so the
    files are self-consistent. Returns the manifest entry (also written as NAME.json)."""
    dst_dir = Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    fresh = ImageModel(model.spec)
    out = rebuild_in_bf16(model, fresh)
    shards, current, size = [], {}, 0
    for key in sorted(out):
        nbytes = out[key].numel() * out[key].element_size()
        if current and size + nbytes > MAX_SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[key] = out[key]
        size += nbytes
    shards.append(current)
    files = []
    for old in dst_dir.glob(f"{name}.[0-9]*.safetensors"):  # the shards, not a training state
        old.unlink()
    for i, shard in enumerate(shards):
        fname = f"{name}.{i}.safetensors"
        write_weights_file(shard, dst_dir / fname, {"model": name, "format": "entrozip-image-weights-v1"})
        files.append(fname)
    entry = {"files": files, "weights_id": weights_id(fresh), **meta}
    (dst_dir / f"{name}.json").write_text(json.dumps(entry, indent=1) + "\n")
    return entry


def continued_history(training: dict, shipped: dict) -> dict:
    """`training` (an exported entry's) with the runs its history lacks taken from the
    shipped entry's `training`, when the new run continues the shipped weights: the shipped
    history is exactly the missing runs, and its steps are the new total less the steps
    the new history counts. A run resumed from a training state written before histories
    existed thus still ships the whole record. Anything else is returned unchanged."""
    history = training.get("history", [])
    before = shipped.get("history", [])
    if (history and before and len(before) == training.get("runs", 0) - len(history)
            and shipped.get("steps") == training.get("steps", 0) - sum(r.get("steps", 0) for r in history)):
        note = {"note": shipped["note"]} if "note" in shipped and "note" not in training else {}
        return {**training, **note, "history": before + history}
    return training


def ship(src_dir, name: str) -> dict:
    """Copy exported weights into the package and record them in manifest.json (their
    training history continued from the shipped weights they resumed: continued_history)."""
    import shutil

    src_dir = Path(src_dir)
    entry = json.loads((src_dir / f"{name}.json").read_text())
    path = WEIGHTS_DIR / "manifest.json"
    data = json.loads(path.read_text()) if path.exists() else {"models": {}}
    shipped = data["models"].get(name, {})
    if "training" in entry and "training" in shipped:
        entry["training"] = continued_history(entry["training"], shipped["training"])
    for old in WEIGHTS_DIR.glob(f"{name}.[0-9]*.safetensors"):
        old.unlink()
    for f in entry["files"]:
        shutil.copy2(src_dir / f, WEIGHTS_DIR / f)
    data["models"][name] = entry
    path.write_text(json.dumps(data, indent=1) + "\n")
    load_model.cache_clear()
    return entry


def record_kodak(name: str, results_file) -> dict:
    """Store a Kodak measurement of the shipped `name` (its `entrozip eval image` JSON, all
    24 images and qualities) in manifest.json as the model's `kodak` record, which picks
    the default model per quality (default.py). ValueError when the run measured other
    weights than the shipped ones."""
    from .default import kodak_record

    record = kodak_record(json.loads(Path(results_file).read_text()))
    path = WEIGHTS_DIR / "manifest.json"
    data = json.loads(path.read_text())
    entry = data["models"].get(name)
    if not entry:
        raise ValueError(f"no shipped weights of {name} to record a Kodak run for")
    if record["weights_id"] != entry["weights_id"]:
        raise ValueError(f"{results_file} measured {name} weights {record['weights_id']}; "
                         f"the shipped ones are {entry['weights_id']}")
    entry["kodak"] = {**record, "results": Path(results_file).as_posix()}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return entry["kodak"]


def _check_name(name: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown image model {name!r}; available: {', '.join(MODELS)}")


def initial_model(name: str) -> ImageModel:
    """The seeded initialisation of model `name` (the same on every run)."""
    _check_name(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return ImageModel(MODELS[name])


def exported_models(folder) -> list[str]:
    """The image models `folder` holds exported weights of (a NAME.json each), in MODELS order."""
    return [name for name in MODELS if (Path(folder) / f"{name}.json").is_file()]


def exported_entry(folder, name: str) -> dict:
    """The entry export_weights wrote for model `name` in `folder` (NAME.json)."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no exported {name} weights ({path.name} is missing)")
    return json.loads(path.read_text())


@lru_cache(maxsize=4)
def load_model(name: str, device: str = "cpu", weights_dir: str | None = None) -> tuple[ImageModel, str, dict]:
    """(model in eval mode with its tables built, weights_id, manifest entry or {}).

    weights_dir: a folder of exported weights (`entrozip train image --out`) instead of
    the shipped ones."""
    _check_name(name)
    folder = WEIGHTS_DIR if weights_dir is None else Path(weights_dir)
    entry = manifest().get(name, {}) if weights_dir is None else exported_entry(folder, name)
    model = initial_model(name)
    if entry:
        load_weights(model, [folder / f for f in entry["files"]])
    model.eval()
    model.update(force=not entry)
    wid = weights_id(model)
    if entry and entry.get("weights_id") not in (None, wid):
        raise FormatError(f"shipped weights of {name} hash to {wid}, the manifest says {entry['weights_id']}")
    return model.to(device), wid, entry
