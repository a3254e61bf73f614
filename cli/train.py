"""``nvc train``: train (or keep training) a model with the shipped recipe."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from nvcodec_cli import common

from nvcodec.training.split import TRAINING_SOURCES, is_held_out

#: the training split's sources under --data-root (one list, shared with the benchmarks and the split check)
DEFAULT_DATA = TRAINING_SOURCES


def _lock_run_folder(out: Path):
    """One trainer per run folder: two would overwrite each other's checkpoints."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / "lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise click.ClickException(f"another nvc train is using {out}") from None
    return handle


def _stop_on_signals():
    """SIGTERM/SIGINT end the run after the current step, with a checkpoint.

    Background jobs start with SIGINT ignored, so SIGTERM is the way to stop one.
    """
    import signal
    import threading

    stop = threading.Event()

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def read_progress(weights: Path) -> dict:
    """Where training stood when ``weights`` were exported (its ``.train.json`` sidecar), if known."""
    import json

    sidecar = weights.with_suffix(".train.json")
    if not sidecar.is_file() or sidecar.stat().st_size > 1 << 16:
        return {}
    try:
        doc = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class TrainDisplay:
    """Smoothed loss, bpp and PSNR: a live rich bar per stage on a terminal, a line every 50 steps
    otherwise (so a background run's log stays readable)."""

    SMOOTHING = 0.02

    def __init__(self, console, trainer, quiet: bool) -> None:
        self.console, self.trainer, self.quiet = console, trainer, quiet
        self.ema: dict[str, float] | None = None
        self.live = None
        self.task = None
        self.stage_index = -1

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.live = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=self.console)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, report) -> None:
        values = {"loss": report.loss, "bpp": report.bpp, "psnr": report.psnr}
        if self.ema is None:
            self.ema = values
        else:
            for key, value in values.items():
                self.ema[key] += self.SMOOTHING * (value - self.ema[key])
        stats = (f"loss {self.ema['loss']:.3f}  bpp {self.ema['bpp']:.3f}  psnr {self.ema['psnr']:.2f} dB  "
                 f"{1 / max(report.seconds, 1e-6):.1f} it/s")
        if self.live is not None:
            # the trainer has already moved on when this was a stage's last step
            index = self.trainer.stage_index - 1 if self.trainer.step == 0 else self.trainer.stage_index
            if index != self.stage_index:
                self.stage_index = index
                stage = self.trainer.recipe.stages[index]
                self.task = self.live.add_task(f"stage {index} {stage.stage}", total=stage.steps, stats="")
            self.live.update(self.task, completed=report.step, stats=stats)
        elif not self.quiet and report.step % 50 == 0:
            self.console.print(f"{report.stage} step {report.step}: {stats}")


@click.command()
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("../shared/data"),
              show_default=True, help="Folder the default training sources are taken from.")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Training sources (files or folders); default: the training split of --data-root.")
@click.option("--config", default="compact", show_default=True, help="Architecture config to train.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("train_runs/default"),
              show_default=True, help="Run folder: checkpoint.pt (resumed automatically) and log.jsonl.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from this nvc model file (e.g. the shipped weights) when the run folder is empty.")
@click.option("--init-stage", type=click.Choice(["intra", "inter"]), default="intra", show_default=True,
              help="With --init: the stage to start in.")
@click.option("--minutes", type=float, default=None, help="Stop (with a checkpoint) after this many minutes.")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True)
@click.option("--validate-every", type=click.IntRange(min=0), default=500, show_default=True,
              help="Steps between losses on a fixed batch (OUT/validation.jsonl; 0: never).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Do not train: write a checkpoint (see --from) as float16 nvc model file EXPORT; print its sha256.")
@click.option("--name", default="nvc-compact", show_default=True, help="Model name recorded by --export.")
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --export: the checkpoint to export (e.g. OUT/stage-02.pt, kept at each stage's end) "
                   "[default: OUT/checkpoint.pt].")
@click.option("--intra-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --export: take the intra model from this checkpoint instead (an intra stage trained "
                   "in another run folder beside an inter stage).")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC tensors (measured 1.1-1.2x faster per step on CPU: bench/bench_train.py).")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="CPU threads [default: half the cores]. Training runs beside other work for hours, and "
                   "OpenMP threads that wait for a busy core stall every step (bench/bench_train.py on 2 cores: "
                   "0.25 s/step idle with 2 threads but 19 s beside one busy process; 1 thread: 0.35 s either way).")
@click.option("--bf16", is_flag=True,
              help="bfloat16 autocast (about 1.4x faster on CPUs with AMX, but latents lose precision; off by "
                   "default until its effect on quality is measured).")
@common.loglevel_option
@click.pass_obj
def train(obj, data_root, data, config, out, init, init_stage, minutes, checkpoint_minutes, validate_every, device,
          export, name, source, intra_from, channels_last, threads, bf16) -> None:
    """Train the intra model, then the inter model; resumes exactly from OUT/checkpoint.pt."""
    import torch
    from rich.console import Console

    if export is not None:
        from nvcodec.training.export import export_weights

        click.echo(export_weights(source or out / "checkpoint.pt", export, name, intra_from))
        return

    from nvcodec.codec.device import resolve_device
    from nvcodec.models.registry import load_model_file
    from nvcodec.training.data import StageSamplers, discover
    from nvcodec.training.loop import CHECKPOINT_NAME, SpeedOptions, Trainer, new_model
    from nvcodec.training.recipe import Recipe

    console = Console(stderr=True)
    dev = resolve_device(device)
    recipe = Recipe(config=config)
    if dev.type == "cuda":
        recipe.scale_for_cuda()
    if data:
        sources = discover(data)
    else:  # the training split: its folders, less the evaluation files held out of them
        sources = [p for p in discover([data_root / p for p in DEFAULT_DATA]) if not is_held_out(p, data_root)]
    sampler = StageSamplers(sources, lambda frames: console.print(
        f"loading {len(sources)} training sources (up to {frames} frames each)…"))
    model = new_model(config)

    trainer = Trainer(recipe, model, sampler, out, str(dev), SpeedOptions(channels_last=channels_last, bf16=bf16))
    checkpoint = out / CHECKPOINT_NAME
    # the weights' content hash, as the registry and streams name them
    init_model = load_model_file(init) if init is not None else None
    origin = init_model.sha256 if init_model is not None else None
    if checkpoint.exists():
        trainer.load(checkpoint)
        if origin is not None and trainer.origin is not None and trainer.origin != origin:
            # make train always names the committed weights: a run left from older ones (say, before
            # weights trained elsewhere were committed) would otherwise go on as if nothing had changed
            raise click.ClickException(
                f"{checkpoint} continues a run started from other weights than {init} (sha256 "
                f"{trainer.origin[:12]}, not {origin[:12]}): move {out} aside to start from {init}")
        console.print(f"resumed {checkpoint}: stage {trainer.stage_index}, step {trainer.step}")
    elif init_model is not None:
        trainer.set_model(init_model)  # in its own config: later stages may have grown it
        trainer.origin = origin
        progress = read_progress(init)
        stage_name = progress.get("stage", init_stage)
        # stage names repeat once stages are appended, so the recorded index decides
        index = progress.get("stage_index")
        valid = isinstance(index, int) and 0 <= index < len(recipe.stages)
        trainer.stage_index = index if valid else [s.stage for s in recipe.stages].index(stage_name)
        trainer.step = int(progress.get("step", 0))
        console.print(f"initialised from {init}: stage {stage_name}, step {trainer.step}")
    lock = _lock_run_folder(out)  # noqa: F841 - held for the life of the run
    stop = _stop_on_signals()
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // 2))
    quiet = obj.loglevel == "quiet"
    display = TrainDisplay(console, trainer, quiet)
    with display:
        for report in trainer.run(lambda: stop.is_set() or (deadline is not None and time.monotonic() > deadline),
                                  checkpoint_seconds=checkpoint_minutes * 60, log=out / "log.jsonl",
                                  validate_every=validate_every):
            display.update(report)
    console.print(f"checkpoint written to {checkpoint}")
