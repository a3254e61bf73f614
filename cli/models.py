"""``nvc models``: the models nvc knows, with their sizes and weight hashes."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def models(obj, as_json: bool) -> None:
    """List the shipped models (name, architecture, file size, sha256) and the other ways to name one."""
    from nvcodec.models.config import config_names
    from nvcodec.models.registry import DEFAULT_MODEL, _packaged_path, list_models

    rows = []
    for info in list_models():
        path = _packaged_path(info)
        size = path.stat().st_size if path.exists() else None
        rows.append({"name": info.name, "config": info.config, "bytes": size, "sha256": info.sha256,
                     "default": info.name == DEFAULT_MODEL, "description": info.description})
    if as_json:
        click.echo(json.dumps({"models": rows, "configs": config_names()}, indent=2))
        return
    if not rows:
        click.echo("No trained model is registered in this installation.")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="nvc models")
        for column in ("name", "config", "size", "sha256", "description"):
            table.add_column(column)
        for r in rows:
            size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] is not None else "missing"
            table.add_row(r["name"] + (" (default)" if r["default"] else ""), r["config"], size, r["sha256"],
                          r["description"])
        Console().print(table)
    click.echo(f"Also: synthetic:<config>:<seed> (configs: {', '.join(config_names())}), a model file, "
               "or INTRA.pth,INTER.pth (published DCVC-RT checkpoints).")
