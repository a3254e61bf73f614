"""``nvc``: the command group, global options and the one error path.

Exit codes follow ffmpeg: 0 success, 1 any error (one line on stderr, no
traceback unless ``--loglevel debug``), 255 interrupted.  Usage errors, which
click would exit with 2, are mapped to 1 as well.  The numerics profile's
environment is established here, once click has named the command and before it imports torch.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType

import click

from nvcodec import __version__
from nvcodec.errors import NvcError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 255


class Context:
    """What the whole command line shares: the log level (a command's own --loglevel overrides the
    group's) and the numerics profile chosen for the command."""

    def __init__(self, loglevel: str = "info") -> None:
        self.loglevel = loglevel
        self.profile: str | None = None

    @property
    def debug(self) -> bool:
        return self.loglevel == "debug"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nvc")
@click.option(
    "--loglevel",
    "-loglevel",
    "-v",
    type=click.Choice(["quiet", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="How much to print; 'debug' also shows tracebacks.",
)
@click.option("-hide_banner", "hide_banner", is_flag=True, hidden=True, help="Accepted for ffmpeg habits.")
@click.pass_context
def cli(ctx: click.Context, loglevel: str, hide_banner: bool) -> None:
    """nvc: neural video compression (DCVC-RT) from the command line."""
    from nvcodec import numerics

    if not isinstance(ctx.obj, Context):
        ctx.obj = Context()
    ctx.obj.loglevel = loglevel
    # click has parsed the command line and named the command, and no command has imported torch yet
    ctx.obj.profile = profile_for(ctx.invoked_subcommand)
    numerics.prepare_environment(ctx.obj.profile)


def profile_for(command: str | None) -> str:
    """The numerics profile a command runs under.

    Training produces no streams, so it runs on the machine's fastest kernels; everything that codes
    uses the pinned default profile that streams record.
    """
    from nvcodec import numerics

    return numerics.NATIVE.name if command == "train" else numerics.DEFAULT_PROFILE


def _register() -> None:
    from nvcodec_cli.batch import batch
    from nvcodec_cli.conform import conform
    from nvcodec_cli.decode import decode
    from nvcodec_cli.encode import encode
    from nvcodec_cli.info import info
    from nvcodec_cli.ladder import ladder
    from nvcodec_cli.models import models

    for command in (encode, decode, batch, info, models, ladder, conform):
        cli.add_command(command)
    from nvcodec_cli.train import train

    cli.add_command(train)
    from nvcodec_cli.eval import evaluate_command

    cli.add_command(evaluate_command)


_register()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    state = Context()
    previous = _interrupt_on_signals()
    try:
        cli.main(args=args, prog_name="nvc", standalone_mode=False, obj=state)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("nvc: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("nvc: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        click.echo(f"nvc: {one_line(exc.format_message())}", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        click.echo(f"nvc: {one_line(exc.format_message())}", err=True)
        return exc.exit_code if exc.exit_code not in (0, 2) else EXIT_ERROR
    except (NvcError, OSError, ValueError) as exc:
        if state.debug:
            raise
        click.echo(f"nvc: {one_line(str(exc))}", err=True)
        return EXIT_ERROR
    except Exception as exc:  # the last-resort net: a bug must still end in one line and exit 1
        if state.debug:
            raise
        detail = one_line(str(exc)) or "no message"
        click.echo(f"nvc: internal error: {type(exc).__name__}: {detail}; run with --loglevel debug for the "
                   "traceback", err=True)
        return EXIT_ERROR
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


#: an error line longer than this is cut: torch and FFmpeg can put a whole report in one message
MAX_MESSAGE = 400


def one_line(message: str) -> str:
    """A message folded onto one line: torch's and FFmpeg's messages span several (stack frames,
    hints), and scripts read nvc's errors one line per failure."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _interrupt_on_signals() -> dict[int, Callable[[int, FrameType | None], object] | int | None]:
    """Make Ctrl-C and SIGTERM (kill, timeout, a CI runner stopping) unwind as KeyboardInterrupt for the command.

    Unwinding removes temporary outputs on the way out and gives exit code 255,
    where Python's default for SIGTERM dies leaving a partial file.  SIGINT gets
    Python's own handler back in case an earlier in-process command (``nvc
    train`` stops gracefully on it) left another.  A signal that was ignored
    when nvc started (``nohup``, background jobs) stays ignored.  Returns the
    handlers replaced, for :func:`main` to restore; none where signals cannot be
    set (not the main thread).
    """
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for signum, handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, interrupt)):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:
            break
    return previous


if __name__ == "__main__":
    sys.exit(main())
