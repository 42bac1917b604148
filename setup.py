"""Builds the C++ parts (pybind11): the rANS CPU backend and the weights codec's float splitter.
Metadata lives in pyproject.toml.

The CUDA kernels are never built here: they compile at first use where a GPU exists.
"""
from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext_modules = [
    Pybind11Extension(
        "entrozip.rans._rans_cpu",
        ["entrozip/rans/csrc/rans_cpu.cpp"],
        include_dirs=["entrozip/rans/csrc"],
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
    Pybind11Extension(
        "entrozip.codecs.weights._floats",
        ["entrozip/codecs/weights/csrc/float_split.cpp"],
        include_dirs=["entrozip/rans/csrc"],  # the rANS chunk decoder it fuses with merging
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

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
