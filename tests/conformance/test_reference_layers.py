"""Layers whose last bits depend on the BLAS summation order, checked against the reference's own outputs.

Inputs and outputs come from the DCVC-RT trace of the shared conformance cases
(tests/fixtures/reference_layers.npz): each layer gets the reference's input and
must give its output bit for bit.  Together they pin down both orders of
nvcodec.models.reference_conv: with 15 or more output positions one block
(K=192), two halves (K=256) and blocks of 192 (K=384, 768, 1024); with 2 to 8
positions the products added in order onto the bias; with one position the
four-accumulator order (K=128 on integer z, K=512 on float features).
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from nvcodec.models.bundle import synthetic_model
from nvcodec.numerics import pinned

LAYERS = np.load(Path(__file__).parent.parent / "fixtures" / "reference_layers.npz")


@pytest.fixture(scope="module")
def model():
    return synthetic_model(1)  # the traced cases' weight seed


def t(key: str) -> torch.Tensor:
    return torch.from_numpy(LAYERS[key])


CASES = {
    # (layer, input, expected output)
    "intra upsampling 1x1, K=256, 16 positions": (
        lambda m: m.intra.dec.dec_1[0].up, lambda: t("c1/f0_I_y_hat"), "c1/f0_I_dec_1_0_up"),
    "inter 2x2 stride-2, K=1024": (
        lambda m: m.inter.temporal_prior_encoder.down, lambda: t("c1/f1_P_ctx_t"),
        "c1/f1_P_temporal_prior_encoder_down"),
    "inter prior fusion block, K=384 and 768": (
        lambda m: m.inter.y_prior_fusion.conv[0],
        lambda: torch.cat((t("c1/f1_P_hyper_dec"), t("c1/f1_P_temporal_prior")), dim=1),
        "c1/f1_P_y_prior_fusion_0"),
    "intra first block, K=192, 60 positions": (
        lambda m: m.intra.enc.enc_1, lambda: torch.nn.functional.pixel_unshuffle(t("c2/f0_I_x"), 8),
        "c2/f0_I_enc_1"),
    "intra hyper encoder block, K=256, 32 positions": (
        lambda m: m.intra.hyper_enc[0], lambda: t("c2/f0_I_y_pad"), "c2/f0_I_hyper_enc_0"),
    "intra hyper decoder upsampling, 2 positions": (
        lambda m: m.intra.hyper_dec[0].up, lambda: t("c2/f0_I_z_hat"), "c2/f0_I_hyper_dec_0_up"),
    "intra hyper decoder upsampling, 4 positions": (
        lambda m: m.intra.hyper_dec[1].up, lambda: t("c1/f0_I_hyper_dec_0"), "c1/f0_I_hyper_dec_1_up"),
    "intra hyper encoder 2x2 stride-2, K=512, 8 positions": (
        lambda m: m.intra.hyper_enc[1].down, lambda: t("c2/f0_I_hyper_enc_0_in_down"), "c2/f0_I_hyper_enc_1_down"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_layer_matches_the_reference_bit_for_bit(model, name):
    layer, make_input, expected = CASES[name]
    with pinned("cpu-avx2-t2"), torch.no_grad():
        got = layer(model)(make_input()).numpy()
    want = LAYERS[expected]
    assert got.shape == want.shape
    assert int((got != want).sum()) == 0, f"{int((got != want).sum())} of {got.size} values differ"
