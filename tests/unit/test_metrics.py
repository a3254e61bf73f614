"""PSNR, PSNR-YUV 6:1:1, rate helpers and BD-rate against worked examples with known answers."""

import math

import numpy as np
import pytest

from nvcodec.metrics import (
    PSNR_CAP,
    FrameQuality,
    bd_rate,
    bits_per_pixel,
    frame_quality,
    kbit_per_second,
    mean_quality,
    psnr,
)
from nvcodec.metrics.bdrate import _pchip_integral

# x265 preset comparison published in the bjontegaard package's README (FAU-LMS)
RATE_ANCHOR = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_ANCHOR = [40.037, 38.615, 36.845, 34.851]
RATE_TEST = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_TEST = [40.121, 38.651, 36.970, 34.987]
#: PCHIP BD-rate of that data as bjontegaard 1.3.0 computes it (its authors cross-checked
#: their PCHIP against the JCT-VC/JVET Excel sheet to 10 decimals)
PUBLISHED_PCHIP_BD_RATE = -4.417485350589045


class Frame:
    def __init__(self, y, u, v):
        self.y, self.u, self.v = y, u, v


def test_psnr_of_a_unit_error_is_10_log10_255_squared():
    a = np.full((4, 6), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255 ** 2))


def test_psnr_uses_float_arithmetic_not_uint8_wraparound():
    a, b = np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8)
    assert psnr(a, b) == pytest.approx(0.0)
    assert psnr(b, a) == pytest.approx(0.0)


def test_identical_planes_are_capped():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert psnr(a, a) == PSNR_CAP == 99.9


def test_psnr_rejects_mismatched_or_empty_planes():
    with pytest.raises(ValueError):
        psnr(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError):
        psnr(np.zeros((0, 2), np.uint8), np.zeros((0, 2), np.uint8))


def test_psnr_yuv_weights_luma_six_to_one():
    q = FrameQuality(y=40.0, u=48.0, v=32.0)
    assert q.yuv == pytest.approx((6 * 40 + 48 + 32) / 8)


def test_frame_quality_measures_each_plane():
    rng = np.random.default_rng(0)
    ref = Frame(rng.integers(0, 256, (6, 8), np.uint8), rng.integers(0, 256, (3, 4), np.uint8),
                rng.integers(0, 256, (3, 4), np.uint8))
    out = Frame(ref.y, ref.u ^ 1, ref.v)
    q = frame_quality(ref, out)
    assert q.y == PSNR_CAP and q.v == PSNR_CAP
    assert q.u == pytest.approx(10 * math.log10(255 ** 2))


def test_sequence_quality_is_the_mean_of_frame_values_not_of_mse():
    frames = [FrameQuality(30.0, 40.0, 41.0), FrameQuality(50.0, 42.0, 39.0)]
    seq = mean_quality(frames)
    assert (seq.y, seq.u, seq.v) == (40.0, 41.0, 40.0)
    assert seq.yuv == pytest.approx(np.mean([f.yuv for f in frames]))
    with pytest.raises(ValueError):
        mean_quality([])


def test_rate_helpers():
    assert bits_per_pixel(768 * 512, 768, 512) == 1.0
    assert bits_per_pixel(1200, 10, 10, frames=3) == 4.0
    assert kbit_per_second(24_000, frames=24, fps=24.0) == 24.0
    with pytest.raises(ValueError):
        bits_per_pixel(1, 0, 10)
    with pytest.raises(ValueError):
        kbit_per_second(1, 0, 30.0)


@pytest.mark.parametrize("implementation", ["nvc", "auto"])
@pytest.mark.parametrize("factor", [0.8, 1.25, 0.5])
def test_constant_rate_factor_gives_exactly_that_percentage(implementation, factor):
    rates = [0.1, 0.25, 0.5, 1.1]
    quality = [30.0, 33.5, 36.0, 39.0]
    result = bd_rate(rates, quality, [r * factor for r in rates], quality, implementation)
    assert result.percent == pytest.approx((factor - 1) * 100, abs=1e-9)
    assert result.overlap == 1.0


def test_quality_shift_on_a_log_linear_curve_has_the_analytic_answer():
    # log10(rate) = 0.1 * PSNR: PCHIP reproduces a straight line, so a test curve 1 dB
    # better at every rate needs 10**-0.1 of the rate over the whole overlap [31, 36]
    quality = np.array([30.0, 32.0, 34.0, 36.0])
    rates = 10 ** (0.1 * quality)
    result = bd_rate(rates, quality, rates, quality + 1.0, "nvc")
    assert result.percent == pytest.approx((10 ** -0.1 - 1) * 100, abs=1e-9)
    assert result.overlap == pytest.approx(5 / 7)


def test_published_example_matches_the_reference_pchip_value():
    result = bd_rate(RATE_ANCHOR, PSNR_ANCHOR, RATE_TEST, PSNR_TEST, "nvc")
    assert result.percent == pytest.approx(PUBLISHED_PCHIP_BD_RATE, abs=1e-9)


def test_published_example_agrees_with_the_classic_cubic_bjontegaard():
    # VCEG-M33's original method, computed here independently: one cubic in PSNR per
    # curve (least squares through 4 points = interpolation), integrated exactly
    def integral(rates, quality, lo, hi):
        poly = np.polyint(np.polyfit(quality, np.log10(rates), 3))
        return np.polyval(poly, hi) - np.polyval(poly, lo)

    lo, hi = max(min(PSNR_ANCHOR), min(PSNR_TEST)), min(max(PSNR_ANCHOR), max(PSNR_TEST))
    diff = (integral(RATE_TEST, PSNR_TEST, lo, hi) - integral(RATE_ANCHOR, PSNR_ANCHOR, lo, hi)) / (hi - lo)
    cubic = (10 ** diff - 1) * 100
    assert cubic == pytest.approx(-4.4205, abs=1e-3)
    pchip = bd_rate(RATE_ANCHOR, PSNR_ANCHOR, RATE_TEST, PSNR_TEST, "nvc").percent
    assert abs(pchip - cubic) < 0.01  # the two interpolations differ by a few thousandths here


def test_nvc_pchip_matches_the_bjontegaard_package():
    # a cross-check of the fallback against the well-kept package, where it is installed
    pytest.importorskip("bjontegaard")
    rng = np.random.default_rng(3)
    for _ in range(20):
        qa = np.sort(rng.uniform(28, 44, 5))
        qt = np.sort(rng.uniform(28, 44, 4))
        ra = np.sort(rng.uniform(0.05, 2.0, 5))
        rt = np.sort(rng.uniform(0.05, 2.0, 4))
        ours = bd_rate(ra, qa, rt, qt, "nvc")
        theirs = bd_rate(ra, qa, rt, qt, "bjontegaard")
        if ours.percent is None:
            assert theirs.percent is None
        else:
            assert ours.percent == pytest.approx(theirs.percent, rel=1e-9, abs=1e-9)


def test_pchip_integral_is_exact_on_a_line_and_over_partial_ranges():
    x = np.array([0.0, 1.0, 3.0])
    y = 2.0 * x + 1.0
    assert _pchip_integral(x, y, 0.0, 3.0) == pytest.approx(12.0)
    assert _pchip_integral(x, y, 0.5, 2.0) == pytest.approx((4.0 + 2.0) - (0.25 + 0.5))


def test_point_order_does_not_matter():
    forward = bd_rate(RATE_ANCHOR, PSNR_ANCHOR, RATE_TEST, PSNR_TEST, "nvc")
    shuffled = bd_rate(RATE_ANCHOR[::-1], PSNR_ANCHOR[::-1], RATE_TEST[2:] + RATE_TEST[:2],
                       PSNR_TEST[2:] + PSNR_TEST[:2], "nvc")
    assert forward.percent == pytest.approx(shuffled.percent, abs=1e-12)


def test_two_point_curves_are_straight_lines():
    result = bd_rate([1.0, 10.0], [30.0, 40.0], [0.5, 5.0], [30.0, 40.0], "nvc")
    assert result.percent == pytest.approx(-50.0)


@pytest.mark.parametrize(("anchor", "test", "reason"), [
    (([1.0, 2.0], [30.0, 32.0]), ([1.0, 2.0], [40.0, 42.0]), "share no quality"),
    (([1.0], [30.0]), ([1.0, 2.0], [30.0, 32.0]), "fewer than two"),
    (([1.0, 2.0, 3.0], [30.0, 33.0, 32.0]), ([1.0, 2.0], [30.0, 32.0]), "rise strictly"),
    (([0.0, 2.0], [30.0, 33.0]), ([1.0, 2.0], [30.0, 32.0]), "zero, negative"),
])
def test_undefined_bd_rates_say_why(anchor, test, reason):
    result = bd_rate(*anchor, *test, "nvc")
    assert result.percent is None and reason in result.reason
