"""``nvc train`` through the CLI: it trains, checkpoints, logs, resumes and exports."""

import json

import torch

from nvcodec.models.registry import load_model_file
from tests.cli.media import make_y4m


def test_train_runs_resumes_and_exports(tmp_path, nvc):
    clip = make_y4m(tmp_path / "train.y4m", frames=4, width=130, height=130)
    out = tmp_path / "run"
    args = ["train", "--data", clip, "--config", "tiny", "--out", out, "--minutes", "0.05",
            "--checkpoint-minutes", "0.01"]
    code, _, err = nvc(*args)
    assert code == 0, err
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log and log[0]["stage"] == "intra" and [r["step"] for r in log] == list(range(1, len(log) + 1))
    assert (out / "checkpoint.pt").is_file()

    code, _, err = nvc(*args)
    assert code == 0 and "resumed" in err
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > len(log)  # continues, no restart

    exported = tmp_path / "model.pt"
    code, sha, err = nvc("train", "--out", out, "--export", exported, "--name", "mine", "--config", "tiny")
    assert code == 0, err
    model = load_model_file(exported)
    assert model.name == "mine" and model.sha256 == sha.strip() and model.config.name == "tiny"


def test_export_takes_the_intra_model_from_another_run(tmp_path, nvc):
    """An intra stage trained in its own run folder merges into an inter run's export."""
    runs = {}
    for name, size in (("a", 130), ("b", 150)):
        clip = make_y4m(tmp_path / f"{name}.y4m", frames=2, width=size, height=size)
        runs[name] = tmp_path / name
        code, _, err = nvc("train", "--data", clip, "--config", "tiny", "--out", runs[name], "--minutes", "0.03")
        assert code == 0, err
    models = {}
    for name, extra in (("a", []), ("b", []), ("ab", ["--intra-from", runs["b"] / "checkpoint.pt"])):
        path = tmp_path / f"{name}.pt"
        code, _, err = nvc("train", "--out", runs[name[0]], "--export", path, "--config", "tiny", *extra)
        assert code == 0, err
        models[name] = load_model_file(path)

    def same(m1, m2) -> bool:
        s1, s2 = m1.state_dict(), m2.state_dict()
        return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)

    assert not same(models["a"].intra, models["b"].intra)  # the runs did learn different things
    assert same(models["ab"].intra, models["b"].intra)
    assert same(models["ab"].inter, models["a"].inter)


def test_export_refuses_an_intra_model_of_another_shape(tmp_path, nvc):
    clip = make_y4m(tmp_path / "c.y4m", frames=2, width=130, height=130)
    run = tmp_path / "run"
    assert nvc("train", "--data", clip, "--config", "tiny", "--out", run, "--minutes", "0.02")[0] == 0
    other = tmp_path / "other.pt"
    torch.save({"format": "nvc-train-1", "config": "compact", "intra": {}, "inter": {}}, other)
    code, _, err = nvc("train", "--out", run, "--export", tmp_path / "x.pt", "--intra-from", other)
    assert code == 1 and "another shape" in err and not (tmp_path / "x.pt").exists()


def test_a_run_started_from_other_weights_is_not_resumed_over_new_ones(tmp_path, nvc):
    """make train always names the committed weights: a checkpoint left from older ones is refused,
    one started from the same weights resumes."""
    clip = make_y4m(tmp_path / "c.y4m", frames=2, width=130, height=130)
    seed_run = tmp_path / "seed"
    assert nvc("train", "--data", clip, "--config", "tiny", "--out", seed_run, "--minutes", "0.02")[0] == 0
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    assert nvc("train", "--out", seed_run, "--export", old, "--config", "tiny")[0] == 0
    run = tmp_path / "run"
    args = ["train", "--data", clip, "--config", "tiny", "--out", run, "--minutes", "0.02"]
    code, _, err = nvc(*args, "--init", old)
    assert code == 0 and "initialised" in err, err
    code, _, err = nvc(*args, "--init", old)
    assert code == 0 and "resumed" in err, err
    assert nvc("train", "--out", run, "--export", new, "--config", "tiny")[0] == 0  # trained further: new weights
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = nvc(*args, "--init", new)
    assert code == 1 and "other weights" in err and "move" in err
    assert (run / "checkpoint.pt").read_bytes() == before
