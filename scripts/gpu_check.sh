#!/usr/bin/env bash
# One GPU check per call, <= 6 minutes on an H100; the table it prints last is the result.
#   scripts/gpu_check.sh image     GPU encode -> CPU decode and back, Kodak x every quality, latents bit-exact
#   scripts/gpu_check.sh rans      build the CUDA coder, GPU == CPU bytes (tests), memcheck, bench vs nvCOMP ANS
#   scripts/gpu_check.sh df11      fused GPU decode of DF11-style tensors: identical bytes, GB/s vs a copy
#   scripts/gpu_check.sh splat     gsplat vs the CPU rasterizer; train lego (7k steps, <= 150k Gaussians),
#                                  compress at every quality, PSNR on held-out views vs the uncompressed scene
# Prepare here first: scripts/gpu_wheels.sh, and (Kodak is not beside the repo there)
#   mkdir -p .kodak && cp ../shared/data/kodak/*.png .kodak/ && echo /.kodak/ >> .git/info/exclude
#   python scripts/pack_multiview.py ../shared/data/multiview/lego .data/lego --max-side 400   (splat; ~15 MiB)
#   grep -qx /.data/ .git/info/exclude || echo /.data/ >> .git/info/exclude
# then run with carry [".whl/common", ".kodak"] (image), [".whl/common", ".whl/build", ".whl/rans"] (rans),
# [".whl/common", ".whl/build"] (df11) or [".whl/common", ".whl/build", ".whl/splat", ".data/lego"] (splat):
#   bash scripts/gpu_check.sh image
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/gpu_check.sh image|rans|df11|splat}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*/*.whl
export PYTHONPATH=/tmp/site
export PATH=/tmp/site/bin:$PATH   # ninja (torch JIT builds) from the carried wheel
python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -n 3
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
case "$target" in
  image)
    KODAK_ALL=1 python3 -m pytest -q -x tests/test_image_gpu.py
    python3 bench/bench_image_gpu.py --out "${OUT:-docs/results}"
    ;;
  rans)
    python3 -c "from entrozip.cuda_ext import load; load('rans')"   # JIT build, cached (~1-2 min)
    python3 -m pytest -q -x tests/test_rans_cuda.py
    if command -v compute-sanitizer >/dev/null; then
      compute-sanitizer --tool memcheck --error-exitcode 3 python3 -m pytest -q -x tests/test_rans_cuda.py \
        -k "batch or damage" 2>&1 | tail -n 4
    else
      echo "compute-sanitizer not found: memcheck skipped"
    fi
    python3 bench/bench_rans_gpu.py --out "${OUT:-docs/results}"
    ;;
  df11)
    python3 -c "from entrozip.cuda_ext import load; load('rans')"
    python3 -m pytest -q -x tests/test_weights_gpu.py
    python3 bench/bench_weights_gpu.py --out "${OUT:-docs/results}"
    ;;
  splat)
    python3 -c "from gsplat.cuda._backend import _C" 2>&1 | tail -n 2   # compile once (~1-2 min)
    python3 -m pytest -q -x tests/test_splat_gpu.py
    python3 -m entrozip.cli train splat .data/lego --out "${OUT:-/tmp}/lego" --iterations 7000 --cap 150000 \
        --max-side 400
    ;;
  *)
    echo "unknown target $target (image, rans, df11, splat)" >&2
    exit 2
    ;;
esac
