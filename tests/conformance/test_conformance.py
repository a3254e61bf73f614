"""The shared DCVC-RT conformance vectors, checked bit for bit through the library."""

import json
from pathlib import Path

import pytest

from nvcodec.conform import check_cdf, check_decode, check_encode, check_weights, read_cases
from nvcodec.models.bundle import synthetic_model

FOLDER = Path(__file__).parent.parent / "fixtures" / "conformance"
CASES = [c["name"] for c in json.loads((FOLDER / "cases.json").read_text())["cases"]]


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


@pytest.mark.parametrize("name", CASES)
def test_decode_reproduces_frames(setup, name):
    _, cases, model = setup
    result = check_decode(FOLDER, cases[name], model)
    assert result.passed, result.detail
