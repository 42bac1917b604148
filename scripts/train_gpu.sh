#!/usr/bin/env bash
# Train an image model for MINUTES on a GPU machine without internet, resuming from the
# weights committed in the package, so training accumulates over many short runs.
#   scripts/train_gpu.sh MINUTES [MODEL]            (MODEL: elic, default, mbt2018-mean or s2lic;
#                                                    stem: the video model's inter entropy model,
#                                                    TRANSFORMS=1 stem: and its transforms, fine-tuned)
#   COMPILE=1 scripts/train_gpu.sh MINUTES          torch.compile the step (worth it from ~10 minutes)
# Prepare here (git-ignored, carried with the run: [".whl/common", ".data/bsds", ".kodak-check"], ~60 MiB with the repo):
#   scripts/gpu_wheels.sh
#   mkdir -p .data/bsds && cp -r ../shared/data/bsds500/train ../shared/data/bsds500/val .data/bsds/
#   mkdir -p .kodak-check && cp ../shared/data/kodak/kodim0[1-4].png .kodak-check/   (the checkpoints' Kodak check)
#   grep -qx /.data/ .git/info/exclude || echo /.data/ >> .git/info/exclude   (and /.kodak-check/)
# Writes the exported weights (bf16 safetensors, < 16 MiB each), NAME.json and the log to $OUT;
# back here: python -c "from entrozip.codecs.image.weights import ship; ship('FILES_AT', 'elic')",
# then measure and record them, or no quality picks them by default (codecs/image/default.py):
#   entrozip eval image --dataset ../shared/data/kodak --codec elic --out docs/results/kodak-NEW
#   python scripts/record_kodak.py elic docs/results/kodak-NEW/elic.json
# (stem: python -c "from entrozip.codecs.video.weights import ship; ship('FILES_AT')")
# A run resumes from the package's weights (elic, s2lic, stem ship); runs not yet worth shipping
# accumulate through .weights/MODEL (git-ignored):
#   rm -rf .weights/s2lic && mkdir -p .weights && cp -r FILES_AT/train .weights/s2lic
# and carry ".weights/s2lic" next time: a run resumes from it before the package's weights.
# (Within the 64 MiB carry: the repo ~32 MiB + .whl/common + .data/bsds 23 MiB (train 14 + val 9) + .kodak-check 2.4 MiB; ~12 MiB of .weights instead of .data/bsds/val;
# leave .data/bsds/val out: the run trains on whichever of train / val it finds.)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:?usage: scripts/train_gpu.sh MINUTES [MODEL]}
model=${2:-elic}
export PYTHONUNBUFFERED=1
if ! python3 -c "import compressai" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import entrozip" 2>/dev/null || python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -n 3
data=.data/bsds
[ -d "$data/train" ] || data=../shared/data/bsds500
kodak=.kodak-check  # the checkpoints' Kodak check codes the first 4 images: kodim01-04 are enough (2.4 MiB)
[ -d "$kodak" ] || kodak=.kodak
[ -d "$kodak" ] || kodak=../shared/data/kodak
[ -d "$kodak" ] || kodak=""  # no Kodak carried: checkpoints without the coding check
out=${OUT:-/tmp/entrozip-train}
folders=$(ls -d "$data/train" "$data/val" 2>/dev/null | paste -sd, -)  # the run trains on whichever were carried
if [ "$model" = stem ]; then  # synthetic clips from the photos; resumes .weights/stem, else shipped video weights
  resume=""
  if [ -f .weights/stem/stem.json ]; then resume=.weights/stem
  elif python3 -c "from entrozip.codecs.video.weights import manifest; import sys; sys.exit(0 if manifest() else 1)"; then
    resume=package
  fi
  echo "training stem for $minutes min, resuming from: ${resume:-the untrained inter model}"
  python3 -m entrozip.cli train video --data "$folders" --out "$out" --minutes "$minutes" --device cuda \
      --crop "${CROP:-256}" --batch "${BATCH:-16}" --frames "${FRAMES:-4}" --lr "${LR:-3e-4}" ${resume:+--resume $resume} \
      ${TRANSFORMS:+--transforms}   # TRANSFORMS=1: fine-tune g_a / g_s on the clips as well
  exit 0
fi
resume=""
if [ -f ".weights/$model/$model.json" ]; then
  resume=".weights/$model"  # carried from the last GPU run
elif python3 -c "from entrozip.codecs.image.weights import manifest; import sys; sys.exit(0 if '$model' in manifest() else 1)"; then
  resume=package
fi
echo "training $model for $minutes min, resuming from: ${resume:-nothing (fresh weights)}"
python3 -m entrozip.cli train image --model "$model" --data "$folders" --out "$out" \
    --minutes "$minutes" --crop "${CROP:-256}" --batch "${BATCH:-16}" --lr "${LR:-1e-4}" \
    ${resume:+--resume $resume} ${kodak:+--kodak $kodak} --checkpoint-minutes "${CHECKPOINT_MINUTES:-10}" \
    ${COMPILE:+--compile}
python3 - "$out" "$model" <<'PY'
import json, sys
entry = json.load(open(f"{sys.argv[1]}/{sys.argv[2]}.json"))
print(f"{'model':8} {'steps':>7} {'minutes':>8} {'weights':>17}  kodak check (q: bpp / dB)")
checks = "  ".join(f"q{q}: {v['bpp']:.3f} / {v['psnr']:.2f}" for q, v in entry["kodak_check"].items())
print(f"{sys.argv[2]:8} {entry['training']['steps']:7d} {entry['training']['minutes']:8.1f} {entry['weights_id']:>17}  {checks}")
PY
