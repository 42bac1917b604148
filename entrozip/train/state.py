"""A training run's full state, so the next run continues instead of re-warming.

Exported weights are what ships: bf16, no optimizer. Resuming from them rounds every
parameter to bf16 and starts Adam's moments from zero, and the first minutes of the new
run are spent re-learning both. The training state keeps what they drop:

    NAME.state.safetensors   model/<param>              float32 parameters (and buffers)
                             <optimizer>/<i>/<key>      each optimizer's per-parameter state
                                                        (Adam: step, exp_avg, exp_avg_sq)
                             metadata["entrozip"]       JSON: model name, parameter names in
                                                        optimizer order, caller's fields

safetensors only (never a pickle); written to a temporary name and renamed, so a run
killed mid-write leaves the previous state whole. Size: ~3x the float32 parameters.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import FormatError

FORMAT = "entrozip-training-state-v1"


def state_path(folder, model_name: str) -> Path:
    return Path(folder) / f"{model_name}.state.safetensors"


def _optimized(model: torch.nn.Module, opt: torch.optim.Optimizer) -> tuple[list, list]:
    """(the optimizer's parameters in its order, their names in `model`)."""
    names = {id(p): n for n, p in model.named_parameters()}
    params = [p for group in opt.param_groups for p in group["params"]]
    return params, [names[id(p)] for p in params]


def save_training_state(path, model: torch.nn.Module, optimizers: dict, meta: dict) -> None:
    """Write `model`'s float state and each optimizer's (name -> torch.optim.Optimizer)."""
    from safetensors.torch import save_file

    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    order = {}
    for opt_name, opt in optimizers.items():
        params, order[opt_name] = _optimized(model, opt)
        for i, p in enumerate(params):
            for key, value in opt.state.get(p, {}).items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{opt_name}/{i}/{key}"] = t.detach().cpu().reshape(t.shape or (1,)).contiguous()
    header = {"format": FORMAT, "params": order, **meta}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"entrozip": json.dumps(header)})
    os.replace(tmp, path)


def load_training_state(path, model: torch.nn.Module, optimizers: dict, model_name: str | None = None) -> dict:
    """Load a save_training_state file into `model` and `optimizers` (built as when it
    was saved); returns its metadata. FormatError when it belongs to another model
    (another `model_name`, when given, or other tensors)."""
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        header = json.loads((f.metadata() or {}).get("entrozip", "{}"))
        if header.get("format") != FORMAT:
            raise FormatError(f"{path}: not an entrozip training state (format {header.get('format')!r})")
        if model_name is not None and header.get("model") != model_name:
            raise FormatError(f"{path} is a training state of {header.get('model')!r}, not {model_name!r}")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    # parameters must match in shape; buffers may not (a run that ended with update() saved
    # its CDF tables, which a fresh model holds empty): load_state_dict resizes those it can
    params = dict(model.named_parameters())
    mismatch = FormatError(f"{path}: its tensors do not match the model {header.get('model')!r} it is loaded into")
    if set(state) != set(model.state_dict()) or any(state[k].shape != p.shape for k, p in params.items()):
        raise mismatch
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise mismatch from e
    per_param = {}  # (optimizer, index) -> {key: tensor}, from the "<optimizer>/<i>/<key>" names
    for k, v in tensors.items():
        if not k.startswith("model/"):
            parts = k.split("/", 2)
            if len(parts) != 3 or not parts[1].isdigit():
                raise FormatError(f"{path}: tensor {k!r} is neither model/<key> nor <optimizer>/<i>/<key>")
            per_param.setdefault((parts[0], int(parts[1])), {})[parts[2]] = v
    for opt_name, opt in optimizers.items():
        params, names = _optimized(model, opt)
        if header["params"].get(opt_name) != names:
            raise FormatError(f"{path}: optimizer {opt_name!r} was saved over other parameters")
        for i, p in enumerate(params):
            entry = per_param.get((opt_name, i))
            if entry:  # Adam keeps `step` as a 0-d float32 tensor on the CPU, moments beside p
                opt.state[p] = {k: (v.reshape(()) if k == "step" else v.to(p.device)) for k, v in entry.items()}
    return header
