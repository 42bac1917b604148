"""The video codec streams: peak memory does not grow with the clip's length.

    python bench/bench_video_memory.py [--video ../shared/data/video/carphone_qcif.mp4] [--frames 12,96]

Each run is a fresh process (`entrozip compress` / `entrozip decompress` to .y4m) on the
first N frames; reported: wall time, frames per second and the process's peak resident
memory (VmHWM). Frames come through an ffmpeg pipe and go out to the .ezc section by
section, so 8x the frames should cost the same memory.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = r"""
import sys, runpy
sys.argv = ["entrozip", *sys.argv[1:]]
try:
    runpy.run_module("entrozip.cli", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print("HWM_KIB", hwm, file=sys.stderr)
sys.exit(code)
"""


def run(args) -> tuple[float, float]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    hwm = int(r.stderr.rsplit("HWM_KIB", 1)[1].split()[0])
    return time.perf_counter() - t, hwm / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default="../shared/data/video/carphone_qcif.mp4")
    ap.add_argument("--frames", default="12,96")
    ap.add_argument("--out", default="docs/results")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ez-vmem-") as tmp:
        for n in [int(x) for x in a.frames.split(",")]:
            ezc, y4m = Path(tmp) / f"{n}.ezc", Path(tmp) / f"{n}.y4m"
            enc_s, enc_mib = run(["compress", a.video, str(ezc), "--frames", str(n)])
            dec_s, dec_mib = run(["decompress", str(ezc), str(y4m)])
            rows.append({"frames": n, "ezc_bytes": ezc.stat().st_size, "compress_s": enc_s,
                         "compress_peak_mib": enc_mib, "decompress_s": dec_s, "decompress_peak_mib": dec_mib})
    res = {"video": a.video, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "bench_video_memory.json").write_text(json.dumps(res, indent=1))
    print(f"{'frames':>6} {'compress s':>10} {'peak MiB':>9} {'decompress s':>12} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['frames']:6} {r['compress_s']:10.1f} {r['compress_peak_mib']:9.0f} {r['decompress_s']:12.1f} "
              f"{r['decompress_peak_mib']:9.0f}")


if __name__ == "__main__":
    main()
