"""What runs before any coding: which commands stay clear of torch, and which numerics profile each gets.

Every command that does not code pays nothing for torch (seconds and hundreds of MB of imports); a
batch script over many files calls ``nvc info`` and friends often.  Each check runs in a fresh
interpreter, since this test process has imported torch long ago.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from nvcodec_cli.main import main

from nvcodec import numerics


def _torch_after(code: str) -> bool:
    """Whether running ``code`` in a fresh interpreter imported torch."""
    probe = f"{code}\nimport sys\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1] == "True"


def _cli_imports_torch(*args: str) -> bool:
    return _torch_after(f"from nvcodec_cli.main import main\nmain({[str(a) for a in args]!r})")


def test_the_base_packages_import_no_torch():
    assert not _torch_after("import nvcodec.container, nvcodec.io, nvcodec.presets, nvcodec.metrics, nvcodec.media")
    # the probe can fail: the coding modules do bring torch in
    assert _torch_after("import nvcodec.codec.sequence")


def test_info_models_and_a_missing_input_import_no_torch(media, tmp_path):
    assert not _cli_imports_torch("info", media["nvc"])
    assert not _cli_imports_torch("info", media["nvc"], "--json", "--frames")
    assert not _cli_imports_torch("models")
    assert not _cli_imports_torch("encode", tmp_path / "missing.mp4", tmp_path / "out.nvc")
    assert not _cli_imports_torch("encode", media["clip"], media["nvc"])  # exists, no -y
    assert not _cli_imports_torch("encode", media["clip"], tmp_path / "out.nvc", "--preset", "nope")
    assert not (tmp_path / "out.nvc").exists()


@pytest.mark.parametrize(("args", "profile"), [
    (["train", "--help"], numerics.NATIVE.name),
    (["--loglevel", "info", "train", "--help"], numerics.NATIVE.name),
    (["train", "--loglevel", "info", "--help"], numerics.NATIVE.name),
    (["--loglevel", "info", "info", "--help"], numerics.DEFAULT_PROFILE),
    (["info", "--loglevel", "debug", "--help"], numerics.DEFAULT_PROFILE),
    (["--loglevel", "debug", "encode", "--help"], numerics.DEFAULT_PROFILE),
    (["decode", "train", "out.y4m", "--help"], numerics.DEFAULT_PROFILE),  # an input file named "train"
    (["eval", "--help"], numerics.DEFAULT_PROFILE),
    (["models", "--loglevel", "error", "--json"], numerics.DEFAULT_PROFILE),
])
def test_each_command_runs_under_its_profile(monkeypatch, capsys, args, profile):
    chosen = []
    monkeypatch.setattr(numerics, "prepare_environment", lambda name=numerics.DEFAULT_PROFILE: chosen.append(name))
    assert main(args) == 0
    assert chosen == [profile]


def test_a_file_named_debug_does_not_turn_on_debug_mode(tmp_path, capsys):
    # debug mode re-raises (a traceback); a missing input named "debug" must give the one-line error
    missing = tmp_path / "debug"
    assert main(["--loglevel", "info", "encode", str(missing), str(tmp_path / "o.nvc")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(Exception, match="no such file"):
        main(["encode", str(missing), str(tmp_path / "o.nvc"), "--loglevel", "debug"])
