#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels the GPU machine lacks (Python 3.12) into .whl/
# (git-ignored through .git/info/exclude; `carry` it to the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -d .whl compressai==1.2.8
python3 -m pip download -q --no-deps -d .whl pytorch-msssim==1.0.0 plyfile==1.0.3
# rans: nvCOMP's ANS, the peer of bench/bench_rans_gpu.py
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d .whl nvidia-nvcomp-cu13 nvidia-libnvcomp-cu13
# splat: gsplat (JIT-compiles its CUDA extension with ninja) and what it imports
python3 -m pip download -q --no-deps -d .whl gsplat==1.5.3 jaxtyping wadler-lindig rich markdown-it-py mdurl pygments
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .whl ninja
ls -l .whl
