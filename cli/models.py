"""``nvc models``: the models nvc ships and the published architecture, listed without loading weights."""

from __future__ import annotations

import json

import click
from nvcodec_cli import common


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@common.loglevel_option
@click.pass_obj
def models(obj, as_json: bool) -> None:
    """List the shipped models (name, architecture, file size, sha256) and the other ways to name one."""
    from nvcodec.models.catalog import DEFAULT_MODEL, PUBLISHED_CONFIG, list_models, packaged_path
    from nvcodec.models.config import product_config_names

    rows = []
    for info in list_models():
        path = packaged_path(info)
        size = path.stat().st_size if path.exists() else None
        rows.append({"name": info.name, "config": info.config, "bytes": size, "sha256": info.sha256,
                     "default": info.name == DEFAULT_MODEL, "description": info.description})
    rows.append({"name": PUBLISHED_CONFIG, "config": PUBLISHED_CONFIG, "bytes": None, "sha256": None,
                 "default": False, "description": "the published DCVC-RT model: --model INTRA.pth.tar,INTER.pth.tar "
                                                 "(its weights are not shipped)"})
    configs = product_config_names()  # what synthetic:<config>:<seed> takes, the shipped models' among them
    if as_json:
        click.echo(json.dumps({"models": rows, "configs": configs}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="nvc models")
    for column in ("name", "config", "size", "sha256", "description"):
        table.add_column(column)
    for r in rows:
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] is not None else "-"
        table.add_row(r["name"] + (" (default)" if r["default"] else ""), r["config"], size, r["sha256"] or "-",
                      r["description"])
    Console().print(table)
    click.echo(f"Also: a model file, or synthetic:<config>:<seed> (configs: {', '.join(configs)}) for tests.")
