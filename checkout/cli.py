"""`flask` commands, registered in create_app()."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from .catalog_loader import CatalogError, load_catalog

catalog_cli = AppGroup("catalog", help="Manage the product catalogue.")


@catalog_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_load(path: Path) -> None:
    """Insert or update the products listed in PATH (JSON)."""
    try:
        created, updated = load_catalog(path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"catalogue: {created} created, {updated} updated")


def register(app: Flask) -> None:
    app.cli.add_command(catalog_cli)
