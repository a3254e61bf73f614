"""A .nvc file is untrusted: what it names never decides which local file nvc opens."""

from __future__ import annotations

import dataclasses

import pytest

from nvcodec import transcode
from nvcodec.io import InputOptions, open_source
from nvcodec.models.bundle import synthetic_model
from nvcodec.models.registry import save_model_file
from nvcodec.settings import CodingSettings
from tests.cli.test_bad_input import assert_no_output, one_line_error


def _stream_naming(model_name: str, media, tmp_path, save_weights_there: bool):
    """A stream coded by the tiny synthetic model that records ``model_name`` as its model."""
    model = dataclasses.replace(synthetic_model(1, "tiny"), name=model_name)
    if save_weights_there:
        save_model_file(model, model_name, half=False)  # the very weights: a hash check alone would pass
    coded = tmp_path / "named.nvc"
    with open_source(str(media["clip"]), InputOptions(frames=2, audio=False)) as source, open(coded, "wb") as out:
        for _ in transcode.encode(source, out, model, CodingSettings(qp_i=30)):
            pass
    return coded


def test_a_stream_naming_a_model_file_does_not_get_it_opened(media, tmp_path, nvc):
    weights = tmp_path / "weights.pt"
    coded = _stream_naming(str(weights), media, tmp_path, save_weights_there=True)
    out = tmp_path / "out.y4m"
    code, _, err = nvc("decode", coded, out)
    one_line_error(code, err, "--model")
    assert_no_output(tmp_path)
    # the user may name that file, and then its weights must be the stream's
    assert nvc("decode", coded, out, "--model", weights)[0] == 0
    other = tmp_path / "other.pt"
    save_model_file(synthetic_model(2, "tiny"), other)
    code, _, err = nvc("decode", coded, tmp_path / "out2.y4m", "--model", other)
    one_line_error(code, err, "sha256")


@pytest.mark.parametrize("name", ["/etc/passwd", "/dev/zero", "../../secret.pt", "synthetic:tiny:1",
                                  "nvc-compact,/etc/passwd", "synthetic-../x-seed1", "x" * 255])
def test_hostile_model_names_are_refused_by_name(media, tmp_path, nvc, monkeypatch, name):
    coded = _stream_naming(name, media, tmp_path, save_weights_there=False)
    opened = []
    real_open = open

    def watching_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watching_open)
    code, _, err = nvc("decode", coded, tmp_path / "out.y4m")
    monkeypatch.undo()
    one_line_error(code, err)
    assert not any(name in path or path in ("/etc/passwd", "/dev/zero") for path in opened)
    assert_no_output(tmp_path)
