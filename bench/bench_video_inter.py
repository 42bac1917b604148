"""What the spatiotemporal entropy model buys: inter-frame bits vs intra-frame bits.

    python bench/bench_video_inter.py [--video ../shared/data/video/carphone_qcif.mp4] [--frames 33]

Real coding (rANS streams, not likelihoods) of the first N frames of a real clip as
one I frame then P frames, at several qualities, three ways: every frame intra (no
temporal context), the untrained inter model (mean = the previous decoded latent,
the intra model's scales: what the structure alone gives) and the shipped video
weights. Reported: bytes of the I frame, mean bytes of the P frames and their ratio.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def code(model, frames, quality: int, intra_only: bool = False) -> list[int]:
    from entrozip.codecs.image.models import to_input

    sizes, prev = [], None
    for t, f in enumerate(frames):
        out = model.compress_frame(to_input(f), quality - 1, prev)
        prev = None if intra_only else out["y_hat_q"]
        sizes.append(len(out["z"][0]) + sum(len(s) for s in out["y"]))
    return sizes


def main():
    from entrozip.codecs.video.ffmpeg_io import read_frames
    from entrozip.codecs.video.weights import initial_video_model, load_video_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default="../shared/data/video/carphone_qcif.mp4")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--qualities", default="1,4,8")
    ap.add_argument("--out", default="docs/results")
    a = ap.parse_args()
    _, frames = read_frames(a.video, max_frames=a.frames)
    frames = [f.copy() for f in frames]
    trained, wid, entry = load_video_model()
    base = initial_video_model()
    base.eval()
    base.update(force=True)
    rows = []
    for q in [int(x) for x in a.qualities.split(",")]:
        for name, model, intra_only in (("all intra", trained, True), ("untrained inter", base, False),
                                        ("shipped", trained, False)):
            s = code(model, frames, q, intra_only)
            rows.append({"quality": q, "model": name, "i_bytes": s[0], "p_bytes_mean": float(np.mean(s[1:])),
                         "p_over_i": float(np.mean(s[1:]) / s[0])})
    res = {"video": a.video, "frames": len(frames), "date": time.strftime("%Y-%m-%d"), "weights_id": wid,
           "trained": bool(entry), "training": entry.get("training"), "rows": rows}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "bench_video_inter.json").write_text(json.dumps(res, indent=1))
    print(f"{Path(a.video).name}, {len(frames)} frames (1 I + {len(frames) - 1} P), weights {wid}")
    print(f"{'quality':>7} {'model':18} {'I bytes':>8} {'P bytes (mean)':>15} {'P / I':>6}")
    for r in rows:
        print(f"{r['quality']:7} {r['model']:18} {r['i_bytes']:8} {r['p_bytes_mean']:15.0f} {r['p_over_i']:6.3f}")


if __name__ == "__main__":
    main()
