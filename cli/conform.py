"""``nvc conform DIR``: check nvc against a folder of DCVC-RT conformance vectors."""

from __future__ import annotations

from pathlib import Path

import click
from nvcodec_cli import common


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@common.loglevel_option
@click.pass_obj
def conform(obj, folder: Path) -> None:
    """Check weights, decoding, encoding and CDF tables against FOLDER (cases.json layout).

    Prints one row per case and property; exits 0 only if every check passes.
    """
    from rich.console import Console
    from rich.table import Table

    from nvcodec.conform import run_conformance

    console = Console(stderr=False)
    table = Table(title=f"DCVC-RT conformance: {folder}")
    for column in ("case", "property", "result", "detail"):
        table.add_column(column)
    failed = 0
    with Console(stderr=True).status("checking…") if obj.loglevel != "quiet" else _null():
        for result in run_conformance(folder):
            failed += not result.passed
            verdict = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
            table.add_row(result.case, result.prop, verdict, result.detail)
    console.print(table)
    if failed:
        raise click.ClickException(f"{failed} conformance check(s) failed")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
