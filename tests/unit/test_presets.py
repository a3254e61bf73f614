"""Presets and ladders: the shipped files parse, and every malformed key is named."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nvcodec.errors import ConfigError
from nvcodec.presets import Rung, load_preset, parse_preset, preset_names, rung_settings


def test_shipped_presets_parse():
    names = preset_names()
    assert {"fast", "balanced", "archive", "ladder-web"} <= set(names)
    for name in names:
        load_preset(name)
    assert load_preset("balanced").settings().qp_i == 32
    assert load_preset("archive").settings().layer_step == 8
    assert load_preset("balanced").settings().layer_step is None
    assert load_preset("ladder-web").is_ladder


def test_explicit_values_override_the_preset():
    preset = parse_preset({"encode": {"qp": 20, "intra_period": 8}}, "x")
    s = preset.settings(qp_i=50, intra_period=None)
    assert (s.qp_i, s.intra_period) == (50, 8)


def test_a_preset_can_turn_block_skip_off():
    assert parse_preset({"encode": {"block_skip": False}}, "x").settings().block_skip is False
    assert parse_preset({"encode": {}}, "x").settings().block_skip is None  # by model


def test_a_preset_sets_the_encoders_effort_apart_from_the_stream_settings():
    preset = parse_preset({"encode": {"qp": 50, "intra_refine": 30}}, "x")
    assert preset.intra_refine == 30 and preset.settings().qp_i == 50
    assert parse_preset({"encode": {}}, "x").intra_refine == 0


def test_rungs():
    preset = parse_preset({"encode": {"intra_period": 4}, "rung": [{"name": "a", "height": 24, "qp": 10}]}, "x")
    rung = preset.rungs[0]
    assert rung.size_for(64, 48) == (32, 24)
    assert Rung("b", 33, None, 1).size_for(66, 40) == (33, 20)
    s = rung_settings(preset, rung)
    assert (s.qp_i, s.intra_period) == (10, 4)


@pytest.mark.parametrize(("doc", "key"), [
    ({"encode": {"qp": 64}}, "encode.qp"),
    ({"encode": {"qp": "high"}}, "encode.qp"),
    ({"encode": {"reset_interval": -1}}, "encode.reset_interval"),
    ({"encode": {"block_skip": "yes"}}, "encode.block_skip"),
    ({"encode": {"colour": 1}}, "encode.colour"),
    ({"encode": {"intra_refine": -1}}, "encode.intra_refine"),
    ({"encode": {"intra_refine": True}}, "encode.intra_refine"),
    ({"encode": {"intra_refine": 1001}}, "encode.intra_refine"),
    ({"encode": {"layer_step": 0.5}}, "encode.layer_step"),
    ({"encode": []}, "encode"),
    ({"bogus": 1}, "bogus"),
    ({"rung": [{"qp": 70}]}, "rung[0].qp"),
    ({"rung": [{"qp": 1, "height": 0}]}, "rung[0].height"),
    ({"rung": [{"qp": 1, "name": "../x"}]}, "rung[0].name"),
    ({"rung": [{"qp": 1, "name": "a"}, {"qp": 2, "name": "a"}]}, "rung"),
    ({"rung": [{"qp": 1, "fps": 2}]}, "rung[0].fps"),
])
def test_malformed_preset_names_its_key(doc, key):
    with pytest.raises(ConfigError) as info:
        parse_preset(doc, "bad", "bad.toml")
    assert info.value.key == f"bad.toml: {key}"


def test_a_preset_may_code_a_picture_layer():
    assert parse_preset({"encode": {"qp": 40, "layer_step": 6}}, "stills", "stills.toml").settings().layer_step == 6


def test_bad_toml_and_unknown_name(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[encode\n")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_preset(str(bad))
    with pytest.raises(ConfigError, match="balanced"):
        load_preset("no-such-preset")


def test_lookup_uses_the_folder_packaged_with_nvcodec(monkeypatch):
    """No repository path: --preset NAME reads nvcodec/_presets, the link to presets/ that wheels copy."""
    import nvcodec
    from nvcodec.presets import preset_dir

    monkeypatch.delenv("NVC_PRESETS", raising=False)
    package = Path(nvcodec.__file__).parent
    assert preset_dir() == package / "_presets"
    assert preset_dir().resolve() == (package.parent / "presets").resolve()  # one source of truth in a checkout
    monkeypatch.setenv("NVC_PRESETS", "/elsewhere")
    assert preset_dir() == Path("/elsewhere")


def test_a_built_package_finds_its_presets_without_the_repository(tmp_path):
    """What `pip install .` puts in site-packages (setuptools' build_py, through setup.py) holds every preset,
    and nvcodec imported from there, away from the checkout, loads them by name."""
    repo = Path(__file__).resolve().parents[2]
    lib = tmp_path / "lib"
    build = subprocess.run([sys.executable, "setup.py", "-q", "egg_info",
                            "--egg-base", str(tmp_path), "build_py", "--build-lib", str(lib)],
                           cwd=repo, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    shipped = sorted(p.name for p in (lib / "nvcodec" / "_presets").iterdir())
    assert shipped == sorted(p.name for p in (repo / "presets").glob("*.toml"))
    assert not (lib / "nvcodec" / "_presets").is_symlink()
    # the command line installs under a name of its own, never as a top-level package called `cli`
    assert (lib / "nvcodec_cli" / "main.py").is_file() and not (lib / "cli").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("NVC_PRESETS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(lib)
    probe = ("import nvcodec.presets as p; print(p.__file__); print(p.preset_dir()); "
             "print(p.load_preset('balanced').settings().qp_i, p.load_preset('ladder-web').is_ladder)")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    module, folder, loaded = run.stdout.splitlines()
    assert Path(module).is_relative_to(lib) and Path(folder) == lib / "nvcodec" / "_presets"
    assert loaded == "32 True"


@pytest.mark.parametrize(("text", "key"), [
    ("[encode]\nintra_period = 9223372036854775807\n", "encode.intra_period"),
    ("[encode]\nreset_interval = 4294967296\n", "encode.reset_interval"),
    ("[encode]\ntwo_ec = 3\n", "encode.two_ec"),
    ("[encode]\nblock_skip = 1\n", "encode.block_skip"),
    ("[encode]\nskip_threshold = \"low\"\n", "encode.skip_threshold"),
    ("[encode]\nnumerics = 5\n", "encode.numerics"),
    ("[encode]\nqp = [[1]]\n", "encode.qp"),
])
def test_values_that_the_header_could_not_hold_are_refused_by_key(tmp_path, text, key):
    path = tmp_path / "big.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_preset(str(path))
    assert info.value.key == f"{path}: {key}"


def test_deeply_nested_toml_is_one_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        load_preset(str(path))
