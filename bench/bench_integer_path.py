"""What the exact integer path costs: the float model's rate vs the bytes actually coded.

    python bench/bench_integer_path.py [--model elic] [--images 24] [--out docs/results]

For each Kodak image and quality: (a) the float network's rate, -log2 of its
likelihoods with hard rounding (eval mode), which is what training optimises;
(b) the coded payload of the same image through the integer networks and the
rANS coder, framing and container excluded. (b)/(a) - 1 is the price of decoding
bit-exactly everywhere (fixed-point scales/means, 10-bit weights, 12-bit activations)
plus the coder's own overhead.
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="elic")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--qualities", default="1,4,8")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = ap.parse_args()
    from entrozip import rans
    from entrozip.codecs.image.models import to_input
    from entrozip.codecs.image.weights import load_model

    net, wid, entry = load_model(args.model)
    rows = []
    for q in [int(v) for v in args.qualities.split(",")]:
        float_bits, coded_bytes, framing = 0.0, 0, 0
        pixels = 0
        for path in sorted(KODAK.glob("*.png"))[: args.images]:
            a = np.asarray(Image.open(path).convert("RGB"))
            h, w = a.shape[:2]
            x = to_input(a)
            with torch.no_grad():
                lik = net(x, q - 1)["likelihoods"]
                float_bits += float(sum(-torch.log2(v).sum() for v in lik.values()))
            out = net.compress(x, q - 1)
            streams = out["z"] + out["y"]
            coded_bytes += sum(map(len, streams))
            framing += sum(rans.stream_info(s).framing_bytes for s in streams)
            pixels += h * w
        payload = coded_bytes - framing
        rows.append({"quality": q, "float_bpp": float_bits / pixels, "payload_bpp": 8 * payload / pixels,
                     "framing_bpp": 8 * framing / pixels, "overhead": 8 * payload / float_bits - 1})
    result = {"date": datetime.date.today().isoformat(), "model": args.model, "weights": wid,
              "trained": bool(entry), "images": args.images, "command": "python bench/bench_integer_path.py",
              "rows": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"integer_path_{args.model}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"model {args.model}, weights {wid}, {args.images} Kodak images")
    print(f"{'q':>2} {'float bpp':>10} {'coded bpp':>10} {'framing bpp':>12} {'integer path':>13}")
    for r in rows:
        print(f"{r['quality']:2d} {r['float_bpp']:10.4f} {r['payload_bpp']:10.4f} {r['framing_bpp']:12.4f} "
              f"{r['overhead']:+12.2%}")


if __name__ == "__main__":
    main()
