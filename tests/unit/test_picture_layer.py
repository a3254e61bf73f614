"""The picture layer: exact integer reconstruction, a round trip through rANS and through streams, and
defensive reading."""

import numpy as np
import pytest

from nvcodec.bitstream.units import SpsUnit, read_unit
from nvcodec.codec import picture_layer as layer
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.entropy.magnitude_classes import GEOMETRIC_ROWS, RAW_ROW, class_table
from nvcodec.entropy.rans import RansDecoder, RansEncoder
from nvcodec.errors import ConfigError, StreamError
from nvcodec.media import Planes
from nvcodec.metrics.psnr import frame_quality
from nvcodec.settings import LAYER_P_STEP_RATIO, CodingSettings
from tests.unit.test_codec_roundtrip import assert_planes_equal, seeded_clip
from tests.unit.tiny import tiny_model

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
    assert len(data) <= layer.params_size() + 4


def test_4_4_4_pictures_round_trip():
    rng = np.random.default_rng(5)
    source = Planes(*(rng.integers(0, 256, (12, 20), dtype=np.uint8) for _ in range(3)), chroma="444")
    decoded = Planes(*(np.full((12, 20), 128, dtype=np.uint8) for _ in range(3)), chroma="444")
    enhanced, out, _ = round_trip(source, decoded, 32)
    assert out.chroma == "444" and all(np.array_equal(getattr(out, n), getattr(enhanced, n)) for n in "yuv")


@pytest.mark.parametrize("params", [
    (0).to_bytes(2, "big") + bytes([layer.BANDS]),  # a zero step
    (layer.MAX_STEP16 + 1).to_bytes(2, "big") + bytes([layer.BANDS]),
    (32).to_bytes(2, "big") + bytes([layer.BANDS + 1]),  # more bands than there are
    (32).to_bytes(2, "big"),  # short
    (32).to_bytes(4, "big"),  # long
])
def test_bad_parameters_are_a_stream_error(params):
    source, decoded = pictures(8, 8)
    with pytest.raises(StreamError, match="picture layer"):
        layer.read(RansDecoder(b"\x00" * 16), TABLE, params, decoded)


def test_a_row_outside_the_table_is_a_stream_error():
    """The first thing in the stream is luma's row for the lowest band: all six bits set is row 63."""
    source, decoded = pictures(8, 8)
    coder = RansEncoder()
    coder.encode(np.ones(layer.ROW_BITS, dtype=np.int32), np.full(layer.ROW_BITS, RAW_ROW, dtype=np.int32), TABLE)
    assert (1 << layer.ROW_BITS) - 1 >= GEOMETRIC_ROWS
    with pytest.raises(StreamError, match="row"):
        layer.read(RansDecoder(coder.flush()), TABLE, (32).to_bytes(2, "big") + bytes([1]), decoded)


def test_contexts_follow_what_a_block_holds_under_the_band():
    """A block with nothing below a band and a block with much there use different laws; the lowest band
    has one."""
    lower, below = np.array([0, 0, 2, 9]), np.array([0, 0, 2, 5])
    assert layer._contexts(0, lower, below).tolist() == [0, 0, 0, 0]
    got = layer._contexts(3, lower, below)
    assert got[0] == got[1] == 0 and len(set(got.tolist())) == 3 and got.max() < layer.BAND_CONTEXTS


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


# -- in streams ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=5)


def code(model, frames, settings):
    encoder = SequenceEncoder(model, settings, device="cpu")
    coded = [encoder.encode(f) for f in frames]
    stream = b"".join(u.to_bytes() for c in coded for u in c.units)
    return stream, [c.reconstruction for c in coded]


@pytest.mark.parametrize("size,tools", [((17, 33), {}), ((32, 48), {"block_skip": True, "motion": True})])
def test_streams_with_the_layer_decode_exactly_and_every_frame_comes_closer(model, size, tools):
    frames = seeded_clip(21, 5, *size)
    base = CodingSettings(qp_i=40, qp_p=30, intra_period=3, reset_interval=2, **tools)
    layered = CodingSettings(qp_i=40, qp_p=30, intra_period=3, reset_interval=2, layer_step=4.0, **tools)
    plain_stream, plain = code(model, frames, base)
    stream, recons = code(model, frames, layered)
    decoded = list(SequenceDecoder(model, layered.skip_threshold, device="cpu").decode_stream(stream))
    assert len(decoded) == len(frames)
    for i, (a, b) in enumerate(zip(decoded, recons, strict=True)):
        assert_planes_equal(a, b, i)
    for i in range(len(frames)):  # I frames (0, 3) and P frames, which predict from enhanced pictures
        assert frame_quality(frames[i], recons[i]).y > frame_quality(frames[i], plain[i]).y + 3, i
    assert len(stream) > len(plain_stream)


def test_rgb_streams_with_the_layer_decode_exactly(model):
    rng = np.random.default_rng(8)
    frames = [Planes(*(rng.integers(0, 256, (20, 24), dtype=np.uint8) for _ in range(3)), chroma="444")
              for _ in range(2)]
    settings = CodingSettings(qp_i=30, layer_step=8.0)
    stream, recons = code(model, frames, settings)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu", chroma="444").decode_stream(stream))
    for i, (a, b) in enumerate(zip(decoded, recons, strict=True)):
        assert_planes_equal(a, b, i)


def test_the_sps_says_when_frames_carry_a_layer():
    sps = SpsUnit(0, 48, 64, False, False, True, True, True)
    data = sps.to_bytes()
    assert data[-1] == 0x38 and read_unit(data, 0)[0] == sps
    with pytest.raises(StreamError, match="reserved"):
        read_unit(data[:-1] + bytes((0x40,)), 0)


@pytest.mark.parametrize("frame_index", [0, 1])
@pytest.mark.parametrize("damage", [lambda p: b"\x02" + p[1:], lambda p: p[:3], lambda p: b"",
                                    lambda p: p[:1] + b"\x00\x00" + p[3:],  # a zero step
                                    lambda p: p[:3] + bytes((13,)) + p[4:]])  # more bands than there are
def test_a_damaged_layer_header_is_a_stream_error(model, damage, frame_index):
    frames = seeded_clip(2, 2, 16, 16)
    settings = CodingSettings(qp_i=40, layer_step=4.0)
    stream, _ = code(model, frames, settings)
    units, pos = [], 0
    while pos < len(stream):
        unit, pos = read_unit(stream, pos)
        units.append(unit)
    where = [i for i, u in enumerate(units) if not isinstance(u, SpsUnit)][frame_index]
    frame = units[where]
    assert frame.payload[0] == 1  # a layer is there to damage
    units[where] = type(frame)(frame.frame_type, frame.sps_id, frame.qp, damage(frame.payload))
    decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu")
    with pytest.raises(StreamError):
        for unit in units:
            decoder.decode(unit)


def test_an_empty_layer_is_not_planned_to_be_sent():
    source, decoded = pictures(16, 24)
    assert layer.is_empty(layer.plan(source, source, 16, TABLE)[0])
    assert not layer.is_empty(layer.plan(source, decoded, 16, TABLE)[0])


def test_frames_whose_layer_is_empty_carry_byte_0_and_the_plain_payload(model, monkeypatch):
    """Layer byte 0 is the frame without a layer: the rest of it is exactly what the stream without the
    layer codes, and it decodes to the same pictures."""
    frames = seeded_clip(4, 3, 16, 24)
    plain_stream, plain = code(model, frames, CodingSettings(qp_i=40, qp_p=30, intra_period=2))
    monkeypatch.setattr(layer, "is_empty", lambda code: True)
    settings = CodingSettings(qp_i=40, qp_p=30, intra_period=2, layer_step=4.0)
    stream, recons = code(model, frames, settings)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    for i in range(len(frames)):
        assert_planes_equal(decoded[i], recons[i], i)
        assert_planes_equal(recons[i], plain[i], i)
    units, plain_units = frame_units(stream), frame_units(plain_stream)
    assert len(units) == len(plain_units) == len(frames)
    for unit, plain_unit in zip(units, plain_units, strict=True):
        assert unit.payload == b"\x00" + plain_unit.payload


def frame_units(stream: bytes) -> list:
    out, pos = [], 0
    while pos < len(stream):
        unit, pos = read_unit(stream, pos)
        if not isinstance(unit, SpsUnit):
            out.append(unit)
    return out


@pytest.mark.parametrize("bad", [0.5, 65.0, 4.01, True, "4"])
def test_a_layer_step_outside_the_syntax_is_refused_by_name(bad):
    with pytest.raises(ConfigError, match="layer_step"):
        CodingSettings(layer_step=bad)


def test_p_frames_code_their_layer_at_the_coarser_p_step(model):
    frames = seeded_clip(6, 2, 16, 24)
    stream, _ = code(model, frames, CodingSettings(qp_i=40, layer_step=4.0))
    i_frame, p_frame = frame_units(stream)
    assert int.from_bytes(i_frame.payload[1:3], "big") == 64
    assert int.from_bytes(p_frame.payload[1:3], "big") == round(64 * LAYER_P_STEP_RATIO) > 64
    assert CodingSettings(qp_i=40, layer_step=64.0).resolve(model.inter.cfg).layer_step_p == 64.0  # capped


def test_with_a_layer_p_frames_default_to_a_smaller_distance_under_the_i_frame(model):
    from nvcodec.settings import LAYER_P_QP_OFFSET, default_p_qp

    inter = model.inter.cfg
    assert CodingSettings(qp_i=40, layer_step=8.0).resolve(inter).qp_p == 40 - LAYER_P_QP_OFFSET
    assert CodingSettings(qp_i=4, layer_step=8.0).resolve(inter).qp_p == 0
    plain = CodingSettings(qp_i=40).resolve(inter)
    assert plain.qp_p == default_p_qp(40, bool(plain.block_skip)) != 40 - LAYER_P_QP_OFFSET
    assert CodingSettings(qp_i=40, qp_p=12, layer_step=8.0).resolve(inter).qp_p == 12  # given wins


def test_the_top_of_q_codes_nvc_models_at_the_knee_with_the_layer_and_decodes_exactly():
    """-q above the knees with a model of nvc's own kind: the SPS says layer, the networks code the I
    frame at the knee, each frame type's layer step follows -q (P frames none under their own knee), and
    the decoder reproduces the encoder's pictures."""
    import dataclasses

    from nvcodec.models.bundle import synthetic_model
    from nvcodec.models.config import TINY, ModelConfig
    from nvcodec.settings import LAYER_KNEE, LAYER_P_KNEE, level_layer_step, level_p_layer_step

    config = ModelConfig("tiny-skip", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=2,
                                                                     reference_skip=True))
    gated = synthetic_model(3, config)
    frames = seeded_clip(31, 3, 24, 40)
    for q in (60, LAYER_P_KNEE, LAYER_KNEE):
        settings = CodingSettings(qp_i=q)
        stream, recons = code(gated, frames, settings)
        sps = [u for u in _units(stream) if isinstance(u, SpsUnit)]
        assert sps and {u.layer for u in sps} == {q > LAYER_KNEE}
        if q > LAYER_KNEE:
            i_frame, *p_frames = frame_units(stream)
            assert i_frame.qp == LAYER_KNEE
            assert i_frame.payload[0] == 1
            assert int.from_bytes(i_frame.payload[1:3], "big") == round(level_layer_step(q) * 16)
            p_step = level_p_layer_step(q)
            if p_step is None:  # under the P frames' knee: byte 0, no parameters
                assert all(p.payload[0] == 0 for p in p_frames)
            else:
                assert all(p.payload[0] == 0 or int.from_bytes(p.payload[1:3], "big") == round(p_step * 16)
                           for p in p_frames)
        decoded = list(SequenceDecoder(gated, settings.skip_threshold, device="cpu").decode_stream(stream))
        for i, (a, b) in enumerate(zip(decoded, recons, strict=True)):
            assert_planes_equal(a, b, i)


def _units(stream: bytes) -> list:
    out, pos = [], 0
    while pos < len(stream):
        unit, pos = read_unit(stream, pos)
        out.append(unit)
    return out
