"""Build hook for the native extensions; all metadata lives in pyproject.toml."""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import find_namespace_packages, setup

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
    sources=["native/gemm/blocked_gemm.cpp", "native/motion/motion_search.cpp", "native/motion/warp.cpp",
             "native/kernels_bindings.cpp"],
    include_dirs=["native"],
    cxx_std=17,
    extra_compile_args=["-O3", "-ffp-contract=off", "-pthread"],
    extra_link_args=["-pthread"],
)

# the command-line front end is the cli/ folder, installed as nvcodec_cli: a top-level package named `cli`
# would collide with any other distribution's
setup(
    ext_modules=[rans, kernels],
    packages=[*find_namespace_packages(include=["nvcodec*"]), "nvcodec_cli"],
    package_dir={"nvcodec_cli": "cli"},
)
