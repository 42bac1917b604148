"""What the CUDA kernels cost, without a GPU: registers, spills and warps per SM, per kernel.

    python scripts/kernel_report.py                       # compile for sm_90, print the table
    python scripts/kernel_report.py --json /tmp/k.json    # and keep it
    python scripts/kernel_report.py --compare /tmp/k.json # which kernels' code changed since

Compiles entrozip/cuda_ext/csrc/rans_cuda.cu to an sm_90 cubin with `ptxas -v` (~1 minute
on 2 cores). Warps per SM by registers: 65,536 registers an SM, allocated per warp in units
of 256, blocks of 256 threads, at most 64 warps (Hopper; shared memory, which depends on the
model's tables at run time, can bound it lower: 3 blocks for precision-16 tables). With
nvdisasm on the path (PyPI: nvidia-cuda-nvdisasm, bin/ inside the wheel) it also counts each
kernel's SASS instructions and hashes them, so --compare can tell a kernel that compiles to
the same machine code from one that does not (a change can then be known to leave a kernel
that was measured on a GPU untouched), and sizes each coder's hot loop: the group of
kAhead (8) full rows, its instructions per row (a decoder's on the path a row takes when it
enters no new ring segment: the refill blocks, once per 256 bytes of words, left out). A GPU that issues
one instruction a cycle per scheduler runs the row loop at best that many cycles a row per
warp, so this count ranks row-loop changes before any GPU has timed them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "entrozip/cuda_ext/csrc/rans_cuda.cu"


def compile_cubin(cubin: Path, arch: str) -> str:
    """ptxas -v's report of compiling SOURCE to `cubin`."""
    import torch.utils.cpp_extension as ext

    cmd = ["nvcc", "-std=c++20", "-O3", *[f"-I{p}" for p in ext.include_paths()],
           f"-I{sysconfig.get_paths()['include']}", f"-I{ROOT / 'entrozip/rans/csrc'}",
           "-DTORCH_EXTENSION_NAME=entrozip_rans_cuda", "-D_GLIBCXX_USE_CXX11_ABI=1", f"-arch={arch}", "-cubin",
           "--expt-relaxed-constexpr", "-Xptxas", "-v", str(SOURCE), "-o", str(cubin)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        sys.exit(run.stderr[-3000:])
    return run.stderr


def demangle(names: list[str]) -> dict[str, str]:
    if not shutil.which("c++filt"):
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    short = [re.sub(r"\(anonymous namespace\)::", "", o).split("(")[0] for o in out]
    return dict(zip(names, short))


def ptxas_table(log: str) -> dict[str, dict]:
    kernels, name = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            name = m.group(1)
            kernels[name] = {}
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and name:
            kernels[name]["spill_bytes"] = int(m.group(1)) + int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            regs = int(m.group(1))
            per_warp = -(-regs * 32 // 256) * 256
            kernels[name]["registers"] = regs
            kernels[name]["warps_per_sm_256"] = min(64, (65536 // (per_warp * 8)) * 8)
    return kernels


ROWS_PER_GROUP = 8  # kAhead in decode_chunks


def parse_sass(part: str) -> tuple[list[tuple[int, str]], dict[str, int]]:
    """(address, instruction) pairs of one kernel's SASS and the address of each label."""
    ins, labels, pending = [], {}, []
    for line in part.splitlines():
        m = re.match(r"\s*(\.L_x_\d+):", line)
        if m:
            pending.append(m.group(1))
            continue
        m = re.search(r"/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if m:
            addr = int(m.group(1), 16)
            labels.update((name, addr) for name in pending)
            pending = []
            ins.append((addr, m.group(2)))
    return ins, labels


def branches(ins, labels):
    """(address, target) of every predicated, non-divergence branch (a loop's back edge or an if's skip)."""
    for addr, text in ins:
        m = re.search(r"BRA.*`\((\.L_x_\d+)\)", text)
        if m and text.startswith("@") and "DIV" not in text and m.group(1) in labels:
            yield addr, labels[m.group(1)]


def hot_row_instructions(ins, labels) -> float | None:
    """Instructions per row of a coder's largest loop (its group of full rows), for a decoder
    on the path that skips every block copying a ring segment (LDGSTS): None for kernels
    without a row loop (gather)."""
    loops = [(sum(lo <= a <= hi for a, _ in ins), lo, hi) for hi, lo in branches(ins, labels) if lo < hi]
    if not loops or max(loops)[0] < 4 * ROWS_PER_GROUP:
        return None
    _, lo, hi = max(loops)
    body = [(a, t) for a, t in ins if lo <= a <= hi]
    skipped = set()
    for at, to in branches(body, labels):
        region = [(a, t) for a, t in body if at < a < to <= hi]
        if any("LDGSTS" in t for _, t in region):
            skipped.update(a for a, _ in region)
    return (len(body) - len(skipped)) / ROWS_PER_GROUP


def sass_table(cubin: Path, keep: str | None = None) -> dict[str, dict]:
    """Per kernel: SASS instruction count, a hash of the instructions (labels and
    addresses left out) and the hot row loop's instructions per row, from nvdisasm."""
    tool = shutil.which("nvdisasm")
    if not tool:
        return {}
    text = subprocess.run([tool, "-c", str(cubin)], capture_output=True, text=True).stdout
    if keep:
        Path(keep).write_text(text)
    out = {}
    for part in re.split(r"\n(?=\s*\.text\.)", text):
        head = part.split(":")[0].strip()
        if not head.startswith(".text."):
            continue
        ins, labels = parse_sass(part)
        plain = [re.sub(r"\.L_x_\d+", "L", t) for _, t in ins]
        row = {"sass_instructions": len(ins), "sass_sha1": hashlib.sha1("\n".join(plain).encode()).hexdigest()[:12]}
        hot = hot_row_instructions(ins, labels)
        if hot is not None:
            row["hot_row_instructions"] = hot
        out[head[len(".text."):]] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--compare", help="an earlier --json report: say which kernels changed")
    ap.add_argument("--sass", help="keep the disassembly here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        kernels = ptxas_table(compile_cubin(cubin, args.arch))
        for name, s in sass_table(cubin, args.sass).items():
            kernels.setdefault(name, {}).update(s)
    names = demangle(list(kernels))
    report = {names[k]: v for k, v in kernels.items()}
    before = json.loads(Path(args.compare).read_text()) if args.compare else None
    print(f"{'kernel':88} {'regs':>4} {'spill B':>7} {'warps/SM':>8} {'SASS':>6} {'row':>5}" +
          ("  vs before" if before else ""))
    for name in sorted(report):
        r = report[name]
        note = ""
        if before is not None:
            b = before.get(name)
            note = ("  new" if b is None else "  same code" if b.get("sass_sha1") == r.get("sass_sha1") and
                    "sass_sha1" in r else f"  changed ({b.get('registers')} regs, {b.get('sass_instructions')} SASS, "
                    f"{b.get('hot_row_instructions', '-')} a row)")
        hot = r.get("hot_row_instructions")
        print(f"{name[:88]:88} {r.get('registers', 0):4d} {r.get('spill_bytes', 0):7d} "
              f"{r.get('warps_per_sm_256', 0):8d} {r.get('sass_instructions', 0):6d} "
              f"{'-' if hot is None else f'{hot:.1f}':>5}{note}")
    if before is not None:
        for name in sorted(set(before) - set(report)):
            print(f"{name[:88]:88} gone")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
