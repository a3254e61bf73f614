import pytest
import torch

from nvcodec.errors import ModelError
from nvcodec.models.bundle import load_model
from nvcodec.models.checkpoint import read_checkpoint
from tests.unit.tiny import TINY, tiny_model


@pytest.fixture(scope="module")
def states():
    model = tiny_model(seed=3)
    return model, model.intra.state_dict(), model.inter.state_dict()


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "net", "module_prefix", "state_dict_module_prefix"])
def test_checkpoint_wrappings_load_strict(tmp_path, states, wrap):
    model, intra, inter = states
    paths = []
    for name, state in (("i", intra), ("p", inter)):
        if "module_prefix" in wrap:
            state = {f"module.{k}": v for k, v in state.items()}
        obj = {"state_dict": state} if wrap.startswith("state_dict") else {"net": state} if wrap == "net" else state
        path = tmp_path / f"{name}.pth.tar"
        torch.save(obj, path)
        paths.append(path)
    loaded = load_model(paths[0], paths[1], TINY)
    assert loaded.sha256 == model.sha256


def test_float16_storage_loads_to_the_same_identity_rules(tmp_path, states):
    _, intra, inter = states
    torch.save({k: v.half() for k, v in intra.items()}, tmp_path / "i.pt")
    torch.save({k: v.half() for k, v in inter.items()}, tmp_path / "p.pt")
    loaded = load_model(tmp_path / "i.pt", tmp_path / "p.pt", TINY)
    assert loaded.intra.q_scale_enc.dtype == torch.float32


def test_wrong_shape_gives_clear_message(tmp_path, states):
    _, intra, inter = states
    bad = dict(intra)
    bad["q_scale_enc"] = torch.zeros(3, 3, 1, 1)
    torch.save(bad, tmp_path / "i.pt")
    torch.save(inter, tmp_path / "p.pt")
    with pytest.raises(ModelError, match=r"wrong shapes \(e\.g\. q_scale_enc: \(3, 3, 1, 1\)"):
        load_model(tmp_path / "i.pt", tmp_path / "p.pt", TINY)


def test_missing_and_unexpected_keys_are_named(tmp_path, states):
    _, intra, inter = states
    bad = dict(intra)
    bad.pop("q_scale_dec")
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "i.pt")
    torch.save(inter, tmp_path / "p.pt")
    with pytest.raises(ModelError, match="1 missing .*q_scale_dec.*1 unexpected .*extra.weight"):
        load_model(tmp_path / "i.pt", tmp_path / "p.pt", TINY)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelError, match="not a loadable checkpoint"):
        read_checkpoint(path)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"a": Evil()}}, path)
    with pytest.raises(ModelError):
        read_checkpoint(path)


@pytest.mark.parametrize("content", [
    {"format": "nvc-model-1", "config": "tiny"},  # no weights at all
    {"format": "nvc-model-1", "config": "tiny", "intra": {"w": 1.0}, "inter": {}},
    {"format": "nvc-model-1", "config": "tiny", "intra": [1, 2], "inter": {}},
    {"format": "nvc-model-1", "config": 7, "intra": {}, "inter": {}},
    {"format": "nvc-model-1", "config": "no-such-config", "intra": {}, "inter": {}},
    {"format": "nvc-model-1", "config": "tiny", "name": ["x"], "intra": {}, "inter": {}},
])
def test_model_files_with_the_right_tag_and_wrong_content_are_model_errors(tmp_path, content):
    from nvcodec.models.registry import load_model_file

    path = tmp_path / "m.pt"
    torch.save(content, path)
    with pytest.raises(ModelError):
        load_model_file(path)


@pytest.mark.parametrize("make", [lambda t: t.to_sparse(), lambda t: t.to(torch.complex64), lambda t: t.bool(),
                                  lambda t: t.to("meta")])
def test_tensors_of_the_wrong_kind_are_refused_before_any_model_sees_them(tmp_path, make):
    from nvcodec.models.bundle import synthetic_model
    from nvcodec.models.registry import FORMAT_TAG, load_model_file

    model = synthetic_model(1, "tiny")
    intra = dict(model.intra.state_dict())
    first = next(iter(intra))
    intra[first] = make(intra[first])
    path = tmp_path / "m.pt"
    torch.save({"format": FORMAT_TAG, "config": "tiny", "intra": intra, "inter": model.inter.state_dict()}, path)
    with pytest.raises(ModelError, match=first):
        load_model_file(path)
