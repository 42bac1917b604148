"""The RD curve of the image codec's default (per quality, the model default.py picks) from one
`entrozip eval image` run that measured every candidate, and its BD-rates against each
candidate and VTM.

    python scripts/default_curve.py docs/results/kodak-s2lic-cpu9"""
import json
import sys
from pathlib import Path

from entrozip.codecs.image.default import CANDIDATES, default_models
from entrozip.eval import anchors
from entrozip.eval.bdrate import bd_psnr, bd_rate
from entrozip.eval.metrics import ms_ssim_db

run = Path(sys.argv[1])
curves = {m: json.loads((run / f"{m}.json").read_text())["results"] for m in CANDIDATES}
table = default_models()
print("default model:", ", ".join(f"q{q} {m}" for q, m in table.items()))
keys = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
default = {k: [curves[m][k][curves[m]["quality"].index(q)] for q, m in table.items()] for k in keys}
for k in keys:
    print(f"{k:14}", " ".join(f"{v:7.4f}" for v in default[k]))


def bd(ref, name):
    db = [ms_ssim_db(v) for v in ref["ms-ssim-rgb"]] if ref.get("ms-ssim-rgb") else None
    ssim = (f"{bd_rate(ref['bpp'], db, default['bpp'], [ms_ssim_db(v) for v in default['ms-ssim-rgb']]):+.2f} %"
            if db else "n/a")
    print(f"default vs {name}: BD-rate PSNR {bd_rate(ref['bpp'], ref['psnr-rgb'], default['bpp'], default['psnr-rgb']):+.2f} %, "
          f"MS-SSIM {ssim}, BD-PSNR {bd_psnr(ref['bpp'], ref['psnr-rgb'], default['bpp'], default['psnr-rgb']):+.3f} dB")


for m in CANDIDATES:
    bd(curves[m], m)
bd(anchors.load("kodak")["vtm"], "VTM [published]")
