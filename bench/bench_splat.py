"""Splat scenes: entrozip's splat codec next to what people ship today, same run.

    python bench/bench_splat.py [--data ../shared/data/splat] [--quality 1,2,3] [--out docs/results/splat]

Per scene, sizes against the scene as an INRIA float .ply: lossless zlib -9 and xz
of that .ply, entrozip's lossless `bytes` codec, SuperSplat's compressed.ply
(where the scene comes as one: 16 bytes per splat + chunk bounds, lossy), and the
splat codec at the given qualities (with the encode / decode seconds of each).
Rendered quality of the splat codec: `entrozip eval splat` (docs/results/splat).
"""
from __future__ import annotations

import argparse
import json
import lzma
import time
import warnings
import zlib
from pathlib import Path

import entrozip
from entrozip.codecs.splat import SplatCodec
from entrozip.codecs.splat.ply import inria_bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/splat")
    ap.add_argument("--quality", default="1,2,3,6")
    ap.add_argument("--out", default="docs/results/splat")
    args = ap.parse_args()
    rows = []
    for path in sorted(Path(args.data).glob("*.ply")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cloud, tol, source = SplatCodec().read_source(path)
        ply = inria_bytes(cloud)
        row = {"scene": path.name, "gaussians": len(cloud), "inria_ply": len(ply)}
        t = time.perf_counter()
        row["zlib9"] = len(zlib.compress(ply, 9))
        row["zlib9_s"] = time.perf_counter() - t
        t = time.perf_counter()
        row["xz"] = len(lzma.compress(ply, preset=6))
        row["xz_s"] = time.perf_counter() - t
        t = time.perf_counter()
        row["entrozip_bytes"] = len(entrozip.open_codec("bytes", progress=False).compress(ply))
        row["entrozip_bytes_s"] = time.perf_counter() - t
        if source["format"] == "supersplat":
            row["supersplat"] = source["bytes"]
        for q in [int(x) for x in args.quality.split(",")]:
            codec = SplatCodec(quality=q)
            t = time.perf_counter()
            blob = codec.compress(cloud, tol, source)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            codec.decompress(blob)
            row[f"splat_q{q}"] = len(blob)
            row[f"splat_q{q}_s"] = [enc, time.perf_counter() - t]
        rows.append(row)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_splat.json").write_text(json.dumps(rows, indent=1))
    qs = [k for k in rows[0] if k.startswith("splat_q") and not k.endswith("_s")]
    head = ["scene", "INRIA .ply", "zlib -9", "xz", "entrozip bytes", "SuperSplat"] + [k.replace("splat_", "splat ")
                                                                                       for k in qs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["scene"], f"{r['inria_ply'] / 2**20:.2f} MiB"]
        for k in ["zlib9", "xz", "entrozip_bytes", "supersplat"] + qs:
            cells.append(f"{r['inria_ply'] / r[k]:.2f}x" if k in r else "-")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
