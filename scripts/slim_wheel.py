"""Rewrite a wheel without the members a GPU run does not need (the carry limit is 64 MiB).

    python scripts/slim_wheel.py WHEEL --drop 'nvidia/libnvcomp/bin/*' --drop '*cpython-313*' ...

Members matching any --drop glob are left out and RECORD lists exactly what remains, so
pip installs the slim wheel like the original. The wheel is replaced in place.
"""
import argparse
import fnmatch
import zipfile
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wheel", type=Path)
    ap.add_argument("--drop", action="append", default=[], help="glob of member names to leave out")
    a = ap.parse_args()
    tmp = a.wheel.with_suffix(".slim")
    kept = dropped = 0
    with zipfile.ZipFile(a.wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        record = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        names = [n for n in src.namelist() if n != record]
        keep = [n for n in names if not any(fnmatch.fnmatch(n, g) for g in a.drop)]
        for n in keep:
            dst.writestr(src.getinfo(n), src.read(n))
        keep_set = set(keep) | {record}
        lines = [ln for ln in src.read(record).decode().splitlines() if ln.split(",")[0] in keep_set]
        dst.writestr(record, "\n".join(lines) + "\n")
        kept, dropped = len(keep), len(names) - len(keep)
    tmp.replace(a.wheel)
    print(f"{a.wheel.name}: kept {kept} members, dropped {dropped}, {a.wheel.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
