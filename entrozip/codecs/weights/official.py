"""Reading official DFloat11 directories (dfloat11 0.5.x) with entrozip's own decoder.

Layout (as the official `compress_model` writes it): config.json carries
`dfloat11_config` = {version, threads_per_block, bytes_per_thread, pattern_dict};
every module whose name fully matches a pattern is a *unit* stored as buffers
`UNIT.luts`, `UNIT.encoded_exponent`, `UNIT.sign_mantissa`, `UNIT.output_positions`,
`UNIT.gaps`, `UNIT.split_positions`, in one model.safetensors or in per-unit files
beside the remaining weights. A unit holds `UNIT.weight` (Linear, Embedding: empty
attribute list) or the concatenation of `UNIT.ATTR.weight` for the pattern's
attributes, cut at split_positions. The files do not record weight shapes: they
come from the model config (transformers builds the model on the meta device).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...errors import FormatError
from . import floats
from .safetensors_io import SafetensorsFile, SafetensorsWriter

CONFIG_KEY = "dfloat11_config"
UNIT_PARTS = ("luts", "encoded_exponent", "sign_mantissa", "output_positions", "gaps", "split_positions")

try:
    from . import _df11
except ImportError:  # pragma: no cover - a source tree without `pip install`
    _df11 = None


def is_official(path) -> bool:
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return isinstance(json.loads(cfg.read_text()).get(CONFIG_KEY), dict)
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def _config(path: Path) -> tuple[dict, dict]:
    try:
        config = json.loads((path / "config.json").read_text())
        df11 = config[CONFIG_KEY]
        patterns = df11["pattern_dict"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise FormatError(f"{path}: config.json has no usable official DFloat11 {CONFIG_KEY}") from None
    if not isinstance(patterns, dict) or not all(isinstance(v, list) for v in patterns.values()):
        raise FormatError(f"{path}: {CONFIG_KEY}.pattern_dict must map patterns to attribute lists")
    return config, patterns


def weight_shapes(path: Path, config: dict) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the model `config` describes, from transformers on the meta device."""
    try:
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
    except ImportError:
        raise ImportError("reading official DFloat11 weights needs transformers (pip install transformers) "
                          "to know the weights' shapes") from None
    cfg = {k: v for k, v in config.items() if k != CONFIG_KEY}
    try:
        hf_config = AutoConfig.for_model(**cfg)
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{path}: transformers does not know this model config ({e})") from None
    for auto in (AutoModelForCausalLM, AutoModel):
        try:
            with torch.device("meta"):
                model = auto.from_config(hf_config)
            return {k: tuple(v.shape) for k, v in model.state_dict().items()}
        except ValueError:
            continue
    raise FormatError(f"{path}: transformers cannot build model type {cfg.get('model_type')!r}")


def decode_unit(parts: dict, path: str, unit: str) -> np.ndarray:
    """The unit's concatenated bf16 weights (as bytes) from its buffers."""
    if _df11 is None:
        raise ImportError("entrozip's DFloat11 decoder (entrozip.codecs.weights._df11) is not built: pip install -e .")
    luts = np.frombuffer(parts["luts"], np.uint8)
    if luts.size % 256:
        raise FormatError(f"{path}: {unit}.luts is not a table of 256-entry rows")
    sign_mantissa = parts["sign_mantissa"]
    n = len(sign_mantissa)
    try:
        exponents = _df11.decode_exponents(luts.reshape(-1, 256), parts["encoded_exponent"], n)
    except ValueError as e:
        raise FormatError(f"{path}: {unit}: {e}") from None
    out = np.empty(2 * n, np.uint8)
    floats.merge("BF16", exponents, sign_mantissa, out)
    return out


def copy_side_files(src: Path, dst: Path) -> None:
    """Copy every file of `src` but the weights, their shard index and config.json
    (written by the caller) into `dst`, for a directory whose weights become one
    model.safetensors."""
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_file() and p.suffix != ".safetensors" and not rel.name.endswith(".safetensors.index.json") \
                and rel.as_posix() != "config.json":
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst / rel)


class OfficialDirectory:
    """An official DFloat11 directory, read as a stream of original tensors."""

    def __init__(self, src):
        self.src = src = Path(src)
        self.config, patterns = _config(src)
        files = sorted(src.rglob("*.safetensors"))
        if not files:
            raise FormatError(f"{src}: no .safetensors files")
        self._opened = [SafetensorsFile(p) for p in files]
        try:
            self._index(patterns)
        except BaseException:
            self.close()
            raise

    def _index(self, patterns) -> None:
        src, where = self.src, {}  # tensor name -> (file, info)
        for f in self._opened:
            for t in f.tensors:
                if t.name in where:
                    raise FormatError(f"{src}: tensor {t.name!r} appears in two files")
                where[t.name] = (f, t)
        units = sorted(n[: -len(".encoded_exponent")] for n in where if n.endswith(".encoded_exponent"))
        unit_weights = {}
        for unit in units:
            missing = [p for p in UNIT_PARTS if f"{unit}.{p}" not in where]
            if missing:
                raise FormatError(f"{src}: unit {unit!r} lacks {missing}")
            matches = [attrs for pattern, attrs in patterns.items() if re.fullmatch(pattern, unit)]
            if len(matches) != 1:
                raise FormatError(f"{src}: unit {unit!r} matches {len(matches)} patterns of pattern_dict")
            unit_weights[unit] = [f"{unit}.{a}.weight" for a in matches[0]] or [f"{unit}.weight"]
        shapes = weight_shapes(src, self.config)
        stored = {n: ft for n, ft in where.items() if not any(n.startswith(u + ".") and n[len(u) + 1 :] in UNIT_PARTS
                                                            for u in units)}
        coded = {n: u for u, names in unit_weights.items() for n in names}
        order = [n for n in shapes if n in stored or n in coded]
        order += [n for n in stored if n not in shapes]  # buffers the model does not declare: kept as they are
        self.entries = [(n, stored[n][1].dtype, stored[n][1].shape) if n in stored else (n, "BF16", shapes[n])
                        for n in order]
        self._where, self._stored, self._coded, self._unit_weights, self._shapes = where, stored, coded, unit_weights, shapes

    def iter_tensors(self):
        """(name, dtype, shape, bytes) of every original tensor, in `entries` order;
        each unit is decoded once, when its first weight is reached."""
        decoded = {}
        for name, dtype, shape in self.entries:
            if name in self._stored:
                f, t = self._stored[name]
                yield name, dtype, shape, f.view(t)
                continue
            unit = self._coded[name]
            if unit not in decoded:
                decoded[unit] = self._decode_unit(unit)
            yield name, dtype, shape, decoded[unit].pop(name)

    def info(self) -> dict:
        """Sizes and bits per weight per unit, without decoding (the shape of dfloat11.info)."""
        tensors, values_total, bytes_total = [], 0, 0
        for unit, names in self._unit_weights.items():
            size = sum(self._where[f"{unit}.{p}"][1].nbytes for p in UNIT_PARTS)
            values = sum(int(np.prod(self._shapes[n])) for n in names)
            tensors.append({"file": Path(self._where[f"{unit}.luts"][0].path).name, "name": unit, "dtype": "BF16",
                            "values": values, "bytes": size, "bits_per_value": 8 * size / values,
                            "table": "official unit of " + ", ".join(names)})
            values_total += values
            bytes_total += size
        for name, (f, t) in self._stored.items():
            tensors.append({"file": Path(f.path).name, "name": name, "dtype": t.dtype, "values": t.numel,
                            "bytes": t.nbytes, "bits_per_value": 8 * t.nbytes / max(t.numel, 1), "table": "stored"})
        by_dtype = {}
        for t in tensors:
            row = by_dtype.setdefault(t["dtype"], {"values": 0, "bytes": 0})
            row["values"] += t["values"]
            row["bytes"] += t["bytes"]
        for row in by_dtype.values():
            row["bits_per_value"] = 8 * row["bytes"] / row["values"] if row["values"] else 0.0
        return {"path": str(self.src), "format": "official DFloat11",
                "original_tensor_bytes": 2 * values_total + sum(t.nbytes for _, t in self._stored.values()),
                "compressed_tensor_bytes": bytes_total + sum(t.nbytes for _, t in self._stored.values()),
                "by_dtype": by_dtype, "tensors": tensors}

    def _decode_unit(self, unit: str) -> dict:
        parts = {p: self._where[f"{unit}.{p}"][0].view(self._where[f"{unit}.{p}"][1]) for p in UNIT_PARTS}
        values = decode_unit(parts, str(self.src), unit)
        splits = np.frombuffer(parts["split_positions"], "<i8").tolist()
        names = self._unit_weights[unit]
        sizes = [int(np.prod(self._shapes[n])) for n in names]
        if len(splits) != len(names) - 1 or splits != np.cumsum(sizes)[:-1].tolist() or sum(sizes) * 2 != len(values):
            raise FormatError(f"{self.src}: unit {unit!r} does not hold the weights {names} of this model")
        offsets = np.concatenate([[0], np.cumsum(sizes)]) * 2
        return {n: values[offsets[i] : offsets[i + 1]] for i, n in enumerate(names)}

    def close(self) -> None:
        for f in self._opened:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def decompress(src, dst, threads=None, progress: bool = True, overwrite: bool = False) -> None:
    """An official DFloat11 directory -> a standard bf16 safetensors directory
    (one model.safetensors, config.json without dfloat11_config, other files copied)."""
    from .dfloat11 import _finish, _partial_dir

    src, dst = Path(src), Path(dst)
    with OfficialDirectory(src) as od:
        tmp = _partial_dir(dst, overwrite)
        writer = None
        try:
            writer = SafetensorsWriter(tmp / "model.safetensors", od.entries, {"format": "pt"})
            total = sum(int(np.prod(shape)) * 2 for _, dtype, shape in od.entries if dtype == "BF16")
            with tqdm(total=total, unit="B", unit_scale=True, desc="decompress", disable=not progress) as bar:
                for _, dtype, _, data in od.iter_tensors():
                    writer.write(data)
                    if dtype == "BF16":
                        bar.update(len(data))
            writer.close()
            writer = None
            copy_side_files(src, tmp)
            plain = {k: v for k, v in od.config.items() if k != CONFIG_KEY}
            (tmp / "config.json").write_text(json.dumps(plain, indent=2) + "\n")
            _finish(tmp, dst)
        except BaseException:
            if writer is not None:
                writer.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
