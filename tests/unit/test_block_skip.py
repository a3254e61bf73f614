"""Block skip: the map's coding, the encoder's choice, the SPS flag and exact decoding."""

import dataclasses

import numpy as np
import pytest
import torch

from nvcodec.bitstream import FrameType, FrameUnit, SpsUnit, read_units
from nvcodec.codec import block_skip
from nvcodec.codec.frames import Planes, chroma_size
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.entropy.rans import RansDecoder, RansEncoder
from nvcodec.errors import ConfigError, StreamError
from nvcodec.models.bundle import synthetic_model
from nvcodec.models.config import TINY, ModelConfig
from nvcodec.settings import CodingSettings
from tests.unit.test_codec_roundtrip import assert_planes_equal
from tests.unit.tiny import tiny_model


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 5), (12, 20)])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 0.95, 1.0])
def test_a_map_decodes_to_what_was_coded_and_costs_what_map_bits_says(shape, density):
    rng = np.random.default_rng(shape[0] * 31 + shape[1] + int(density * 100))
    skips = rng.random(shape) < density
    prob = block_skip.first_half_prob(skips)
    assert (prob == 0) == (not skips.any())
    if prob == 0:
        return
    table = block_skip.flag_table()
    for two_ec in (False, True):
        coder = RansEncoder(two_ec)
        coder.encode(np.array([1], np.int32), np.array([prob], np.int32), table)  # something before it
        block_skip.encode_map(coder, table, skips, prob)
        data = coder.flush()
        decoder = RansDecoder(data, two_ec)
        assert decoder.decode(np.array([prob], np.int32), table).tolist() == [1]
        np.testing.assert_array_equal(block_skip.decode_map(decoder, table, prob, *shape), skips)
        decoder.finish()
    # the estimate the encoder decides with is the coder's cost (a few bytes of rANS state aside)
    coder = RansEncoder(False)
    block_skip.encode_map(coder, table, skips, prob)
    assert abs(8 * len(coder.flush()) + 8 - block_skip.map_bits(skips)) <= 48


def test_clustered_maps_cost_less_than_scattered_ones_of_the_same_share():
    clustered = np.zeros((16, 16), dtype=bool)
    clustered[:, :8] = True
    scattered = np.random.default_rng(0).permutation(clustered.reshape(-1)).reshape(16, 16)
    assert block_skip.map_bits(clustered) < 0.6 * block_skip.map_bits(scattered)  # half the flags at 1 bit either way


def test_the_encoder_skips_blocks_whose_bits_outweigh_what_copying_loses():
    lam = 100.0
    bits = torch.full((4, 6), 200.0)
    code_error = torch.full((4, 6), 1e-3)
    copy_error = code_error.clone()
    copy_error[:, 3:] = 1e-1  # the right half moved: copying it costs far more than its bits
    skips = block_skip.choose_skips(bits, copy_error, code_error, lam)
    assert skips[:, :3].all() and not skips[:, 3:].any()
    # blocks that cost nothing to code are not worth a map
    assert not block_skip.choose_skips(torch.zeros(4, 6), copy_error, code_error, lam).any()
    # a copy a little worse than coding is still taken when the bits saved pay for it
    worse = code_error + 0.5 * 200.0 / (block_skip.DISTORTION_WEIGHT * lam * 256)
    assert block_skip.choose_skips(bits, worse, code_error, lam).all()
    worse = code_error + 2.0 * 200.0 / (block_skip.DISTORTION_WEIGHT * lam * 256)
    assert not block_skip.choose_skips(bits, worse, code_error, lam).any()


def test_the_sps_carries_the_flag_and_other_reserved_bits_stay_refused():
    for flag in (False, True):
        unit = SpsUnit(3, 72, 130, True, False, flag)
        (back,) = list(read_units(unit.to_bytes()))
        assert back == unit
    assert SpsUnit(0, 8, 8, False, False).to_bytes()[-1] & 0x08 == 0  # DCVC-RT's byte unchanged
    with pytest.raises(StreamError):
        list(read_units(bytes([0x00, 0x10, 0x10, 0x40])))  # bit 6: nvc uses bits 3-5 (skip, motion, layer)


def half_still_clip(frames: int, height: int, width: int) -> list[Planes]:
    """The left half never changes (a fixed camera's background); the right half moves."""
    rng = np.random.default_rng(5)
    ch, cw = chroma_size(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    still = 128 + 50 * np.sin(xx / 4.0) * np.cos(yy / 6.0)
    out = []
    for t in range(frames):
        moving = 128 + 60 * np.sin((xx + 5 * t) / 3.0) * np.cos((yy - 3 * t) / 5.0) + rng.normal(0, 10, still.shape)
        y = np.where(xx < width // 2, still, moving)
        out.append(Planes(np.clip(y, 0, 255).astype(np.uint8), np.full((ch, cw), 120, np.uint8),
                          np.full((ch, cw), 136, np.uint8)))
    return out


def skip_model():
    """The tiny config with the previous-frame pixel gate, as nvc's own models have."""
    config = ModelConfig("tiny-skip", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=2,
                                                                     reference_skip=True))
    return synthetic_model(3, config)


def encode(model, settings, frames, reconstruct=True):
    encoder = SequenceEncoder(model, settings, device="cpu", reconstruct=reconstruct)
    reported, units = [], []
    for frame in frames:
        encoded = encoder.encode(frame)
        reported.append(encoded.reconstruction)
        units += encoded.units
    return reported, units


@pytest.mark.parametrize("reset_interval", [0, 2])
def test_skipped_blocks_repeat_the_previous_frame_and_the_decoder_follows_exactly(reset_interval):
    model = skip_model()
    frames = half_still_clip(6, 48, 96)
    settings = CodingSettings(qp_i=40, qp_p=36, reset_interval=reset_interval, motion=False)
    reported, units = encode(model, settings, frames)
    sps = [u for u in units if isinstance(u, SpsUnit)]
    assert sps and all(u.block_skip for u in sps)  # on by default with a gated model
    p_frames = [u for u in units if isinstance(u, FrameUnit) and u.frame_type == FrameType.P]
    assert any(u.payload[0] > 0 for u in p_frames), "the still half should have been skipped somewhere"
    stream = b"".join(u.to_bytes() for u in units)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    for i, (a, b) in enumerate(zip(reported, decoded, strict=True)):
        assert_planes_equal(a, b, i)
    # a skipped block is the previous frame's, pixel for pixel
    def repeated_blocks(a, b):
        h, w = a.y.shape
        return sum((a.y[r:r + 16, c:c + 16] == b.y[r:r + 16, c:c + 16]).all()
                   for r in range(0, h, 16) for c in range(0, w, 16))

    for i, unit in enumerate(p_frames, start=1):
        if unit.payload[0]:
            assert repeated_blocks(decoded[i], decoded[i - 1]) > 0
    # an encoder asked for no reconstructions writes the same stream
    _, silent = encode(model, settings, frames, reconstruct=False)
    assert b"".join(u.to_bytes() for u in silent) == stream


def test_block_skip_follows_the_setting_and_dcvc_rt_models_keep_their_syntax():
    frames = half_still_clip(4, 48, 64)
    gated = skip_model()
    _, off = encode(gated, CodingSettings(qp_i=40, qp_p=36, block_skip=False), frames)
    assert not any(u.block_skip for u in off if isinstance(u, SpsUnit))
    plain = tiny_model()
    _, default = encode(plain, CodingSettings(qp_i=40, qp_p=36), frames)
    assert not any(u.block_skip for u in default if isinstance(u, SpsUnit))
    settings = CodingSettings(qp_i=40, qp_p=36, block_skip=True)
    reported, forced = encode(plain, settings, frames, reconstruct=False)
    assert all(u.block_skip for u in forced if isinstance(u, SpsUnit))
    stream = b"".join(u.to_bytes() for u in forced)
    decoded = list(SequenceDecoder(plain, settings.skip_threshold, device="cpu").decode_stream(stream))
    reported, _ = encode(plain, settings, frames)
    for i, (a, b) in enumerate(zip(reported, decoded, strict=True)):
        assert_planes_equal(a, b, i)


def test_a_bad_skip_header_is_a_stream_error():
    model = skip_model()
    settings = CodingSettings(qp_i=40, qp_p=36, reset_interval=0, motion=False)
    _, units = encode(model, settings, half_still_clip(2, 32, 32))
    sps, i_frame, p_frame = units
    for payload in (b"", bytes((block_skip.PROB_STEPS,)) + p_frame.payload[1:]):
        bad = dataclasses.replace(p_frame, payload=payload)
        stream = b"".join(u.to_bytes() for u in (sps, i_frame, bad))
        with pytest.raises(StreamError):
            list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))


def test_the_setting_is_checked():
    with pytest.raises(ConfigError):
        CodingSettings(block_skip="yes")
    assert CodingSettings(block_skip=False).block_skip_for(skip_model().inter.cfg) is False
    assert CodingSettings().block_skip_for(tiny_model().inter.cfg) is False


def test_with_block_skip_the_default_p_qp_sits_further_under_the_i_frame():
    from nvcodec.settings import P_QP_OFFSET, P_QP_OFFSET_BLOCK_SKIP

    frames = half_still_clip(3, 32, 32)
    for model, offset in ((skip_model(), P_QP_OFFSET_BLOCK_SKIP), (tiny_model(), P_QP_OFFSET)):
        encoder = SequenceEncoder(model, CodingSettings(qp_i=44, reset_interval=0, layer=False), device="cpu")
        assert encoder.settings.qp_p == 44 - offset  # written into the .nvc header as chosen
        assert [encoder.encode(f).plan.qp for f in frames] == [44, 44 - offset + 8, 44 - offset]
    explicit = SequenceEncoder(skip_model(), CodingSettings(qp_i=50, qp_p=45), device="cpu")
    assert explicit.settings.qp_p == 45


def test_decoding_can_start_at_any_i_frame_of_a_block_skip_stream():
    """A skipped block reads only the frame before it, so a decoder that starts at a later I frame
    (a seek) shows exactly what a decoder that read everything shows from there on."""
    model = skip_model()
    settings = CodingSettings(qp_i=40, qp_p=36, intra_period=3, reset_interval=0)
    reported, units = encode(model, settings, half_still_clip(7, 32, 48))
    sps = [u for u in units if isinstance(u, SpsUnit)]
    frames = [u for u in units if isinstance(u, FrameUnit)]
    assert [f.frame_type for f in frames] == [FrameType.I, FrameType.P, FrameType.P] * 2 + [FrameType.I]
    tail = b"".join(u.to_bytes() for u in sps + frames[3:])
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(tail))
    for i, (a, b) in enumerate(zip(reported[3:], decoded, strict=True)):
        assert_planes_equal(a, b, i + 3)
