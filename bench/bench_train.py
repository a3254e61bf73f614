"""Seconds per training step with each speed option, against plain float32 in the same run.

Issue 4 asks which of channels_last, bfloat16 autocast and torch.compile pay
off for training on CPU; this measures them on the recipe's own stage shapes
(intra: batch 8 of 128x128; inter: batch 4 of 4-frame 128x128 clips) with the
model config being trained.  Every variant starts from the same seeded model
and the same random samples; variants run in rounds and the best round counts,
so a busy machine hurts all of them alike.  Prints one JSON document.

    python bench/bench_train.py --config compact --steps 10 --rounds 2
    python bench/bench_train.py --compile   # adds torch.compile (slow to start)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class RandomClips:
    """Stands in for CropSampler: speed does not depend on what the pixels show."""

    def __init__(self, crop: int, length: int):
        self.crop, self.length = crop, length

    def sample(self, rng, batch: int):
        import torch

        data = rng.random((batch, self.length, 3, self.crop, self.crop), dtype="float32")
        return torch.from_numpy(data)


def step_seconds(config: str, stage, speed, steps: int, compile_model: bool) -> float:
    import torch

    from nvcodec.training.loop import Trainer, new_model
    from nvcodec.training.recipe import Recipe

    recipe = Recipe(config=config, stages=[stage])
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(recipe, new_model(config, seed=0), lambda s: RandomClips(s.crop, s.length), out,
                          speed=speed)
        if compile_model:
            for net in (trainer.model.intra, trainer.model.inter):
                for name, child in list(net.named_children()):
                    if any(p.numel() for p in child.parameters()) and name != "bit_estimator_z":
                        setattr(net, name, torch.compile(child, dynamic=False))
        for _ in range(2):  # warm-up: allocator, kernel selection, compilation
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="compact")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile of the networks")
    parser.add_argument("--only", default="", help="comma-separated variants to run (default: all)")
    args = parser.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment(numerics.NATIVE.name)  # what nvc train runs under
    import torch

    from nvcodec.training.loop import SpeedOptions
    from nvcodec.training.recipe import Recipe

    stages = {s.stage: s for s in Recipe(config=args.config).stages}
    variants = {"float32": (SpeedOptions(), False), "channels_last": (SpeedOptions(channels_last=True), False),
                "bf16": (SpeedOptions(bf16=True), False),
                "bf16+channels_last": (SpeedOptions(channels_last=True, bf16=True), False)}
    if args.compile:
        variants["compile"] = (SpeedOptions(), True)
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only.split(",")}
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name, (speed, compiled) in variants.items():
            for stage_name, stage in stages.items():
                seconds = step_seconds(args.config, stage, speed, args.steps, compiled)
                slot = best.setdefault(stage_name, {})
                slot[name] = min(seconds, slot.get(name, float("inf")))
    report = {
        "config": args.config, "steps": args.steps, "rounds": args.rounds, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(),
        "stages": {stage_name: {"batch": stages[stage_name].batch, "crop": stages[stage_name].crop,
                                "length": stages[stage_name].length,
                                "seconds_per_step": {k: round(v, 4) for k, v in times.items()},
                                "speedup_vs_float32": {k: round(times["float32"] / v, 3) for k, v in times.items()
                                                       if "float32" in times}}
                   for stage_name, times in best.items()},
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
