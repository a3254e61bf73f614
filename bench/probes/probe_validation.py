"""A training checkpoint's validation report on the current training split.

``nvc train`` writes a validation line every 500 steps, on a batch drawn from the training split of
the moment; when the split changes (sources added or removed), earlier lines are on another batch.
This scores any checkpoint on today's batch of its stage, so a run's new lines have a baseline:

    python bench/probes/probe_validation.py train_runs/default/stage-58.pt [more.pt ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"


def main(paths: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    from nvcodec.training.data import StageSamplers, discover
    from nvcodec.training.loop import Trainer, new_model
    from nvcodec.training.recipe import Recipe
    from nvcodec.training.split import TRAINING_SOURCES, is_held_out

    sources = [p for p in discover([DATA / p for p in TRAINING_SOURCES]) if not is_held_out(p, DATA)]
    for path in paths:
        with tempfile.TemporaryDirectory() as out:
            trainer = Trainer(Recipe(), new_model("compact-skip"), StageSamplers(sources), Path(out), "cpu")
            trainer.load(path)
            r = trainer.validate()
        print(f"{path}: {trainer.model.config.name}, stage {trainer.stage_index} step {trainer.step}: "
              f"loss {r.loss:.4f} bpp {r.bpp:.4f} psnr {r.psnr:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
