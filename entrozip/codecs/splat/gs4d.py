"""Post-training 4DGS compression after Light4GS: Scene4D -> (header, sections) and back.

Stages (every choice a field of the preset, recorded in the header):

1. spatio-temporal significance pruning: a Gaussian's significance is the largest
   3DGS significance (gs3d.significance: alpha x linear size) it reaches at TIMES
   sampled instants of the deformed scene; the `prune` fraction least significant go.
   (Light4GS scores by rendered hits over the training views and times; this codec
   has no cameras, as gs3d's own pruning.)
2. canonical Gaussians: the gs3d codec at the preset's quality (its pruning off);
   sections "canonical.*".
3. the field's steps: each plane is quantised with the step rel x its RMS over the
   footprint (features multiply across the six planes, so a relative step keeps every
   factor's relative error alike), each MLP tensor with rel / MLP_FINER x its RMS. The
   encoder takes the coarsest rel in REL_STEPS whose quantised field, evaluated at the
   decoded centres, errs by at most `field_error` x what the canonical coding already
   errs: RMS of dx against the centres' own RMS error, of ds and dq against the scale
   and rotation grids' (step / sqrt 12). So the field never costs more bits than the
   canonical's own precision warrants, whatever the scene's motion (a scene that moves
   far needs finer planes than one that barely moves: measured on both bench scenes).
4. planes: only the cells some decoded canonical centre reads (the footprint, a
   function of what the decoder already has) are coded, losslessly, by planes.py
   (coarse-to-fine intra prediction, fitted contexts); sections "planes.centre",
   "planes.tables", "planes.NN".
5. the MLP (tensors in the order of DeformationField.mlp_arrays), section "mlp": each
   tensor's integers coded with one fitted table per tensor (semistatic).

The field is evaluated at the decoded canonical centres, so the encoder takes its
footprint from them (closed loop).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ...errors import FormatError
from ...entropy_models import semistatic as ss
from . import gs3d, planes
from .cloud import GaussianCloud
from .deform import PAIRS, DeformationField, FieldConfig, is_time_plane, plane_name
from .scene4d import Scene4D, check_scene

TIMES = 8  # instants at which significance is measured
FOOTPRINT_SLACK = 1e-3  # cells: a lookup within this of a cell edge marks both neighbours


@dataclass(frozen=True)
class Preset4D:
    canonical: int      # gs3d quality of the canonical Gaussians (their pruning replaced by stage 1)
    prune: float        # fraction of Gaussians dropped by spatio-temporal significance
    field_error: float  # the field's error budget, a fraction of the canonical coding's own (stage 3)


PRESETS = {
    # field_error 8, from a sweep of 0.5 / 1 / 2 / 4 / 8 / 16 on the bench scenes (BD-rate, q1-q6):
    # fruit -35 % against 0.5 and still falling (-5 % more at 16); guitar -14 %, best at 4-8 (BENCHMARKS.md)
    1: Preset4D(1, 0.30, 8.0),
    2: Preset4D(2, 0.20, 8.0),
    3: Preset4D(3, 0.10, 8.0),
    4: Preset4D(4, 0.05, 8.0),
    5: Preset4D(5, 0.02, 8.0),
    6: Preset4D(6, 0.00, 8.0),
}
REL_STEPS = tuple(2.0 ** -k for k in range(2, 11))  # 1/4 .. 1/1024 of a tensor's RMS, coarsest first
MLP_FINER = 4  # MLP steps are the planes' / 4: 2 bits a weight buy more than 2 bits a plane cell
# (guitar, canonical q6: MLP 1/32 -> 1/256 +2.6 dB for +5.6 KiB; planes 1/48 -> 1/256 +3.0 dB for +52 KiB)
ERROR_SAMPLE = 20000  # Gaussians (every k-th) and
ERROR_TIMES = 4       # instants at which the field's error is measured
DEFAULT_QUALITY = 3
CANONICAL_PREFIX = "canonical."


def significance(scene: Scene4D, times: int = TIMES) -> np.ndarray:
    """N: each Gaussian's largest gs3d significance over `times` instants in [0, 1]."""
    return np.max([gs3d.significance(scene.at(t)) for t in np.linspace(0, 1, times)], axis=0)


def prune(scene: Scene4D, fraction: float) -> np.ndarray:
    """Sorted indices of the Gaussians kept."""
    n = len(scene)
    drop = int(round(fraction * n))
    if drop == 0:
        return np.arange(n)
    order = np.argsort(significance(scene), kind="stable")
    return np.sort(order[drop:])


def footprint(config: FieldConfig, bounds: np.ndarray, means: np.ndarray) -> list[np.ndarray]:
    """Per plane (scale-major, PAIRS order) an H x W bool mask of the cells a lookup at
    `means` (at any time) may read; float64 with a slack, so float32 lookups stay inside."""
    lo, hi = bounds[0].astype(np.float64), bounds[1].astype(np.float64)
    u = (means.astype(np.float64) - lo) / (hi - lo) * 2 - 1  # [-1, 1] inside the bounds
    out = []
    for s, p in config.plane_keys():
        a, b = PAIRS[p]
        _, h, w = config.plane_shape(s, p)
        mask = np.zeros((h, w), bool)
        cols = _cells(u[:, a], w)
        if is_time_plane(p):  # every row (time) of a column some centre reads
            for c, ok in cols:
                mask[:, np.unique(c[ok])] = True
        else:
            for r, ok_r in _cells(u[:, b], h):
                for c, ok_c in cols:
                    ok = ok_r & ok_c
                    mask[r[ok], c[ok]] = True
        out.append(mask)
    return out


def _cells(u: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(cell index, valid)] x 3 along one axis (align_corners: u = -1 -> 0, u = 1 -> size - 1):
    floor and floor + 1 of the position, for both ends of its slack; valid drops what
    lies outside the plane (grid_sample reads zeros there)."""
    pix = (u + 1) / 2 * (size - 1)
    first = np.floor(pix - FOOTPRINT_SLACK).astype(np.int64)
    last = np.floor(pix + FOOTPRINT_SLACK).astype(np.int64) + 1
    out = []
    for k in range(3):  # last - first <= 2
        c = first + k
        ok = (c <= last) & (c >= 0) & (c < size)
        out.append((np.where(ok, c, 0), ok))
    return out


def _steps(values: list[np.ndarray], masks: list[np.ndarray], rel: float) -> list[float]:
    out = []
    for v, m in zip(values, masks):
        x = v[:, m].astype(np.float64)
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        out.append(float(np.float32(rel * rms if rms > 0 else rel)))
    return out


def _mlp_steps(tensors: dict, rel: float) -> list[float]:
    return [float(np.float32(rel * (float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) or 1.0)))
            for a in tensors.values()]


def _quantised(keys, values, masks, plane_steps, tensors, mlp_steps) -> dict:
    """The field's arrays as the decoder will rebuild them (planes in `keys`' order)."""
    out = {plane_name(*key): np.where(m, np.round(v / st) * st, 0).astype(np.float32)
           for key, v, m, st in zip(keys, values, masks, plane_steps)}
    for (name, a), st in zip(tensors.items(), mlp_steps):
        out[name] = (np.round(a / st) * st).astype(np.float32)
    return out


def field_errors(field: DeformationField, other: DeformationField, means: np.ndarray) -> np.ndarray:
    """RMS per coordinate of (dx, ds, dq) between two fields at `means` (sampled) and ERROR_TIMES instants."""
    x = torch.from_numpy(np.ascontiguousarray(means[::max(1, -(-len(means) // ERROR_SAMPLE))]))
    sq = np.zeros(3)
    with torch.no_grad():
        for t in np.linspace(0, 1, ERROR_TIMES):
            a, b = field(x, float(t)), other(x, float(t))
            sq += [float((a[k] - b[k]).double().pow(2).mean()) for k in ("dx", "ds", "dq")]
    return np.sqrt(sq / ERROR_TIMES)


def choose_steps(field: DeformationField, values, masks, decoded: GaussianCloud, source: GaussianCloud,
                 canonical: gs3d.Preset, budget: float):
    """(rel, plane steps, MLP steps, field errors, allowed errors): stage 3's search."""
    pos = float(np.sqrt(np.mean((decoded.means.astype(np.float64) - source.means) ** 2)))
    allowed = budget * np.array([pos, canonical.scale_step / np.sqrt(12), canonical.rotation_step / np.sqrt(12)])
    tensors = field.mlp_arrays()
    approx = DeformationField(field.config, field.bounds.numpy())  # reloaded for each candidate
    for rel in REL_STEPS:
        plane_steps, mlp_steps = _steps(values, masks, rel), _mlp_steps(tensors, rel / MLP_FINER)
        approx.load_arrays(_quantised(field.config.plane_keys(), values, masks, plane_steps, tensors, mlp_steps))
        err = field_errors(field, approx, decoded.means)
        if (err <= allowed).all():
            break
    return rel, plane_steps, mlp_steps, err, allowed


def encode(scene: Scene4D, preset: Preset4D, seed: int = 0, threads=None):
    """(header, [(section, bytes)], kept: input indices of the decoded Gaussians in order)."""
    check_scene(scene)
    kept = prune(scene, preset.prune)
    base = replace(gs3d.PRESETS[preset.canonical], prune=0.0)
    head3, sections3, order = gs3d.encode(scene.canonical.take(kept), base, seed=seed, threads=threads)
    kept = kept[order]
    decoded = gs3d.decode(head3, dict(sections3), threads=threads)  # the centres the decoder will have

    field = scene.field
    config, bounds = field.config, field.bounds.numpy()
    masks = footprint(config, bounds, decoded.means)
    values = [field.plane(s, p).detach().numpy() for s, p in config.plane_keys()]
    rel, steps, mlp_steps, err, allowed = choose_steps(field, values, masks, decoded, scene.canonical.take(kept),
                                                       base, preset.field_error)
    ints = [np.where(m, np.round(v / st), 0).astype(np.int64) for v, m, st in zip(values, masks, steps)]
    streams = planes.encode(ints, masks, [is_time_plane(p) for _, p in config.plane_keys()], threads=threads)

    mlp_bytes = encode_mlp(field.mlp_arrays(), mlp_steps, threads)
    sections = [(CANONICAL_PREFIX + name, data) for name, data in sections3]
    sections += [("planes.centre", streams[0]), ("planes.tables", streams[1])]
    sections += [(f"planes.{k:02d}", s) for k, s in enumerate(streams[2:])]
    sections.append(("mlp", mlp_bytes))
    header = {"canonical": head3, "field": field.metadata(), "plane_steps": steps, "mlp_steps": mlp_steps,
              "plane_footprint_cells": int(sum(m.sum() for m in masks)), "preset4d": asdict(preset),
              "field_choice": {"rel_step": rel, "errors": err.tolist(), "allowed": allowed.tolist()}}
    return header, sections, kept


def encode_mlp(tensors: dict, steps: list[float], threads=None) -> bytes:
    """The "mlp" section: the MLP's tensors, in their order, on grids of `steps`."""
    ints = [np.round(a / st).astype(np.int64).ravel() for a, st in zip(tensors.values(), steps)]
    ctx = np.concatenate([np.full(len(q), k) for k, q in enumerate(ints)])
    return ss.encode_ints(np.concatenate(ints), ctx, len(ints), threads=threads)


def decode_mlp(raw, template: dict, steps, threads=None) -> dict:
    """The MLP's tensors (float32, shapes of `template`) from its section."""
    sizes = [a.size for a in template.values()]
    try:
        steps = np.array([float(v) for v in steps], np.float64)
    except (TypeError, ValueError):
        raise FormatError("splat4d header: invalid MLP steps") from None
    if steps.shape != (len(sizes),) or not (np.isfinite(steps).all() and (steps > 0).all()):
        raise FormatError("splat4d header: invalid MLP steps")
    ctx = np.concatenate([np.full(n, k) for k, n in enumerate(sizes)])
    ints = ss.decode_ints(raw, int(sum(sizes)), ctx, len(sizes), threads=threads)
    flat = (ints * steps[ctx]).astype(np.float32)
    if not np.isfinite(flat).all():
        raise FormatError("splat4d mlp section decodes to non-finite weights")
    out, at = {}, 0
    for (name, a), n in zip(template.items(), sizes):
        out[name] = flat[at:at + n].reshape(a.shape)
        at += n
    return out


def _field_of(header):
    try:
        meta = header["field"]
        config = FieldConfig.from_json(meta["config"])
        bounds = np.array(meta["bounds"], np.float32)
        steps = [float(v) for v in header["plane_steps"]]
    except (KeyError, TypeError, ValueError):
        raise FormatError("splat4d header: invalid deformation field") from None
    if bounds.shape != (2, 3) or not np.isfinite(bounds).all() or (bounds[1] <= bounds[0]).any():
        raise FormatError("splat4d header: invalid scene bounds")
    if len(steps) != len(config.plane_keys()) or not all(np.isfinite(v) and v > 0 for v in steps):
        raise FormatError("splat4d header: invalid plane steps")
    return config, bounds, steps


def decode(header: dict, sections: dict, threads=None) -> Scene4D:
    config, bounds, steps = _field_of(header)
    canonical = {k[len(CANONICAL_PREFIX):]: v for k, v in sections.items() if k.startswith(CANONICAL_PREFIX)}
    if not isinstance(header.get("canonical"), dict):
        raise FormatError("splat4d header has no canonical scene")
    cloud: GaussianCloud = gs3d.decode(header["canonical"], canonical, threads=threads)
    masks = footprint(config, bounds, cloud.means)
    keys = config.plane_keys()
    shapes = [config.plane_shape(s, p) for s, p in keys]
    n_pass = len(planes.passes(planes.top_stride(shapes)))
    names = ["planes.centre", "planes.tables"] + [f"planes.{k:02d}" for k in range(n_pass)]
    missing = [n for n in names + ["mlp"] if n not in sections]
    if missing:
        raise FormatError(f"splat4d file lacks sections {', '.join(missing[:3])}")
    ints = planes.decode([sections[n] for n in names], shapes, masks, [is_time_plane(p) for _, p in keys],
                         threads=threads)
    arrays = {plane_name(*key): (q * st).astype(np.float32) for key, q, st in zip(keys, ints, steps)}
    field = DeformationField(config, bounds)  # its MLP's names and shapes template the "mlp" section
    arrays |= decode_mlp(sections["mlp"], field.mlp_arrays(), header.get("mlp_steps"), threads)
    try:
        field.load_arrays(arrays)
    except ValueError as e:
        raise FormatError(f"splat4d: {e}") from None
    return Scene4D(cloud, field)
