"""Plot the progress of one or more image-training runs (the JSON-lines logs of
`entrozip train image`), consecutive runs continuing one another.

    python scripts/plot_training.py RUN1.log.jsonl [RUN2.log.jsonl ...] --out progress.png [--title T]
    python scripts/plot_training.py --shipped s2lic [RUN.log.jsonl ...] --out progress.png

--shipped NAME starts from the committed logs of the shipped weights' runs (the `log` of
each run in the manifest's training history), oldest first; logs named after it follow.

Left: PSNR and bpp of the training crops against the steps of all runs together (each
run's steps continue the previous run's). Right: the Kodak checks (real files, q1 / q4 / q8)
of every checkpoint as RD points, one line per checkpoint, coloured by step.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_log(path: Path) -> list[dict]:
    """The rows of one log. A run still writing (or one killed) may have cut its last
    line short: that line is skipped with a warning; a bad line anywhere else is an error."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for n, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if n < len(lines):
                raise SystemExit(f"{path}:{n}: not a log row ({e.msg})") from None
            print(f"{path}:{n}: skipped a cut last line", file=sys.stderr)
    if not rows:
        raise SystemExit(f"{path}: no log rows")
    return rows


def read_runs(paths: list[Path]) -> tuple[list[dict], list[dict]]:
    """(train rows, checkpoint rows) with "step" and "minutes" made cumulative over the runs
    and "run" numbering them. A run starts with each file and wherever a file's steps or
    minutes go back (`--resume` into the same folder appends its run to the same log)."""
    train, checks = [], []
    run, step0, minutes0, last = -1, 0, 0.0, None
    for path in paths:
        for i, row in enumerate(read_log(path)):
            if i == 0 or row["step"] < last["step"] or row["minutes"] < last["minutes"]:  # a new run
                if last is not None:  # ... continues where the one before ended
                    step0, minutes0 = step0 + last["step"], minutes0 + last["minutes"]
                run += 1
            last = row
            row = dict(row, step=row["step"] + step0, minutes=row["minutes"] + minutes0, run=run)
            (train if row["kind"] == "train" else checks).append(row)
    return train, checks


def shipped_logs(name: str) -> list[Path]:
    """The committed logs of the shipped image model `name`'s runs, oldest first. Runs
    without one are reported: the steps then count from the first run that has one."""
    from entrozip.codecs.image.weights import manifest

    entry = manifest().get(name)
    if not entry:
        raise SystemExit(f"no shipped weights of {name!r}")
    history = entry.get("training", {}).get("history", [])
    logs = [Path(r["log"]) for r in history if r.get("log")]
    if not logs:
        raise SystemExit(f"{name}: its training history names no logs")
    if len(logs) < len(history):
        print(f"{name}: {len(history) - len(logs)} of {len(history)} runs have no committed log", file=sys.stderr)
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        raise SystemExit(f"{name}: logs not found (run from the repository root): {', '.join(missing)}")
    return logs


def plot(train: list[dict], checks: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    steps = [r["step"] for r in train]
    left.plot(steps, [r["psnr"] for r in train], color="tab:blue", lw=1)
    left.set_xlabel("training steps (all runs)")
    left.set_ylabel("training-crop PSNR (dB)", color="tab:blue")
    twin = left.twinx()
    twin.plot(steps, [r["bpp"] for r in train], color="tab:orange", lw=1, alpha=0.7)
    twin.set_ylabel("training-crop bpp", color="tab:orange")
    for run in sorted({r["run"] for r in train})[1:]:
        left.axvline(min(r["step"] for r in train if r["run"] == run), color="grey", ls=":", lw=1)
    left.set_title("training crops (dotted: a run resumes)")
    left.grid(alpha=0.3)

    cmap = plt.get_cmap("viridis")
    last = max((r["step"] for r in checks), default=1) or 1
    for r in checks:
        points = sorted((v["bpp"], v["psnr"]) for v in r.get("kodak", {}).values())
        if points:
            right.plot(*zip(*points), "o-", color=cmap(r["step"] / last), label=f"{int(r['step']):,} steps, {r['minutes']:.0f} min")
    right.set_xlabel("Kodak bpp (real files)")
    right.set_ylabel("Kodak PSNR RGB (dB)")
    right.set_title("Kodak checks (4 images, q1 / q4 / q8)")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="*", type=Path)
    ap.add_argument("--shipped", metavar="NAME", help="start from the logs of the shipped model NAME's runs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--title", default="training progress")
    args = ap.parse_args()
    logs = (shipped_logs(args.shipped) if args.shipped else []) + args.logs
    if not logs:
        ap.error("name logs, or --shipped NAME")
    train, checks = read_runs(logs)
    plot(train, checks, args.out, args.title)


if __name__ == "__main__":
    main()
