"""The picture layer: exact integer reconstruction, a round trip through rANS, and defensive reading."""

import numpy as np
import pytest

from nvcodec.codec import picture_layer as layer
from nvcodec.entropy.magnitude_classes import GEOMETRIC_ROWS, class_table
from nvcodec.entropy.rans import RansDecoder, RansEncoder
from nvcodec.errors import StreamError
from nvcodec.media import Planes
from nvcodec.metrics.psnr import frame_quality

TABLE = class_table()


def pictures(h: int, w: int, seed: int = 0) -> tuple[Planes, Planes]:
    """A textured source and a blurred, offset stand-in for what the networks decoded."""
    rng = np.random.default_rng(seed)
    ch, cw = (h + 1) // 2, (w + 1) // 2
    source = Planes(rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(60, 200, (ch, cw), dtype=np.uint8),
                    rng.integers(60, 200, (ch, cw), dtype=np.uint8))

    def soften(plane: np.ndarray) -> np.ndarray:
        smooth = (plane.astype(np.int64) + np.roll(plane, 1, 0) + np.roll(plane, 1, 1) + 3) // 3
        return np.clip(smooth - 2, 0, 255).astype(np.uint8)

    return source, Planes(soften(source.y), soften(source.u), soften(source.v))


def round_trip(source: Planes, decoded: Planes, step16: int) -> tuple[Planes, Planes, bytes]:
    code, enhanced = layer.plan(source, decoded, step16, TABLE)
    coder = RansEncoder()
    layer.write(coder, TABLE, code)
    payload = coder.flush()
    reader = RansDecoder(payload)
    out = layer.read(reader, TABLE, code.params, decoded)
    reader.finish()
    return enhanced, out, code.params + payload


def test_the_integer_basis_is_a_scaled_orthogonal_transform():
    gram = layer.BASIS @ layer.BASIS.T
    assert np.all(np.abs(np.diag(gram) - (1 << layer.BASIS_SHIFT)) <= 0.002 * (1 << layer.BASIS_SHIFT))
    assert np.abs(gram - np.diag(np.diag(gram))).max() <= 0.002 * (1 << layer.BASIS_SHIFT)


def test_one_coefficient_reconstructs_its_basis_function_exactly_in_integers():
    symbols = np.zeros((1, 1, 8, 8), dtype=np.int64)
    symbols[0, 0, 0, 0] = 64  # an orthonormal DC of 64 levels is 64 / 8 = 8 levels on every sample
    assert np.array_equal(layer.reconstruct(symbols, 16, 8, 8), np.full((8, 8), 8))
    assert layer.reconstruct(symbols, 16, 8, 8).dtype == np.int64


@pytest.mark.parametrize("size", [(16, 16), (17, 33), (9, 7)])
def test_the_decoder_reads_the_picture_the_encoder_made_and_it_is_closer(size):
    source, decoded = pictures(*size)
    enhanced, out, _ = round_trip(source, decoded, 4 * 16)
    for name in "yuv":
        assert np.array_equal(getattr(out, name), getattr(enhanced, name)), name
    assert frame_quality(source, enhanced).y > frame_quality(source, decoded).y + 3


def test_a_finer_step_costs_more_and_gives_more():
    source, decoded = pictures(32, 48, seed=3)
    coarse, _, coarse_bytes = round_trip(source, decoded, 16 * 16)
    fine, _, fine_bytes = round_trip(source, decoded, 2 * 16)
    assert len(fine_bytes) > len(coarse_bytes)
    assert frame_quality(source, fine).y > frame_quality(source, coarse).y


def test_a_picture_already_exact_costs_only_its_parameters_and_stays_as_it_is():
    source, _ = pictures(16, 24)
    enhanced, out, data = round_trip(source, source, 16)
    assert all(np.array_equal(getattr(out, n), getattr(source, n)) for n in "yuv")
    assert len(data) <= layer.params_size() + 16


def test_4_4_4_pictures_round_trip():
    rng = np.random.default_rng(5)
    source = Planes(*(rng.integers(0, 256, (12, 20), dtype=np.uint8) for _ in range(3)), chroma="444")
    decoded = Planes(*(np.full((12, 20), 128, dtype=np.uint8) for _ in range(3)), chroma="444")
    enhanced, out, _ = round_trip(source, decoded, 32)
    assert out.chroma == "444" and all(np.array_equal(getattr(out, n), getattr(enhanced, n)) for n in "yuv")


@pytest.mark.parametrize("params", [
    (0).to_bytes(2, "big") + bytes(layer.CONTEXTS),  # a zero step
    (layer.MAX_STEP16 + 1).to_bytes(2, "big") + bytes(layer.CONTEXTS),
    (32).to_bytes(2, "big") + bytes([GEOMETRIC_ROWS]) + bytes(layer.CONTEXTS - 1),  # no such row
    (32).to_bytes(2, "big") + bytes(layer.CONTEXTS - 1),  # short
])
def test_bad_parameters_are_a_stream_error(params):
    source, decoded = pictures(8, 8)
    with pytest.raises(StreamError, match="picture layer"):
        layer.read(RansDecoder(b"\x00" * 16), TABLE, params, decoded)


def test_a_truncated_layer_is_a_stream_error():
    source, decoded = pictures(32, 32, seed=9)
    code, _ = layer.plan(source, decoded, 16, TABLE)
    coder = RansEncoder()
    layer.write(coder, TABLE, code)
    payload = coder.flush()
    with pytest.raises(StreamError):
        reader = RansDecoder(payload[: len(payload) // 3])
        layer.read(reader, TABLE, code.params, decoded)
        reader.finish()


def test_the_encoder_refuses_a_step_outside_the_syntax():
    source, decoded = pictures(8, 8)
    with pytest.raises(ValueError, match="step"):
        layer.plan(source, decoded, layer.MAX_STEP16 + 1, TABLE)
