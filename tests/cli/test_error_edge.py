"""The command line's edge: whatever goes wrong below it ends as one line on stderr and exit 1."""

from __future__ import annotations

import pytest

from nvcodec.errors import ModelError
from tests.cli.test_bad_input import one_line_error


def _failing(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("exc", [RuntimeError("torch said\n  at frame 1\n  at frame 2"), KeyError("config"),
                                 AttributeError("'dict' object has no attribute 'half'"), RecursionError()])
def test_an_unexpected_exception_is_one_line_naming_it(monkeypatch, nvc, exc):
    monkeypatch.setattr("nvcodec.models.catalog.list_models", _failing(exc))
    code, _, err = nvc("models")
    one_line_error(code, err, "internal error", type(exc).__name__, "--loglevel debug")


def test_debug_shows_the_traceback(monkeypatch, nvc):
    monkeypatch.setattr("nvcodec.models.catalog.list_models", _failing(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        nvc("--loglevel", "debug", "models")


def test_multi_line_library_errors_are_folded(monkeypatch, nvc):
    monkeypatch.setattr("nvcodec.models.catalog.list_models", _failing(ModelError("first\nsecond\n\nthird")))
    code, _, err = nvc("models")
    one_line_error(code, err, "first second third")
    monkeypatch.setattr("nvcodec.models.catalog.list_models", _failing(ValueError("x" * 5000)))
    code, _, err = nvc("models")
    one_line_error(code, err)
    assert len(err) < 500


@pytest.mark.parametrize("option", [["-g", "3000000000"], ["--reset-interval", "5000000000"], ["-g", "0"]])
def test_settings_the_header_cannot_hold_are_one_line(media, tmp_path, nvc, option):
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", *option)
    one_line_error(code, err, option[0].lstrip("-").replace("-", "_") if option[0] != "-g" else "intra_period")
    assert not (tmp_path / "out.nvc").exists()
