"""Builds the C++ parts (pybind11): the rANS CPU backend and the weights codec's float splitter.
Metadata lives in pyproject.toml.

The CUDA kernels compile at first use where a GPU exists (entrozip/cuda_ext); set
ENTROZIP_BUILD_CUDA=1 to build them here instead (needs nvcc and a CUDA build of torch;
without a GPU name the targets: `TORCH_CUDA_ARCH_LIST="8.0;9.0" ENTROZIP_BUILD_CUDA=1
pip install --no-build-isolation --no-deps -e .`).
"""
import os

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

RANS_CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "entrozip", "rans", "csrc")

ext_modules = [
    Pybind11Extension(
        "entrozip.rans._rans_cpu",
        ["entrozip/rans/csrc/rans_cpu.cpp"],
        include_dirs=[RANS_CSRC],
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
    Pybind11Extension(
        "entrozip.codecs.weights._floats",
        ["entrozip/codecs/weights/csrc/float_split.cpp"],
        include_dirs=[RANS_CSRC],  # the rANS chunk decoder it fuses with merging
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
    Pybind11Extension(
        "entrozip.codecs.weights._df11",
        ["entrozip/codecs/weights/csrc/df11_huffman.cpp"],
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
]

builder = build_ext
if os.environ.get("ENTROZIP_BUILD_CUDA") == "1":
    from torch.utils.cpp_extension import BuildExtension, CUDAExtension

    ext_modules.append(CUDAExtension("entrozip.cuda_ext._rans_cuda", ["entrozip/cuda_ext/csrc/rans_cuda.cu"],
                                     include_dirs=[RANS_CSRC],
                                     extra_compile_args={"cxx": ["-O3"], "nvcc": ["-O3", "--expt-relaxed-constexpr"]}))
    builder = BuildExtension

setup(ext_modules=ext_modules, cmdclass={"build_ext": builder})
