"""``nvc eval``: rate-distortion evaluation of nvc against x264, x265 and JPEG on the same frames.

Results are one JSON document (stdout, or ``--json FILE`` with a summary table
on stdout instead); progress goes to stderr.  ``--plot`` writes the RD curves
(needs matplotlib: ``pip install nvcodec[eval]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nvcodec.numerics import PROFILES
from nvcodec.settings import MAX_INTRA_REFINE

CODECS = ("nvc", "x264", "x265", "jpeg")


class IntList(click.ParamType):
    """A comma-separated list of integers, each within [low, high]."""

    name = "LIST"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value, param, ctx) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(int(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if not items:
            self.fail("the list is empty", param, ctx)
        bad = [v for v in items if not self.low <= v <= self.high]
        if bad:
            self.fail(f"{bad[0]} is outside {self.low}..{self.high}", param, ctx)
        return items


class CodecList(click.ParamType):
    name = "CODECS"

    def convert(self, value, param, ctx) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        items = tuple(v.strip() for v in str(value).split(",") if v.strip())
        unknown = [v for v in items if v not in CODECS]
        if unknown or not items:
            self.fail(f"unknown codec {unknown[0]!r}" if unknown else "no codec given"
                      f" (choose from {', '.join(CODECS)})", param, ctx)
        if len(set(items)) != len(items):
            self.fail(f"a codec is named twice in {value!r}", param, ctx)
        return items


def _intra_period(ctx, param, value: int) -> int:
    if value != -1 and value < 1:
        raise click.BadParameter(f"{value} is neither -1 (one I frame) nor a period >= 1", ctx, param)
    return value


@click.command("eval")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "models", multiple=True, metavar="SPEC",
              help="nvc model: a registered name, synthetic:<config>:<seed> or a model file; "
                   "repeat to compare models. Default: the shipped default model.")
@click.option("--codecs", type=CodecList(), default=",".join(CODECS), show_default=True,
              help="Codecs to run (JPEG runs on still images only).")
@click.option("--qps", type=IntList(0, 63), default="10,25,40,55", show_default=True,
              help="nvc rate points (higher is better quality).")
@click.option("--crfs", type=IntList(0, 51), default="17,22,27,32,37,42", show_default=True,
              help="x264/x265 rate points (constant rate factor; lower is better quality).")
@click.option("--jpeg-q", type=IntList(2, 31), default="2,3,5,8,12,20,31", show_default=True,
              help="JPEG rate points (ffmpeg -q:v; lower is better quality).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Code at most this many frames of each video source [default: all].")
@click.option("--intra-period", type=int, default=-1, show_default=True, callback=_intra_period,
              help="Frames between I frames for every codec; -1: one I frame per sequence.")
@click.option("--intra-refine", "intra_refine", type=click.IntRange(0, MAX_INTRA_REFINE), default=0, show_default=True,
              metavar="N", help="nvc's encoder effort on I frames (see nvc encode --help).")
@click.option("--layer/--no-layer", "layer", default=None,
              help="Whether nvc's qps above 40 take the picture layer (see nvc encode --help; default: as the "
              "model's defaults say).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where nvc's networks run.")
@click.option("--numerics", type=click.Choice(sorted(PROFILES)), default=None,
              help="nvc numerics profile [default: the device's default].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON results here (then a summary table goes to stdout) [default: stdout].")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the RD curves to this PNG.")
@click.pass_obj
def evaluate_command(obj, sources: tuple[Path, ...], models: tuple[str, ...], codecs: tuple[str, ...],
                     qps: tuple[int, ...], crfs: tuple[int, ...], jpeg_q: tuple[int, ...], frames: int | None,
                     intra_period: int, intra_refine: int, layer: bool | None, device: str, numerics: str | None,
                     json_path: Path | None,
                     plot_path: Path | None) -> None:
    """Encode and decode SOURCES (videos, frame folders, images) with each codec and compare.

    Reports per source and rate point bpp, kbit/s, PSNR-Y/U/V, PSNR-YUV (6:1:1),
    encode and decode fps, and BD-rates on PSNR-YUV against x264, x265 and JPEG.
    """
    from rich.console import Console

    from nvcodec.eval.run import build_codecs, report_json, run_evaluation

    stderr = Console(stderr=True)
    quiet = obj is not None and obj.loglevel in ("quiet", "error")
    chosen = build_codecs(codecs, models, qps, crfs, jpeg_q, device=device, numerics=numerics,
                          intra_refine=intra_refine, layer=layer)

    with _progress(stderr, quiet) as progress:
        task = progress.add_task("reading sources", total=len(sources))

        def report_progress(event) -> None:
            progress.update(task, total=event.total, completed=event.done,
                            description=f"{event.source}: {event.codec} {event.parameter}={event.value}")

        report = run_evaluation(sources, chosen, max_frames=frames, intra_period=intra_period,
                                progress=report_progress, on_read=lambda _: progress.advance(task))
        progress.update(task, completed=progress.tasks[0].total, description="done")

    text = report_json(report)
    if json_path is None:
        click.echo(text)
    else:
        json_path.write_text(text + "\n")
        _print_summary(Console(), json.loads(text))
    if plot_path is not None:
        from nvcodec.eval.plot import plot_rd

        try:
            plot_rd(report, plot_path)
        except ImportError as exc:
            raise click.ClickException(str(exc)) from None


def _progress(console, quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=quiet)


def _print_summary(console, document: dict) -> None:
    """BD-rates (mean over sources) per kind of source, one row per codec."""
    from rich.table import Table

    from nvcodec.eval import ANCHORS

    for kind, group in document["summary"].items():
        present = {a for row in group["bd_rate"].values() for a in row}
        anchors = [a for a in ANCHORS if a in present]
        table = Table(title=f"BD-rate on PSNR-YUV, {kind}s ({group['sources']}): mean over sources")
        table.add_column("codec")
        for anchor in anchors:
            table.add_column(f"vs {anchor}", justify="right")
        for codec in document["codecs"]:
            row = group["bd_rate"].get(codec, {})
            if not row:
                continue
            cells = []
            for anchor in anchors:
                entry = row.get(anchor)
                if entry is None:
                    cells.append("")
                elif entry["mean_percent"] is None:
                    cells.append("undefined")
                else:
                    cells.append(f"{entry['mean_percent']:+.1f}% ({entry['defined']}/{entry['sources']})")
            table.add_row(codec, *cells)
        console.print(table)
        for codec, mono in group.get("psnr_monotonic_in_parameter", {}).items():
            console.print(f"{codec}: PSNR monotonic in its rate parameter on {mono['monotonic']} of "
                          f"{mono['sources']} {kind}s")
        for codec, cost in group.get("p_to_i_bits", {}).items():
            ratio = "undefined (P and I PSNR ranges do not overlap)" if cost["mean_ratio"] is None else (
                f"{cost['mean_ratio']:.2f} ({cost['points']} points)")
            console.print(f"{codec}: P-frame bits / I-frame bits at equal PSNR: {ratio}")
