"""Numerics profiles: the pinned float environment that makes decoding exact.

DCVC-RT has no integer path: table indices, skip decisions and the P-frame
feature chain are all float computations, and their last bits depend on which
CPU kernels run and how many threads split each reduction.  A stream therefore
decodes exactly only where the decoder reproduces the encoder's kernels and
thread count.  nvc makes that a named, recorded property of every stream
instead of luck: a *profile* fixes the kernel ISA cap (environment variables
that torch and oneDNN read once, before torch is imported), the intra-op
thread count and the dtype.

``cpu-avx2-t2`` is the profile the DCVC-RT conformance vectors were produced
with, and nvc's default: any x86-64 CPU with AVX2 can run it, whatever its core
count.  ``cpu-native`` uses whatever torch picks (fastest, but only portable to
an identical machine).

The library never re-executes anything itself: :func:`prepare_environment`
sets the variables when torch has not been imported yet (the CLI and the test
suite call it first), :func:`check` reports whether the running process honours
a profile, and :func:`pinned` fixes the thread count around a coding call.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from nvcodec.errors import NumericsError


@dataclass(frozen=True)
class NumericsProfile:
    name: str
    threads: int | None  # None: leave torch's choice
    env: dict[str, str] = field(default_factory=dict)
    cpu_capability: str | None = None  # what torch.backends.cpu.get_cpu_capability() must say
    description: str = ""
    device: str = "cpu"  # the device kind the profile computes on
    # small convolutions in the DCVC-RT reference's own summation order (nvcodec.models.reference_conv)
    reference_convolutions: bool = False


CONFORMANCE = NumericsProfile(
    name="cpu-avx2-t2",
    threads=2,
    # MKL_CBWR pins MKL's GEMM (used by torch for small convolutions) to its AVX2
    # code path in conditional-numerical-reproducibility mode, so the result no
    # longer depends on the CPU model; oneDNN and ATen are capped by the other two.
    env={"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
    cpu_capability="AVX2",
    description="float32, 2 intra-op threads, oneDNN/ATen/MKL kernels pinned to AVX2 (DCVC-RT conformance)",
    reference_convolutions=True,
)
NATIVE = NumericsProfile(
    name="cpu-native",
    threads=None,
    description="float32 with torch's default kernels and threads (exact only on an identical machine)",
)

CUDA = NumericsProfile(
    name="cuda-f32",
    threads=None,
    description="float32 on CUDA without TF32, deterministic kernels (exact on the same GPU model and driver)",
    device="cuda",
)

PROFILES: dict[str, NumericsProfile] = {p.name: p for p in (CONFORMANCE, NATIVE, CUDA)}
DEFAULT_PROFILE = CONFORMANCE.name


def default_profile_for(device_type: str) -> str:
    """The profile nvc uses on a device when none is asked for."""
    return CUDA.name if device_type == "cuda" else DEFAULT_PROFILE


def get_profile(name: str) -> NumericsProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise NumericsError(f"unknown numerics profile {name!r} (known: {', '.join(PROFILES)})") from None


def torch_imported() -> bool:
    return "torch" in sys.modules


def tune_allocator() -> bool:
    """Keep freed memory in the process instead of returning it to the OS (glibc only).

    A 1080p frame moves through tensors of 50-200 MB; glibc serves each from a
    fresh mmap and unmaps it on free, so every layer pays page faults again.
    Serving large blocks from the heap and not trimming it cut a 1080p P-frame
    decode from 8.0 s to 4.9 s on 2 cores (``python bench/bench_codec.py``).
    Returns False where it does not apply.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


#: Scheduling, not numerics (so the caller's own value wins): OpenMP worker threads spin this
#: long at a barrier before sleeping.  libgomp's default spins so long that a pinned 2-thread
#: coder beside one other busy process (a parallel batch encode, a test run) loses its core to
#: the spinner at every layer: 720p compact P encode 2.4 s instead of 0.16 s.  10k spins cost
#: nothing measurable idle and give 0.42 s in that case (bench/bench_codec.py, 2-core VM).
SCHEDULING_ENV = {"GOMP_SPINCOUNT": "10000"}


def prepare_environment(name: str = DEFAULT_PROFILE) -> bool:
    """Set the profile's variables in ``os.environ`` if torch is not loaded yet.

    Also tunes the allocator (:func:`tune_allocator`).  Returns True when the
    process will run the profile (variables set in time or already right),
    False when torch was imported first with other settings.
    """
    profile = get_profile(name)
    tune_allocator()
    if not torch_imported():
        os.environ.update(profile.env)
        for key, value in SCHEDULING_ENV.items():
            os.environ.setdefault(key, value)
        return True
    return all(os.environ.get(k) == v for k, v in profile.env.items())


def environment_for(name: str = DEFAULT_PROFILE, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) with the profile applied,
    for starting a child process that must run the profile."""
    env = dict(os.environ if base is None else base)
    env.update(get_profile(name).env)
    for key, value in SCHEDULING_ENV.items():
        env.setdefault(key, value)
    return env


def supported(name: str = DEFAULT_PROFILE) -> bool:
    """Whether this machine can run the profile at all (AVX2 profiles need x86-64 with AVX2)."""
    profile = get_profile(name)
    if profile.cpu_capability is None:
        return True
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return " avx2" in f.read()
    except OSError:
        return True  # no way to tell; torch's check below decides


def check(name: str = DEFAULT_PROFILE) -> None:
    """Raise :class:`NumericsError` unless the running process honours the profile."""
    profile = get_profile(name)
    if profile.device == "cuda":
        return
    if not supported(name):
        raise NumericsError(f"numerics profile {name} needs an x86-64 CPU with AVX2")
    wrong = {k: os.environ.get(k) for k, v in profile.env.items() if os.environ.get(k) != v}
    if wrong:
        settings = " ".join(f"{k}={v}" for k, v in profile.env.items())
        raise NumericsError(
            f"numerics profile {name} must be set before torch is imported ({settings}); "
            "call nvcodec.numerics.prepare_environment() first or run through the nvc command"
        )
    if profile.cpu_capability is not None:
        import torch

        actual = torch.backends.cpu.get_cpu_capability()
        if actual != profile.cpu_capability:
            raise NumericsError(f"numerics profile {name} needs {profile.cpu_capability} kernels, torch uses {actual}")


@contextlib.contextmanager
def pinned(name: str = DEFAULT_PROFILE) -> Iterator[NumericsProfile]:
    """Run the enclosed coding work with the profile's thread count, then restore the caller's."""
    import torch

    profile = get_profile(name)
    check(name)
    if profile.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    before = torch.get_num_threads()
    if profile.threads is not None and before != profile.threads:
        torch.set_num_threads(profile.threads)
    order = contextlib.nullcontext()
    if profile.reference_convolutions:
        from nvcodec.models import reference_conv

        order = reference_conv.enabled()
    try:
        with order:
            yield profile
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
