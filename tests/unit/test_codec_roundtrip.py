"""The central test: the decoder reproduces the encoder's reconstruction exactly."""

import numpy as np
import pytest
import torch

from nvcodec.bitstream import FrameUnit, read_units
from nvcodec.codec.frames import Planes, chroma_size
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.errors import StreamError
from nvcodec.settings import P_QP_OFFSET, CodingSettings
from tests.unit.tiny import tiny_model


def seeded_clip(seed: int, frames: int, height: int, width: int) -> list[Planes]:
    """Smooth moving content plus noise: enough structure for the P path to matter."""
    rng = np.random.default_rng(seed)
    ch, cw = chroma_size(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        base = 128 + 60 * np.sin((xx + 3 * t) / 5.0) * np.cos((yy - 2 * t) / 7.0)
        y = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        u = rng.integers(90, 170, (ch, cw), dtype=np.uint8)
        v = rng.integers(90, 170, (ch, cw), dtype=np.uint8)
        out.append(Planes(y, u, v))
    return out


def assert_planes_equal(a: Planes, b: Planes, frame: int) -> None:
    for name in "yuv":
        pa, pb = getattr(a, name), getattr(b, name)
        assert pa.shape == pb.shape, f"frame {frame} plane {name}: shape {pa.shape} vs {pb.shape}"
        if not np.array_equal(pa, pb):
            rows = np.nonzero((pa != pb).any(axis=1))[0]
            raise AssertionError(f"frame {frame} plane {name}: rows {rows[:5].tolist()} differ")


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=7)


@pytest.mark.parametrize(
    "size,settings",
    [
        ((17, 33), CodingSettings(qp_i=30, qp_p=20, intra_period=-1, reset_interval=2)),
        ((30, 50), CodingSettings(qp_i=63, qp_p=63, intra_period=3, reset_interval=0, two_ec=True)),
        ((16, 16), CodingSettings(qp_i=0, qp_p=0, intra_period=-1, reset_interval=3, skip_threshold=None)),
        ((33, 70), CodingSettings(qp_i=45, qp_p=50, intra_period=4, reset_interval=2, two_ec=True,
                                  skip_threshold=0.5)),
    ],
)
def test_decoder_reproduces_encoder_reconstruction(model, size, settings):
    frames = seeded_clip(sum(size), 6, *size)
    encoder = SequenceEncoder(model, settings, device="cpu")
    stream = b""
    recons = []
    for frame in frames:
        encoded = encoder.encode(frame)
        stream += b"".join(u.to_bytes() for u in encoded.units)
        recons.append(encoded.reconstruction)
    decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu")
    decoded = list(decoder.decode_stream(stream))
    assert len(decoded) == len(frames)
    for i, (a, b) in enumerate(zip(recons, decoded, strict=True)):
        assert a.height == size[0] and a.width == size[1]
        assert_planes_equal(a, b, i)


def test_agreement_holds_whatever_the_callers_thread_setting(model):
    """The profile pins the thread count; the caller's own setting must not leak in."""
    settings = CodingSettings(qp_i=40, qp_p=36, reset_interval=2)
    frames = seeded_clip(5, 4, 37, 45)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoder = SequenceEncoder(model, settings, device="cpu")
        encoded = [encoder.encode(f) for f in frames]
        assert torch.get_num_threads() == 1  # restored after each call
        torch.set_num_threads(3)
        decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu")
        stream = b"".join(u.to_bytes() for e in encoded for u in e.units)
        for i, (e, d) in enumerate(zip(encoded, decoder.decode_stream(stream), strict=True)):
            assert_planes_equal(e.reconstruction, d, i)
    finally:
        torch.set_num_threads(before)


def test_quality_rises_with_qp(model):
    """qp is 'higher is better': more bits at a higher qp, even for synthetic weights' rate model."""
    frames = seeded_clip(11, 1, 32, 32)
    sizes = []
    for qp in (0, 63):
        encoder = SequenceEncoder(model, CodingSettings(qp_i=qp), device="cpu")
        sizes.append(encoder.encode(frames[0]).size_bytes)
    assert sizes[0] != sizes[1]


@pytest.mark.parametrize("qp,qp_p,expected_base", [(32, None, 32 - P_QP_OFFSET), (5, None, 0), (32, 40, 40)])
def test_p_frames_sit_the_offset_under_the_i_frame_unless_told(model, qp, qp_p, expected_base):
    frames = seeded_clip(3, 5, 16, 16)
    encoder = SequenceEncoder(model, CodingSettings(qp_i=qp, qp_p=qp_p, reset_interval=0), device="cpu")
    plans = [encoder.encode(f).plan for f in frames]
    assert [p.qp for p in plans] == [qp] + [expected_base + s for s in (8, 0, 4, 0)]


def test_corrupted_payload_raises_stream_error(model):
    settings = CodingSettings(qp_i=40)
    encoder = SequenceEncoder(model, settings, device="cpu")
    units = encoder.encode(seeded_clip(3, 1, 24, 40)[0]).units
    frame = units[-1]
    assert isinstance(frame, FrameUnit)
    for cut in (0, 1, len(frame.payload) // 2):
        bad = FrameUnit(frame.frame_type, frame.sps_id, frame.qp, frame.payload[:cut])
        decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu")
        decoder.decode(units[0])
        with pytest.raises(StreamError):
            decoder.decode(bad)


def test_p_frame_without_reference_is_refused(model):
    settings = CodingSettings(qp_i=40)
    encoder = SequenceEncoder(model, settings, device="cpu")
    frames = seeded_clip(3, 2, 16, 16)
    units = [u for f in frames for u in encoder.encode(f).units]
    decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu")
    stream = b"".join(u.to_bytes() for u in units if not (isinstance(u, FrameUnit) and u.frame_type == 1))
    with pytest.raises(StreamError, match="no reference"):
        list(decoder.decode_stream(stream))
    assert len(list(read_units(stream))) >= 2


def test_published_architecture_agrees_at_an_odd_size():
    """The full-size dcvc-rt config (synthetic weights) at 33x17, with resets and two coders."""
    from nvcodec.models.bundle import synthetic_model

    model = synthetic_model(2)
    settings = CodingSettings(qp_i=50, qp_p=44, intra_period=-1, reset_interval=2, two_ec=True)
    frames = seeded_clip(9, 3, 17, 33)
    encoder = SequenceEncoder(model, settings, device="cpu")
    encoded = [encoder.encode(f) for f in frames]
    stream = b"".join(u.to_bytes() for e in encoded for u in e.units)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    for i, (e, d) in enumerate(zip(encoded, decoded, strict=True)):
        assert_planes_equal(e.reconstruction, d, i)


def test_agreement_survives_a_feature_chain_that_overflows():
    """A model driven far outside its training can grow the propagated feature until it is
    inf/NaN; the stream must still decode to exactly what the encoder reconstructed."""
    model = tiny_model(seed=7)
    with torch.no_grad():
        model.inter.feature_adaptor_p.bias.fill_(float("inf"))  # the chain overflows from the 2nd P frame on
    settings = CodingSettings(qp_i=20, qp_p=20, intra_period=-1, reset_interval=0)
    frames = seeded_clip(3, 6, 17, 33)
    encoder = SequenceEncoder(model, settings, device="cpu")
    units, recons = [], []
    for frame in frames:
        encoded = encoder.encode(frame)
        units.extend(encoded.units)
        recons.append(encoded.reconstruction)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(
        b"".join(u.to_bytes() for u in units)))
    assert len(decoded) == len(frames)
    for i, (a, b) in enumerate(zip(recons, decoded, strict=True)):
        assert_planes_equal(a, b, i)


def test_non_finite_residuals_are_coded_as_the_symbol_the_decoder_reads():
    """The encoder must continue from the symbols it writes: NaN has none, so it becomes 0 (and
    y_hat the mean, as the decoder rebuilds it); finite values, huge ones included, are unchanged."""
    from nvcodec.entropy.context import quantize_step

    y = torch.tensor([[[[float("nan"), 3.4]], [[1e30, -2.6]]]])
    means = torch.full_like(y, 0.5)
    step = quantize_step(y, torch.ones_like(y), means, torch.ones_like(y), skip_threshold=None)
    assert step.symbols.flatten().tolist() == [0.0, 3.0, 127.0, -3.0]
    assert step.y_hat.flatten().tolist() == [0.5, 3.5, 127.5, -2.5]


def reported_and_silent_stream(model, settings: CodingSettings, frames: list[Planes]) -> tuple[list[Planes], bytes]:
    """The reconstructions an encoder reports, and the stream of a second encoder that reports none:
    a model whose P frames read decoded pixels must rebuild them either way."""
    reporting = SequenceEncoder(model, settings, device="cpu")
    silent = SequenceEncoder(model, settings, device="cpu", reconstruct=False)
    reported, stream = [], b""
    for frame in frames:
        reported.append(reporting.encode(frame).reconstruction)
        stream += b"".join(u.to_bytes() for u in silent.encode(frame).units)
    return reported, stream


def test_a_model_that_adds_its_reference_frame_decodes_what_the_encoder_reconstructed(monkeypatch):
    """reference_skip: every P frame's picture blends in the previous decoded pixels, yet an encoder that
    reports no reconstructions writes the same stream while reconstructing nothing but the resets'
    references (from the stored feature alone, as the decoder does)."""
    import dataclasses

    from nvcodec.models.bundle import synthetic_model
    from nvcodec.models.config import TINY, ModelConfig

    config = ModelConfig("tiny-skip", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=2,
                                                                     reference_skip=True))
    model = synthetic_model(3, config)
    frames = seeded_clip(9, 6, 40, 56)
    settings = CodingSettings(qp_i=40, qp_p=36, reset_interval=2, block_skip=False, motion=False)
    net = model.inter.recon_generation_net
    calls, forward = [], net.forward
    with monkeypatch.context() as patch:
        patch.setattr(net, "forward",
                      lambda *args, **kwargs: calls.append(kwargs.get("ungated", False)) or forward(*args, **kwargs))
        silent = SequenceEncoder(model, settings, device="cpu", reconstruct=False)
        for frame in frames:
            silent.encode(frame)
    assert calls == [True, True]  # the resets at frames 3 and 5 (the one at 1 follows the I frame)
    reported, stream = reported_and_silent_stream(model, settings, frames)
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    for i, (a, b) in enumerate(zip(reported, decoded, strict=True)):
        assert_planes_equal(a, b, i)
    # the gate is live: closing it changes the P frames
    with torch.no_grad():
        model.inter.recon_generation_net.gate.weight.zero_()
        model.inter.recon_generation_net.gate.bias.zero_()
    closed = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    assert np.array_equal(closed[0].y, decoded[0].y)
    assert not np.array_equal(closed[1].y, decoded[1].y)
