"""Outputs people read: CSV tables, RD plots (PNG), a Markdown BD-rate table."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from . import anchors as published
from .bdrate import bd_rate
from .metrics import ms_ssim_db


def write_csv(results: dict, out: Path) -> None:
    """summary.csv (one row per codec and quality) and items.csv (one per image)."""
    keys = ["quality", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time", "peak_memory_mb"]
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["codec"] + keys)
        for name, res in results.items():
            r = res["results"]
            for i in range(len(r["bpp"])):
                w.writerow([name] + [r[k][i] for k in keys])
    with open(out / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["codec", "image"] + keys + ["bytes"])
        for name in results:
            for line in (out / "raw" / f"{name}.jsonl").read_text().splitlines():
                rec = json.loads(line)
                w.writerow([name, rec["image"]] + [rec.get(k) for k in keys] + [rec["bytes"]])


def _curves(results: dict, dataset: str, anchor_ids) -> dict:
    """{label: (bpp, psnr, ms-ssim or None)} for measured codecs and chosen anchors."""
    curves = {n: (r["results"]["bpp"], r["results"]["psnr-rgb"], r["results"]["ms-ssim-rgb"])
              for n, r in results.items()}
    table = published.load(dataset)
    for a in anchor_ids:
        entry = table[a]
        curves[f"{entry['name']} [published]"] = (entry["bpp"], entry["psnr-rgb"], entry.get("ms-ssim-rgb"))
    return curves


def bd_table(results: dict, anchor: str, dataset: str = "kodak") -> str:
    """Markdown table of BD-rates (PSNR and MS-SSIM) of every curve against `anchor`
    (a measured codec or a published anchor id)."""
    table = published.load(dataset)
    if anchor in results:
        ref_name = anchor
    elif anchor in table:
        ref_name = table[anchor]["name"] + " [published]"
    else:
        raise ValueError(f"unknown anchor {anchor!r}: a measured codec or one of {', '.join(sorted(table))}")
    curves = _curves(results, dataset, list(table))
    ref_curve = curves.pop(ref_name)
    rows = [f"BD-rate against {ref_name} (negative = fewer bits at equal quality; pchip interpolation)", "",
            "| curve | BD-rate PSNR | BD-rate MS-SSIM |", "|---|---:|---:|"]
    for label, (bpp, psnr, ssim) in curves.items():
        cells = []
        for dist, ref_dist in ((psnr, ref_curve[1]), (ssim, ref_curve[2])):
            try:
                if dist is None or ref_dist is None or None in dist:
                    raise ValueError
                to_db = (lambda v: v) if dist is psnr else (lambda v: [ms_ssim_db(x) for x in v])
                cells.append(f"{bd_rate(ref_curve[0], to_db(ref_dist), bpp, to_db(dist)):+.2f} %")
            except ValueError:  # no overlap, too few points, or no MS-SSIM
                cells.append("n/a")
        rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows) + "\n"


def rd_cost_table(results: dict) -> str:
    """Markdown table of the rate-distortion cost bpp + lambda x 255^2 x MSE of every
    learned image model in `results` at each quality, lambda being the one that quality
    trains for (models.LAMBDAS; MSE from the curve's mean PSNR, [0, 1] scale). Models that
    train the same lambdas compare here where each is meant to stand: at a quality the
    smaller cost is the better trade (bold). "" when `results` holds no learned model."""
    from ..codecs.image.default import rd_costs
    from ..codecs.image.models import MODELS

    learned = {n: r["results"] for n, r in results.items() if n in MODELS}
    if not learned:
        return ""
    qualities = sorted({q for r in learned.values() for q in r["quality"]})
    cost = {n: rd_costs(r["quality"], r["bpp"], r["psnr-rgb"]) for n, r in learned.items()}
    rows = ["RD cost bpp + lambda x 255^2 x MSE at each quality's training lambda (lower is better)", "",
            "| model | " + " | ".join(f"q{q}" for q in qualities) + " |", "|---|" + "---:|" * len(qualities)]
    for name, c in cost.items():
        cells = []
        for q in qualities:
            if q not in c:
                cells.append("")
                continue
            best = len(cost) > 1 and c[q] == min(o[q] for o in cost.values() if q in o)
            cells.append(f"**{c[q]:.3f}**" if best else f"{c[q]:.3f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot(results: dict, out: Path, anchor_ids, dataset: str = "kodak") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(results, dataset, anchor_ids)
    paths = []
    for metric, label, fname in ((1, "PSNR RGB (dB)", "rd_psnr.png"), (2, "MS-SSIM RGB (dB)", "rd_ms_ssim.png")):
        fig, ax = plt.subplots(figsize=(7, 5))
        for name, c in curves.items():
            if c[metric] is None or None in c[metric]:
                continue
            y = c[metric] if metric == 1 else [ms_ssim_db(v) for v in c[metric]]
            style = "--" if name.endswith("[published]") else "-"
            ax.plot(c[0], y, style, marker="o", ms=3, label=name)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.set_xlim(0, 2.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{dataset}: rate-distortion")
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)
        paths.append(out / fname)
    return paths


def video_report(results: dict, out: Path, anchor: str) -> str:
    """RD plot (weighted YUV PSNR vs kbps) and a Markdown BD-rate table of the video
    codecs against `anchor` (one of them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if anchor not in results:
        raise ValueError(f"anchor {anchor!r} must be one of the evaluated codecs: {', '.join(results)}")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for name, res in results.items():
        r = res["results"]
        random_access = name.endswith("-ra")  # the reference structures: dashed, beside the low-delay peers
        ax.plot(r["kbps"], r["psnr-yuv"], marker="o", ms=3, ls="--" if random_access else "-",
                lw=1 if random_access else 1.6, label=f"{name}: {res['description']}")
    meta = next(iter(results.values()))["meta"]
    ax.set_xscale("log")  # rates of the codecs span ~10x: a log axis keeps the low end readable
    ax.set_xlabel("kbit/s (log)")
    ax.set_ylabel("PSNR YUV (6Y+U+V)/8 (dB)")
    ax.set_title(f"{meta['video']} ({meta['size'][0]}x{meta['size'][1]}, {meta['frames']} frames)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(out / "rd_video.png", dpi=110, bbox_inches="tight")  # the legend sits right of the axes
    plt.close(fig)
    ref = results[anchor]["results"]
    rows = [f"BD-rate against {anchor} ({meta['video']}; pchip); encode / decode speed on this machine, "
            f"frames per second over the quality sweep", "",
            "| codec | BD-rate PSNR-YUV | BD-rate PSNR-RGB | encode fps | decode fps |", "|---|---:|---:|---:|---:|"]
    for name, res in results.items():
        r, frames = res["results"], res["meta"]["frames"]
        cells = ["n/a" if v is None else f"{v:+.2f} %" for v in _video_bd_pair(ref, r)]
        fps = [frames * len(r[k]) / sum(r[k]) if sum(r[k]) > 0 else float("nan")
               for k in ("encoding_time", "decoding_time")]
        speed = [f"{v:.3g}" if not v >= 100 else f"{v:,.0f}" for v in fps]
        rows.append(f"| {name} | {cells[0]} | {cells[1]} | {speed[0]} | {speed[1]} |")
    return "\n".join(rows) + "\n"


def _video_bd_pair(ref: dict, r: dict) -> list:
    """[BD-rate PSNR-YUV, BD-rate PSNR-RGB] of results r against ref (None where the
    curves do not overlap)."""
    pair = []
    for key in ("psnr-yuv", "psnr-rgb"):
        try:
            pair.append(bd_rate(ref["bpp"], ref[key], r["bpp"], r[key]))
        except ValueError:
            pair.append(None)
    return pair


def video_dataset_report(per_clip: dict, anchor: str) -> str:
    """One Markdown table over clips: BD-rate (PSNR-YUV, then PSNR-RGB) of each codec
    against `anchor`, a column per clip, and the mean over the clips where both are defined.
    per_clip: {clip name: evaluate()'s results for that clip}."""
    clips = list(per_clip)
    names = list(dict.fromkeys(n for res in per_clip.values() for n in res))
    rows = [f"BD-rate against {anchor}, first frames of each clip (pchip; PSNR-YUV / PSNR-RGB)", "",
            "| codec | " + " | ".join(clips) + " | mean |", "|---|" + "---:|" * (len(clips) + 1)]
    for name in names:
        cells, yuv = [], []
        for clip in clips:
            res = per_clip[clip]
            if name not in res or anchor not in res:
                cells.append("-")
                continue
            pair = _video_bd_pair(res[anchor]["results"], res[name]["results"])
            if pair[0] is not None:
                yuv.append(pair[0])
            cells.append(" / ".join("n/a" if v is None else f"{v:+.1f} %" for v in pair))
        mean = f"{sum(yuv) / len(yuv):+.1f} %" if len(yuv) == len(clips) else "-"
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(rows) + "\n"
