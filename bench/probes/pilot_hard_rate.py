"""Pilot: a few hundred intra steps with the noisy rate proxy or the rounded rate, judged by the real cost.

``StageConfig.hard_rate`` trains on the bits of the rounded symbols (straight-through) instead of the
noisy proxy.  Whether that pays is a question for training, so this runs the shipped model through
``--steps`` intra steps of each kind from the same start, and scores both by the loss the codec
really pays (lambda(qp) * MSE + the rounded symbols' bits per pixel) on a fixed batch of
training-split stills at eight qps.  Training-split only (docs/DATA_SPLIT.md): nothing is tuned on
the evaluation set.

    python bench/probes/pilot_hard_rate.py [--steps 300] [--modes noise,hard]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--modes", default="noise,hard")
    args = ap.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment(numerics.NATIVE.name)  # as nvc train runs
    import numpy as np
    import torch

    from nvcodec.models.registry import load_model_file
    from nvcodec.training import forward
    from nvcodec.training.data import IMAGE_SUFFIXES, StageSamplers, discover, load_image, to_network
    from nvcodec.training.loop import Trainer
    from nvcodec.training.recipe import Recipe, StageConfig, lambda_for_qp
    from nvcodec.training.split import TRAINING_SOURCES

    torch.set_num_threads(1)
    sources = discover([args.data_root / p for p in TRAINING_SOURCES])
    rng = np.random.default_rng(7)
    crops = []
    for path in [s for s in sources if s.suffix.lower() in IMAGE_SUFFIXES][:8]:
        still = load_image(path, 960)
        h, w = still.y.shape[1:]
        top, left = (int(rng.integers(0, (n - 192) // 2 + 1)) * 2 for n in (h, w))
        crops.append(to_network(still.y[0, top : top + 192, left : left + 192],
                                still.uv[0, :, top // 2 : top // 2 + 96, left // 2 : left // 2 + 96]))
    judge = torch.stack(crops)

    def real_cost(model) -> list[dict[str, float]]:
        rows = []
        with torch.no_grad():
            for qp in range(0, 64, 9):
                out = forward.intra_forward(model.intra, judge, torch.full((len(judge),), qp), hard_rate=True)
                mse = forward.yuv_mse(out.x_hat.clamp(0, 1), judge)
                bpp = out.bits / judge[0, 0].numel()
                rows.append({"qp": qp, "loss": float((lambda_for_qp(qp) * mse + bpp).mean()),
                             "bpp": float(bpp.mean()), "psnr": float((10 * torch.log10(1 / mse)).mean())})
        return rows

    weights = ROOT / "nvcodec/weights/nvc-compact.pt"
    report: dict[str, object] = {"steps": args.steps, "before": real_cost(load_model_file(weights))}
    for mode in args.modes.split(","):
        model = load_model_file(weights)
        stage = StageConfig("intra", steps=args.steps, batch=8, crop=128, lr=1e-4, still_share=0.5,
                            qp_lr_scale=20.0, warmup_steps=50, hard_rate=mode == "hard")
        trainer = Trainer(Recipe(config=model.config.name, seed=11, stages=[stage]), model, StageSamplers(sources),
                          f"/tmp/pilot_hard_rate_{mode}")
        start = time.monotonic()
        for _ in range(args.steps):
            trainer.train_step()
        report[mode] = {"seconds": round(time.monotonic() - start), "after": real_cost(trainer.model)}
    base = np.mean([r["loss"] for r in report["before"]])
    report["mean_real_loss_change"] = {m: round(float(np.mean([r["loss"] for r in report[m]["after"]]) / base - 1), 4)
                                       for m in args.modes.split(",")}
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
