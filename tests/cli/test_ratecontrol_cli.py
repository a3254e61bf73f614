"""Rate control from the command line: units, the buffer on real frames, two-pass logs, bitrate ladders."""

from __future__ import annotations

import json

import pytest

from nvcodec.ratecontrol import replay_buffer
from tests.cli.conftest import MODEL
from tests.cli.media import make_clip
from tests.cli.test_bad_input import one_line_error


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("rc") / "rc.mp4", frames=24, width=64, height=48, audio=False)


def _frames(nvc, coded):
    code, out, _ = nvc("info", coded, "--json", "--frames")
    assert code == 0
    return json.loads(out)["frames"]


@pytest.mark.parametrize(("option", "value", "words"), [
    ("-b:v", "0", ["bitrate", "at least 1 bit"]), ("-b:v", "-5k", ["bitrate"]), ("-b:v", "fast", ["bitrate"]),
    ("-b:v", "5x", ["bitrate"]), ("-maxrate", "1e40", ["bitrate"]), ("-bufsize", "0", ["buffer size"]),
])
def test_bad_rates_are_one_line(clip, nvc, tmp_path, option, value, words):
    code, _, err = nvc("encode", clip, tmp_path / "out.nvc", option, value, *MODEL)
    one_line_error(code, err, *words)
    assert not (tmp_path / "out.nvc").exists()


@pytest.mark.parametrize("args", [["-maxrate", "100k"], ["-bufsize", "100k"], ["-pass", "2"],
                                  ["-q", "30", "-b:v", "100k"]])
def test_incomplete_or_contradicting_requests_are_one_line(clip, nvc, tmp_path, args):
    code, _, err = nvc("encode", clip, tmp_path / "out.nvc", *args, *MODEL)
    one_line_error(code, err)
    assert not (tmp_path / "out.nvc").exists()


@pytest.mark.parametrize("extra", [["-b:v", "10k"], ["-q", "63"]])
def test_the_buffer_holds_on_real_frames(clip, nvc, tmp_path, extra):
    # the shipped model, whose bits grow with qp (the synthetic models' do not): a 2 kbit buffer refilled
    # with 500 bits a frame, where -q 63 alone codes a 3.8 kbit I frame and P frames of 0.9-1.4 kbit
    coded = tmp_path / "vbv.nvc"
    code, _, err = nvc("encode", clip, coded, "-maxrate", "12.5k", "-bufsize", "2k", *extra, "-y")
    assert code == 0, err
    sizes = [8 * f["bytes"] for f in _frames(nvc, coded)]
    assert len(sizes) == 24 and replay_buffer(sizes, 25, 12_500, 2_000) is None
    plain = tmp_path / "plain.nvc"
    assert nvc("encode", clip, plain, "-q", "63", "--frames", "2")[0] == 0
    assert replay_buffer([8 * f["bytes"] for f in _frames(nvc, plain)], 25, 12_500, 2_000) is not None


def test_one_pass_reports_target_and_achieved(clip, nvc, tmp_path):
    code, _, err = nvc("encode", clip, tmp_path / "r.nvc", "-b:v", "100k", *MODEL)
    assert code == 0 and "target 100.0 kbit/s" in err


def test_two_passes(clip, nvc, tmp_path):
    prefix = str(tmp_path / "log")
    code, _, err = nvc("encode", clip, "/dev/null", "-b:v", "80k", "-pass", "1", "-passlogfile", prefix, *MODEL)
    assert code == 0, err
    assert (tmp_path / "log-0.log").is_file()
    code, _, err = nvc("encode", clip, tmp_path / "two.nvc", "-b:v", "80k", "-pass", "2", "-passlogfile", prefix,
                       *MODEL)
    assert code == 0, err
    # a log from another input, other settings, or none at all: one line, no output
    other = make_clip(tmp_path / "other.mp4", frames=24, width=64, height=48, audio=False, t0=7)
    code, _, err = nvc("encode", other, tmp_path / "x.nvc", "-b:v", "80k", "-pass", "2", "-passlogfile", prefix,
                       *MODEL)
    one_line_error(code, err, "another")
    code, _, err = nvc("encode", clip, tmp_path / "x.nvc", "-b:v", "80k", "-pass", "2", "-passlogfile", prefix,
                       "-g", "8", *MODEL)
    one_line_error(code, err, "intra_period")
    code, _, err = nvc("encode", clip, tmp_path / "x.nvc", "-b:v", "80k", "-pass", "2", "-passlogfile",
                       str(tmp_path / "none"), *MODEL)
    one_line_error(code, err, "-pass 1")
    assert not (tmp_path / "x.nvc").exists()


def test_a_ladder_with_bitrate_rungs(clip, nvc, tmp_path):
    preset = tmp_path / "abr.toml"
    preset.write_text('[[rung]]\nname = "small"\nwidth = 32\nbitrate = "40k"\nmaxrate = "60k"\nbufsize = "20k"\n\n'
                      '[[rung]]\nname = "full"\nqp = 30\n\n'
                      '[[rung]]\nname = "huge"\nwidth = 128\nbitrate = "1M"\n')
    code, _, err = nvc("ladder", clip, tmp_path / "out", "--preset", preset, *MODEL)
    assert code == 0, err
    assert "huge (128x96) is larger than the 64x48 source: skipped" in err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    small, full = manifest["rungs"]
    assert small["target_kbit_per_s"] == 40.0 and small["achieved_kbit_per_s"] > 0 and small["qp"] is None
    assert full["target_kbit_per_s"] is None and full["qp"] == 30
    assert manifest["skipped"][0]["name"] == "huge" and manifest["scaler"] == "swscale lanczos"
    assert not (tmp_path / "out" / "huge.nvc").exists()
