"""`nvc conform` through the real entry point: rows, exit codes, hostile folders."""

import json
import shutil

import pytest
from nvcodec_cli.main import main


def subset_folder(src, dst, keep):
    """A conformance folder holding only the cases named in ``keep`` (settings read from cases.json)."""
    dst.mkdir()
    for path in src.iterdir():
        if path.suffix in (".json", ".md"):
            shutil.copy(path, dst / path.name)
    doc = json.loads((src / "cases.json").read_text())
    doc["cases"] = [c for c in doc["cases"] if c["name"] in keep]
    for case in doc["cases"]:
        for ext in (".bin", ".npz"):
            shutil.copy(src / (case["name"] + ext), dst / (case["name"] + ext))
    (dst / "cases.json").write_text(json.dumps(doc))
    return doc


@pytest.fixture(scope="module")
def case_names(conformance_dir):
    return [c["name"] for c in json.loads((conformance_dir / "cases.json").read_text())["cases"]]


def test_passing_folder_exits_0_with_a_row_per_case_and_property(tmp_path, conformance_dir, case_names, capsys):
    keep = {n for n in case_names if n.startswith(("c2", "c3"))}
    subset_folder(conformance_dir, tmp_path / "conf", keep)
    assert main(["conform", str(tmp_path / "conf")]) == 0
    out = capsys.readouterr().out
    assert out.count("│ pass ") == 2 + 2 * len(keep)
    assert "FAIL" not in out
    for name in keep:
        assert out.count(name) == 2


def test_corrupted_stream_fails_with_exit_1(tmp_path, conformance_dir, case_names, capsys):
    name = next(n for n in case_names if n.startswith("c3"))
    subset_folder(conformance_dir, tmp_path / "conf", {name})
    stream = bytearray((tmp_path / "conf" / f"{name}.bin").read_bytes())
    stream[len(stream) // 2] ^= 0x5A
    (tmp_path / "conf" / f"{name}.bin").write_bytes(bytes(stream))
    assert main(["conform", str(tmp_path / "conf")]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("nvc: ")


@pytest.mark.parametrize("content", ["", "{", '{"weight_seed": 1}', '{"weight_seed": "x", "cases": []}',
                                     '{"weight_seed": 1, "cases": [{"name": "../x"}]}'])
def test_malformed_cases_json_is_one_line_exit_1(tmp_path, content, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "cases.json").write_text(content)
    assert main(["conform", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nvc: ")


def test_missing_folder_is_exit_1(tmp_path, capsys):
    assert main(["conform", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.startswith("nvc: ")
