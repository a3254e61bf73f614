"""``--workers`` and ``nvc batch`` on a local Ray with 2 workers and the tiny synthetic model.

One Ray for the whole module (started here, which nvc then uses and leaves running): starting one
costs seconds, and each test only adds its tasks.  CI installs the ray extra (Makefile), so these run
there; the tests of what happens without Ray are in tests/cli/test_scaleout_refusals.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import pytest

from tests.cli.conftest import MODEL
from tests.cli.media import make_clip

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    for signum, handler in handlers.items():  # Ray's start replaces them; the interrupt test needs Python's
        signal.signal(signum, handler)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    # 21 frames with audio: three chunks at -g 8, the last one short
    return make_clip(tmp_path_factory.mktemp("scaleout") / "clip.mp4", frames=21, width=48, height=32)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    """The one-process encode every chunked one must equal, byte for byte."""
    from nvcodec_cli.main import main

    path = tmp_path_factory.mktemp("reference") / "one.nvc"
    assert main(["encode", str(clip), str(path), *MODEL, "-g", "8", "--reset-interval", "3", "--block-skip",
                 "--loglevel", "error"]) == 0
    return path


def encode_args(clip, out, *extra):
    return ("encode", clip, out, *MODEL, "-g", "8", "--reset-interval", "3", "--block-skip", *extra)


def test_chunked_encode_on_two_workers_is_byte_identical(clip, reference, nvc, tmp_path):
    code, _, err = nvc(*encode_args(clip, tmp_path / "w2.nvc", "--workers", "2"))
    assert code == 0, err
    assert "3 chunks on 2 workers" in err
    assert (tmp_path / "w2.nvc").read_bytes() == reference.read_bytes()
    # each task reading its own frames from the input gives the same file
    code, _, err = nvc(*encode_args(clip, tmp_path / "input.nvc", "--workers", "2", "--feed", "input"))
    assert code == 0, err
    assert (tmp_path / "input.nvc").read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.nvc", "w2.nvc"]  # no pieces left behind


def test_chunked_decode_is_identical_to_a_plain_decode(reference, nvc, tmp_path):
    assert nvc("decode", reference, tmp_path / "plain.y4m", "--loglevel", "error")[0] == 0
    code, _, err = nvc("decode", reference, tmp_path / "w2.y4m", "--workers", "2", "--loglevel", "error")
    assert code == 0, err
    assert (tmp_path / "w2.y4m").read_bytes() == (tmp_path / "plain.y4m").read_bytes()


def test_a_task_killed_on_its_first_attempt_is_retried_and_the_output_is_unchanged(clip, reference, nvc, tmp_path,
                                                                                   monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("NVC_SCALEOUT_FAILPOINT", f"kill:1:{markers}")  # chunk 1's worker dies (SIGKILL) once
    code, _, err = nvc(*encode_args(clip, tmp_path / "out.nvc", "--workers", "2"))
    assert code == 0, err
    assert (markers / "killed-1").exists()
    assert (tmp_path / "out.nvc").read_bytes() == reference.read_bytes()


def test_a_batch_with_a_bad_input_finishes_the_others_reports_it_and_exits_1(clip, nvc, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    second = make_clip(tmp_path / "second.mp4", frames=3, width=32, height=16, audio=False)
    out = tmp_path / "out"
    code, stdout, err = nvc("batch", clip, bad, second, "-o", out, *MODEL, "-g", "8", "--workers", "2", "--json")
    assert code == 1
    report = json.loads(stdout)
    assert (report["ok"], report["failed"]) == (2, 1)
    rows = {r["input"]: r for r in report["results"]}
    assert rows[str(bad)]["ok"] is False and "not a video" in rows[str(bad)]["error"]
    assert rows[str(clip)]["frames"] == 21 and rows[str(second)]["frames"] == 3
    assert f"{bad}: not a video" in err and err.strip().splitlines()[-1] == f"nvc: 1 of 3 inputs failed: {bad}"
    assert sorted(p.name for p in out.iterdir()) == ["clip.nvc", "second.nvc"]  # nothing for the bad one
    # each output is what nvc encode writes for that input
    assert nvc("encode", clip, tmp_path / "clip.nvc", *MODEL, "-g", "8", "--loglevel", "error")[0] == 0
    assert (out / "clip.nvc").read_bytes() == (tmp_path / "clip.nvc").read_bytes()


#: an nvc process whose chunked encode gets Ctrl-C once the first chunk is back, the others still out
INTERRUPTED_ENCODE = """
import os, signal, sys
from nvcodec.scaleout import drivers
from nvcodec_cli.main import main

real_add = drivers.Joiner.add

def add_then_interrupt(self, coded):
    real_add(self, coded)
    os.kill(os.getpid(), signal.SIGINT)

drivers.Joiner.add = add_then_interrupt
sys.exit(main(sys.argv[1:]))
"""


def test_interrupting_a_chunked_encode_leaves_no_partial_output(clip, tmp_path):
    """Ctrl-C while chunks are out: exit 255, no output, no pieces, an old output kept.

    nvc runs as its own process here, starting and stopping its own Ray as the command line does
    (this module's shared Ray would be left running, which is a different way out).
    """
    target = tmp_path / "out.nvc"
    target.write_bytes(b"keep me")
    args = [str(a) for a in encode_args(clip, target, "--workers", "2", "-y")]
    # a run started in the background inherits SIGINT ignored, which nvc keeps so; this test needs Ctrl-C live
    run = subprocess.run([sys.executable, "-c", INTERRUPTED_ENCODE, *args], capture_output=True, text=True,
                         timeout=300, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert run.returncode == 255, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "nvc: interrupted"
    assert target.read_bytes() == b"keep me" and sorted(os.listdir(tmp_path)) == ["out.nvc"]
