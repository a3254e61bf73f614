"""The shipped default model: present, loadable, and exactly the weights the registry names."""

import hashlib

import pytest

from nvcodec.models.catalog import DEFAULT_MODEL, REGISTRY, packaged_path
from nvcodec.models.registry import resolve_model


def test_default_model_is_registered_and_shipped():
    names = [m.name for m in REGISTRY]
    assert DEFAULT_MODEL in names
    for info in REGISTRY:
        path = packaged_path(info)
        assert path.is_file(), f"{info.name}: {path} missing"
        assert path.stat().st_size <= 30 * 1024 * 1024  # compact weights


@pytest.mark.parametrize("info", REGISTRY, ids=lambda i: i.name)
def test_shipped_weights_match_the_registry_sha256(info):
    model = resolve_model(info.name)  # resolve_model itself refuses a mismatch; check it independently too
    assert model.sha256 == info.sha256
    assert model.config.name == info.config
    assert len(hashlib.sha256(packaged_path(info).read_bytes()).hexdigest()) == 64
