"""Native block motion search (nvcodec._kernels.motion_search) and its median predictor."""

import numpy as np
import pytest

from nvcodec import _kernels

BLOCK = 16
MAX_MV = _kernels.MOTION_MAX_QPEL


def smooth_image(seed: int, h: int = 64, w: int = 96, sigma: float = 2.5) -> np.ndarray:
    """Seeded noise low-passed with a Gaussian (in the Fourier domain), scaled to [0, 1]: texture
    that a motion search can lock onto, smooth enough for its descent to find the minimum."""
    noise = np.random.default_rng(seed).random((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    img = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))))
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def bilinear(ref: np.ndarray, vy: int, vx: int) -> np.ndarray:
    """The documented quarter-pel prediction of the whole frame with one vector, in float32 and in
    the documented order: ((a*wx0 + b*wx1)*wy0 + (c*wx0 + d*wx1)*wy1) * 0.0625, edges replicated."""
    h, w = ref.shape
    sy = 4 * np.arange(h)[:, None] + vy
    sx = 4 * np.arange(w)[None, :] + vx
    iy, ix = sy // 4, sx // 4  # floor, also for negatives
    fy, fx = (sy - 4 * iy).astype(np.float32), (sx - 4 * ix).astype(np.float32)
    y0, y1 = np.clip(iy, 0, h - 1), np.clip(iy + 1, 0, h - 1)
    x0, x1 = np.clip(ix, 0, w - 1), np.clip(ix + 1, 0, w - 1)
    a, b, c, d = ref[y0, x0], ref[y0, x1], ref[y1, x0], ref[y1, x1]
    wx0, wy0 = np.float32(4) - fx, np.float32(4) - fy
    top = a * wx0 + b * fx
    bottom = c * wx0 + d * fx
    return (top * wy0 + bottom * fy) * np.float32(0.0625)


def interior(field: np.ndarray) -> np.ndarray:
    return field[1:-1, 1:-1]


def median_predictor(field: np.ndarray) -> np.ndarray:
    """The predictor rule written out: the left vector in the first row, below it the median of left,
    top and top-right ((0, 0) outside; top-left for the top-right of the last column), component by
    component."""
    h, w = field.shape[:2]

    def at(y, x):
        return field[y, x] if 0 <= y < h and 0 <= x < w else np.zeros(2, field.dtype)

    out = np.zeros_like(field)
    for y in range(h):
        for x in range(w):
            if y == 0:
                out[y, x] = at(y, x - 1)
                continue
            diagonal = at(y - 1, x + 1) if x + 1 < w else at(y - 1, x - 1)
            out[y, x] = np.median(np.stack([at(y, x - 1), at(y - 1, x), diagonal]), axis=0)
    return out


def test_bilinear_reference_is_the_reference_at_integer_vectors():
    ref = smooth_image(0)
    assert np.array_equal(bilinear(ref, 8, -12)[:-2, 3:], ref[2:, :-3])


def test_integer_shift_is_found_with_the_documented_sign():
    ref = smooth_image(1)
    # cur[y, x] = ref[y - 3, x + 5]: the block is predicted from 3 rows up and 5 columns right
    cur = np.roll(ref, (3, -5), axis=(0, 1))
    field = _kernels.motion_search(cur, ref, 0.01, 16)
    assert field.shape == (4, 6, 2) and field.dtype == np.int32
    assert np.all(interior(field) == [-12, 20])


@pytest.mark.parametrize(
    ("vy", "vx"),
    [(6, -10), (-2, 14), (9, -7), (-5, 3), (1, 1), (-31, 22)],
    ids=["half", "half-2", "quarter", "quarter-2", "quarter-small", "quarter-far"],
)
def test_fractional_shift_is_found_exactly(vy, vx):
    ref = smooth_image(2)
    cur = bilinear(ref, vy, vx)
    field = _kernels.motion_search(cur, ref, 0.01, 16)
    assert np.all(interior(field) == [vy, vx])


def test_motion_beyond_the_diamond_is_found_through_the_coarse_search():
    ref = smooth_image(3, sigma=3.0)
    cur = bilinear(ref, -4 * 9 + 2, 4 * 14)  # (-8.5, 14) pixels
    field = _kernels.motion_search(cur, ref, 0.01, 16)
    assert np.all(interior(field) == [-34, 56])


def test_previous_field_supplies_motion_the_search_cannot_reach():
    ref = smooth_image(4, sigma=3.0)
    cur = bilinear(ref, 48, -80)  # (12, -20) pixels: beyond a range-0 search (the coarse one reaches 8)
    without = _kernels.motion_search(cur, ref, 0.01, 0)
    assert not np.any(np.all(without == [48, -80], axis=-1))
    previous = np.tile(np.array([48, -80], np.int32), (4, 6, 1))
    with_previous = _kernels.motion_search(cur, ref, 0.01, 0, previous)
    assert np.all(interior(with_previous) == [48, -80])


def test_rate_term_keeps_noise_on_the_zero_vector():
    rng = np.random.default_rng(5)
    scene = smooth_image(5)
    ref = np.clip(scene + rng.normal(0, 0.05, scene.shape), 0, 1).astype(np.float32)
    cur = np.clip(scene + rng.normal(0, 0.05, scene.shape), 0, 1).astype(np.float32)
    # SAD alone prefers vectors that happen to fit the noise (or average it out at fractional positions) ...
    assert np.any(_kernels.motion_search(cur, ref, 0.0, 16) != 0)
    # ... a vector's bits, at this price, are worth more than any of that
    assert np.all(_kernels.motion_search(cur, ref, 50.0, 16) == 0)


def test_vectors_stay_within_range():
    rng = np.random.default_rng(6)
    cur = rng.random((64, 96), dtype=np.float32)
    ref = rng.random((64, 96), dtype=np.float32)
    previous = rng.integers(-(2**31), 2**31 - 1, (4, 6, 2), dtype=np.int64).astype(np.int32)
    for search_range in (0, 1, 64):
        field = _kernels.motion_search(cur, ref, 0.0, search_range, previous)
        assert np.abs(field).max() <= MAX_MV
    # all motion far out of range: the edge of the range is as far as the vectors go
    ref = smooth_image(7)
    cur = bilinear(ref, 400, -400)
    assert np.abs(_kernels.motion_search(cur, ref, 0.0, 64)).max() <= MAX_MV


def test_search_is_deterministic():
    rng = np.random.default_rng(8)
    ref = smooth_image(8)
    cur = (bilinear(ref, 5, -9) + rng.normal(0, 0.02, ref.shape)).astype(np.float32)
    previous = rng.integers(-40, 40, (4, 6, 2), dtype=np.int32)
    first = _kernels.motion_search(cur, ref, 0.1, 16, previous)
    assert np.array_equal(first, _kernels.motion_search(cur.copy(), ref.copy(), 0.1, 16, previous.copy()))
    # a non-contiguous view of the same samples is the same input
    wide = np.zeros((64, 192), np.float32)
    wide[:, ::2] = cur
    assert np.array_equal(first, _kernels.motion_search(wide[:, ::2], ref, 0.1, 16, previous))


def test_search_ranks_by_the_median_predictor_it_exposes():
    # a noisy static frame at a moderate price: the rate term is active, and whatever the search
    # chose, the predictor it coded against is the one motion_predictor reports
    rng = np.random.default_rng(9)
    ref = smooth_image(9)
    cur = (bilinear(ref, 3, -2) + rng.normal(0, 0.03, ref.shape)).astype(np.float32)
    field = _kernels.motion_search(cur, ref, 2.0, 8)
    assert np.array_equal(_kernels.motion_predictor(field), median_predictor(field))


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (1, 6), (6, 1), (2, 2)])
def test_motion_predictor_is_the_median_rule(shape):
    rng = np.random.default_rng(sum(shape))
    field = rng.integers(-300, 300, (*shape, 2), dtype=np.int32)
    got = _kernels.motion_predictor(field)
    assert got.dtype == np.int32 and got.shape == field.shape
    assert np.array_equal(got, median_predictor(field))
    # the first row predicts from the left: a pan costs one vector, not one per block
    assert np.all(got[0, 0] == 0) and np.array_equal(got[0, 1:], field[0, :-1])


def test_motion_predictor_rejects_bad_fields():
    with pytest.raises(ValueError, match="int32"):
        _kernels.motion_predictor(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        _kernels.motion_predictor(np.zeros((2, 2, 3), np.int32))
    with pytest.raises(ValueError, match="shape"):
        _kernels.motion_predictor(np.zeros((4, 2), np.int32))


FRAME = np.zeros((32, 48), np.float32)


@pytest.mark.parametrize(
    ("cur", "ref", "search_range", "previous", "message"),
    [
        (FRAME.astype(np.float64), FRAME, 8, None, "float32"),
        (FRAME, FRAME.astype(np.float16), 8, None, "float32"),
        (FRAME, FRAME[:, :32], 8, None, "but ref is"),
        (FRAME[None], FRAME[None], 8, None, "dimension"),
        (np.zeros((40, 48), np.float32), np.zeros((40, 48), np.float32), 8, None, "multiple of 16"),
        (np.zeros((0, 16), np.float32), np.zeros((0, 16), np.float32), 8, None, "multiple of 16"),
        (np.zeros((16, 8208), np.float32), np.zeros((16, 8208), np.float32), 8, None, "multiple of 16"),
        (FRAME, FRAME, -1, None, "search_range"),
        (FRAME, FRAME, 65, None, "search_range"),
        (FRAME, FRAME, 8, np.zeros((2, 3, 2), np.int64), "int32"),
        (FRAME, FRAME, 8, np.zeros((2, 3, 2), np.float32), "int32"),
        (FRAME, FRAME, 8, np.zeros((3, 2, 2), np.int32), "previous must have shape"),
        (FRAME, FRAME, 8, np.zeros((2, 3), np.int32), "previous must have shape"),
    ],
)
def test_bad_arguments_raise_value_error(cur, ref, search_range, previous, message):
    with pytest.raises(ValueError, match=message):
        _kernels.motion_search(cur, ref, 0.1, search_range, previous)


@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf")])
def test_bad_lambda_raises_value_error(lam):
    with pytest.raises(ValueError, match="lam"):
        _kernels.motion_search(FRAME, FRAME, lam, 8)


def test_largest_frame_is_accepted():
    # 8192 is allowed each way (a thin frame keeps the test quick)
    frame = np.zeros((16, 8192), np.float32)
    assert _kernels.motion_search(frame, frame, 1.0, 4).shape == (1, 512, 2)
