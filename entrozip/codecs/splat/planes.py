"""Lossless coding of quantised feature planes: hierarchical interpolation + fitted contexts.

A plane is C x H x W integers plus a footprint (H x W bool: the cells anyone reads;
the rest is neither coded nor decoded). Every plane of a field is coded in the same
sequence of passes, coarse to fine, on the lattice of stride s = S, S/2, ..., 2
(S: the smallest power of two >= max(H, W) - 1):

    pass "grid"  (once, first): cells with i % S == 0 and j % S == 0
    pass "diag"  (per s, h = s/2): i % s == h and j % s == h, predicted from the 4 cells at (+-h, +-h)
    pass "edge"  (per s):  (i % s, j % s) in {(h, 0), (0, h)}, predicted from (+-h, 0) and (0, +-h)

Each cell is predicted by the rounded integer mean of its neighbours that are
already decoded and in the footprint (intra prediction); a cell with none takes
its channel's centre (median over the footprint, coded first). The residual is
coded by `entropy_models.semistatic` in a context of (spatial or time plane,
activity = bit length of the neighbours' max - min, or "no neighbour"), with one
table per context fitted over every pass and stored once. One stream per pass
holds that pass of every plane, so its contexts are known to the decoder before
the stream is read: a pass is decoded in one rANS call. (A table set per pass
instead: 2-4 % more plane bytes on the bench scenes; its tables were 4-11 % of them.)
Integer arithmetic only: the decoder rebuilds every prediction exactly.
"""
from __future__ import annotations

import numpy as np

from ...entropy_models import semistatic as ss
from ...errors import FormatError

ACTIVITY_BUCKETS = 8
NO_NEIGHBOUR = ACTIVITY_BUCKETS  # the context of cells predicted by their channel's centre
CONTEXTS = 2 * (ACTIVITY_BUCKETS + 1)  # (spatial | time plane) x (activity buckets + none)
MAX_LEVEL = 1 << 30  # |quantised value|: sums of four neighbours stay far inside int64
DIAG = ((-1, -1), (-1, 1), (1, -1), (1, 1))
EDGE = ((-1, 0), (1, 0), (0, -1), (0, 1))


def top_stride(shapes) -> int:
    """S: the smallest power of two >= every plane's max(H, W) - 1 (at least 1)."""
    longest = max([max(h, w) for _, h, w in shapes], default=1)
    s = 1
    while s < longest - 1:
        s *= 2
    return s


def passes(top: int) -> list[tuple[str, int]]:
    """[("grid", S), ("diag", S), ("edge", S), ("diag", S/2), ...] down to stride 2."""
    out = [("grid", top)]
    s = top
    while s >= 2:
        out += [("diag", s), ("edge", s)]
        s //= 2
    return out


def pass_cells(kind: str, s: int, h: int, w: int) -> np.ndarray:
    """H x W bool: the lattice cells of one pass."""
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    if kind == "grid":
        return (i % s == 0) & (j % s == 0)
    half = s // 2
    if kind == "diag":
        return (i % s == half) & (j % s == half)
    return ((i % s == half) & (j % s == 0)) | ((i % s == 0) & (j % s == half))


def _shift(a: np.ndarray, di: int, dj: int, fill):
    """b[..., i, j] = a[..., i + di, j + dj], `fill` outside."""
    out = np.full_like(a, fill)
    h, w = a.shape[-2:]
    if abs(di) >= h or abs(dj) >= w:
        return out
    src_i, dst_i = (slice(di, h), slice(0, h - di)) if di >= 0 else (slice(0, h + di), slice(-di, h))
    src_j, dst_j = (slice(dj, w), slice(0, w - dj)) if dj >= 0 else (slice(0, w + dj), slice(-dj, w))
    out[..., dst_i, dst_j] = a[..., src_i, src_j]
    return out


def predict(values: np.ndarray, known: np.ndarray, offsets, half: int, centre: np.ndarray):
    """(prediction, activity bucket), both C x H x W int64, from the
    known neighbours at `offsets` x `half`; cells without one get `centre` (C) and NO_NEIGHBOUR."""
    c = values.shape[0]
    total = np.zeros(values.shape, np.int64)
    count = np.zeros(known.shape, np.int64)
    hi = np.full(values.shape, np.iinfo(np.int64).min, np.int64)
    lo = np.full(values.shape, np.iinfo(np.int64).max, np.int64)
    for di, dj in offsets:
        k = _shift(known, di * half, dj * half, False)
        v = _shift(values, di * half, dj * half, 0)
        total += np.where(k, v, 0)
        count += k
        hi = np.where(k, np.maximum(hi, v), hi)
        lo = np.where(k, np.minimum(lo, v), lo)
    has = count > 0
    safe = np.maximum(count, 1)
    pred = np.where(has, np.floor_divide(total + safe // 2, safe), centre.reshape(c, 1, 1))
    spread = np.where(has, hi - lo, 0)
    bucket = np.minimum(ACTIVITY_BUCKETS - 1, _bit_length(spread))
    bucket = np.where(has, bucket, NO_NEIGHBOUR)
    return pred, bucket


def _bit_length(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.int64)
    out = np.zeros(x.shape, np.int64)
    y = x.copy()
    while (y > 0).any():
        out += y > 0
        y >>= 1
    return out


def _pass_of(kind, s):
    return (EDGE if kind == "edge" else DIAG), s // 2


def centres(planes, footprints) -> np.ndarray:
    """Per plane and channel, the median of its footprint's values (int64, all planes' channels)."""
    out = []
    for q, m in zip(planes, footprints):
        for ch in q:
            vals = ch[m]
            out.append(int(np.median(vals).round()) if vals.size else 0)
    return np.array(out, np.int64)


def encode(planes: list[np.ndarray], footprints: list[np.ndarray], time_planes: list[bool], threads=None):
    """[bytes]: the channel centres, the context tables (shared by every pass), then one
    stream per pass, of integer planes C x H x W, each coded only on its footprint (H x W bool)."""
    shapes = [q.shape for q in planes]
    if any(q.size and np.abs(q).max() > MAX_LEVEL for q in planes):
        raise ValueError(f"quantised plane values must satisfy |v| <= {MAX_LEVEL}")
    centre = centres(planes, footprints)
    chans = np.cumsum([0] + [s[0] for s in shapes])
    known = [np.zeros(m.shape, bool) for m in footprints]
    residuals, contexts = [], []  # per pass: the encoder knows every value, so all passes first
    for kind, s in passes(top_stride(shapes)):
        cut = _pass(kind, s, planes, footprints, known, centre, chans, time_planes)
        residuals.append(_joined([(planes[n] - pred)[:, cells].ravel() for n, cells, pred, _ in cut]))
        contexts.append(_joined([ctx for *_, ctx in cut]))
    tables = ss.fit_tables(np.concatenate(residuals), np.concatenate(contexts), CONTEXTS)
    streams = [ss.encode_ints(centre, threads=threads), ss.write_tables(tables)]
    streams += [ss.encode_ints(r, x, CONTEXTS, threads=threads, tables=tables) for r, x in zip(residuals, contexts)]
    return streams


def _pass(kind, s, planes, footprints, known, centre, chans, time_planes):
    """One pass over every plane, from the values known before it: [(plane n, its cells (H x W
    bool), prediction C x H x W, contexts of those cells flat)] for the planes it touches;
    marks the cells known."""
    out = []
    for n, (q, m) in enumerate(zip(planes, footprints)):
        cells = pass_cells(kind, s, *m.shape) & m
        if not cells.any():
            continue
        mine = centre[chans[n]:chans[n + 1]]
        if kind == "grid":
            pred, bucket = np.broadcast_to(mine[:, None, None], q.shape), np.full(q.shape, NO_NEIGHBOUR)
        else:
            pred, bucket = predict(q, known[n], *_pass_of(kind, s), mine)
        out.append((n, cells, pred, (bucket[:, cells] + time_planes[n] * (ACTIVITY_BUCKETS + 1)).ravel()))
        known[n] |= cells
    return out


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def decode(streams, shapes, footprints: list[np.ndarray], time_planes: list[bool], threads=None):
    """The integer planes (C x H x W int64, zero off the footprint) of `encode`'s streams."""
    order = passes(top_stride(shapes))
    if len(streams) != 2 + len(order):
        raise FormatError(f"planes: {len(streams)} streams, expected {2 + len(order)}")
    chans = np.cumsum([0] + [s[0] for s in shapes])
    centre = ss.decode_ints(streams[0], int(chans[-1]), threads=threads)
    tables, end = ss.read_tables(streams[1], CONTEXTS)
    if end != len(streams[1]):
        raise FormatError("planes: bytes after the context tables")
    if centre.size and np.abs(centre).max() > MAX_LEVEL:
        raise FormatError("planes: a channel centre is out of range")
    planes = [np.zeros(s, np.int64) for s in shapes]
    known = [np.zeros(m.shape, bool) for m in footprints]
    for stream, (kind, s) in zip(streams[2:], order):
        cut = _pass(kind, s, planes, footprints, known, centre, chans, time_planes)  # from earlier passes
        preds = [pred[:, cells].ravel() for _, cells, pred, _ in cut]
        res = ss.decode_ints(stream, sum(len(p) for p in preds), _joined([ctx for *_, ctx in cut]), CONTEXTS,
                             threads=threads, tables=tables)
        if res.size and np.abs(res).max() > 2 * MAX_LEVEL:
            raise FormatError("planes: a residual is out of range")
        at = 0
        for (n, cells, _, _), pred in zip(cut, preds):
            v = pred + res[at:at + len(pred)]
            if np.abs(v).max() > MAX_LEVEL:
                raise FormatError("planes: a decoded value is out of range")
            planes[n][:, cells] = v.reshape(planes[n].shape[0], -1)
            at += len(pred)
    return planes
