"""``nvc batch INPUT... -o OUTDIR``: many files encoded at once, each as a Ray task (or one after another).

Each input becomes ``OUTDIR/<its name>.nvc``, written under a temporary name and renamed when
complete, so a failed or interrupted input leaves nothing behind.  A failed input is reported as it
fails and the others go on; at the end a table (``--json``: one JSON document for scripts) says
what became of each, and the exit code is 1 if any failed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from nvcodec_cli import common

from nvcodec.settings import MAX_INTRA_REFINE


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output-dir", "outdir", required=True, metavar="OUTDIR",
              help="Folder for the outputs, INPUT's name with .nvc (made if missing).")
@click.option("-q", "--qp", type=click.IntRange(0, 63), help="Quality 0..63, higher is better (default 32, or the "
              "preset's).")
@click.option("--qp-p", type=click.IntRange(0, 63), help="Base qp of P frames (default: under -q by the P offset, "
              "narrowing to 0 at -q 63).")
@click.option("-g", "--intra-period", type=int, help="Frames between intra frames; -1 (default) for one only.")
@click.option("--reset-interval", type=click.IntRange(min=0), help="P frames between reference resets (default 64).")
@click.option("--block-skip/--no-block-skip", "block_skip", default=None, help="Block skip in P frames (default: "
              "on with nvc's own models).")
@click.option("--motion/--no-motion", "motion", default=None, help="Motion vectors in P frames (default: as the "
              "model's defaults say).")
@click.option("--layer/--no-layer", "layer", default=None, help="Above -q 40, the networks at qp 40 plus a "
              "picture layer (see nvc encode --help; default: as the model's defaults say).")
@click.option("--intra-refine", "intra_refine", type=click.IntRange(0, MAX_INTRA_REFINE), metavar="N",
              help="Encoder effort on I frames (see nvc encode --help). Default 0, or the preset's.")
@click.option("--frames", "-frames", "-frames:v", "-vframes", "frames", type=click.IntRange(min=1),
              help="Encode at most N frames of each input.")
@click.option("-an", "--no-audio", "no_audio", is_flag=True, help="Leave the audio out.")
@click.option("--preset", help="Named preset (fast, balanced, archive) or a .toml file; options override it.")
@click.option("--model", help="Model name, file or synthetic:<config>:<seed> (a file must be at the same path on "
              "every node).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--numerics", help="Numerics profile of the streams (default cpu-avx2-t2 on CPU).")
@click.option("--workers", type=click.IntRange(min=1), help="Inputs coded at once, each a Ray task (pip install "
              "'nvcodec[ray]'); default one after another in this process.")
@click.option("--ray-address", metavar="ADDR", help="Run on a running Ray cluster ('auto', 'ray://host:10001'); "
              "inputs and OUTDIR must then be at the same paths on every node.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (for scripts) instead of a table.")
@common.overwrite_options
@common.loglevel_option
@click.pass_obj
def batch(obj, inputs: tuple[str, ...], outdir: str, qp, qp_p, intra_period, reset_interval, block_skip, motion, layer,
          intra_refine, frames,
          no_audio: bool, preset, model, device, numerics, workers, ray_address, as_json: bool, overwrite: bool,
          no_overwrite: bool) -> None:
    """Encode every INPUT into OUTDIR, W at a time with --workers W; a failed input does not stop the others.

    \b
      nvc batch clips/*.mp4 -o coded/ --preset archive --workers 2
      nvc batch a.mp4 b.mkv -o out/ -q 40 --json
    """
    common.setup_logging(obj.loglevel)
    from nvcodec.io import InputOptions
    from nvcodec.presets import Preset, load_preset
    from nvcodec.scaleout import BatchResult, EncodeJob, InlineExecutor, Status, partial_name, run_batch
    from nvcodec.scaleout.chunks import portable_spec

    chosen = load_preset(preset) if preset else Preset("defaults")
    if chosen.is_ladder:
        raise click.UsageError(f"preset {preset!r} is a ladder: use nvc ladder")
    settings = chosen.settings(qp_i=qp, qp_p=qp_p, intra_period=intra_period, reset_interval=reset_interval,
                               numerics=numerics, block_skip=block_skip, motion=motion, layer=layer)
    items = _plan(inputs, outdir, overwrite, no_overwrite)
    if ray_address is not None or (workers or 1) > 1:
        from nvcodec.scaleout import RayExecutor

        executor: Any = RayExecutor(workers, settings.numerics, ray_address)
    else:
        executor = InlineExecutor()
    codec_model = common.load_model(model)
    opts = InputOptions(frames=frames, audio=not no_audio)
    results: list[BatchResult] = []
    display = _Display(len(items), obj.loglevel in ("info", "debug"))
    ok = False
    try:
        with executor:
            job = EncodeJob(portable_spec(model), codec_model.sha256, settings, device, threads=executor.threads,
                            intra_refine=chosen.intra_refine if intra_refine is None else intra_refine)
            for event in run_batch(executor, job, items, opts):
                if isinstance(event, Status):
                    display.update(event.frames)
                    continue
                results.append(event)
                display.done(event)
        ok = True
    finally:
        display.close()
        if not ok:  # a worker killed while it wrote leaves its temporary file until Ray has stopped it
            for item in items:
                Path(partial_name(item.output)).unlink(missing_ok=True)
    order = {item.input: item.index for item in items}
    results = [_as_given(r, inputs[order[r.input]], outdir) for r in sorted(results, key=lambda r: order[r.input])]
    failed = [r for r in results if not r.ok]
    if as_json:
        click.echo(json.dumps({"ok": len(results) - len(failed), "failed": len(failed),
                               "results": [r.as_dict() for r in results]}, indent=2))
    elif obj.loglevel != "quiet":
        _table(results)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} inputs failed: "
                                   f"{', '.join(r.input for r in failed)}")


def _as_given(result: Any, name: str, outdir: str) -> Any:
    """A result with the paths as the user typed them (the tasks get absolute paths: a worker's working
    folder is not this one's)."""
    import dataclasses

    return dataclasses.replace(result, input=name, output=os.path.join(outdir, Path(result.output).name),
                               error=result.error.replace(result.input, name))


def _plan(inputs: tuple[str, ...], outdir: str, overwrite: bool, no_overwrite: bool) -> list[Any]:
    """Each input's output, checked before anything runs: two inputs of one name, or an output that exists
    without -y, would lose work."""
    from nvcodec.scaleout import BatchItem

    if overwrite and no_overwrite:
        raise click.UsageError("-y and -n contradict each other")
    folder = Path(outdir)
    if folder.exists() and not folder.is_dir():
        raise click.UsageError(f"{outdir} is a file, not a folder for the outputs")
    folder.mkdir(parents=True, exist_ok=True)
    items: list[BatchItem] = []
    taken: dict[str, str] = {}
    for index, name in enumerate(inputs):
        if name == "-":
            raise click.UsageError("nvc batch reads files, not stdin")
        output = str(folder / (Path(name).stem + ".nvc"))
        if output in taken:
            raise click.UsageError(f"{taken[output]} and {name} would both be written to {output}")
        taken[output] = name
        if common.same_file(name, output):
            raise click.UsageError(f"{name}: input and output are the same file")
        if os.path.lexists(output) and (no_overwrite or not overwrite):
            raise click.ClickException(f"{output} already exists (use -y to overwrite)")
        items.append(BatchItem(index, os.path.abspath(name), os.path.abspath(output)))
    return items


class _Display:
    """On a terminal: inputs done, frames and speed over all of them, live; failures as they happen."""

    def __init__(self, total: int, show: bool) -> None:
        import time

        self._time = time.perf_counter
        self.t0 = self._time()
        self.total = total
        self.finished = 0
        self.frames = 0
        self._live = None
        if show and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(TextColumn("batch"), BarColumn(), TextColumn("{task.fields[stats]}"),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._task = self._live.add_task("batch", total=total, stats="")
            self._live.start()

    def update(self, frames: int) -> None:
        self.frames = max(self.frames, frames)
        if self._live is not None:
            fps = self.frames / max(self._time() - self.t0, 1e-9)
            self._live.update(self._task, completed=self.finished,
                              stats=f"{self.finished}/{self.total} inputs, frame={self.frames} fps={fps:.2f}")

    def done(self, result: Any) -> None:
        self.finished += 1
        if not result.ok:  # the message names the input already (as the task saw it: an absolute path)
            logging.getLogger("nvcodec.cli").error(result.error if result.input in result.error
                                                   else f"{result.input}: {result.error}")
        self.update(self.frames)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


_COLUMNS = ("input", "status", "frames", "size", "kbit/s", "seconds", "output or error")


def _table(results: list[Any]) -> None:
    """The summary: a rich table on a terminal; in a pipe the same columns as aligned plain text, one input a
    line (--json is the form for scripts)."""
    rows = [(r.input, "ok", str(r.frames), common.human_bytes(r.size), f"{r.kbps:.1f}", f"{r.seconds:.1f}",
             r.output) if r.ok else (r.input, "failed", "-", "-", "-", "-", r.error) for r in results]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(show_edge=False)
        for i, column in enumerate(_COLUMNS):
            table.add_column(column, justify="right" if 2 <= i <= 5 else "left")
        for row in rows:
            table.add_row(*row, style=None if row[1] == "ok" else "red")
        Console().print(table)
        return
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS[:-1])]
    for row in (_COLUMNS, *rows):
        pairs = enumerate(zip(row[:-1], widths, strict=True))
        cells = [cell.rjust(w) if 2 <= i <= 5 else cell.ljust(w) for i, (cell, w) in pairs]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
