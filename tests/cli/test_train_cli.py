"""``nvc train`` through the CLI: it trains, checkpoints, logs, resumes and exports."""

import json

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
