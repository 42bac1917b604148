"""How many search steps the GPU's learned decoder spends a row, without a GPU.

The CUDA decoder finds the CDF entry owning a slot from a bucket index (256 buckets a
table at precision 16) and a search; a warp waits for its slowest lane, so what costs is
the most steps any of a row's 32 lanes needs. Counted here for the two searches the kernel
has had (rans_kernels.cuh, IndexedDev::decode): a linear scan four entries a step from
the bucket's first entry, and the 5-ary search between the bucket's first and the next
bucket's first entry (four probes a fifth apart a step; none for a bucket inside one entry).

    python bench/bench_learned_search.py          # ~1 minute on 2 cores

Workloads: the GPU bench's (bench_rans_gpu.py "learned": CompressAI's 64 Gaussian tables,
Laplace values at each table's scale) and the y streams the shipped image model writes
for kodim23. Every 5-ary result is checked against the entry the value was coded with.
"""
from __future__ import annotations

import numpy as np
import torch

from bench_rans_gpu import gaussian_tables, kodak_latent
from entrozip.rans import cuda


def warp_row_steps(model, values: np.ndarray, indexes: np.ndarray, seed: int = 0) -> dict:
    tab = cuda.tables(model, "cpu")
    lengths = model.cdf_lengths.astype(np.int64)
    rows = [model.cdfs[c, :lengths[c]].astype(np.int64) for c in range(model.num_cdfs)]
    c = indexes.astype(np.int64)
    maxv = lengths[c] - 2
    k = values.astype(np.int64) - model.offsets[c]
    k = np.where((k < 0) | (k >= maxv), maxv, k)  # escapes decode through the escape entry
    start = np.array([rows[ci][ki] for ci, ki in zip(c, k)])
    stop = np.array([rows[ci][ki + 1] for ci, ki in zip(c, k)])
    slot = start + (np.random.default_rng(seed).random(c.size) * (stop - start)).astype(np.int64)
    shift, buckets = model.precision - tab.bucket_bits, 1 << tab.bucket_bits
    b = slot >> shift
    first = tab.bucket_np[c, b].astype(np.int64)
    linear = (k - first) // 4 + 1
    end = np.where(b + 1 < buckets, tab.bucket_np[c, np.minimum(b + 1, buckets - 1)], maxv) + 1
    fifth = np.zeros(c.size, np.int64)
    for i in range(c.size):
        lo, e, s, row = int(first[i]), int(end[i]), int(slot[i]), rows[c[i]]
        while e - lo > 1:
            d = max(1, ((e - lo) * 0x3334) >> 16)
            q = [min(e - 1, lo + t * d) for t in (1, 2, 3, 4)]
            below = [row[x] <= s for x in q]
            lo, e = max([lo] + [x for x, p in zip(q, below) if p]), min([e] + [x for x, p in zip(q, below) if not p])
            fifth[i] += 1
        assert lo == k[i], "the 5-ary search missed the coded entry"
    n = c.size // 32 * 32
    lin, fif = linear[:n].reshape(-1, 32).max(1), fifth[:n].reshape(-1, 32).max(1)
    return {"symbols": int(c.size), "linear_mean": float(lin.mean()), "linear_max": int(lin.max()),
            "fifth_mean": float(fif.mean()), "fifth_max": int(fif.max()),
            "rows_without_search": float(np.mean(fif == 0))}


def main():
    model, _ = gaussian_tables()
    n = 1 << 17
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)  # the GPU bench's recipe, on the CPU
    idx = torch.randint(0, 64, (n,), dtype=torch.int32, generator=g)
    scale = torch.exp(torch.linspace(np.log(0.11), np.log(256), 64))[idx.long()]
    vals = torch.round(torch.distributions.Laplace(0.0, 1.0).sample((n,)) * scale / 1.4).to(torch.int32)
    (sym, km, kidx), _ = kodak_latent()
    print(f"{'workload':34} {'symbols':>8} {'linear steps (max)':>19} {'5-ary steps (max)':>18} {'no search':>9}")
    for name, (m, v, i) in {"bench learned (64 tables, scaled)": (model, vals.numpy(), idx.numpy()),
                            "kodim23 y, largest stream": (km, sym, kidx)}.items():
        r = warp_row_steps(m, v, i)
        print(f"{name:34} {r['symbols']:8d} {r['linear_mean']:12.2f} ({r['linear_max']:3d}) "
              f"{r['fifth_mean']:11.2f} ({r['fifth_max']:2d}) {100 * r['rows_without_search']:8.1f}%")


if __name__ == "__main__":
    main()
