"""What each stream layout costs on a real image latent, and how long its longest chunk is.

    cd bench && python bench_latent_layouts.py

The y streams the image codec writes for kodim23 at quality 4 (the elic model; the
group sharing the Gaussian conditional, as bench_rans_gpu.py's Kodak-latent workload),
re-encoded under each layout policy (rans.encode(..., layout=...)): total bytes and
rows in the longest chunk. A GPU decodes a chunk's rows one after another, so the
longest chunk bounds the latent's decode time; the bytes are what that costs (CPU only).
"""
from __future__ import annotations

from bench_rans_gpu import kodak_latent  # bench/ (scripts run from bench/)

from entrozip import rans


def main():
    (_, _, _), group = kodak_latent()
    n = sum(s.size for s, _, _ in group)
    print(f"kodim23, quality 4: {len(group)} y streams, {n:,} symbols")
    print(f"{'layout':8} {'bytes':>8} {'longest chunk (rows)':>21}")
    for layout in ("compact", "gpu", "latency"):
        blobs = [rans.encode(s, m, i, layout=layout) for s, m, i in group]
        rows = max(rans.stream_info(b).chunk_symbols // rans.stream_info(b).lanes for b in blobs)
        print(f"{layout:8} {sum(map(len, blobs)):8,} {rows:21,}")


if __name__ == "__main__":
    main()
