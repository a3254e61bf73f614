"""``--workers`` and ``--ray-address`` for ``nvc encode`` and ``nvc decode``: the same command, coded in chunks.

The options reach the command through click's context (``expose_value=False``), so adding them to
a command is one decorator line and one branch; the work is :mod:`nvcodec.scaleout`'s.  Ray is
imported only when workers are asked for, and without it that request is one line naming the extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from nvcodec_cli import common

if TYPE_CHECKING:
    from nvcodec.container import Header
    from nvcodec.io import InputOptions
    from nvcodec.settings import CodingSettings

_META = "nvc.scaleout"


@dataclass(frozen=True)
class ScaleRequest:
    """What the user asked for: how many tasks at once, on which Ray, how tasks get their frames."""

    workers: int | None  # None: as many as the cluster at ``address`` has CPUs
    address: str | None
    feed: str

    def executor(self, numerics: str) -> Any:
        from nvcodec.scaleout import RayExecutor

        return RayExecutor(self.workers, numerics, self.address)


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    ctx.meta.setdefault(_META, {})[param.name] = value


def workers_options(feed: bool) -> Callable[[Callable], Callable]:
    """``--workers W`` and ``--ray-address ADDR`` (and for encode ``--feed``), read back by :func:`requested`."""
    def decorate(f: Callable) -> Callable:
        if feed:
            f = click.option("--feed", type=click.Choice(["driver", "input"]), default="driver", show_default=True,
                             expose_value=False, callback=_remember, help="With --workers: 'driver' decodes the "
                             "input once and ships each chunk's frames to its task; 'input' lets each task open "
                             "the input and seek to its chunk (the input must be at the same path on every "
                             "node). docs/SCALEOUT.md compares them.")(f)
        f = click.option("--ray-address", metavar="ADDR", expose_value=False, callback=_remember,
                         help="Run the chunks on a running Ray cluster ('auto', 'ray://host:10001') instead of a "
                         "local Ray of W workers.")(f)
        return click.option("--workers", type=click.IntRange(min=1), expose_value=False, callback=_remember,
                            help="Code the chunks between intra frames in parallel, W at a time, on Ray (pip "
                            "install 'nvcodec[ray]'); the output is byte-identical to one process.")(f)
    return decorate


def requested() -> ScaleRequest | None:
    """The scale-out the current command was asked for (None: one process, as always).

    Without Ray installed, asking is one line naming the extra, before the command opens anything.
    """
    values = click.get_current_context().meta.get(_META, {})
    workers, address = values.get("workers"), values.get("ray_address")
    if workers is None and address is None:
        return None
    if address is not None and not address.strip():
        raise click.BadParameter("an empty address; give 'auto' or ray://HOST:PORT", param_hint="--ray-address")
    from nvcodec.scaleout.cluster import require_ray

    require_ray()
    return ScaleRequest(workers, address, values.get("feed") or "driver")


def _progress_to(progress: Any, frames: int, size: int) -> None:
    """Move the one-frame-at-a-time display up to ``frames`` done (all chunks together)."""
    first = True
    while progress.frames < frames:
        progress.update(max(0, size - progress.size) if first else 0)
        first = False


def encode(obj: Any, scale: ScaleRequest, input_path: str, output: str, opts: InputOptions,
           settings: CodingSettings, model: str | None, device: str, psnr: bool, progress_to: str | None,
           rate_flags: list[str], intra_refine: int = 0) -> None:
    """``nvc encode ... --workers W``: the input split at its intra frames, the chunks coded on Ray, joined."""
    import sys

    from nvcodec_cli.progress import Progress

    if rate_flags:
        raise click.UsageError(f"--workers codes each chunk on its own and cannot take {' '.join(rate_flags)}: rate "
                               "control spends bits across the whole sequence; encode in one process, or use -q")
    if settings.intra_period <= 0:
        raise click.UsageError("--workers splits the input at its intra frames, and there is only the first: give "
                               "-g N (an intra frame every N frames; the output is then the same as -g N without "
                               "--workers)")
    if scale.feed == "input" and input_path == "-":
        raise click.UsageError("--feed input lets each task open the input, which a pipe cannot offer: use --feed "
                               "driver")

    from nvcodec.metrics import mean_quality
    from nvcodec.scaleout import ChunkedEncode, EncodeJob
    from nvcodec.scaleout.chunks import portable_spec
    from nvcodec.scaleout.drivers import open_input

    executor = scale.executor(settings.numerics)  # without Ray: one line naming the extra, before any work
    with open_input(sys.stdin.buffer if input_path == "-" else input_path, opts, scale.feed) as source:
        codec_model = common.load_model(model)
        info = source.info
        show = obj.loglevel in ("info", "debug")
        with executor:
            job = EncodeJob(portable_spec(model), codec_model.sha256, settings, device, psnr, executor.threads,
                            intra_refine=intra_refine)
            progress = Progress("encoding", info.frame_count_hint, float(info.frame_rate), show, progress_to)
            ok = False
            try:
                with common.atomic_output(output) as out:
                    near = os.path.dirname(os.path.abspath(output)) if output not in ("-", os.devnull) else None
                    chunked = ChunkedEncode(executor, job, source, opts, out, scale.feed, near,
                                            path=None if input_path == "-" else os.path.abspath(input_path))
                    for status in chunked.run():
                        _progress_to(progress, status.frames, status.size)
                    size = out.tell() if output not in ("-", os.devnull) else chunked.size
                ok = True
            finally:
                progress.close(ok)
    s = progress.stats()
    where = scale.address or "a local Ray"
    line = (f"encoded {chunked.frames} frames {info.width}x{info.height} in {progress.elapsed:.1f} s "
            f"({chunked.frames / progress.elapsed:.2f} fps): {common.human_bytes(size)}, {s['kbps']:.1f} kbit/s; "
            f"{chunked.chunks} chunks on {executor.workers} workers ({where})")
    if chunked.qualities:
        q = mean_quality(chunked.qualities)
        line += f", PSNR-Y {q.y:.2f} dB, PSNR-YUV {q.yuv:.2f} dB"
    common.info(f"{line} -> {output}")


class Pictures:
    """``nvc decode ... --workers W``: the executor and the chunked decoder, closed together."""

    def __init__(self, scale: ScaleRequest, input_path: str, header: Header, model: str | None, device: str) -> None:
        from nvcodec.scaleout import ChunkedPictures, DecodeJob
        from nvcodec.scaleout.chunks import portable_spec

        self.executor = scale.executor(header.numerics)
        self.executor.__enter__()
        try:
            job = DecodeJob(portable_spec(model) or f"stream:{header.model_name}", header, device,
                            self.executor.threads)
            self.pictures = ChunkedPictures(self.executor, job, input_path)
        except BaseException:
            self.executor.__exit__(None, None, None)
            raise

    def decode(self, packet: Any) -> Any:
        return self.pictures.decode(packet)

    def close(self) -> None:
        try:
            self.pictures.close()
        finally:
            self.executor.__exit__(None, None, None)


def pictures(scale: ScaleRequest | None, input_path: str, header: Header, model: str | None,
             device: str) -> Pictures | None:
    """The chunked decoder for ``nvc decode --workers`` (None: decode in this process).

    A pipe, or a file without an intra index (cut off), cannot be split: it is decoded in one process,
    with a warning.
    """
    if scale is None:
        return None
    if input_path == "-":
        common.warn("--workers needs the intra index at the end of a file; a pipe is decoded in one process")
        return None
    from nvcodec.container import NvcReader
    from nvcodec.scaleout.drivers import trailer_frame_count

    with open(input_path, "rb") as f:
        reader = NvcReader(f)
        if not reader.read_index() or trailer_frame_count(f) is None:
            common.warn(f"{input_path} has no intra index (cut off?): decoding in one process")
            return None
    return Pictures(scale, input_path, header, model, device)
