"""Motion in coded sequences: the SPS flag, exact decoding at odd sizes, resets, intra periods and
seeks, and damaged motion headers refused with the stream error."""

import dataclasses

import numpy as np
import pytest

from nvcodec.bitstream import FrameType, FrameUnit, SpsUnit, read_units
from nvcodec.codec import motion
from nvcodec.codec.frames import Planes, chroma_size
from nvcodec.codec.sequence import SequenceDecoder
from nvcodec.entropy.rans import RansDecoder
from nvcodec.errors import ConfigError, StreamError
from nvcodec.settings import CodingSettings
from tests.unit.test_block_skip import encode, skip_model
from tests.unit.test_codec_roundtrip import assert_planes_equal
from tests.unit.tiny import tiny_model


def panning_clip(frames: int, height: int, width: int, dy: float = 1.0, dx: float = 2.5) -> list[Planes]:
    """A textured scene moving by (dy, dx) pixels a frame: what a panning camera sees."""
    ch, cw = chroma_size(height, width)
    out = []
    for t in range(frames):
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
        yy, xx = yy + dy * t, xx + dx * t
        y = 128 + 45 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 30 * np.sin((xx + 2 * yy) / 11.0)
        cy, cx = np.mgrid[0:ch, 0:cw].astype(np.float64)
        u = 128 + 30 * np.sin((2 * cx + dx * t) / 6.0)
        v = 128 + 30 * np.cos((2 * cy + dy * t) / 8.0)
        out.append(Planes(*(np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v))))
    return out


def decode(model, settings, units):
    stream = b"".join(u.to_bytes() for u in units)
    return list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))


def p_units(units):
    return [u for u in units if isinstance(u, FrameUnit) and u.frame_type == FrameType.P]


def field_of(unit: FrameUnit, height: int, width: int) -> np.ndarray:
    """The motion field a P frame of a stream without block skip carries (zeros when its motion byte is 0)."""
    h, w = -(-height // 16), -(-width // 16)
    if unit.payload[0] == 0:
        return np.zeros((h, w, 2), dtype=np.int32)
    params = unit.payload[1:1 + motion.CONTEXTS]
    rest = unit.payload[1 + motion.CONTEXTS:]
    return motion.decode_field(RansDecoder(rest), motion.class_table(), params, h, w)


@pytest.mark.parametrize("model_name,block_skip", [("gated", True), ("gated", False), ("plain", False)])
@pytest.mark.parametrize("reset_interval,intra_period", [(0, -1), (2, -1), (0, 3)])
def test_motion_decodes_exactly_at_an_odd_size(model_name, block_skip, reset_interval, intra_period):
    model = skip_model() if model_name == "gated" else tiny_model()
    settings = CodingSettings(qp_i=44, qp_p=40, layer=False, reset_interval=reset_interval, intra_period=intra_period,
                              block_skip=block_skip, motion=True)
    frames = panning_clip(6, 45, 77)
    reported, units = encode(model, settings, frames)
    sps = [u for u in units if isinstance(u, SpsUnit)]
    assert sps and all(u.motion for u in sps) and all(u.block_skip == block_skip for u in sps)
    assert any(u.payload[0] == 1 for u in p_units(units)), "the pan should have been found"
    for i, (a, b) in enumerate(zip(reported, decode(model, settings, units), strict=True)):
        assert_planes_equal(a, b, i)
    # an encoder asked for no reconstructions writes the same stream
    _, silent = encode(model, settings, frames, reconstruct=False)
    assert b"".join(u.to_bytes() for u in silent) == b"".join(u.to_bytes() for u in units)


def test_the_search_finds_the_pan_through_the_coded_reference():
    """Interior blocks of a 2.5-pixel horizontal, 1-pixel vertical pan point 2.5 / 1 pixels back, to
    within the quarter pel that coding noise and bilinear interpolation blur
    (the previous frame shows the content displaced the other way); the field is coded losslessly.
    The search looks in the decoded frame, so this takes a model whose pictures resemble the source."""
    from nvcodec.models.registry import resolve_model

    settings = CodingSettings(qp_i=63, qp_p=63, layer=False, reset_interval=0, motion=True, block_skip=False)
    _, units = encode(resolve_model("nvc-compact"), settings, panning_clip(3, 96, 128))
    for unit in p_units(units):
        field = field_of(unit, 96, 128)
        interior = field[1:-1, 1:-1].reshape(-1, 2)
        near = (np.abs(interior - np.array([4, 10])) <= 1).all(axis=1).mean()  # a quarter pel off at most
        assert near > 0.9, interior


def test_decoding_can_start_at_any_i_frame_of_a_motion_stream():
    model = skip_model()
    settings = CodingSettings(qp_i=40, qp_p=36, intra_period=3, reset_interval=0, motion=True)
    reported, units = encode(model, settings, panning_clip(7, 32, 48))
    sps = [u for u in units if isinstance(u, SpsUnit)]
    frames = [u for u in units if isinstance(u, FrameUnit)]
    tail = b"".join(u.to_bytes() for u in sps + frames[3:])
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(tail))
    for i, (a, b) in enumerate(zip(reported[3:], decoded, strict=True)):
        assert_planes_equal(a, b, i + 3)


def test_motion_is_on_for_nvcs_models_and_off_for_dcvc_rts_unless_asked_and_the_sps_flag_round_trips():
    frames = panning_clip(3, 32, 32)
    for model, expected in ((skip_model(), True), (tiny_model(), False)):
        _, units = encode(model, CodingSettings(qp_i=40, qp_p=36), frames)
        assert {u.motion for u in units if isinstance(u, SpsUnit)} == {expected}
        _, units = encode(model, CodingSettings(qp_i=40, qp_p=36, motion=not expected), frames)
        assert {u.motion for u in units if isinstance(u, SpsUnit)} == {not expected}
    unit = SpsUnit(2, 72, 130, True, False, True, True)
    assert list(read_units(unit.to_bytes())) == [unit]
    assert unit.to_bytes()[-1] == 0x1C
    with pytest.raises(StreamError, match="reserved"):
        list(read_units(bytes([0x00, 0x10, 0x10, 0x40])))
    with pytest.raises(ConfigError):
        CodingSettings(motion="yes")


def damaged(payload: bytes) -> list[bytes]:
    """Motion headers damaged where the decoder must notice before (or while) reading the field."""
    out = [b"", bytes((2,)) + payload[1:], payload[:3]]
    if payload[0] == 1:
        out.append(payload[:1] + bytes((motion.GEOMETRIC_ROWS,)) + payload[2:])
        out.append(payload[:1 + motion.CONTEXTS])  # the rows, then nothing
    return out


@pytest.mark.parametrize("block_skip", [False, True])
def test_damaged_motion_headers_are_stream_errors(block_skip):
    model = skip_model()
    settings = CodingSettings(qp_i=50, qp_p=48, layer=False, reset_interval=0, motion=True, block_skip=block_skip)
    _, units = encode(model, settings, panning_clip(2, 48, 64))
    sps, i_frame, p_frame = units
    assert p_frame.payload[0] == 1
    for payload in damaged(p_frame.payload):
        bad = dataclasses.replace(p_frame, payload=payload)
        with pytest.raises(StreamError):
            decode(model, settings, [sps, i_frame, bad])
