"""The benchmark scripts build on the library, never on the command line's package; their own logic is tested here.

A benchmark that drives ``nvc``'s click commands in-process inherits whatever the front end does
(its numerics set-up, its output, its exit codes) and breaks whenever the front end is reorganised;
the library is the interface meant for programs.  ``bench/`` and ``bench/probes/`` are scripts, not a
package, so the rule is checked on their source.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
CLI_PACKAGES = {"cli", "nvcodec_cli"}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value).split(".")[0])
    return found


def test_no_benchmark_or_probe_imports_the_command_line_package():
    scripts = sorted(BENCH.rglob("*.py"))
    assert len(scripts) > 5 and any(p.parent.name == "probes" for p in scripts)
    offenders = {p.relative_to(BENCH).as_posix(): sorted(_imported_packages(p) & CLI_PACKAGES) for p in scripts}
    assert {name: pkgs for name, pkgs in offenders.items() if pkgs} == {}


def test_the_import_scan_sees_the_ways_a_script_imports_the_cli(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import cli.main\nfrom nvcodec_cli.train import X\nimportlib.import_module('nvcodec_cli')\n")
    assert _imported_packages(script) >= CLI_PACKAGES


def test_the_training_split_is_one_torch_free_list_that_nvc_train_reads():
    probe = "import sys, nvcodec.training.split as s; print(len(s.TRAINING_SOURCES), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, torch_loaded = out.stdout.split()
    assert int(count) > 0 and torch_loaded == "False"

    from nvcodec_cli import train

    from nvcodec.training.split import TRAINING_SOURCES

    assert train.DEFAULT_DATA is TRAINING_SOURCES


def test_training_skips_the_files_held_out_for_evaluation_and_codec_test_material(tmp_path):
    from nvcodec.training.split import HELD_OUT, TEST_MATERIAL, TRAINING_SOURCES, is_held_out

    for held in HELD_OUT + TEST_MATERIAL:
        assert any(held.startswith(folder + "/") for folder in TRAINING_SOURCES)  # inside a training folder
        (tmp_path / held).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / held).write_bytes(b"")
        assert is_held_out(tmp_path / held, tmp_path)
    kept = tmp_path / "video/compressed/other.mp4"
    kept.write_bytes(b"")
    assert not is_held_out(kept, tmp_path) and not is_held_out(tmp_path / HELD_OUT[0], tmp_path / "video")


class _Anchor:
    """What bench_dev's anchor reuse reads of a built codec."""

    name = "nvc:nvc-compact"
    parameter = "qp"
    values = (24, 63)

    def __init__(self, sha: str) -> None:
        self.sha = sha

    def describe(self) -> dict:
        return {"codec": "nvc", "sha256": self.sha}


def _report(labels: dict[str, str], frames: int = 21) -> dict:
    points = [{"codec": label, "bpp": 0.1 * q, "psnr_yuv": 30.0 + q / 10} for label in labels for q in (24, 63)]
    return {"created": "then", "codecs": {label: {"codec": "nvc", "sha256": sha} for label, sha in labels.items()},
            "settings": {"intra_period": -1, "max_frames": frames,
                         "rate_points": {label: {"parameter": "qp", "values": [24, 63]} for label in labels}},
            "sources": [{"name": "clip", "path": "/d/clip.mp4", "frames": frames, "width": 64, "height": 48,
                         "points": points, "bd_rate": {}}]}


def test_dev_bench_reuses_an_earlier_anchor_only_when_it_is_the_same_run():
    sys.path.insert(0, str(BENCH))
    try:
        from bench_dev import with_anchor
    finally:
        sys.path.remove(str(BENCH))
    earlier = _report({"nvc:nvc-compact": "aa", "nvc:old.pt": "cc"})
    merged = with_anchor(_report({"nvc:new.pt": "bb"}), earlier, _Anchor("aa"))
    assert list(merged["codecs"]) == ["nvc:nvc-compact", "nvc:new.pt"]
    assert [p["codec"] for p in merged["sources"][0]["points"]] == ["nvc:nvc-compact"] * 2 + ["nvc:new.pt"] * 2
    assert "nvc:old.pt" not in merged["settings"]["rate_points"]
    # the weights an earlier run judged as a candidate, since become the default, are its anchor
    promoted = with_anchor(_report({"nvc:newer.pt": "dd"}), _report({"nvc:old": "aa", "nvc:new.pt": "bb"}),
                           _Anchor("bb"))
    assert [p["codec"] for p in promoted["sources"][0]["points"]] == ["nvc:nvc-compact"] * 2 + ["nvc:newer.pt"] * 2
    assert promoted["codecs"]["nvc:nvc-compact"] == {"codec": "nvc", "sha256": "bb"}
    for candidate, anchor in ((_report({"nvc:new.pt": "bb"}), _Anchor("other weights")),
                              (_report({"nvc:new.pt": "bb"}, frames=9), _Anchor("aa"))):
        with pytest.raises(SystemExit):
            with_anchor(candidate, earlier, anchor)
