"""Post-training 3DGS compression: GaussianCloud -> (header, sections) and back.

Pipeline (every choice is a field of the quality preset, recorded in the header
so the decoder never consults the preset table):

1. prune: drop the `prune` fraction of least significant Gaussians,
   significance = alpha x sqrt(sigma_1 sigma_2) over the two largest axes (opacity
   times linear size; measured on biker at 10 % pruned: 49.0 dB rendered PSNR vs
   44.1 dB for alpha x area and 43.7 dB for alpha x volume^(2/3)).
2. positions: a per-axis grid of 2^b - 1 steps over the bounding box, sorted
   along its Morton curve and cut into blocks of BLOCK Gaussians. Each block is
   coded at the coarsest power-of-two cell (d levels above the grid) whose
   error stays within the block's tolerance: by default its size / 2^r (r =
   `position_rel_bits`, SuperSplat's rule: dense regions get fine cells), or a
   tolerance per Gaussian given by the caller (a compressed.ply source's own
   quantisation step). Within a block the Morton codes at that level are coded
   as gaps (curve occupancy, no per-point coordinates); a Gaussian is rebuilt at
   its cell's centre: error <= grid step x 2^(d-1) per axis (step / 2 for d = 0).
3. attributes, each a uniform scalar grid with a stated step (error <= step/2):
   colour (0.5 + C0 f_dc), opacity (alpha = sigmoid), log-scales, rotation
   ("smallest three": the index of the unit quaternion's largest component,
   made positive, and the other three, each within +-1/sqrt(2); the largest is
   rebuilt, so the angular error stays bounded everywhere: on biker at step 0.08
   max 14 degrees vs 29 with (x, y, z | w >= 0), for +0.25 bit). Optionally an
   R-VQ base (Compact3DGS) under scale and rotation; the grid then codes the
   remainder.
4. SH rest coefficients: one k-means codebook over the whole (K x 3) vector per
   Gaussian plus the remainder on a grid (Light4GS's codebook + quantised
   remainder).
5. entropy coding (entropy_models.semistatic): integers along the Morton order,
   delta-coded (DPCM; without an R-VQ base), with contexts over what is already
   decoded -- component j of an attribute is coded in a context of the size of
   components 0..j-1 of the same Gaussian; SH remainders in a context per
   coefficient. (Measured and not kept, biker: contexts from the position gap,
   interpolation between Morton neighbours, prediction from the 4 nearest of
   every 4th Gaussian -- all within +-0.4 bit of plain DPCM.)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...container import pack_parts, unpack_parts
from ...entropy_models import semistatic as ss
from ...errors import FormatError
from .cloud import MAX_GAUSSIANS, SH_C0, GaussianCloud, sh_rest_count
from .order import deinterleave, interleave
from .rvq import decode_rvq, fit_rvq, kmeans, nearest

CONTEXTS = 8
MIN_ALPHA_FRACTION = 0.25  # alpha on grid level 0 decodes to step/4, on the top level to 1 - step/4


@dataclass(frozen=True)
class Preset:
    prune: float          # fraction of Gaussians dropped (least significant first)
    position_bits: int    # finest grid: 2^b - 1 steps per axis over the bounding box
    position_rel_bits: int  # block tolerance: its size / 2^r
    color_step: float     # in colour units (0..1)
    opacity_step: float   # in alpha units (0..1)
    scale_step: float     # in log-scale units
    rotation_step: float  # on the quaternion's three smallest components
    rvq_stages: int       # R-VQ stages under scale and rotation (0: the grid alone)
    sh_codebook: int      # codewords for the rest-SH vectors
    sh_step: float        # grid step of the rest-SH remainder


PRESETS = {
    # pruning moves rendered quality most on biker, scale and rotation steps on fruit (BENCHMARKS.md)
    1: Preset(0.30, 20, 8, 12 / 255, 12 / 255, 0.40, 0.12, 0, 256, 0.40),
    2: Preset(0.20, 20, 9, 12 / 255, 12 / 255, 0.30, 0.10, 0, 512, 0.30),
    3: Preset(0.10, 20, 10, 8 / 255, 8 / 255, 0.25, 0.08, 0, 1024, 0.20),
    4: Preset(0.05, 20, 11, 6 / 255, 6 / 255, 0.20, 0.06, 0, 2048, 0.15),
    5: Preset(0.02, 20, 12, 4 / 255, 4 / 255, 0.12, 0.04, 0, 4096, 0.10),
    6: Preset(0.00, 20, 14, 2 / 255, 2 / 255, 0.06, 0.02, 0, 4096, 0.05),
}
DEFAULT_QUALITY = 3
MAX_POSITION_BITS = 21
SH_POINTS_PER_CODEWORD = 64  # a codeword (3K float16) must serve enough Gaussians to pay for itself
BLOCK = 256
MAX_GAUSSIANS_PER_BYTE = 1024  # real files hold ~0.1-0.2 per byte: a header claiming more is hostile
RVQ_SIZE = 256


# ---------------------------------------------------------------- entropy coding of integer grids

def _buckets(tokens: np.ndarray) -> np.ndarray:
    return np.minimum(tokens, CONTEXTS - 1)


def _component_contexts(columns):
    """Context of each component: the largest token among the earlier components."""
    ctx, biggest = [None], None
    for col in columns[:-1]:
        t = ss.tokenize(col)[0]
        biggest = t if biggest is None else np.maximum(biggest, t)
        ctx.append(_buckets(biggest))
    return ctx


def encode_grid(g: np.ndarray, dpcm: bool, threads=None) -> bytes:
    """N x D integers -> one section; DPCM along the rows when asked."""
    d = np.diff(g, axis=0, prepend=np.zeros((1, g.shape[1]), g.dtype)) if dpcm else g
    cols = [d[:, j] for j in range(d.shape[1])]
    ctx = _component_contexts(cols)
    return pack_parts([ss.encode_ints(c, x, CONTEXTS if x is not None else 1, threads=threads)
                       for c, x in zip(cols, ctx)])


def decode_grid(buf, n: int, dims: int, dpcm: bool, what: str, threads=None) -> np.ndarray:
    parts = unpack_parts(buf, dims, what)
    cols, biggest = [], None
    for j, part in enumerate(parts):
        ctx = None if j == 0 else _buckets(biggest)
        col = ss.decode_ints(part, n, ctx, CONTEXTS if ctx is not None else 1, threads=threads)
        t = ss.tokenize(col)[0]
        biggest = t if biggest is None else np.maximum(biggest, t)
        cols.append(col)
    d = np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.int64)
    return np.cumsum(d, axis=0) if dpcm else d


def _grid(x: np.ndarray, step: float) -> np.ndarray:
    q = np.round(np.asarray(x, np.float64) / step)
    if np.abs(q).max(initial=0) >= ss.MAX_MAGNITUDE >> 2:
        raise ValueError("attribute values too large for their quantisation step")
    return q.astype(np.int64)


# ---------------------------------------------------------------- stages

def significance(cloud: GaussianCloud) -> np.ndarray:
    alpha = 1.0 / (1.0 + np.exp(-cloud.opacity.astype(np.float64)))
    ls = np.sort(cloud.log_scales.astype(np.float64), axis=1)
    return alpha * np.exp((ls[:, 1] + ls[:, 2]) / 2)


def prune(cloud: GaussianCloud, fraction: float) -> np.ndarray:
    """Sorted indices of the Gaussians kept (the most significant 1 - fraction)."""
    n = len(cloud)
    drop = int(np.floor(n * fraction))
    if drop == 0:
        return np.arange(n)
    order = np.argsort(significance(cloud), kind="stable")
    return np.sort(order[drop:])


def _position_grid(means: np.ndarray, bits: int):
    lo = means.min(0).astype(np.float64)
    hi = means.max(0).astype(np.float64)
    levels = (1 << bits) - 1
    step = np.where(hi > lo, (hi - lo) / levels, 1.0)
    lo, step = lo.astype(np.float32).astype(np.float64), step.astype(np.float32).astype(np.float64)
    g = np.clip(np.round((means - lo) / step), 0, levels).astype(np.int64)
    return lo, step, g


def block_levels(g: np.ndarray, step: np.ndarray, bits: int, rel_bits: int, tolerance=None) -> np.ndarray:
    """Per block of BLOCK sorted Gaussians, the cell level d whose error
    step x 2^(d-1) (per axis) stays within the block's tolerance."""
    n = len(g)
    starts = np.arange(0, n, BLOCK)
    if tolerance is None:
        size = (np.maximum.reduceat(g, starts) - np.minimum.reduceat(g, starts)) * step  # per axis
        tol = size.max(1) / (1 << rel_bits)
    else:
        tol = np.minimum.reduceat(np.asarray(tolerance, np.float64).min(1), starts)
    with np.errstate(divide="ignore"):
        d = np.floor(1 + np.log2(np.maximum(tol, 0) / step.max()))
    return np.clip(np.nan_to_num(d, nan=0, neginf=0), 0, bits).astype(np.int64)


def encode_positions(codes: np.ndarray, levels: np.ndarray, threads=None) -> bytes:
    """Sorted fine Morton codes + per-block levels -> levels and gap streams."""
    gaps = np.empty(len(codes), np.int64)
    prev = np.uint64(0)  # the decoder's rebuilt code (cell corner) of the previous Gaussian
    for b, d in enumerate(levels.tolist()):
        sh = np.uint64(3 * d)
        c = codes[b * BLOCK:(b + 1) * BLOCK] >> sh
        gaps[b * BLOCK:(b + 1) * BLOCK] = np.diff(c, prepend=prev >> sh).astype(np.int64)
        prev = c[-1] << sh
    ctx = np.repeat(np.minimum(levels, CONTEXTS - 1), BLOCK)[:len(codes)]
    return pack_parts([ss.encode_ints(levels, signed=False),
                       ss.encode_ints(gaps, ctx, CONTEXTS, signed=False, threads=threads)])


def decode_positions(buf, n: int, bits: int, threads=None) -> np.ndarray:
    """N x 3 float64 cells (cell centres, in grid steps) of a position section."""
    levels_part, gaps_part = unpack_parts(buf, 2, "the position section")
    blocks = -(-n // BLOCK)
    levels = ss.decode_ints(levels_part, blocks, signed=False)
    if levels.size and levels.max() > bits:
        raise FormatError("splat file: a position block level exceeds the grid")
    ctx = np.repeat(np.minimum(levels, CONTEXTS - 1), BLOCK)[:n]
    gaps = ss.decode_ints(gaps_part, n, ctx, CONTEXTS, signed=False, threads=threads)
    limit = 1 << (3 * bits)
    cells = np.empty((n, 3), np.float64)
    prev = 0
    for b, d in enumerate(levels.tolist()):
        g = gaps[b * BLOCK:(b + 1) * BLOCK]
        if float(g.astype(np.float64).sum()) + (prev >> (3 * d)) >= limit >> (3 * d):
            raise FormatError("splat file's positions run past their grid")
        c = (prev >> (3 * d)) + np.cumsum(g.astype(np.uint64))
        corner = c << np.uint64(3 * d)
        cells[b * BLOCK:(b + 1) * BLOCK] = deinterleave(corner) + ((1 << d) - 1) / 2
        prev = int(corner[-1])
    return cells


def quat_smallest_three(quats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the largest |component|, the other three in order) of unit
    quaternions, signed so that the largest is positive (q and -q: one rotation)."""
    q = quats.astype(np.float64)
    big = np.argmax(np.abs(q), axis=1)
    rows = np.arange(len(q))
    q = np.where(q[rows, big][:, None] < 0, -q, q)
    keep = np.ones(q.shape, bool)
    keep[rows, big] = False
    return big, q[keep].reshape(len(q), 3)


def quat_from_smallest_three(big: np.ndarray, rest: np.ndarray) -> np.ndarray:
    n = len(big)
    q = np.zeros((n, 4))
    keep = np.ones((n, 4), bool)
    keep[np.arange(n), big] = False
    q[keep] = rest.astype(np.float64).ravel()
    q[np.arange(n), big] = np.sqrt(np.clip(1.0 - (rest.astype(np.float64) ** 2).sum(1), 0.0, 1.0))
    return q.astype(np.float32)


def _vq_base(x, stages, seed):
    """(base N x D float64, codebooks or None, indices or None)."""
    if stages == 0 or len(x) == 0:
        return np.zeros_like(x, np.float64), None, None
    books, idx = fit_rvq(x, stages, RVQ_SIZE, seed=seed)
    return decode_rvq(books, idx).astype(np.float64), books, idx


def _encode_codebook(books, idx) -> list[bytes]:
    s, k, d = books.shape
    head = np.array([s, k, d], "<u4").tobytes()
    return [head + books.astype("<f2").tobytes()] + [ss.encode_ints(idx[:, j], signed=False) for j in range(s)]


def _decode_codebook(parts, n, dims, what):
    head = bytes(parts[0][:12])
    if len(head) != 12:
        raise FormatError(f"{what}: codebook header truncated")
    s, k, d = (int(v) for v in np.frombuffer(head, "<u4"))
    if d != dims or not 1 <= k <= max(1, n) or s != len(parts) - 1:
        raise FormatError(f"{what}: codebook of {s} x {k} x {d} does not fit {n} Gaussians of {dims} values")
    if len(parts[0]) != 12 + 2 * s * k * d:
        raise FormatError(f"{what}: codebook holds {len(parts[0]) - 12} bytes, not {2 * s * k * d}")
    books = np.frombuffer(parts[0][12:], "<f2").reshape(s, k, d).astype(np.float16)
    if not np.isfinite(books).all():
        raise FormatError(f"{what}: codebook holds NaN/Inf")
    idx = np.stack([ss.decode_ints(p, n, signed=False) for p in parts[1:]], axis=1)
    if idx.size and idx.max() >= k:
        raise FormatError(f"{what}: codeword index out of range")
    return books, idx


# ---------------------------------------------------------------- encode / decode

def encode(cloud: GaussianCloud, preset: Preset, seed: int = 0, position_tolerance=None, threads=None):
    """(header dict, [(section name, bytes)], kept: indices of the input in coded order).

    position_tolerance: optional N x 3 per-axis position error allowed per Gaussian
    (e.g. a compressed.ply's own step); by default each block's size / 2^r."""
    cloud.check_finite()
    kept = prune(cloud, preset.prune)
    if len(kept) == 0:
        raise ValueError("nothing to code: the scene has no Gaussians")
    c = cloud.take(kept)
    lo, step, g = _position_grid(c.means.astype(np.float64), preset.position_bits)
    codes = interleave(g)
    order = np.argsort(codes, kind="stable")
    c, codes, kept = c.take(order), codes[order], kept[order]
    n = len(c)
    tol = None if position_tolerance is None else np.asarray(position_tolerance, np.float64)[kept]
    levels = block_levels(g[order], step, preset.position_bits, preset.position_rel_bits, tol)
    sections = [("position", encode_positions(codes, levels, threads))]

    color = 0.5 + SH_C0 * c.sh_dc.astype(np.float64)
    sections.append(("color", encode_grid(_grid(color, preset.color_step), dpcm=True, threads=threads)))
    alpha = 1.0 / (1.0 + np.exp(-c.opacity.astype(np.float64)))
    sections.append(("opacity", encode_grid(_grid(alpha[:, None], preset.opacity_step), dpcm=True,
                                            threads=threads)))
    largest, rest = quat_smallest_three(c.normalized_quats())
    for name, x, st in (("scale", c.log_scales.astype(np.float64), preset.scale_step),
                        ("rotation", rest, preset.rotation_step)):
        base, books, idx = _vq_base(x, preset.rvq_stages, seed)
        parts = [encode_grid(_grid(x - base, st), dpcm=books is None, threads=threads)]
        if name == "rotation":
            parts.append(ss.encode_ints(largest, signed=False, threads=threads))
        if books is not None:
            parts += _encode_codebook(books, idx)
        sections.append((name, pack_parts(parts)))

    k = c.sh_rest.shape[1]
    sh_info = None
    if k:
        flat = c.sh_rest.transpose(0, 2, 1).reshape(n, 3 * k)  # INRIA order: f_rest_{colour * K + k}
        size = min(preset.sh_codebook, max(1, 1 << int(np.log2(max(n // SH_POINTS_PER_CODEWORD, 1)))))
        book = kmeans(flat, size, 8, np.random.default_rng(seed)).astype(np.float16)
        idx = nearest(flat, book)
        rem = _grid(flat - book.astype(np.float32)[idx], preset.sh_step)
        coeff_ctx = np.tile(np.arange(k), 3 * n)  # context: the coefficient (its SH band and order)
        parts = _encode_codebook(book[None], idx[:, None])
        parts.append(ss.encode_ints(rem.ravel(), coeff_ctx, k, threads=threads))
        sections.append(("sh", pack_parts(parts)))
        sh_info = {"codebook": int(book.shape[0]), "step": preset.sh_step}

    header = {"count": int(n), "source_count": int(len(cloud)), "sh_degree": c.sh_degree,
              "position": {"origin": lo.tolist(), "step": step.tolist(), "bits": preset.position_bits},
              "steps": {"color": preset.color_step, "opacity": preset.opacity_step, "scale": preset.scale_step,
                        "rotation": preset.rotation_step},
              "rvq_stages": preset.rvq_stages, "sh": sh_info, "preset": asdict(preset)}
    return header, sections, kept


def _header_fields(h):
    try:
        n, degree = int(h["count"]), int(h["sh_degree"])
        pos = h["position"]
        origin = np.array(pos["origin"], np.float64)
        step = np.array(pos["step"], np.float64)
        bits = int(pos["bits"])
        steps = {k: float(h["steps"][k]) for k in ("color", "opacity", "scale", "rotation")}
        stages = int(h["rvq_stages"])
        sh = h["sh"]
        sh_step = None if sh is None else float(sh["step"])
    except (KeyError, TypeError, ValueError):
        raise FormatError("splat file header is incomplete") from None
    if not 1 <= n <= MAX_GAUSSIANS or not 0 <= degree <= 3 or not 1 <= bits <= MAX_POSITION_BITS:
        raise FormatError(f"splat file header is invalid (count {n}, SH degree {degree}, position bits {bits})")
    if origin.shape != (3,) or step.shape != (3,) or not (np.isfinite(origin).all() and np.isfinite(step).all()):
        raise FormatError("splat file header has an invalid position grid")
    if not all(np.isfinite(v) and v > 0 for v in steps.values()) or (step <= 0).any() or not 0 <= stages <= 16:
        raise FormatError("splat file header has invalid quantisation steps")
    if (degree > 0) != (sh is not None) or (sh_step is not None and not (np.isfinite(sh_step) and sh_step > 0)):
        raise FormatError("splat file header's SH fields do not match its SH degree")
    return n, degree, origin, step, bits, steps, stages, sh_step


def decode(header: dict, sections: dict, threads=None) -> GaussianCloud:
    """The scene of a splat file's header and sections (name -> bytes)."""
    n, degree, origin, step, bits, steps, stages, sh_step = _header_fields(header)
    coded = sum(len(v) for v in sections.values())
    if n > MAX_GAUSSIANS_PER_BYTE * coded:  # before anything of size n is allocated
        raise FormatError(f"splat file claims {n} Gaussians in {coded} bytes of sections")

    def section(name):
        if name not in sections:
            raise FormatError(f"splat file lacks its {name!r} section")
        return sections[name]

    means = (origin + decode_positions(section("position"), n, bits, threads) * step).astype(np.float32)

    color = decode_grid(section("color"), n, 3, True, "the color section", threads) * steps["color"]
    q = decode_grid(section("opacity"), n, 1, True, "the opacity section", threads)[:, 0]
    a_step = steps["opacity"]
    alpha = np.clip(q * a_step, a_step * MIN_ALPHA_FRACTION, 1.0 - a_step * MIN_ALPHA_FRACTION)
    alpha = np.clip(alpha, 1e-12, 1 - 1e-12)
    opacity = (np.log(alpha) - np.log1p(-alpha)).astype(np.float32)

    geo = {}
    largest = None
    for name in ("scale", "rotation"):
        what = f"the {name} section"
        parts = unpack_parts(section(name), (1 if stages == 0 else 2 + stages) + (name == "rotation"), what)
        if name == "rotation":
            largest = ss.decode_ints(parts.pop(1), n, signed=False, threads=threads)
            if largest.size and largest.max() > 3:
                raise FormatError("splat file: a rotation's largest-component index is not 0..3")
        base = 0.0
        if stages:
            books, idx = _decode_codebook(parts[1:], n, 3, what)
            base = decode_rvq(books, idx).astype(np.float64)
        geo[name] = base + decode_grid(parts[0], n, 3, stages == 0, f"the {name} section", threads) * steps[name]

    k = sh_rest_count(degree)
    sh_rest = np.zeros((n, k, 3), np.float32)
    if k:
        parts = unpack_parts(section("sh"), 3, "the sh section")
        books, idx = _decode_codebook(parts[:2], n, 3 * k, "the sh section")
        coeff_ctx = np.tile(np.arange(k), 3 * n)
        rem = ss.decode_ints(parts[2], n * 3 * k, coeff_ctx, k, threads=threads).reshape(n, 3 * k)
        flat = books[0].astype(np.float32)[idx[:, 0]] + (rem * sh_step).astype(np.float32)
        sh_rest = flat.reshape(n, 3, k).transpose(0, 2, 1)
    return GaussianCloud(means=means, sh_dc=((color - 0.5) / SH_C0).astype(np.float32), sh_rest=sh_rest,
                         opacity=opacity, log_scales=geo["scale"].astype(np.float32),
                         quats=quat_from_smallest_three(largest, geo["rotation"]))
