"""Builds the C++ CPU backend of the rANS coder (pybind11). Metadata lives in pyproject.toml.

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
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
