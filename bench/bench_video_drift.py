"""How far M frames' reconstructions drift when a decoder's reference differs in its last bit.

    python bench/bench_video_drift.py [--video ../shared/data/video/carphone_qcif.mp4] [--frames 33] [--quality 4]

An M frame's reference latent is a float analysis (codecs/video/model.py,
motion_reference): on another device its fixed-point value may differ in the last bit.
The parse never depends on it, but the reconstruction does, and the next M frame is
predicted from that reconstruction. This codes one GOP of M frames, then decodes it
again with 1-LSB flips (+-1 in 8 fractional bits) on a fraction p of every M reference's
elements, and reports how far each frame moves from the clean decode, in 8-bit levels.
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default="../shared/data/video/carphone_qcif.mp4")
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--quality", type=int, default=4)
    args = p.parse_args(argv)

    import torch

    import entrozip
    from entrozip.codecs.video.ffmpeg_io import read_frames
    from entrozip.codecs.video.model import VideoModel

    _, frames = read_frames(args.video, args.frames)
    frames = [np.asarray(f).copy() for f in frames]
    codec = entrozip.open_codec("video", quality=args.quality, inter_kinds=["M"], intra_period=len(frames))
    blob = codec.compress(frames)
    clean = list(codec.decompress(blob))
    exact = VideoModel.motion_reference
    print(f"{len(frames)} frames (1 I + {len(frames) - 1} M), quality {args.quality}")
    print("| p | max abs diff, frame 1 ... last | mean abs diff, last frame | pixels changed, last frame |")
    print("|---:|---|---:|---:|")
    try:
        for flip_share in (0.001, 0.01, 0.1):
            g = torch.Generator().manual_seed(0)

            def perturbed(self, prev_x, field, quality, share=flip_share):
                ref = exact(self, prev_x, field, quality)
                flip = torch.rand(ref.shape, generator=g) < share
                sign = torch.randint(0, 2, ref.shape, generator=g) * 2 - 1
                return ref + flip.to(torch.int64) * sign

            VideoModel.motion_reference = perturbed
            out = list(codec.decompress(blob))
            diff = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(clean, out)]
            peaks = [int(d.max()) for d in diff[1:]]
            print(f"| {flip_share:g} | {peaks[0]} ... {peaks[-1]} (peak {max(peaks)}) | {diff[-1].mean():.3f} | "
                  f"{(diff[-1] > 0).mean():.1%} |", flush=True)
    finally:
        VideoModel.motion_reference = exact
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
