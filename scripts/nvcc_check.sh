#!/usr/bin/env bash
# Compile the CUDA kernels for sm_80 and sm_90 without a GPU (what CI never does):
#   bash scripts/nvcc_check.sh        -> /tmp/entrozip_nvcc/*.o, warnings from our sources printed
# Registers, spills, warps per SM and SASS per kernel (and whether a change altered a kernel's
# machine code): python scripts/kernel_report.py [--json F] [--compare F]
set -euo pipefail
cd "$(dirname "$0")/.."
out=/tmp/entrozip_nvcc
mkdir -p "$out"
inc=$(python3 -c "import torch.utils.cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))")
py=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
for src in entrozip/cuda_ext/csrc/*.cu; do
  name=$(basename "$src" .cu)
  rm -f "$out/$name.o"  # a failed build must not report the last one
  nvcc -std=c++20 -O3 $inc -I"$py" -Ientrozip/rans/csrc -DTORCH_EXTENSION_NAME="entrozip_${name}" -D_GLIBCXX_USE_CXX11_ABI=1 \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 --expt-relaxed-constexpr \
    -Xcompiler -fPIC -c "$src" -o "$out/$name.o" 2>&1 | grep -E "$src|error" || true
  test -s "$out/$name.o" && echo "$src: compiled for sm_80, sm_90 ($(stat -c %s "$out/$name.o") bytes)"
done
