"""The shared DCVC-RT conformance vectors, checked bit for bit through the library."""

import json
from pathlib import Path

import pytest

from nvcodec.conform import check_cdf, check_decode, check_encode, check_weights, read_cases
from nvcodec.models.bundle import synthetic_model

FOLDER = Path(__file__).parent.parent / "fixtures" / "conformance"
CASES = [c["name"] for c in json.loads((FOLDER / "cases.json").read_text())["cases"]]

# Known divergence, tracked on issue 3: one luma sample of this case's first frame.  The reference's small
# convolutions are reproduced bit for bit for 2-8 and for 15 or more output positions (9-14 assumed blocked)
# (nvcodec.models.reference_conv, tests/conformance/test_reference_layers.py; every traced block of c2 agrees).
# This 64x64 case also has products with a single position (its 1x1 hyperprior), where the reference's BLAS
# used an order the traces do not determine; the prior's means then differ in the last bit and one decoded
# sample lands on the other side of a rounding boundary.
KNOWN_DECODE_DIVERGENCE = {"c1_64x64_ip-1_reset2"}


@pytest.fixture(scope="module")
def setup():
    seed, cases = read_cases(FOLDER)
    return seed, {c.name: c for c in cases}, synthetic_model(seed)


def test_weights_load_strict_and_checksums(setup):
    seed, _, _ = setup
    result = check_weights(FOLDER, seed)
    assert result.passed, result.detail


def test_gaussian_cdf_table_is_identical():
    result = check_cdf(FOLDER)
    assert result.passed, result.detail


@pytest.mark.parametrize("name", CASES)
def test_encode_reproduces_stream(setup, name):
    _, cases, model = setup
    result = check_encode(FOLDER, cases[name], model)
    assert result.passed, result.detail


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="1x1 hyperprior order unknown, issue 3"))
        if n in KNOWN_DECODE_DIVERGENCE
        else n
        for n in CASES
    ],
)
def test_decode_reproduces_frames(setup, name):
    _, cases, model = setup
    result = check_decode(FOLDER, cases[name], model)
    assert result.passed, result.detail
