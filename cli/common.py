"""What the transcoding commands share: option types, logging, the model funnel, safe output paths.

Nothing here imports torch or PyAV at module level, so ``nvc --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from nvcodec.errors import ConfigError

if TYPE_CHECKING:
    from nvcodec.models.bundle import CodecModel

LEVELS = {"quiet": logging.CRITICAL + 1, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG}


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"nvc: {level}{record.getMessage()}"


def setup_logging(loglevel: str) -> None:
    """Library log records (warnings such as reduced precision or a cut file) as one line each on stderr."""
    logger = logging.getLogger("nvcodec")
    logger.setLevel(LEVELS[loglevel])
    for handler in list(logger.handlers):
        if getattr(handler, "_nvc", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._nvc = True  # type: ignore[attr-defined]
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    logger.propagate = False


def warn(message: str) -> None:
    logging.getLogger("nvcodec.cli").warning(message)


def info(message: str) -> None:
    logging.getLogger("nvcodec.cli").info(message)


# --- option types ------------------------------------------------------------------------------------------------


class SizeType(click.ParamType):
    """``WxH``, as ffmpeg's ``-s``."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        m = re.fullmatch(r"(\d+)x(\d+)", str(value).strip())
        if not m or not (0 < int(m.group(1)) <= 16384 and 0 < int(m.group(2)) <= 16384):
            self.fail(f"{value!r} is not a frame size WxH (1..16384 each)", param, ctx)
        return int(m.group(1)), int(m.group(2))


class RateType(click.ParamType):
    """A frame rate: ``25``, ``29.97`` or ``30000/1001``."""

    name = "FPS"

    def convert(self, value, param, ctx):
        if isinstance(value, Fraction):
            return value
        try:
            rate = Fraction(str(value).strip()).limit_denominator(1 << 20)
        except (ValueError, ZeroDivisionError):
            self.fail(f"{value!r} is not a frame rate (25, 29.97, 30000/1001)", param, ctx)
        if not 0 < rate <= 1000:
            self.fail(f"{value!r} is not a frame rate in (0, 1000]", param, ctx)
        return rate


class TimeType(click.ParamType):
    """A time as ffmpeg writes it: seconds (``2.5``) or ``[HH:]MM:SS[.frac]``."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        text = str(value).strip()
        parts = text.split(":")
        try:
            if len(parts) > 3 or not all(parts):
                raise ValueError
            seconds = 0.0
            for part in parts:
                seconds = seconds * 60 + float(part)
        except ValueError:
            self.fail(f"{value!r} is not a time (seconds or [HH:]MM:SS[.frac])", param, ctx)
        if seconds < 0 or seconds != seconds:
            self.fail(f"{value!r} must not be negative", param, ctx)
        return seconds


class BitsType(click.ParamType):
    """A bitrate or buffer size as ffmpeg writes it: ``500k``, ``2.5M``, ``1e6``."""

    name = "RATE"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from nvcodec.ratecontrol.units import parse_bits

        try:
            return parse_bits(value, self.what)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


BITRATE = BitsType("bitrate")
BUFSIZE = BitsType("buffer size")
SIZE = SizeType()
RATE = RateType()
TIME = TimeType()


def loglevel_option(f: Callable) -> Callable:
    """``--loglevel`` after the command too (ffmpeg users put it anywhere); overrides the group's."""
    def set_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None and ctx.obj is not None:
            ctx.obj.loglevel = value

    return click.option("--loglevel", "-loglevel", "-v", type=click.Choice(list(LEVELS)), expose_value=False,
                        callback=set_level, help="quiet, error, warning, info (default) or debug (tracebacks too).")(f)


def input_output(f: Callable) -> Callable:
    """``INPUT OUTPUT``, or ffmpeg's ``-i INPUT OUTPUT``: the command gets ``input_path`` and ``output``."""
    f = click.argument("paths", nargs=-1, metavar="[-i] INPUT OUTPUT")(f)
    return click.option("-i", "input_option", metavar="INPUT", help="The input, as ffmpeg takes it (or give it "
                        "first without -i).")(f)


def resolve_input_output(input_option: str | None, paths: tuple[str, ...]) -> tuple[str, str]:
    """(input, output) from the positional paths and ``-i``; anything else is a usage error."""
    given = ((input_option,) if input_option is not None else ()) + tuple(paths)
    if len(given) != 2:
        wanted = "an OUTPUT after -i INPUT" if input_option is not None else "INPUT and OUTPUT"
        raise click.UsageError(f"expected {wanted}, got {len(paths)} path(s): {' '.join(paths) or 'none'}")
    return given[0], given[1]


#: ffmpeg options nvc has no equivalent of, and what it offers instead
_FFMPEG_ELSEWHERE = {
    "-vf": "nvc does not filter: filter with ffmpeg and pipe y4m in (ffmpeg -i IN -vf ... -f yuv4mpegpipe - | "
           "nvc encode - OUT.nvc), or filter the decoded output",
    "-filter:v": "nvc does not filter: filter with ffmpeg and pipe y4m in (ffmpeg -i IN -vf ... -f yuv4mpegpipe - "
                 "| nvc encode - OUT.nvc)",
    "-map": "nvc codes one video stream (--stream N picks it) and copies every audio stream (-an drops them)",
    "-c:a": "nvc copies audio packets as they are (-c:a copy) or drops them (-an)",
    "-acodec": "nvc copies audio packets as they are (-c:a copy) or drops them (-an)",
}


def ffmpeg_compatibility(f: Callable) -> Callable:
    """ffmpeg's spellings that mean nothing to nvc or name what it lacks: accepted, or one line saying what
    nvc offers instead (rather than click's guess at a short option, such as "No such option '-c'")."""
    def elsewhere(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is None:
            return
        flag = param.opts[0]
        if flag in ("-c:a", "-acodec") and value == "copy":
            return  # what nvc does anyway
        raise click.UsageError(f"{flag} {value}: {_FFMPEG_ELSEWHERE[flag]}")

    for flag in _FFMPEG_ELSEWHERE:
        f = click.option(flag, flag.lstrip("-").replace(":", "_") + "_unsupported", hidden=True, expose_value=False,
                         callback=elsewhere)(f)
    return click.option("-hide_banner", "hide_banner", is_flag=True, hidden=True, expose_value=False,
                        help="Accepted for ffmpeg habits: nvc prints no banner.")(f)


def overwrite_options(f: Callable) -> Callable:
    f = click.option("-n", "no_overwrite", is_flag=True, help="Never overwrite an existing output (exit 1).")(f)
    return click.option("-y", "overwrite", is_flag=True, help="Overwrite an existing output.")(f)


def progress_options(f: Callable) -> Callable:
    return click.option("--progress", "progress_to", metavar="FILE|-",
                        help="Write ffmpeg-style key=value progress blocks to FILE (or - for stdout).")(f)


# --- output safety -------------------------------------------------------------------------------------------------


def check_output(path: str, overwrite: bool, no_overwrite: bool) -> None:
    """Refuse to replace an existing output unless -y (and always with -n)."""
    if path in ("-", os.devnull):
        return
    if overwrite and no_overwrite:
        raise click.UsageError("-y and -n contradict each other")
    if "%" in os.path.basename(path) or path.endswith(("/", os.sep)):
        return  # PNG sequences: per-file check is the sink's business; folders may exist
    if os.path.lexists(path):
        if os.path.isdir(path):
            raise ConfigError("output", path, "a file name, not a folder")
        if no_overwrite or not overwrite:
            raise click.ClickException(f"{path} already exists (use -y to overwrite)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError("output", path, f"a path in an existing folder ({parent} does not exist)")


def check_input_output(input_path: str, output: str, overwrite: bool, no_overwrite: bool,
                       progress_to: str | None) -> None:
    """The checks every transcoding command makes before touching anything."""
    check_output(output, overwrite, no_overwrite)
    if same_file(input_path, output):
        raise click.UsageError("input and output are the same file")
    if output == "-" and progress_to == "-":
        raise click.UsageError("--progress - and output - would share stdout")


def check_duration(duration: float | None) -> None:
    """``-t 0`` would write an empty file and report success: ffmpeg refuses it, so does nvc."""
    if duration is not None and duration <= 0:
        raise click.BadParameter(f"{duration:g} s selects nothing; give a positive duration", param_hint="-t")


def open_nvc_input(input_path: str) -> BinaryIO:
    """An .nvc input as a binary stream: the file, or stdin for ``-``."""
    from nvcodec.errors import InputError

    if input_path == "-":
        return sys.stdin.buffer
    try:
        return open(input_path, "rb")  # noqa: SIM115 - the caller's with-block closes it
    except OSError as exc:
        raise InputError(f"{input_path}: {exc.strerror}") from None


def same_file(a: str, b: str) -> bool:
    if a == "-" or b == "-":
        return False
    try:
        return os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file renamed on success, removed on failure.

    ``-`` gives stdout, written directly.
    """
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if path == os.devnull:  # a first pass's output, thrown away as ffmpeg users do
        with open(os.devnull, "wb") as null:
            yield null
        return
    import tempfile

    target = Path(path)
    from nvcodec.io.sink import default_file_mode

    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.fchmod(fd, default_file_mode())
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


# --- models --------------------------------------------------------------------------------------------------------


def load_model(spec: str | None) -> CodecModel:
    """The model for ``--model`` (None: the shipped default).  A candidate that ``nvc train --export``
    wrote may be in a config only training knows (a grown one), so training's configs are made known."""
    from nvcodec.models.registry import resolve_model
    from nvcodec.training.lineage import register_lineage

    register_lineage()
    return resolve_model(spec)


def apply_threads(threads: int | None) -> None:
    """``--threads``: torch's thread count where the numerics profile leaves it free (cpu-native)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
