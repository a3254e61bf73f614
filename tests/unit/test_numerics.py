"""Numerics profiles: what a child process gets, and that coding restores the caller's threads."""

import torch

from nvcodec import numerics


def test_child_environment_carries_the_profile_and_the_spin_limit():
    env = numerics.environment_for(numerics.DEFAULT_PROFILE, base={"PATH": "/bin"})
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["GOMP_SPINCOUNT"] == "10000" and env["PATH"] == "/bin"
    # scheduling is the caller's to choose; the kernel pins are not
    mine = numerics.environment_for(numerics.DEFAULT_PROFILE, base={"GOMP_SPINCOUNT": "5", "MKL_CBWR": "AUTO"})
    assert mine["GOMP_SPINCOUNT"] == "5" and mine["MKL_CBWR"] == "AVX2"


def test_pinned_uses_the_profile_threads_and_restores_the_callers():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with numerics.pinned(numerics.DEFAULT_PROFILE):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
