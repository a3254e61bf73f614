"""Rate control without a network: units, the buffer checker, and the controllers against a simulated coder.

The simulated coder spends ``pixels * exp(a + slope * shape(qp) + noise)`` bits a frame, with content
that changes half-way, a level and slope the controllers do not know; so these tests check the
feedback and planning logic, and the CLI tests check it on real frames.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from nvcodec.errors import ConfigError
from nvcodec.media import Planes
from nvcodec.ratecontrol import (
    FixedQp,
    OnePass,
    PassOneRecorder,
    RateRequest,
    TwoPass,
    Vbv,
    parse_bits,
    read_pass_log,
    replay_buffer,
)
from nvcodec.ratecontrol.model import shape
from nvcodec.settings import CodingSettings

PIXELS = 320 * 240
FPS = 30.0


@pytest.mark.parametrize(("text", "bits"), [("500k", 500_000), ("2.5M", 2_500_000), ("1e6", 1_000_000),
                                            ("800000", 800_000), ("1.5Mi", 1_572_864), ("64 kbps", 64_000)])
def test_rates_in_ffmpeg_units(text, bits):
    assert parse_bits(text) == bits


@pytest.mark.parametrize("text", ["", "abc", "0", "-5k", "5x", "nan", "inf", "0.4", "1e30", "5 k b p s"])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError, match="bitrate"):
        parse_bits(text)


def test_the_buffer_checker_on_constructed_sequences():
    # 1000 bits of buffer, 300 bits arrive between frames (maxrate 3000 at 10 fps)
    assert replay_buffer([1000, 300, 300, 300], 10, 3000, 1000) is None  # drained, then just kept up
    assert replay_buffer([1000, 301], 10, 3000, 1000) == 1  # one bit too many after the drain
    assert replay_buffer([1001], 10, 3000, 1000) == 0  # larger than the whole buffer
    # the refill stops at the buffer's size: idle frames do not save up beyond it
    assert replay_buffer([0, 0, 0, 0, 1000, 300], 10, 3000, 1000) is None
    assert replay_buffer([0, 0, 0, 0, 1200], 10, 3000, 1000) == 4
    with pytest.raises(ValueError):
        Vbv(0, 1000, 10)


def _settings(intra_period: int = -1) -> CodingSettings:
    return CodingSettings(qp_i=32, intra_period=intra_period, reset_interval=0).resolve(_GatedConfig())


class _GatedConfig:
    reference_skip = True  # block skip by default, P frames 24 under the I frame


class _Coder:
    """A content whose bits at each qp the controllers must discover."""

    def __init__(self, frames: int, seed: int = 1, level: float = -1.0, slope: float = 1.2) -> None:
        rng = np.random.default_rng(seed)
        self.noise = rng.normal(0, 0.15, frames)
        # the second half is twice as hard to code
        self.hardness = np.where(np.arange(frames) < frames // 2, 0.0, math.log(2.0))
        self.level, self.slope = level, slope

    def bits(self, index: int, kind: str, qp: int) -> int:
        ln = self.level + self.slope * shape(kind, qp) + self.noise[index] + self.hardness[index]
        return int(PIXELS * math.exp(ln + (0.7 if kind == "I" else 0.0)))


def _run(controller, coder: _Coder, frames: int) -> list[int]:
    sizes = []
    for i in range(frames):
        qp = controller.choose(i)
        kind = controller.kind(controller.plan(i)) if hasattr(controller, "kind") else \
            controller.controller.kind(controller.controller.plan(i))
        bits = coder.bits(i, kind, qp)
        while (lower := controller.retry(i, qp, bits)) is not None:
            qp, bits = lower, coder.bits(i, kind, lower)
        controller.update(i, qp, bits)
        sizes.append(bits)
    return sizes


@pytest.mark.parametrize("target", [60_000, 100_000, 160_000])
@pytest.mark.parametrize("intra_period", [-1, 32])
def test_one_pass_lands_within_ten_percent_without_see_saw(target, intra_period):
    frames = 120
    controller = OnePass(_settings(intra_period), PIXELS, FPS, target, total_frames=frames)
    sizes = _run(controller, _Coder(frames), frames)
    achieved = sum(sizes) * FPS / frames
    assert abs(achieved / target - 1) < 0.10, achieved
    # P frames of one group of 8 share a level: their qps follow the fixed pattern, never a see-saw
    qps = controller.qps
    for start in range(1, frames - 8, 8):
        if intra_period > 0 and any(i % intra_period == 0 for i in range(start, start + 8)):
            continue
        pattern = [q - qps[start] for q in qps[start:start + 8]]
        assert pattern in ([0, -8, -4, -8, -4, -8, -4, -8], [0] * 8) or min(qps[start:start + 8]) == 0, pattern


def test_one_pass_warns_once_when_the_target_is_out_of_reach():
    controller = OnePass(_settings(), PIXELS, FPS, 50)  # 50 bit/s: below anything qp 0 spends
    _run(controller, _Coder(64), 64)
    summary = controller.summary(50)
    assert len(summary.warnings) == 1 and "below what qp 0" in summary.warnings[0] and summary.qp_max == 8
    controller = OnePass(_settings(), PIXELS, FPS, 5e9)
    _run(controller, _Coder(64), 64)
    assert any("above what qp 63" in w for w in controller.summary(5e9).warnings)


@pytest.mark.parametrize("make", [
    lambda vbv: OnePass(_settings(), PIXELS, FPS, 150_000, vbv),
    lambda vbv: FixedQp(_settings(), PIXELS, FPS, vbv),  # capped quality
])
def test_the_buffer_never_runs_dry(make):
    frames = 96
    vbv = Vbv(maxrate=200_000, bufsize=100_000, fps=FPS)
    controller = make(vbv)
    sizes = _run(controller, _Coder(frames), frames)
    assert replay_buffer(sizes, FPS, 200_000, 100_000) is None
    assert controller.summary().underflows == 0


def _two_pass(target: float, coder: _Coder, frames: int, intra_period: int = -1):
    settings = _settings(intra_period)
    first = PassOneRecorder(OnePass(settings, PIXELS, FPS, target), settings, "ab" * 32)
    first.first_frame(_planes(0))
    _run(first, coder, frames)
    second = TwoPass(settings, PIXELS, FPS, target, first.log, "ab" * 32)
    second.first_frame(_planes(0))
    return first, second, _run(second, coder, frames)


@pytest.mark.parametrize("target", [80_000, 140_000])
@pytest.mark.parametrize("intra_period", [-1, 32])
def test_two_passes_land_within_three_percent(target, intra_period):
    frames = 96
    first, second, sizes = _two_pass(target, _Coder(frames, seed=3), frames, intra_period)
    achieved = sum(sizes) * FPS / frames
    assert abs(achieved / target - 1) < 0.03, achieved


def _planes(seed: int) -> Planes:
    rng = np.random.default_rng(seed)
    return Planes(rng.integers(0, 255, (16, 16), dtype=np.uint8), np.zeros((8, 8), np.uint8),
                  np.zeros((8, 8), np.uint8))


def test_pass_logs_from_another_input_or_settings_are_refused(tmp_path):
    settings = _settings()
    first = PassOneRecorder(OnePass(settings, PIXELS, FPS, 100_000), settings, "ab" * 32)
    first.first_frame(_planes(0))
    _run(first, _Coder(16), 16)
    path = str(tmp_path / "p-0.log")
    first.log.write(path)
    log = read_pass_log(path)
    second = TwoPass(settings, PIXELS, FPS, 100_000, log, "ab" * 32)
    with pytest.raises(ConfigError, match="another"):
        second.first_frame(_planes(1))  # another input
    with pytest.raises(ConfigError, match="differ in model"):
        TwoPass(settings, PIXELS, FPS, 100_000, log, "cd" * 32)
    other = CodingSettings(qp_i=32, intra_period=8, reset_interval=0).resolve(_GatedConfig())
    with pytest.raises(ConfigError, match="intra_period"):
        TwoPass(other, PIXELS, FPS, 100_000, log, "ab" * 32)
    moving = dataclasses.replace(settings, motion=not settings.motion)
    with pytest.raises(ConfigError, match="motion"):
        TwoPass(moving, PIXELS, FPS, 100_000, log, "ab" * 32)
    with pytest.raises(ConfigError, match="size or frame rate"):
        TwoPass(settings, PIXELS * 4, FPS, 100_000, log, "ab" * 32)
    with pytest.raises(ConfigError, match="run -pass 1"):
        read_pass_log(str(tmp_path / "missing-0.log"))
    (tmp_path / "bad-0.log").write_text('{"format": "nvc-pass-1", "frames": [["X", 1, 2]]}')
    with pytest.raises(ConfigError, match="pass-1 log"):
        read_pass_log(str(tmp_path / "bad-0.log"))


def test_requests_are_checked_once():
    with pytest.raises(ConfigError, match="bufsize"):
        RateRequest(bitrate=1000, maxrate=2000)
    with pytest.raises(ConfigError, match="-b:v"):
        RateRequest(pass_number=2)
    with pytest.raises(ConfigError, match="maxrate"):
        RateRequest(bitrate=3000, maxrate=2000, bufsize=4000)
    assert not RateRequest().active and RateRequest(pass_number=1).active
