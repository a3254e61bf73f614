"""Clips and a coded .nvc shared by the transcoder CLI tests, generated once per test run."""

import pytest
from nvcodec_cli.main import main

from tests.cli.media import make_clip, make_pngs, make_y4m

MODEL = ["--model", "synthetic:tiny:1"]


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clip = make_clip(root / "clip.mp4")
    odd = make_y4m(root / "odd.y4m")
    pngs = make_pngs(root / "pngs")
    coded = root / "clip.nvc"
    assert main(["encode", str(clip), str(coded), *MODEL, "--loglevel", "error"]) == 0
    return {"root": root, "clip": clip, "odd": odd, "pngs": pngs, "nvc": coded}


@pytest.fixture
def nvc(capsys):
    """Run the real CLI in-process: (exit code, stdout, stderr)."""
    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
