"""Motion compensation and the coded motion field (nvc's extension): exact warps, lossless vectors,
refused damage."""

import numpy as np
import pytest
import torch

from nvcodec import _kernels
from nvcodec.codec import motion
from nvcodec.entropy.rans import RansDecoder, RansEncoder
from nvcodec.errors import StreamError


def smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, h // 4 + 1, w // 4 + 1, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def reference_warp(x: np.ndarray, field: np.ndarray, block: int, den: int) -> np.ndarray:
    """The documented formula, sample by sample, in float32."""
    c, h, w = x.shape
    out = np.zeros_like(x)
    for y in range(h):
        for xx in range(w):
            vy, vx = field[y // block, xx // block]
            sy, sx = y * den + int(vy), xx * den + int(vx)
            iy, ix = sy // den, sx // den
            fy, fx = sy - iy * den, sx - ix * den
            y0, y1 = min(max(iy, 0), h - 1), min(max(iy + 1, 0), h - 1)
            x0, x1 = min(max(ix, 0), w - 1), min(max(ix + 1, 0), w - 1)
            wx0, wx1 = np.float32(den - fx), np.float32(fx)
            wy0, wy1 = np.float32(den - fy), np.float32(fy)
            top = x[:, y0, x0] * wx0 + x[:, y0, x1] * wx1
            bottom = x[:, y1, x0] * wx0 + x[:, y1, x1] * wx1
            out[:, y, xx] = (top * wy0 + bottom * wy1) * np.float32(1.0 / (den * den))
    return out


def random_field(h: int, w: int, seed: int, spread: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(-spread, spread + 1, size=(1, 1, 2))
    field = base + rng.integers(-3, 4, size=(h, w, 2)) * (rng.random((h, w, 1)) < 0.4)
    field[rng.random((h, w)) < 0.05] = rng.integers(-motion.MAX_QPEL, motion.MAX_QPEL + 1, size=2)
    return np.clip(field, -motion.MAX_QPEL, motion.MAX_QPEL).astype(np.int32)


@pytest.mark.parametrize("block,den", [(16, 4), (2, 32)])
def test_the_warp_is_the_documented_formula_bit_for_bit(block, den):
    x = smooth_image(32, 48, seed=1)[0]
    field = random_field(32 // block, 48 // block, seed=2, spread=12)
    got = motion.warp(x[None], torch.as_tensor(field)[None], block, den)[0].numpy()
    assert np.array_equal(got, reference_warp(x.numpy(), field, block, den))


def test_a_zero_field_changes_nothing_and_integer_vectors_move_whole_samples():
    x = smooth_image(48, 64, seed=3)
    zero = torch.zeros(1, 3, 4, 2, dtype=torch.int32)
    assert torch.equal(motion.warp_frame(x, zero), x)
    shift = torch.tensor([4 * 2, 4 * -3], dtype=torch.int32).expand(1, 3, 4, 2)  # 2 down, 3 left
    moved = motion.warp_frame(x, shift)
    assert torch.equal(moved[:, :, :-2, 3:], x[:, :, 2:, :-3])
    feature = smooth_image(6, 8, channels=5, seed=4)
    by_one = torch.tensor([32, 0], dtype=torch.int32).expand(1, 3, 4, 2)  # 8 pixels: one feature row
    assert torch.equal(motion.warp_feature(feature, by_one)[:, :, :-1], feature[:, :, 1:])


def test_the_warp_passes_gradients_to_what_it_moves():
    x = smooth_image(32, 32, seed=5).requires_grad_()
    field = torch.as_tensor(random_field(2, 2, seed=6, spread=6))[None]
    motion.warp_frame(x, field).sum().backward()
    assert x.grad.abs().sum() > 0


def code(field: np.ndarray, two_ec: bool = False) -> tuple[bytes, bytes]:
    table = motion.class_table()
    plan = motion.plan_field(field, table)
    coder = RansEncoder(two_ec)
    motion.encode_field(coder, table, plan)
    return plan.params, coder.flush()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (9, 16), (45, 80)])
@pytest.mark.parametrize("two_ec", [False, True])
def test_fields_decode_exactly(shape, two_ec):
    table = motion.class_table()
    for seed in range(3):
        field = random_field(*shape, seed=seed)
        params, payload = code(field, two_ec)
        decoder = RansDecoder(payload, two_ec)
        assert np.array_equal(motion.decode_field(decoder, table, params, *shape), field)
        decoder.finish()


def test_extreme_vectors_survive_and_a_smooth_field_is_cheap():
    field = np.full((6, 6, 2), motion.MAX_QPEL, dtype=np.int32)
    field[::2, ::3] = -motion.MAX_QPEL
    params, payload = code(field)
    assert np.array_equal(motion.decode_field(RansDecoder(payload), motion.class_table(), params, 6, 6), field)
    smooth = np.full((45, 80, 2), 9, dtype=np.int32)  # a pan: every residual but the first is zero
    _, payload = code(smooth)
    assert len(payload) < 60


def test_the_predictor_is_the_left_vector_in_the_first_row_and_a_median_below():
    field = random_field(7, 9, seed=11)
    pred = motion.predictors(field)
    f = field.astype(int)
    for r in range(7):
        for c in range(9):
            left = f[r, c - 1] if c else np.zeros(2, int)
            top = f[r - 1, c] if r else np.zeros(2, int)
            if not r:
                assert list(pred[r, c]) == list(left)
                continue
            top_right = f[r - 1, c + 1] if c + 1 < 9 else f[r - 1, c - 1]
            assert list(pred[r, c]) == list(np.median(np.stack((left, top, top_right)), axis=0).astype(int))


def test_damaged_fields_are_refused():
    table = motion.class_table()
    field = random_field(4, 5, seed=7)
    params, payload = code(field)
    with pytest.raises(StreamError, match="table rows"):
        motion.decode_field(RansDecoder(payload), table, bytes([motion.GEOMETRIC_ROWS]) + params[1:], 4, 5)
    with pytest.raises(StreamError, match="table rows"):
        motion.decode_field(RansDecoder(payload), table, params[:-1], 4, 5)
    # a residual of 1023 quarter pels: a class of 10 with all its bits set
    coder = RansEncoder()
    classes = np.zeros(2, dtype=np.int32)
    classes[0] = 10
    coder.encode(classes, np.zeros(2, dtype=np.int32), table)
    coder.encode(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), table)
    coder.encode(np.array([0] + [1] * 9), np.full(10, motion.RAW_ROW), table)
    with pytest.raises(StreamError, match="beyond"):
        motion.decode_field(RansDecoder(coder.flush()), table, bytes(8), 1, 1)
    # a class past the table's range (its escape)
    coder = RansEncoder()
    coder.encode(np.array([11, 0]), np.zeros(2, dtype=np.int32), table)
    with pytest.raises(StreamError):
        motion.decode_field(RansDecoder(coder.flush()), table, bytes(8), 1, 1)


# -- the native warp (the coder's path) ---------------------------------------------------------


def bits(x: torch.Tensor) -> torch.Tensor:
    """The float32 bit patterns: torch.equal alone would take -0.0 for 0.0."""
    return x.contiguous().view(torch.int32)


def wild_samples(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """NaN-free float32 over many magnitudes: signs, zeros of both signs, huge and subnormal values."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * torch.pow(10.0, torch.randint(-3, 4, shape, generator=g).float())
    pick = torch.rand(shape, generator=g)
    x[pick < 0.02] = -0.0
    x[(pick > 0.02) & (pick < 0.03)] = 3e-39  # subnormal
    x[(pick > 0.03) & (pick < 0.035)] = -1e37
    return x


def wild_field(h: int, w: int, den: int, seed: int) -> np.ndarray:
    """Small motion, quarter-pel extremes, vectors far outside the frame and the largest allowed."""
    rng = np.random.default_rng(seed)
    field = rng.integers(-3 * den, 3 * den + 1, size=(h, w, 2))
    pick = rng.random((h, w, 2))
    field[pick < 0.15] = rng.choice([-motion.MAX_QPEL, motion.MAX_QPEL], size=int((pick < 0.15).sum()))
    far = (pick > 0.15) & (pick < 0.25)
    field[far] = rng.integers(-5000, 5001, size=int(far.sum()))
    field[0, 0] = (1 << 20, -(1 << 20))
    return field.astype(np.int32)


@pytest.mark.parametrize("channels,h,w,block,den", [(3, 45, 77, 16, 4), (3, 48, 80, 16, 4), (7, 9, 13, 2, 32),
                                                    (96, 12, 20, 2, 32), (2, 5, 6, 3, 8), (1, 1, 1, 16, 1)])
def test_the_native_warp_is_the_torch_warp_bit_for_bit(channels, h, w, block, den):
    for seed in range(3):
        x = wild_samples((channels, h, w), seed)
        needed = (-(-h // block), -(-w // block))
        field = wild_field(needed[0] + seed, needed[1] + 2 * seed, den, seed)  # extra vectors go unused
        got = torch.from_numpy(_kernels.motion_warp(x.numpy(), field, block, den))
        used = torch.as_tensor(field[: needed[0], : needed[1]])[None]
        assert torch.equal(bits(got), bits(motion.warp(x[None], used, block, den)[0]))


def test_the_coder_warps_natively_and_training_through_torch(monkeypatch):
    frame, feature = wild_samples((1, 3, 48, 64), 1), wild_samples((1, 96, 6, 8), 2)
    field = torch.as_tensor(wild_field(3, 4, 4, 3))[None]
    expected = motion.warp(frame, field, 16, 4), motion.warp(feature, field, 2, 32)
    calls = []
    original = motion.warp
    monkeypatch.setattr(motion, "warp", lambda *a: calls.append(a) or original(*a))
    got = motion.warp_frame(frame, field), motion.warp_feature(feature, field)
    assert not calls
    assert all(torch.equal(bits(g), bits(e)) for g, e in zip(got, expected, strict=True))
    trained = frame.clone().requires_grad_()
    assert torch.equal(bits(motion.warp_frame(trained, field).detach()), bits(expected[0]))
    assert len(calls) == 1  # gradients: the torch warp
    with torch.no_grad():
        motion.warp_frame(trained, field)
    assert len(calls) == 1
    motion.warp_frame(torch.cat((frame, frame)), torch.cat((field, field)))  # a batch
    assert len(calls) == 2


def test_the_native_warp_refuses_bad_arguments():
    x = np.zeros((3, 32, 48), dtype=np.float32)
    field = np.zeros((2, 3, 2), dtype=np.int32)
    assert _kernels.motion_warp(x, field, 16, 4).shape == (3, 32, 48)
    big = field.copy()
    big[1, 2] = (1 << 20, -(1 << 20))
    _kernels.motion_warp(x, big, 16, 4)  # the largest vectors
    wide = np.zeros((3, 5, 2), dtype=np.int32)
    wide[2:, 3:] = 1 << 30  # unused vectors are not read
    _kernels.motion_warp(x, wide, 16, 4)
    bad = [
        ((x.astype(np.float64), field, 16, 4), "float32"),
        ((x, field.astype(np.int64), 16, 4), "int32"),
        ((x[0], field, 16, 4), "shape"),
        ((x, field[..., :1], 16, 4), "shape"),
        ((x, field[:1], 16, 4), "at least"),
        ((x, field[:, :2], 16, 4), "at least"),
        ((x, field, 0, 4), "block"),
        ((x, field, -16, 4), "block"),
        ((x, field, 16, 0), "denominator"),
        ((x, field, 16, 3), "denominator"),
        ((x, field, 16, 128), "denominator"),
    ]
    for vector in (1 << 20) + 1, -(1 << 20) - 1:
        far = field.copy()
        far[1, 1, 1] = vector
        bad.append(((x, far, 16, 4), "beyond"))
    for args, message in bad:
        with pytest.raises(ValueError, match=message):
            _kernels.motion_warp(*args)
