"""The encoder's I-frame latent refinement: an ordinary stream, decoded exactly, never estimated worse."""

import pytest
import torch

from nvcodec.codec import latent_refine
from nvcodec.codec.frames import planes_to_tensor
from nvcodec.codec.latent_refine import coded_cost, refine_intra_latent
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.errors import ConfigError
from nvcodec.models.lambdas import lambda_for_qp
from nvcodec.settings import MAX_INTRA_REFINE, CodingSettings
from tests.unit.test_codec_roundtrip import assert_planes_equal, seeded_clip
from tests.unit.tiny import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=7)


@pytest.fixture(autouse=True)
def random_model_step(monkeypatch):
    """The tiny model's weights are random, its latent far from any optimum: the search needs a step
    ten times the trained model's to move it within a few iterations."""
    monkeypatch.setattr(latent_refine, "STEP", 0.1)


def encode(model, frames, settings, refine):
    encoder = SequenceEncoder(model, settings, device="cpu", intra_refine=refine)
    coded = [encoder.encode(f) for f in frames]
    return b"".join(u.to_bytes() for c in coded for u in c.units), [c.reconstruction for c in coded]


@pytest.mark.parametrize("size,qp", [((17, 33), 40), ((32, 48), 63)])
def test_refined_i_frames_decode_exactly_and_cost_less_as_coded(model, size, qp):
    frames = seeded_clip(11, 4, *size)
    settings = CodingSettings(qp_i=qp, intra_period=2, reset_interval=0)
    plain, _ = encode(model, frames, settings, 0)
    stream, recons = encode(model, frames, settings, 10)
    assert stream != plain  # the search moved the latent
    decoded = list(SequenceDecoder(model, settings.skip_threshold, device="cpu").decode_stream(stream))
    assert len(decoded) == len(frames)
    for i, (a, b) in enumerate(zip(decoded, recons, strict=True)):
        assert_planes_equal(a, b, i)
    # the latent kept is never estimated worse than the analysis' own, and here better
    x = planes_to_tensor(frames[0])
    lam = lambda_for_qp(qp, model.lambda_max)
    with torch.no_grad():
        y0 = model.intra.analysis(x, qp)
    y = refine_intra_latent(model.intra, x, qp, lam, 10, *size, skip_threshold=settings.skip_threshold)
    before = coded_cost(model.intra, x, y0, qp, lam, *size, skip_threshold=settings.skip_threshold)
    after = coded_cost(model.intra, x, y, qp, lam, *size, skip_threshold=settings.skip_threshold)
    assert after < before


def test_refinement_codes_the_same_bytes_every_time_and_leaves_the_random_stream_alone(model):
    frames = seeded_clip(3, 1, 24, 40)
    settings = CodingSettings(qp_i=50)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first, _ = encode(model, frames, settings, 8)
    assert torch.equal(torch.get_rng_state(), state)
    second, _ = encode(model, frames, settings, 8)
    assert first == second


def test_no_iterations_code_what_the_plain_encoder_codes(model):
    frames = seeded_clip(5, 2, 20, 20)
    settings = CodingSettings(qp_i=30)
    x = planes_to_tensor(frames[0])
    with torch.no_grad():
        y0 = model.intra.analysis(x, 30)
    assert torch.equal(refine_intra_latent(model.intra, x, 30, 100.0, 0, 20, 20), y0)
    default = SequenceEncoder(model, settings, device="cpu")
    plain = b"".join(u.to_bytes() for f in frames for u in default.encode(f).units)
    assert encode(model, frames, settings, 0)[0] == plain


@pytest.mark.parametrize("bad", [-1, MAX_INTRA_REFINE + 1, 2.5, True, "10"])
def test_an_effort_out_of_range_is_refused_by_name(model, bad):
    with pytest.raises(ConfigError, match="intra_refine"):
        SequenceEncoder(model, CodingSettings(), device="cpu", intra_refine=bad)

