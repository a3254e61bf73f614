"""RGB mode: BT.709 full-range conversion and the 4:4:4 coding path (4:2:0 unchanged)."""

import numpy as np
import pytest

from nvcodec.codec.frames import Planes, planes_to_tensor, tensor_to_planes
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.color import rgb_to_ycbcr444, ycbcr444_to_rgb
from nvcodec.settings import CodingSettings
from tests.unit.tiny import tiny_model


def test_rgb_round_trip_within_one_step():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (17, 33, 3), dtype=np.uint8)
    planes = rgb_to_ycbcr444(rgb)
    assert planes.chroma == "444" and planes.u.shape == (17, 33)
    planes.validate()
    back = ycbcr444_to_rgb(planes)
    assert np.abs(back.astype(int) - rgb).max() <= 2
    grey = np.full((4, 4, 3), 77, np.uint8)
    assert np.array_equal(ycbcr444_to_rgb(rgb_to_ycbcr444(grey)), grey)
    white = rgb_to_ycbcr444(np.full((2, 2, 3), 255, np.uint8))
    assert (white.y == 255).all() and (white.u == 128).all() and (white.v == 128).all()  # full range


def test_444_tensor_round_trip_is_exact():
    rng = np.random.default_rng(1)
    y, u, v = (rng.integers(0, 256, (17, 33), dtype=np.uint8) for _ in range(3))
    planes = Planes(y, u, v, chroma="444")
    back = tensor_to_planes(planes_to_tensor(planes), 17, 33, "444")
    assert all(np.array_equal(getattr(back, p), getattr(planes, p)) for p in "yuv")


def test_chroma_mismatch_is_refused():
    with pytest.raises(ValueError):
        Planes(np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), "444").validate()


def test_444_sequence_decoder_matches_encoder():
    model = tiny_model()
    rng = np.random.default_rng(2)
    frames = [rgb_to_ycbcr444(rng.integers(0, 256, (17, 33, 3), dtype=np.uint8)) for _ in range(3)]
    encoder = SequenceEncoder(model, CodingSettings(qp_i=40), device="cpu")
    coded = [encoder.encode(f) for f in frames]
    stream = b"".join(u.to_bytes() for c in coded for u in c.units)
    decoded = list(SequenceDecoder(model, 0.12, device="cpu", chroma="444").decode_stream(stream))
    for c, d in zip(coded, decoded, strict=True):
        assert d.chroma == "444" and d.u.shape == (17, 33)
        assert all(np.array_equal(getattr(c.reconstruction, p), getattr(d, p)) for p in "yuv")
