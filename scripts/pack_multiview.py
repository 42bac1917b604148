"""Copy a transforms.json scene with its images downscaled, to carry it to the GPU machine.

    python scripts/pack_multiview.py ../shared/data/multiview/lego .data/lego --max-side 400

The copy keeps the json (frame paths unchanged) and writes each existing image at
most MAX_SIDE pixels on its longer side (PNG keeps RGBA; JPEG stays JPEG).
--background R,G,B composites RGBA onto that colour first and writes RGB PNG (~15 %
smaller; training composites onto the same colour, so the views are the same); the
carry limit of a GPU run (64 MiB) is what this is for.
"""
import argparse
import json
import shutil
from pathlib import Path

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--max-side", type=int, default=400)
    ap.add_argument("--background", help="R,G,B in 0..1: composite RGBA onto it, write RGB")
    a = ap.parse_args()
    src, dst = Path(a.src), Path(a.dst)
    dst.mkdir(parents=True, exist_ok=True)
    for js in src.glob("transforms*.json"):
        shutil.copy2(js, dst / js.name)
        for frame in json.loads(js.read_text())["frames"]:
            p = src / frame["file_path"]
            p = p if p.suffix else p.with_suffix(".png")
            if not p.exists():
                continue
            out = dst / p.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(p) as im:
                s = max(im.size) / a.max_side
                if s > 1:
                    im = im.resize((round(im.width / s), round(im.height / s)), Image.LANCZOS)
                if a.background and im.mode in ("RGBA", "LA", "P"):
                    rgb = tuple(round(255 * float(c)) for c in a.background.split(","))
                    base = Image.new("RGBA", im.size, rgb + (255,))
                    im = Image.alpha_composite(base, im.convert("RGBA")).convert("RGB")
                im.save(out, optimize=True)
    print(f"{dst}: {sum(f.stat().st_size for f in dst.rglob('*') if f.is_file()) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
