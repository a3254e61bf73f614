"""What training optimises is what the coder codes.

A short sequence is coded by the real encoder; then the frame contracts' training pass (rounded:
straight-through rounding, no noise) and their coding pass follow the same frames, with the skip
maps the encoder chose, its resets, and each side's own references; with motion, training's own
search (as its motion stages run it) must find the field the encoder coded, and both sides move
their references by it.  Both must produce the same
symbols and the same pictures, and the coding pass the encoder's reconstructions exactly.

Tolerance.  The symbols, their scales and the decoded latent must be identical: both sides run the
same networks on the same inputs in the same layout under the same numerics profile, and
training's straight-through rounding has exactly the value of ``round``, so any difference there
is a drift of one path from the other, not float rounding.  The decoded features and pictures may
differ by ``ATOL``: training runs with autograd on, where the networks take their out-of-place
kernels (``layers.wsilu``, ``add_residual``), and clamps its pictures with a straight-through
``x + (clamp(x) - x)``, which can land an ulp away from ``clamp(x)``; gated P frames carry such an
ulp from the previous picture.  1e-5 is about 40 ulps at 1.0 and 0.003 of an 8-bit step, so a
real mismatch (a wrong reference, a block left uncopied, a gate reading another picture) cannot
hide under it.  On the CPU profile the two agree exactly today (largest difference 0.0).
"""

import dataclasses

import numpy as np
import pytest
import torch

from nvcodec.bitstream import FrameType, FrameUnit
from nvcodec.codec import block_skip, motion
from nvcodec.codec.frame_coding import compensate
from nvcodec.codec.frames import Planes, chroma_size, planes_to_tensor, tensor_to_planes
from nvcodec.codec.inter_codec import InterCodec, Reference, regenerate_reference
from nvcodec.codec.intra_codec import IntraCodec
from nvcodec.codec.outputs import Symbols
from nvcodec.codec.sequence import SequenceEncoder
from nvcodec.entropy.rans import RansDecoder
from nvcodec.models.bundle import synthetic_model
from nvcodec.models.config import TINY, ModelConfig
from nvcodec.models.lambdas import lambda_for_qp
from nvcodec.numerics import pinned
from nvcodec.settings import CodingSettings
from nvcodec.training.forward import coder_skips, inter_forward
from tests.unit.test_codec_roundtrip import assert_planes_equal

#: largest difference allowed between the two passes' features and pictures (see the module docstring)
ATOL = 1e-5
SIZE = 64


def clip(frames: int) -> list[Planes]:
    """The left half holds still (block skip copies it), the right half moves."""
    rng = np.random.default_rng(11)
    ch, cw = chroma_size(SIZE, SIZE)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    still = 128 + 50 * np.sin(xx / 4.0) * np.cos(yy / 6.0)
    out = []
    for t in range(frames):
        moving = 128 + 60 * np.sin((xx + 5 * t) / 3.0) * np.cos((yy - 3 * t) / 5.0) + rng.normal(0, 8, still.shape)
        y = np.clip(np.where(xx < SIZE // 2, still, moving), 0, 255).astype(np.uint8)
        out.append(Planes(y, np.full((ch, cw), 120 + t, np.uint8), np.full((ch, cw), 136, np.uint8)))
    return out


@pytest.fixture(scope="module")
def model():
    """The tiny architecture with the shipped model's pixel gate and narrow FFNs."""
    config = ModelConfig("tiny-contract", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=2,
                                                                         reference_skip=True))
    return synthetic_model(5, config)


def side_info(unit: FrameUnit, block_skip_on: bool, motion_on: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The motion field (None: no vectors) and the blocks a P frame skips (None: none), read off its payload."""
    payload, pos, params = unit.payload, 0, None
    if motion_on:
        pos = 1
        if payload[0]:
            params, pos = payload[1:1 + motion.CONTEXTS], 1 + motion.CONTEXTS
    prob = None
    if block_skip_on:
        prob, pos = payload[pos], pos + 1
    coder = RansDecoder(payload[pos:], False)
    field = motion.decode_field(coder, motion.class_table(), params, SIZE // 16, SIZE // 16) if params else None
    skips = (block_skip.decode_map(coder, block_skip.flag_table(), prob, SIZE // 16, SIZE // 16) if prob
             else None)
    return field, skips


def assert_same_symbols(trained: Symbols, coded: Symbols, frame: int) -> None:
    assert torch.equal(trained.z_hat, coded.z_hat), f"frame {frame}: z differs"
    assert len(trained.steps) == len(coded.steps)
    for step, (a, b) in enumerate(zip(trained.steps, coded.steps, strict=True)):
        for name in ("symbols", "scales", "y_hat"):
            assert torch.equal(getattr(a, name), getattr(b, name)), f"frame {frame} step {step}: {name} differs"


@pytest.mark.parametrize(("block_skip_on", "skip_threshold", "motion_on"), [
    (False, None, False), (True, 0.12, False), (False, 0.12, False), (True, 0.12, True), (False, None, True)])
def test_the_training_pass_rounds_and_reconstructs_what_the_coder_codes(model, block_skip_on, skip_threshold,
                                                                        motion_on):
    """With motion, training's own search in its own previous picture finds the field the encoder coded,
    and both sides move their references by it."""
    frames = clip(6)
    settings = CodingSettings(qp_i=44, qp_p=36, layer=False, reset_interval=3, block_skip=block_skip_on,
                              skip_threshold=skip_threshold, motion=motion_on)
    encoder = SequenceEncoder(model, settings, device="cpu")
    encoded = [encoder.encode(f) for f in frames]
    units = [next(u for u in e.units if isinstance(u, FrameUnit)) for e in encoded]
    plans = [e.plan for e in encoded]
    assert [p.frame_type for p in plans] == [FrameType.I] + [FrameType.P] * 5
    # resets at frames 1 (after the I frame: its pixels stay the reference) and 4 (pixels from frame 3's feature)
    assert [p.use_ada_i for p in plans[1:]] == [True, False, False, True, False]
    intra, inter = IntraCodec(model.intra), InterCodec(model.inter)
    skipped, moved = 0, 0
    with pinned(encoder.numerics):
        coded_ref = trained_ref = previous = None
        for i, (frame, unit, plan) in enumerate(zip(frames, units, plans, strict=True)):
            x, qp = planes_to_tensor(frame), torch.tensor([plan.qp])
            if plan.frame_type == FrameType.I:
                symbols, x_hat = intra.compress(x, plan.qp, skip_threshold)
                trained = intra.forward(x, qp, hard_rate=True, skip_threshold=skip_threshold, keep_symbols=True)
                coded_ref, previous = Reference(x_hat, None, plan.qp), None
                trained_ref = Reference(trained.x_hat.clamp(0, 1), None, plan.qp)  # as training's P samples start
            else:
                field, skips = side_info(unit, block_skip_on, motion_on)
                skipped += 0 if skips is None else int(skips.sum())
                coded_shown, trained_shown = coded_ref.frame, trained_ref.frame
                if motion_on:
                    searched = motion.search(x, trained_shown, lambda_for_qp(plan.qp, model.lambda_max), previous)
                    previous = searched
                    assert np.array_equal(searched, field if field is not None else np.zeros_like(searched))
                    moved += int(searched.any())
                if plan.use_ada_i:
                    coded_ref = regenerate_reference(model.inter, coded_ref)
                    trained_ref = regenerate_reference(model.inter, trained_ref)
                coded_ref, coded_shown = compensate(coded_ref, coded_shown, field)
                trained_ref, trained_shown = compensate(trained_ref, trained_shown, field)
                if i == 1 and block_skip_on:
                    # training chooses each frame's map as the encoder does its first P frame's
                    chosen = coder_skips(model.inter, x, qp, trained_shown, trained_ref.feature, model.lambda_max,
                                         skip_threshold)[0]
                    assert np.array_equal(chosen, skips if skips is not None else np.zeros_like(chosen))
                symbols, coded_ref = inter.compress(x, plan.qp, coded_ref, skip_threshold, skips, coded_shown)
                trained = inter.forward(x, qp, trained_ref.frame, trained_ref.feature, hard_rate=True, skips=skips,
                                        shown=trained_shown, skip_threshold=skip_threshold, keep_symbols=True)
                trained_ref = Reference(trained.x_hat, trained.feature, plan.qp)
                torch.testing.assert_close(trained.feature, coded_ref.feature, rtol=0, atol=ATOL)
            assert_same_symbols(trained.symbols, symbols, i)
            torch.testing.assert_close(trained_ref.frame, coded_ref.frame, rtol=0, atol=ATOL)
            # the coding pass is what the encoder did: its pictures are the stream's, bit for bit
            assert_planes_equal(tensor_to_planes(coded_ref.frame, SIZE, SIZE, "420"), encoded[i].reconstruction, i)
    assert (skipped > 0) == block_skip_on  # the still half was skipped somewhere
    assert (moved > 0) == motion_on  # and the moving half moved


def test_a_batch_is_skipped_and_coded_per_sample_as_each_alone(model):
    """Training codes batches: each sample gets its own map, and the batch's pass equals each sample's."""
    frames = clip(3)
    x = torch.cat([planes_to_tensor(frames[2]), planes_to_tensor(frames[1])])
    ref_frame = torch.cat([planes_to_tensor(frames[1]), planes_to_tensor(frames[0])])
    qp = torch.tensor([30, 50])
    maps = coder_skips(model.inter, x, qp, ref_frame, None, model.lambda_max, 0.12)
    alone = [coder_skips(model.inter, x[i:i + 1], qp[i:i + 1], ref_frame[i:i + 1], None, model.lambda_max, 0.12)[0]
             for i in range(2)]
    assert maps.shape == (2, SIZE // 16, SIZE // 16) and all(np.array_equal(maps[i], alone[i]) for i in range(2))
    assert maps.any()  # the still half is copied
    maps[1] = ~maps[0]  # and two different maps are applied each to its own sample
    with torch.no_grad():
        batch = inter_forward(model.inter, x, qp, ref_frame, None, True, maps, 0.12)
        for i in range(2):
            one = inter_forward(model.inter, x[i:i + 1], qp[i:i + 1], ref_frame[i:i + 1], None, True, maps[i], 0.12)
            torch.testing.assert_close(batch.x_hat[i:i + 1], one.x_hat, rtol=0, atol=ATOL)
            torch.testing.assert_close(batch.bits[i:i + 1], one.bits, rtol=1e-5, atol=1e-3)
            copied = block_skip.expand(maps[i], block_skip.BLOCK, x.device)[0, 0]
            assert torch.equal(batch.x_hat[i][:, copied], ref_frame[i][:, copied])
