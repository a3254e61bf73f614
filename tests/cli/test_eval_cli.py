"""`nvc eval` through the real entry point: JSON on stdout or to a file, errors as one line."""

import json

import pytest
from nvcodec_cli.main import main

from tests.unit.test_eval import clip, write_gray_png, write_y4m


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    write_y4m(folder / "clip.y4m", clip(count=3))
    write_gray_png(folder / "still.png", clip(count=1, seed=2)[0].y)
    return folder


def test_json_file_and_summary_table(media, tmp_path, capsys):
    out = tmp_path / "rd.json"
    code = main(["eval", str(media / "clip.y4m"), str(media / "still.png"), "--model", "synthetic:tiny:1",
                 "--qps", "20,50", "--crfs", "22,40", "--jpeg-q", "3,20", "--frames", "2",
                 "--codecs", "nvc,x264,jpeg", "--device", "cpu", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert [s["frames"] for s in doc["sources"]] == [2, 1]
    assert {p["codec"] for p in doc["sources"][1]["points"]} == {"nvc", "x264", "jpeg"}
    assert doc["hardware"]["torch"]
    stdout = capsys.readouterr().out
    assert "BD-rate on PSNR-YUV" in stdout and "vs x264" in stdout


def test_json_on_stdout_by_default(media, capsys):
    assert main(["eval", str(media / "clip.y4m"), "--codecs", "x264", "--crfs", "25,35", "--frames", "2",
                 "--intra-period", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["intra_period"] == 1
    assert [f["type"] for f in doc["sources"][0]["points"][0]["frames"]] == ["I", "I"]


@pytest.mark.parametrize("args", [
    ["--qps", "10,99"],
    ["--codecs", "nvc,vp9"],
    ["--intra-period", "0"],
    ["--codecs", "jpeg"],
    ["--model", "no-such-model"],
])
def test_bad_arguments_are_one_line_exit_1(media, args, capsys):
    assert main(["eval", str(media / "clip.y4m"), "--crfs", "30", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nvc: ")


def test_missing_source_is_exit_1(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.y4m")]) == 1
    assert capsys.readouterr().err.startswith("nvc: ")
