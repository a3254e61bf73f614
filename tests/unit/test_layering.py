"""Dependencies point one way: cli -> transcode -> io / container / codec -> models / entropy / bitstream.

Read from the source with ``ast`` (imports inside functions count too), so a shortcut taken in a
hurry shows here rather than as an import cycle or a slow start later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "nvcodec"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (LIBRARY / package).rglob("*.py"))


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {name}" for p in paths for name in sorted(_imports(p))
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_the_coding_core_never_reaches_up_into_training_evaluation_or_the_front_end():
    core = _modules("codec", "container", "io", "models", "entropy", "bitstream", "metrics")
    assert core, "no library modules found"
    assert _offenders(core, ("nvcodec.training", "nvcodec.eval", "nvcodec.transcode", "nvcodec_cli", "cli")) == []


def test_lower_layers_do_not_import_higher_ones():
    assert _offenders(_modules("models", "entropy", "bitstream"), ("nvcodec.codec", "nvcodec.container",
                                                                   "nvcodec.io")) == []
    assert _offenders(_modules("container"), ("nvcodec.codec", "nvcodec.io")) == []
    assert _offenders(_modules("io"), ("nvcodec.codec", "nvcodec.container")) == []


def test_the_library_never_imports_the_front_end_or_its_toolkits():
    everything = sorted(LIBRARY.rglob("*.py"))
    assert _offenders(everything, ("click", "rich", "nvcodec_cli", "cli")) == []


@pytest.mark.parametrize("folder", ["bench", "docs"])
def test_benchmarks_and_examples_use_the_library_not_the_command_line_package(folder):
    scripts = sorted((ROOT / folder).rglob("*.py"))
    assert scripts
    assert _offenders(scripts, ("cli", "nvcodec_cli")) == []
