"""Test set-up: the numerics profile must be in place before torch is imported."""

from pathlib import Path

from nvcodec import numerics

numerics.prepare_environment()

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    return FIXTURES / "conformance"
