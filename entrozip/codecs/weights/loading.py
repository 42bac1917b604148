"""Loading compressed weight directories into transformers models (CPU path).

`from_pretrained(DIR)` builds the model from DIR/config.json without initialising
its weights, decodes every tensor (entrozip's format, or an official DFloat11
directory) and assigns it, bit for bit, in the checkpoint's dtype. The GPU path
that keeps weights compressed and decodes each block before it runs needs the
CUDA decoder (see the GPU weights issue); on the CPU everything is decoded once.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np

from ...errors import FormatError
from . import dfloat11, official

TORCH_DTYPES = {
    "BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
    "BOOL": "bool",
}


def iter_tensors(path, threads=None):
    """(name, safetensors dtype, shape, bytes) of every original tensor of a compressed
    directory, entrozip's or official, decoded one at a time."""
    path = Path(path)
    if not (path / dfloat11.MANIFEST).is_file() and official.is_official(path):
        with official.OfficialDirectory(path) as od:
            yield from od.iter_tensors()
        return
    manifest = dfloat11.read_manifest(path)
    for rel in manifest["files"]:
        with dfloat11.CompressedFile(path / rel) as cf:
            for name in cf.order:
                rec = cf.records[name]
                yield name, rec["dtype"], tuple(rec["shape"]), cf.tensor_bytes(name, threads)


def _no_init():
    """transformers' context that skips weight initialisation (its module moved in 5.x)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


def from_pretrained(path, device: str = "cpu", auto_class=None, threads=None, **kwargs):
    """A transformers model with the weights of the compressed directory `path`.

    auto_class: the transformers Auto class to build with (default: AutoModelForCausalLM
    when the config names a *ForCausalLM architecture, else AutoModel). Extra keyword
    arguments go to `from_config`. Weights keep their checkpoint dtype exactly."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path))
    if auto_class is None:
        causal = any(a.endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))
        auto_class = AutoModelForCausalLM if causal else AutoModel
    state, float_dtypes = {}, set()
    for name, dtype, shape, data in iter_tensors(path, threads):
        if dtype not in TORCH_DTYPES:
            raise FormatError(f"{path}: tensor {name!r} has dtype {dtype}, which torch cannot hold")
        array = np.frombuffer(data, np.uint8).copy()  # owns its memory: the files close after decoding
        state[name] = torch.from_numpy(array).view(getattr(torch, TORCH_DTYPES[dtype])).reshape(shape)
        if dtype.startswith("F") or dtype == "BF16":
            float_dtypes.add(state[name].dtype)
    main_dtype = max(float_dtypes, key=lambda d: sum(t.numel() for t in state.values() if t.dtype == d)) \
        if float_dtypes else torch.float32
    with _no_init():
        try:
            model = auto_class.from_config(config, dtype=main_dtype, **kwargs)
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = auto_class.from_config(config, torch_dtype=main_dtype, **kwargs)
    result = model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    left = [k for k, v in model.state_dict().items() if v.device.type == "meta" or k in result.missing_keys
            and not _is_tied(model, k)]
    if left:
        raise FormatError(f"{path}: the checkpoint lacks weights the model needs: {left[:5]}")
    # old checkpoints carry buffers newer models recompute (position_ids): ignore those, as transformers does
    buffers = {k for k, _ in model.named_buffers()}
    ignore = [re.compile(p) for p in (getattr(model, "_keys_to_ignore_on_load_unexpected", None) or [])]
    unexpected = [k for k in result.unexpected_keys if k not in buffers and not any(p.search(k) for p in ignore)]
    if unexpected:
        raise FormatError(f"{path}: the checkpoint holds tensors the model does not have: {unexpected[:5]}")
    return model.to(device).eval()


def _is_tied(model, key: str) -> bool:
    """Whether parameter `key` shares its storage with another (tied embeddings)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    if key not in params:
        return False
    ptr = params[key].data_ptr()
    return sum(p.data_ptr() == ptr for p in params.values()) > 1
