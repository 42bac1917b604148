#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels the GPU machine lacks (Python 3.12) into
# .whl/<group>/ (git-ignored through .git/info/exclude). Carry only the groups a run needs
# (the 64 MiB carry limit): .whl/common always; .whl/rans (nvCOMP, 34 MB) for
# `gpu_check.sh rans`; .whl/splat (gsplat, ninja) for `gpu_check.sh splat`; .whl/build
# (ninja) for any JIT-built kernel (rans, df11).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl/common .whl/rans .whl/splat .whl/build
binary=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
        --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64
        --platform manylinux_2_17_x86_64)
python3 -m pip download -q "${binary[@]}" -d .whl/common compressai==1.2.8
python3 -m pip download -q --no-deps -d .whl/common pytorch-msssim==1.0.0 plyfile==1.0.3
python3 -m pip download -q "${binary[@]}" -d .whl/build ninja
python3 -m pip download -q "${binary[@]}" -d .whl/rans nvidia-nvcomp-cu13 nvidia-libnvcomp-cu13
python3 -m pip download -q --no-deps -d .whl/splat gsplat==1.5.3 jaxtyping wadler-lindig rich markdown-it-py mdurl pygments
du -sh .whl/*
