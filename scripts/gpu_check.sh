#!/usr/bin/env bash
# One GPU check per call, <= 6 minutes on an H100; the table it prints last is the result.
#   scripts/gpu_check.sh image     GPU encode -> CPU decode and back, Kodak x every quality, latents bit-exact
# Prepare here first: scripts/gpu_wheels.sh, and (Kodak is not beside the repo there)
#   mkdir -p .kodak && cp ../shared/data/kodak/*.png .kodak/ && echo /.kodak/ >> .git/info/exclude
# then run with carry [".whl", ".kodak"] through the device tool:
#   bash scripts/gpu_check.sh image
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/gpu_check.sh image}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -n 3
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
case "$target" in
  image)
    KODAK_ALL=1 python3 -m pytest -q -x tests/test_image_gpu.py
    python3 bench/bench_image_gpu.py --out "${OUT:-docs/results}"
    ;;
  *)
    echo "unknown target $target (image)" >&2
    exit 2
    ;;
esac
