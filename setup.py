"""Build hook for the native rANS coder; all metadata lives in pyproject.toml."""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

rans = Pybind11Extension(
    "nvcodec._rans",
    sources=["native/rans/rans.cpp", "native/rans/quantize.cpp", "native/bindings.cpp"],
    include_dirs=["native"],
    cxx_std=17,
    extra_compile_args=["-O3"],
)

setup(ext_modules=[rans])
