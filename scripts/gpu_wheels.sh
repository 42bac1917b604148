#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels the GPU machine lacks (Python 3.12) into
# .whl/<group>/ (git-ignored through .git/info/exclude), slimmed to what a run needs, since
# a run carries at most 64 MiB with the repo (~29 MiB): .whl/common always; .whl/rans
# (nvCOMP, the peer of `gpu_check.sh rans`, 23 MiB slim); .whl/splat (gsplat's sources
# for its JIT build, and torchpq for its PNG peer's k-means; rich, jaxtyping, ninja and
# cupy are already there). imageio-ffmpeg (68 MB with its ffmpeg) does not fit a carry:
# `gpu_check.sh video` makes its clips from the bundled Kodak photo instead.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl/common .whl/rans .whl/splat
binary=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
        --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64
        --platform manylinux_2_17_x86_64)
python3 -m pip download -q "${binary[@]}" -d .whl/common compressai==1.2.8
python3 -m pip download -q --no-deps -d .whl/common pytorch-msssim==1.0.0 plyfile==1.0.3 dfloat11==0.5.0 dahuffman==0.4.2  # official DF11 kernel (decode.ptx) and its writer's Huffman
python3 -m pip download -q "${binary[@]}" -d .whl/rans nvidia-nvcomp-cu13==6.0.0.12 nvidia-libnvcomp-cu13==6.0.0.12
python3 -m pip download -q --no-deps -d .whl/splat gsplat==1.5.3 torchpq==0.3.0.6
slim=scripts/slim_wheel.py
python3 $slim .whl/rans/nvidia_libnvcomp_cu13-*.whl --drop 'nvidia/libnvcomp/bin/*' --drop 'nvidia/libnvcomp/include/*'
python3 $slim .whl/rans/nvidia_nvcomp_cu13-*.whl --drop '*cpython-39*' --drop '*cpython-310*' \
  --drop '*cpython-311*' --drop '*cpython-313*' --drop '*cpython-314*'
python3 $slim .whl/splat/gsplat-*.whl --drop 'gsplat/cuda/csrc/third_party/glm/doc/*' \
  --drop 'gsplat/cuda/csrc/third_party/glm/test/*'
du -sh .whl/*
