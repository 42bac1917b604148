"""What the spatiotemporal entropy model buys: inter-frame bits vs intra-frame bits.

    python bench/bench_video_inter.py [--video ../shared/data/video/carphone_qcif.mp4] [--frames 33]

Real coding (rANS streams, not likelihoods) of the first N frames of a real clip as
one I frame then P frames, at several qualities: every frame intra (no temporal
context); the untrained spatiotemporal model alone (kind P: mean = the previous decoded
latent, the intra model's scales: what the structure alone gives) and the shipped one;
the latent residual coded with the intra model alone (kind R); and the video codec
itself, which codes the group of pictures as a P chain and an R chain and keeps the one
of least rate + lambda x distortion. Reported:
bytes of the I frame, mean bytes of the P frames, their ratio, the P frames' PSNR
(RGB) and how often each kind was chosen.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def code(model, frames, quality: int, intra_only: bool = False, kind=b"P") -> tuple[list, list, str]:
    """(bytes per frame, PSNR per frame, the kinds) of one I frame then P frames of one kind."""
    from entrozip.codecs.image.models import to_input
    from entrozip.eval.metrics import psnr

    sizes, psnrs, chosen, prev = [], [], "", None
    h, w = frames[0].shape[:2]
    for f in frames:
        out = model.compress_frame(to_input(f), quality - 1, prev, kind=kind)
        prev = None if intra_only else out["y_hat_q"]
        sizes.append(len(out["z"][0]) + sum(len(s) for s in out["y"]))
        x = model.synthesize(out["y_hat_q"], quality - 1)[0, :, :h, :w].permute(1, 2, 0)
        psnrs.append(psnr(x.mul(255).round().clamp(0, 255).numpy(), f))
        chosen += out["kind"].decode()
    return sizes, psnrs, chosen


def code_with_codec(frames, quality: int) -> tuple[list, list, str]:
    """The same through the video codec (one GOP: the chain of least rate + lambda x
    distortion of P and R): bytes of each frame's streams, PSNR of the decoded file."""
    import entrozip
    from entrozip.container import parse, unpack_parts
    from entrozip.eval.metrics import psnr

    codec = entrozip.open_codec("video", quality=quality, intra_period=len(frames))
    blob = codec.compress(frames)
    c = parse(blob)
    sizes, chosen = [], ""
    for i in range(len(frames)):
        parts = unpack_parts(c.sections[f"f{i:06d}"], None)
        sizes.append(sum(len(p) for p in parts[1:]))
        chosen += bytes(parts[0]).decode()
    return sizes, [psnr(a, b) for a, b in zip(codec.decompress(blob), frames)], chosen


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
        for name, run in (("all intra", lambda: code(trained, frames, q, True)),
                          ("P only, untrained", lambda: code(base, frames, q, False, b"P")),
                          ("P only, shipped", lambda: code(trained, frames, q, False, b"P")),
                          ("R only", lambda: code(trained, frames, q, False, b"R")),
                          ("the codec: P or R", lambda: code_with_codec(frames, q))):
            if name == "P only, shipped" and not entry:
                continue  # no video weights ship: the same model as the row above
            s, p, chosen = run()
            rows.append({"quality": q, "model": name, "i_bytes": s[0], "p_bytes_mean": float(np.mean(s[1:])),
                         "p_over_i": float(np.mean(s[1:]) / s[0]), "p_psnr": float(np.mean(p[1:])),
                         "kinds": {k: chosen.count(k) for k in sorted(set(chosen))}})
    res = {"video": a.video, "frames": len(frames), "date": time.strftime("%Y-%m-%d"), "weights_id": wid,
           "trained": bool(entry), "training": entry.get("training"), "rows": rows}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "bench_video_inter.json").write_text(json.dumps(res, indent=1))
    print(f"{Path(a.video).name}, {len(frames)} frames (1 I + {len(frames) - 1} P), weights {wid}")
    print(f"{'quality':>7} {'model':20} {'I bytes':>8} {'P bytes (mean)':>15} {'P / I':>6} {'P PSNR':>7}  kinds")
    for r in rows:
        kinds = " ".join(f"{k}{n}" for k, n in r["kinds"].items())
        print(f"{r['quality']:7} {r['model']:20} {r['i_bytes']:8} {r['p_bytes_mean']:15.0f} {r['p_over_i']:6.3f} "
              f"{r['p_psnr']:7.2f}  {kinds}")


if __name__ == "__main__":
    main()
