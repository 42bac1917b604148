#!/usr/bin/env bash
# GPU checks, each <= 6 minutes on an H100; several targets may share one call (one install,
# one log per target under $OUT, a failed target does not stop the next). Each prints its table last.
#   scripts/gpu_check.sh image     GPU encode -> CPU decode and back on Kodak: the rate of files whose latent
#                                  differs across devices (s2lic, elic); model sizes, MACs and Kodak times on the GPU
#   scripts/gpu_check.sh rans      build the CUDA coder, GPU == CPU bytes (tests), bench vs nvCOMP ANS
#   scripts/gpu_check.sh memcheck  the CUDA coder's batch and damage tests under compute-sanitizer memcheck
#   scripts/gpu_check.sh profile   the decode kernels under Nsight Compute (occupancy, issue, stalls) and
#                                  torch.profiler (kernel times per workload): what the speed targets need next
#   scripts/gpu_check.sh df11      fused GPU decode of DF11-style tensors: identical bytes, GB/s vs a copy
#   scripts/gpu_check.sh load      Llama-shaped LM from DF11 kept compressed on the GPU: peak memory, tokens/s
#   scripts/gpu_check.sh video     video latents bit-exact across GPU and CPU; coding speed, GPU vs CPU
#   scripts/gpu_check.sh splat     gsplat vs the CPU rasterizer; train lego (7k steps, <= 150k Gaussians),
#                                  compress at every quality, PSNR on held-out views vs the uncompressed scene
#   scripts/gpu_check.sh train     profile a step, then train an image model (TRAIN_MODEL, default s2lic; stem: the video model;
#                                  scripts/train_gpu.sh) on .data/bsds for TRAIN_MINUTES (default 5)
# Prepare here first: scripts/gpu_wheels.sh (slim wheels), and (the data is not beside the repo there)
#   mkdir -p .kodak && cp ../shared/data/kodak/*.png .kodak/ && echo /.kodak/ >> .git/info/exclude
#   python scripts/pack_multiview.py ../shared/data/multiview/lego .data/lego --max-side 360 --background 1,1,1
#   mkdir -p .data/bsds && cp -r ../shared/data/bsds500/train ../shared/data/bsds500/val .data/bsds/   (train + val, 23 MiB)
#   mkdir -p .kodak-check && cp ../shared/data/kodak/kodim0[1-4].png .kodak-check/ && echo /.kodak-check/ >> .git/info/exclude
#   grep -qx /.data/ .git/info/exclude || echo /.data/ >> .git/info/exclude
# then run with carry [".whl/common", ".kodak"] (image, profile), [".whl/common", ".whl/rans"] (rans),
# [".whl/common"] (df11, load, video, profile), [".whl/common", ".data/bsds", ".kodak-check"] (train; .kodak-check:
# kodim01-04, what the checkpoints' Kodak check codes, 2.4 MiB) or [".whl/common", ".whl/splat", ".data/lego"] (splat).
# Sizes (MiB): the repo 32.0 (shipped weights are DFloat11-coded), .whl/common 0.5, .whl/rans 22.7 (nvCOMP), .whl/splat 0.9, .data/lego 8.9,
# .data/bsds 22.6 (train 14.1), .kodak 14.7, .kodak-check 2.4, .weights/MODEL ~12; a call carries at most 64 in all, e.g.
#   bash scripts/gpu_check.sh rans df11 memcheck load [".whl/common", ".whl/rans"]           55.2
#   bash scripts/gpu_check.sh profile image           [".whl/common", ".kodak"]              47.2
#   bash scripts/gpu_check.sh splat df11 memcheck     [".whl/common", ".whl/splat", ".data/lego"]  42.3
#   bash scripts/gpu_check.sh train                   [".whl/common", ".data/bsds", ".kodak-check"]  57.5
# Each target runs under a time limit (its own, and what is left of DEADLINE seconds, default
# 570, for a 600 s call); gsplat's kernels compile in the background from the start.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/gpu_check.sh TARGET... (image rans df11 load video splat memcheck profile train)" >&2; exit 2; }
out=${OUT:-/tmp/gpu_check}; mkdir -p "$out"

check() {  # one target, in its own process (so `timeout` can stop it)
  local target=$1 failed=0
  set -e
  case "$target" in
    image)
      # the cross-device rate first (every Kodak image carried, q 1/4/8, both ways), then sizes and
      # GPU times, then the tests (all three models, two images; KODAK_ALL=1: every image and quality)
      python3 bench/bench_image_gpu.py --models "${IMAGE_MODELS:-s2lic,elic}" --out "$out" || failed=1
      python3 bench/bench_image_models.py --device cuda --images 3 --out "$out" || failed=1
      python3 -m pytest -q -x tests/test_image_gpu.py || failed=1
      return $failed
      ;;
    rans)
      python3 -c "from entrozip.cuda_ext import load; load('rans')"   # JIT build, cached (~1-2 min)
      python3 -m pytest -q --maxfail=5 tests/test_rans_cuda.py || failed=1   # the bench still runs
      python3 bench/bench_rans_gpu.py --out "$out"
      return $failed
      ;;
    profile)  # where the decode kernels' time goes: Nsight Compute where it runs, else torch.profiler
      python3 -c "from entrozip.cuda_ext import load; load('rans')"
      if command -v ncu >/dev/null && ncu --version >/dev/null 2>&1; then
        # why warps wait: cycles stalled per issued instruction, by reason
        stalls=$(printf 'smsp__average_warps_issue_stalled_%s_per_issue_active.ratio,' long_scoreboard \
          short_scoreboard mio_throttle lg_throttle wait math_pipe_throttle not_selected selected \
          branch_resolving no_instruction barrier membar dispatch_stall drain imc_miss misc sleeping tex_throttle)
        stalls=${stalls%,}
        (cd bench && ncu --kernel-name regex:decode_chunks --launch-count 6 --section SpeedOfLight \
           --section Occupancy --section WarpStateStats --section LaunchStats --metrics "$stalls" --csv --page details \
           python3 profile_rans_gpu.py --no-torch-profiler > "$out/ncu_decode.csv" 2> "$out/ncu.err") || \
          { echo "ncu failed:"; tail -n 5 "$out/ncu.err"; }
        python3 - "$out/ncu_decode.csv" <<'PY' || true
import csv, sys
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
want = ("Achieved Occupancy", "Theoretical Occupancy", "Issue Slots Busy", "Compute (SM) Throughput",
        "Memory Throughput", "Registers Per Thread", "Duration", "Warp Cycles Per Issued Instruction")
for r in rows:
    name = r.get("Metric Name", "")
    if name in want:
        print(f"{r['ID']:>3} {r['Kernel Name'][:40]:40} {name:36} {r['Metric Value']:>12} {r.get('Metric Unit', '')}")
    elif name.startswith("smsp__average_warps_issue_stalled_"):  # the reasons worth a look (>= 0.3 cycles)
        reason = name[len("smsp__average_warps_issue_stalled_"):].replace("_per_issue_active.ratio", "")
        try:
            if float(r["Metric Value"].replace(",", "")) >= 0.3:
                print(f"{r['ID']:>3} {r['Kernel Name'][:40]:40} {'stall ' + reason:36} {r['Metric Value']:>12} cycles/instr")
        except ValueError:
            pass
PY
      fi
      (cd bench && python3 profile_rans_gpu.py)
      ;;
    memcheck)  # the CUDA coder's batch and damage tests under compute-sanitizer
      python3 -c "from entrozip.cuda_ext import load; load('rans')"
      compute-sanitizer --tool memcheck --error-exitcode 3 python3 -m pytest -q -x tests/test_rans_cuda.py \
        -k "batch or damage" 2>&1 | tail -n 6
      ;;
    df11)
      python3 -c "from entrozip.cuda_ext import load; load('rans')"
      python3 -m pytest -q --maxfail=5 tests/test_weights_gpu.py || failed=1
      python3 bench/bench_weights_gpu.py --out "$out"
      return $failed
      ;;
    video)  # GPU-encoded video decodes on the CPU and back (latents bit for bit), GPU timings
      python3 -m pytest -q tests/test_video_gpu.py || failed=1
      python3 bench/bench_video_gpu.py --out "$out" || failed=1
      return $failed
      ;;
    load)  # DF11 weights kept compressed on the GPU, decoded per block: memory, tokens/s, same outputs
      python3 -c "from entrozip.cuda_ext import load; load('rans')"
      python3 -m pytest -q tests/test_weights_gpu.py -k keep_compressed || failed=1
      python3 bench/bench_weights_load_gpu.py --out "$out"
      return $failed
      ;;
    splat)
      python3 -m pytest -q tests/test_splat_gpu.py || failed=1
      python3 -m entrozip.cli train splat .data/lego --out /tmp/lego --iterations 7000 --cap 150000 --max-side 360
      cp /tmp/lego/splat_train.json "$out/"
      python3 -m entrozip.cli compress /tmp/lego/scene.ply "$out/lego_q6.ezc" --quality 6   # the trained scene, back
      return $failed
      ;;
    train)  # a short image-model run on the GPU (scripts/train_gpu.sh: resumes shipped weights if any);
            # the weights come back in $OUT/train (< 16 MiB files)
      [ "${TRAIN_MODEL:-s2lic}" = stem ] || python3 scripts/profile_train_step.py --model "${TRAIN_MODEL:-s2lic}" --batch "${BATCH:-16}" \
        --crop "${CROP:-256}" --steps 5 2>&1 | tail -n 28   # where a step's time goes (~20 s)
      OUT="$out/train" bash scripts/train_gpu.sh "${TRAIN_MINUTES:-5}" "${TRAIN_MODEL:-s2lic}"
      ;;
    *)
      echo "unknown target $target (image, rans, df11, load, video, splat, memcheck, profile, train)" >&2
      exit 2
      ;;
  esac
}
if [ "${GPU_CHECK_ONE:-}" ]; then check "$1"; exit; fi

export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*/*.whl || exit 1
export PYTHONPATH=/tmp/site
export PATH=/tmp/site/bin:$PATH
export MAX_JOBS=${MAX_JOBS:-$(nproc)} TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
gsplat_build=
if [[ " $* " == *" splat "* ]]; then  # gsplat JIT-compiles ~40 kernels: start now, beside the rest
  python3 -c "from gsplat.cuda._backend import _C; assert _C is not None" > "$out/gsplat_build.log" 2>&1 &
  gsplat_build=$!
fi
python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -n 3
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" || exit 1

declare -A limit=([train]=580 [image]=330 [rans]=240 [df11]=150 [load]=260 [video]=200 [splat]=300 [memcheck]=150
                  [profile]=150)
deadline=${DEADLINE:-570}
status=0
for target in "$@"; do
  if [ "$target" = splat ] && [ -n "$gsplat_build" ]; then
    wait "$gsplat_build" || { echo "gsplat build failed:"; tail -n 30 "$out/gsplat_build.log"; status=1; continue; }
    echo "gsplat built (${SECONDS}s in)"
  fi
  left=$((deadline - SECONDS))
  t=${limit[$target]:-330}; ((t < left)) || t=$left
  echo "=== $target (limit ${t}s, ${SECONDS}s in) ==="
  if ((t < 20)); then echo "no time left"; status=1; continue; fi
  GPU_CHECK_ONE=1 timeout "$t" bash "$0" "$target" 2>&1 | tee "$out/gpu_check_$target.log"
  rc=${PIPESTATUS[0]}
  echo "=== $target: exit $rc after ${SECONDS}s ==="
  [ "$rc" = 0 ] || status=1
done
exit $status
