"""Build hook for the native extensions; all metadata lives in pyproject.toml."""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

rans = Pybind11Extension(
    "nvcodec._rans",
    sources=["native/rans/rans.cpp", "native/rans/quantize.cpp", "native/bindings.cpp"],
    include_dirs=["native"],
    cxx_std=17,
    extra_compile_args=["-O3"],
)

# Exact-order kernels: no contraction of a separate multiply and add into an FMA (or the reverse), so the
# rounding is the one native/gemm/blocked_gemm.h documents on every compiler.
kernels = Pybind11Extension(
    "nvcodec._kernels",
    sources=["native/gemm/blocked_gemm.cpp", "native/kernels_bindings.cpp"],
    include_dirs=["native"],
    cxx_std=17,
    extra_compile_args=["-O3", "-ffp-contract=off", "-pthread"],
    extra_link_args=["-pthread"],
)

setup(ext_modules=[rans, kernels])
