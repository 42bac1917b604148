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
from ...rans import stream as rans_stream
from . import dfloat11, official
from .plan import aligned
from .safetensors_io import DTYPE_BYTES

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
        yield from iter_file_tensors(path / rel, threads)


def iter_file_tensors(path, threads=None):
    """(name, safetensors dtype, shape, bytes) of every original tensor of one compressed
    file (dfloat11.CompressedFile), in the source file's order, each checked by its SHA-256."""
    with dfloat11.CompressedFile(path) as cf:
        for name in cf.order:
            rec = cf.records[name]
            yield name, rec["dtype"], tuple(rec["shape"]), cf.tensor_bytes(name, threads)
            cf.release(name)  # the consumer has copied it by now


def to_torch(path, name, st_dtype, shape, data):
    """A torch tensor (owning its memory) of one tensor of iter_tensors / iter_file_tensors."""
    import torch

    if st_dtype not in TORCH_DTYPES:
        raise FormatError(f"{path}: tensor {name!r} has dtype {st_dtype}, which torch cannot hold")
    # decoded tensors are fresh arrays already; stored ones are views of a file about to close
    array = data if isinstance(data, np.ndarray) and data.flags.owndata else np.frombuffer(data, np.uint8).copy()
    return torch.from_numpy(array).view(getattr(torch, TORCH_DTYPES[st_dtype])).reshape(shape)


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


def _main_float_dtype(path):
    """The floating dtype holding most values in the checkpoint (the model is built in it)."""
    import torch

    counts = {}
    if not (path / dfloat11.MANIFEST).is_file() and official.is_official(path):
        return torch.bfloat16  # the official format holds bf16 weights
    for f in dfloat11.read_manifest(path)["files"].values():
        for dtype, row in f["by_dtype"].items():
            if dtype in ("BF16", "F16", "F32", "F64"):
                counts[dtype] = counts.get(dtype, 0) + row[0]
    return getattr(torch, TORCH_DTYPES[max(counts, key=counts.get)]) if counts else torch.float32


def from_pretrained(path, device: str = "cpu", auto_class=None, threads=None, keep_compressed: bool = False,
                    compressed_in: str = "device", **kwargs):
    """A transformers model with the weights of the compressed directory `path`.

    The model is built from its config without initialising weights, then every
    tensor is decoded and copied into place one at a time, so host memory peaks at
    about the model plus one tensor. auto_class: the transformers Auto class
    (default: AutoModelForCausalLM when the config names a *ForCausalLM
    architecture, else AutoModel); extra keyword arguments go to `from_config`.
    Weights keep their checkpoint dtype exactly.

    keep_compressed: Linear and Embedding weights stay compressed in memory and each
    block (a numbered layer, or the module itself) decodes them into one shared
    scratch buffer just before it runs (forward pre-hooks): memory holds the
    compressed model plus the largest block. entrozip's format only, for inference.
    On a CUDA device the blocks decode on the GPU (one fused kernel per weight, one
    status check per block); compressed_in="pinned" keeps the compressed weights in
    pinned host memory instead of GPU memory, copied in per block ("device": on the GPU).
    An official DFloat11 directory is converted to entrozip's format first (in a
    temporary directory, removed once loaded: the coded weights are then in memory)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path))
    if auto_class is None:
        causal = any(a.endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))
        auto_class = AutoModelForCausalLM if causal else AutoModel
    dtype = _main_float_dtype(path)
    with _no_init():
        try:
            model = auto_class.from_config(config, dtype=dtype, **kwargs)
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = auto_class.from_config(config, torch_dtype=dtype, **kwargs)
    _use_generation_config(model, path)
    if keep_compressed:
        if compressed_in not in ("device", "pinned"):
            raise ValueError(f"compressed_in must be 'device' or 'pinned', got {compressed_in!r}")
        if (path / dfloat11.MANIFEST).is_file():
            return _compressed_model(model, path, threads, device, compressed_in).to(device).eval()
        if not official.is_official(path):
            raise FormatError(f"{path} is neither an entrozip nor an official DFloat11 weights directory")
        import tempfile

        with tempfile.TemporaryDirectory(prefix="entrozip-df11-") as tmp:
            dfloat11.convert(path, Path(tmp) / "df11", threads=threads, progress=False)
            model = _compressed_model(model, Path(tmp) / "df11", threads, device, compressed_in)
        return model.to(device).eval()
    loader = _Loader(model, path)
    with torch.no_grad():
        for name, st_dtype, shape, data in iter_tensors(path, threads):
            loader.assign(name, st_dtype, shape, data)
    model.tie_weights()
    loader.check()
    return model.to(device).eval()


def _use_generation_config(model, path: Path) -> None:
    """The checkpoint's generation defaults (eos ids, sampling settings), as from_pretrained
    gives them: from_config alone derives them from config.json and drops the file's."""
    if (path / "generation_config.json").is_file() and getattr(model, "can_generate", lambda: False)():
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(str(path))


class _Loader:
    """Copies checkpoint tensors into a model built without initialised weights."""

    def __init__(self, model, path):
        self.model, self.path = model, path
        self.targets = model.state_dict(keep_vars=True)
        self.buffers = {k for k, _ in model.named_buffers()}
        self.ignore = [re.compile(p) for p in (getattr(model, "_keys_to_ignore_on_load_unexpected", None) or [])]
        self.loaded, self.unexpected = set(), []

    def assign(self, name, st_dtype, shape, data) -> None:
        import torch

        if name not in self.targets:
            # old checkpoints carry buffers newer models recompute (position_ids): skipped, as transformers does
            if name not in self.buffers and not any(p.search(name) for p in self.ignore):
                self.unexpected.append(name)
            return
        tensor = to_torch(self.path, name, st_dtype, shape, data)
        target = self.targets[name]
        if target.shape != tensor.shape:
            raise FormatError(f"{self.path}: tensor {name!r} has shape {tuple(tensor.shape)}, the model expects "
                              f"{tuple(target.shape)}")
        if target.dtype == tensor.dtype:
            target.copy_(tensor)
        else:  # keep the checkpoint's dtype bit for bit
            self.model.load_state_dict({name: tensor}, strict=False, assign=True)
        self.loaded.add(name)

    def check(self) -> None:
        if self.unexpected:
            raise FormatError(f"{self.path}: the checkpoint holds tensors the model does not have: "
                              f"{self.unexpected[:5]}")
        missing = [k for k in self.model.state_dict() if k not in self.loaded and k not in self.buffers
                   and not _is_tied(self.model, k)]
        if missing:
            raise FormatError(f"{self.path}: the checkpoint lacks weights the model needs: {missing[:5]}")


def _is_tied(model, key: str) -> bool:
    """Whether parameter `key` shares its storage with another (tied embeddings)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    if key not in params:
        return False
    ptr = params[key].data_ptr()
    return sum(p.data_ptr() == ptr for p in params.values()) > 1


# ------------------------------------------------------- compressed in memory

_BLOCK = re.compile(r"^(.*\.\d+)(\.|$)")


def _block_of(module_path: str) -> str:
    """The module a weight is decoded with: its numbered layer ("model.layers.3"), or itself."""
    m = _BLOCK.match(module_path)
    return m.group(1) if m else module_path


def _compressed_model(model, path: Path, threads, device="cpu", compressed_in="device"):
    import torch

    from .embedding import CompressedEmbedding

    device = torch.device(device)

    model.tie_weights()  # tied weights share one parameter: every holder then decodes it itself
    modules = dict(model.named_modules())
    owners = {}  # id(parameter) -> module paths holding it as .weight (tied weights have several)
    for mpath, mod in modules.items():
        w = mod._parameters.get("weight") if isinstance(mod, (torch.nn.Linear, torch.nn.Embedding)) else None
        if w is not None:
            owners.setdefault(id(w), []).append(mpath)
    loader = _Loader(model, path)
    coded, blocks = {}, {}
    with torch.no_grad():
        for rel in dfloat11.read_manifest(path)["files"]:
            with dfloat11.CompressedFile(path / rel) as cf:
                for name in cf.order:
                    rec = cf.records[name]
                    target = loader.targets.get(name)
                    paths = owners.get(id(target), []) if target is not None and name.endswith(".weight") else []
                    if rec["table"] is not None and paths:
                        table, stream, raw = cf.coded_parts(name)  # copied: the file closes after loading
                        coded[name] = (rec["dtype"], tuple(rec["shape"]), table, bytes(stream), bytes(raw))
                        for mpath in paths:
                            blocks.setdefault(_block_of(mpath), []).append((mpath, name))
                        loader.loaded.add(name)
                    else:
                        loader.assign(name, rec["dtype"], tuple(rec["shape"]), cf.tensor_bytes(name, threads))
                    cf.release(name)
    loader.check()
    # an embedding whose table is coded (and not renormalised in place: max_norm) looks its
    # rows up from the compressed table: it leaves the blocks (a tied output layer keeps it)
    lookups = {}
    for block, items in list(blocks.items()):
        keep = []
        for mpath, name in items:
            mod = modules[mpath]
            if isinstance(mod, torch.nn.Embedding) and mod.max_norm is None and len(coded[name][1]) == 2:
                lookups[mpath] = name
            else:
                keep.append((mpath, name))
        if keep:
            blocks[block] = keep
        else:
            del blocks[block]
    for mpath, _ in (x for b in blocks.values() for x in b):  # placeholders: never touched, now released
        modules[mpath]._parameters["weight"] = None

    def nbytes(name):
        st_dtype, shape = coded[name][:2]
        return int(np.prod(shape)) * DTYPE_BYTES[st_dtype]

    largest = max((sum(aligned(nbytes(n)) for _, n in items) for items in blocks.values()), default=0)
    for name in lookups.values():  # room for the chunks of any one row
        st_dtype, shape, table, stream, _ = coded[name]
        lay = rans_stream.parse(stream, max_symbols=int(np.prod(shape)))
        largest = max(largest, CompressedEmbedding.scratch_values(int(shape[1]), lay.chunk_symbols, lay.n)
                      * DTYPE_BYTES[st_dtype])
    pinned = device.type == "cuda" and compressed_in == "pinned"
    scratch = (torch.empty(largest, dtype=torch.uint8, device=device) if device.type == "cuda"
               else np.empty(largest, np.uint8))  # blocks and lookups run one after another
    if device.type == "cuda":
        hook_for = _gpu_block_decoder(coded, blocks, modules, scratch, pinned)
    else:
        hook_for = _cpu_block_decoder(coded, modules, threads, scratch, nbytes)
    for block, items in blocks.items():
        modules[block].register_forward_pre_hook(hook_for(block, items))
    for mpath, name in lookups.items():
        parent, _, child = mpath.rpartition(".")
        st_dtype, shape, table, stream, raw = coded[name]
        emb = CompressedEmbedding((st_dtype, shape, table, stream, raw), scratch, modules[mpath], threads, pinned)
        emb.verify()
        setattr(modules[parent] if parent else model, child, emb)
    model._entrozip_compressed = {"weights": len(coded), "blocks": len(blocks), "lookups": len(lookups),
                                  "compressed_bytes": sum(len(c[3]) + len(c[4]) for c in coded.values()),
                                  "scratch_bytes": largest, "device": str(device),
                                  "compressed_in": compressed_in if device.type == "cuda" else "host"}
    return model


def _cpu_block_decoder(coded, modules, threads, scratch, nbytes):
    """Hooks that decode a block's weights on the CPU into the shared numpy scratch buffer."""
    import torch

    def hook_for(block, items):
        def decode_block(module, args):
            offset = 0
            for mpath, name in items:
                st_dtype, shape, table, stream, raw = coded[name]
                view = scratch[offset : offset + nbytes(name)]
                dfloat11.decode_tensor(st_dtype, int(np.prod(shape)), table, stream, raw, threads, out=view)
                weight = torch.from_numpy(view).view(getattr(torch, TORCH_DTYPES[st_dtype])).reshape(shape)
                modules[mpath]._parameters["weight"] = torch.nn.Parameter(weight, requires_grad=False)
                offset += aligned(nbytes(name))
        return decode_block

    return hook_for


def _gpu_block_decoder(coded, blocks, modules, scratch, pinned):
    """Hooks that decode a block's weights on the GPU, all of them in one launch
    (codecs/weights/gpu.py CodedBlock), into the shared device scratch buffer; the
    compressed weights wait on the GPU or in pinned host memory (then a staging buffer
    takes each block's bytes in). Each block decodes once here and is checked (a wait):
    the hooks then only launch, never wait, because the same bytes decode the same way.
    The modules' weights are views of the scratch, set once: a block's hook refills
    them just before the block runs."""
    import torch

    from ...rans import cuda as rcuda
    from .gpu import CodedBlock

    held = {block: CodedBlock([(name, *coded[name]) for _, name in items], scratch.device, pinned)
            for block, items in blocks.items()}
    need = max((b.staging_bytes() for b in held.values()), default=0)
    staging = torch.empty(need, dtype=torch.uint8, device=scratch.device) if pinned else None
    for block, items in blocks.items():
        for status in held[block].decode_into(scratch, staging):
            rcuda.check_status(status)
    for block, items in blocks.items():
        views = held[block].views(scratch)
        for mpath, name in items:
            modules[mpath]._parameters["weight"] = torch.nn.Parameter(views[name], requires_grad=False)

    def hook_for(block, items):
        coded_block = held[block]

        def decode_block(module, args):
            coded_block.decode_into(scratch, staging)
        return decode_block

    return hook_for
