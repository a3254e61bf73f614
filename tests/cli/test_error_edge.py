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


def test_ffmpeg_spellings_work(media, nvc, tmp_path):
    coded = tmp_path / "i.nvc"
    code, _, err = nvc("-loglevel", "error", "-hide_banner", "encode", "-i", media["clip"], coded, "-frames:v", "2",
                       "--model", "synthetic:tiny:1", "-c:a", "copy")
    assert code == 0, err
    assert nvc("decode", "-i", coded, tmp_path / "d.mp4", "-crf", "30", "-c:v", "libx264", "-vframes", "1",
               "-loglevel", "quiet")[0] == 0
    assert nvc("decode", coded, tmp_path / "raw.out", "-f", "y4m")[0] == 0
    assert (tmp_path / "raw.out").read_bytes().startswith(b"YUV4MPEG2 ")
    assert nvc("decode", coded, tmp_path / "m.video", "-f", "matroska")[0] == 0


@pytest.mark.parametrize(("args", "words"), [
    (["-vf", "scale=320:-2"], ["-vf", "filter"]),
    (["-map", "0:v"], ["-map", "--stream"]),
    (["-c:a", "aac"], ["-c:a", "copy"]),
])
def test_ffmpeg_options_nvc_lacks_say_what_it_offers(media, nvc, tmp_path, args, words):
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", *args)
    one_line_error(code, err, *words)
    assert not (tmp_path / "out.nvc").exists()


def test_encoding_under_another_formats_name_needs_f_nvc(media, nvc, tmp_path):
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.mp4", "--model", "synthetic:tiny:1")
    one_line_error(code, err, "-f nvc")
    assert not (tmp_path / "out.mp4").exists()
    assert nvc("encode", media["clip"], tmp_path / "out.mp4", "-f", "nvc", "--model", "synthetic:tiny:1",
               "--frames", "1")[0] == 0
    assert (tmp_path / "out.mp4").read_bytes().startswith(b"\x8bNVC")


def test_paths_are_counted(media, nvc, tmp_path):
    one_line_error(*nvc("encode", media["clip"])[::2], "INPUT and OUTPUT")
    one_line_error(*nvc("encode", "-i", media["clip"], tmp_path / "a.nvc", tmp_path / "b.nvc")[::2], "OUTPUT")


def test_rate_on_container_input_is_a_warning(media, nvc, tmp_path):
    code, _, err = nvc("encode", media["clip"], tmp_path / "r.nvc", "-r", "50", "--frames", "1",
                       "--model", "synthetic:tiny:1")
    assert code == 0 and "-r sets the frame rate of raw" in err


def test_stdin_errors_say_what_stdin_takes(monkeypatch, nvc, tmp_path):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a y4m stream at all\n" * 10)))
    code, _, err = nvc("encode", "-", tmp_path / "out.nvc", "--model", "synthetic:tiny:1")
    one_line_error(code, err, "y4m", "yuv4mpegpipe")


def test_quiet_silences_the_output_encoder_too(media, tmp_path, capfd):
    from nvcodec_cli.main import main

    capfd.readouterr()
    assert main(["decode", str(media["nvc"]), str(tmp_path / "q.mkv"), "-c:v", "libx265", "--loglevel", "quiet"]) == 0
    out, err = capfd.readouterr()
    assert err == ""  # x265 writes its banner straight to the file descriptor unless told not to


def test_a_pickle_in_a_model_file_is_one_line(media, nvc, tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "nvc-model-1", "x": Evil()}))
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", "--model", evil)
    one_line_error(code, err, "evil.pt")
    assert "owned" not in err
