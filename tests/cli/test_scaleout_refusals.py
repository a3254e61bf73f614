"""What ``--workers`` and ``nvc batch`` refuse, and ``nvc batch`` in one process: none of it needs Ray, so these
run with or without the extra (without it, as it is simulated here)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.cli.conftest import MODEL
from tests.cli.media import make_clip

EXTRA = "pip install 'nvcodec[ray]'"


@pytest.fixture
def no_ray(monkeypatch):
    """Ray as if it were not installed: ``import ray`` fails."""
    monkeypatch.setitem(sys.modules, "ray", None)


@pytest.mark.parametrize("command", ["encode", "decode", "batch"])
def test_workers_without_ray_is_one_line_naming_the_extra(media, nvc, tmp_path, no_ray, command):
    if command == "encode":
        args = ("encode", media["clip"], tmp_path / "out.nvc", *MODEL, "-g", "8", "--workers", "2")
    elif command == "decode":
        args = ("decode", media["nvc"], tmp_path / "out.y4m", "--workers", "2")
    else:
        args = ("batch", media["clip"], "-o", tmp_path / "out", *MODEL, "--workers", "2")
    code, out, err = nvc(*args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and EXTRA in err, err
    assert not (tmp_path / "out.nvc").exists() and not (tmp_path / "out.y4m").exists()
    assert not list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(("extra", "says"), [
    ((), "give -g N"),                                  # no intra period: nothing to split at
    (("-g", "8", "-b:v", "100k"), "cannot take -b:v"),  # rate control plans across the whole sequence
])
def test_workers_refuses_what_chunks_cannot_do(media, nvc, tmp_path, extra, says):
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", *MODEL, "--workers", "2", *extra)
    assert code == 1 and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "out.nvc").exists()


def test_tasks_cannot_read_a_pipe(nvc, tmp_path):
    code, _, err = nvc("encode", "-", tmp_path / "out.nvc", *MODEL, "-g", "8", "--workers", "2", "--feed", "input")
    assert code == 1 and "a pipe" in err and err.count("\n") == 1


def test_batch_refuses_outputs_it_would_lose(media, nvc, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = make_clip(other / "clip.mp4", frames=2, width=32, height=16, audio=False)
    code, _, err = nvc("batch", media["clip"], twin, "-o", tmp_path / "out", *MODEL)
    assert code == 1 and "would both be written to" in err and err.count("\n") == 1
    (tmp_path / "out" / "clip.nvc").write_bytes(b"old")
    code, _, err = nvc("batch", media["clip"], "-o", tmp_path / "out", *MODEL)
    assert code == 1 and "already exists (use -y to overwrite)" in err
    assert (tmp_path / "out" / "clip.nvc").read_bytes() == b"old"


def test_batch_in_one_process_reports_a_bad_input_and_exits_1(media, nvc, tmp_path, no_ray):
    """Without --workers, batch needs no Ray: the inputs run one after another through the same driver."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 64)
    code, out, err = nvc("batch", bad, media["clip"], "-o", tmp_path / "out", *MODEL)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["input", "status"]
    assert lines[1].split()[:2] == [str(bad), "failed"] and lines[2].split()[:3] == [str(media["clip"]), "ok", "5"]
    assert err.strip().splitlines()[-1] == f"nvc: 1 of 2 inputs failed: {bad}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.nvc"]
    assert nvc("encode", media["clip"], tmp_path / "one.nvc", *MODEL)[0] == 0
    assert (tmp_path / "out" / "clip.nvc").read_bytes() == (tmp_path / "one.nvc").read_bytes()
    code, out, _ = nvc("batch", media["clip"], "-o", tmp_path / "out", *MODEL, "-y", "--json")
    assert code == 0 and json.loads(out)["results"][0]["ok"] is True


def test_a_cluster_that_does_not_answer_is_one_line_not_a_hang(media, nvc, tmp_path):
    pytest.importorskip("ray")
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", *MODEL, "-g", "8", "--ray-address", "127.0.0.1:1")
    assert code == 1 and err.count("\n") == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in err, err
    assert not (tmp_path / "out.nvc").exists()
