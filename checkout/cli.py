"""`flask` commands, registered in create_app().

- `flask catalog load PATH`: the product catalogue.
- `flask payments sweep [--hours N] [--gateway G] [--dry-run]`: one sweep now, with a progress bar
  and a summary table.
- `flask scheduler`: the sweep and the fulfilment outbox on their intervals, as its own process
  (production).
- `flask outbox run [--once]`: deliver the fulfilment outbox until SIGTERM, or one pass.
- `flask staff create EMAIL [--role support|admin] [--password-stdin]`: a staff account (support
  unless --role admin).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func

from .catalog_loader import CatalogError, load_catalog, price_warnings
from .extensions import db
from .gateways.registry import names
from .models import Product, StaffRole, StaffUser

catalog_cli = AppGroup("catalog", help="Manage the product catalogue.")
payments_cli = AppGroup("payments", help="Reconcile payments with their gateways.")
staff_cli = AppGroup("staff", help="Manage support staff accounts.")
outbox_cli = AppGroup("outbox", help="Deliver the fulfilment outbox (eSIMs, receipts).")

MIN_PASSWORD_LENGTH = 12


@catalog_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_load(path: Path) -> None:
    """Insert or update the products listed in PATH (JSON)."""
    try:
        created, updated = load_catalog(path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"catalogue: {created} created, {updated} updated")
    for warning in price_warnings(db.session.scalars(db.select(Product)), current_app.config):
        click.echo(f"warning: {warning}", err=True)


@payments_cli.command("sweep")
@click.option(
    "--hours",
    type=click.IntRange(min=1),
    default=None,
    help="Look at payments created in the last N hours (default SWEEP_WINDOW_HOURS).",
)
@click.option(
    "--gateway",
    default=None,
    help="Only this gateway's payments (one of GATEWAYS).",
)
@click.option("--dry-run", is_flag=True, help="Count what is due; call no gateway, change nothing.")
def payments_sweep(hours: int | None, gateway: str | None, dry_run: bool) -> None:
    """Reconcile every due pending payment with its gateway now."""
    from .payments.sweep import count_due, summary, sweep_pending

    if gateway is not None and gateway not in names():
        raise click.BadParameter(
            f"{gateway!r} is not one of {', '.join(names())}", param_hint="--gateway"
        )
    if dry_run:
        run = sweep_pending("cli", hours=hours, gateway=gateway, dry_run=True)
        _echo_dry_run(run.details or {})
        return
    total = count_due(hours=hours, gateway=gateway)
    with click.progressbar(
        length=max(total, 1), label=f"sweeping {total} due payments", file=sys.stderr
    ) as bar:
        run = sweep_pending("cli", hours=hours, gateway=gateway, progress=bar.update)
    _echo_summary(summary(run))
    if run.errors:
        click.echo(f"{run.errors} payments could not be checked; they will be retried (back-off).")


@click.command("scheduler")
def scheduler_command() -> None:
    """Run the sweep and the outbox on their intervals in this process (one per deployment)."""
    from . import scheduler

    scheduler.run_blocking(current_app._get_current_object())


@outbox_cli.command("run")
@click.option("--once", is_flag=True, help="One pass over the due jobs, then exit.")
def outbox_run(once: bool) -> None:
    """Deliver due outbox jobs every OUTBOX_INTERVAL_SECONDS until SIGTERM or Ctrl-C."""
    from .fulfilment.outbox import run_forever, run_once

    if once:
        click.echo(f"{run_once()} outbox jobs ran")
        return
    run_forever(current_app.config["OUTBOX_INTERVAL_SECONDS"])


@staff_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([StaffRole.SUPPORT, StaffRole.ADMIN]),
    default=StaffRole.SUPPORT,
    show_default=True,
    help="admin may also refund and manage staff users.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def staff_create(email: str, role: str, password_stdin: bool) -> None:
    """Create a staff account for EMAIL (the password is asked for, hidden, twice)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise click.BadParameter("not an e-mail address", param_hint="EMAIL")
    existing = db.session.scalar(db.select(StaffUser).where(func.lower(StaffUser.email) == email))
    if existing is not None:
        raise click.ClickException(f"{email} already has a staff account")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"use a password of at least {MIN_PASSWORD_LENGTH} characters")
    user = StaffUser(email=email, active=True, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"{role} staff account created for {email}")


def _echo_summary(data: dict[str, Any]) -> None:
    click.echo(
        f"sweep {data['id']} in {data['seconds']} s: {data['checked']} checked, "
        f"{data['changed']} changed, {data['expired']} expired, {data['errors']} errors, "
        f"{data['gateway_calls']} gateway calls"
    )
    gateways = data["details"].get("gateways", {})
    columns = ("checked", "changed", "expired", "cancelled", "errors", "calls")
    _table(
        ["gateway", *columns], [[name, *(g[c] for c in columns)] for name, g in gateways.items()]
    )


def _echo_dry_run(details: dict[str, Any]) -> None:
    click.echo(
        f"dry run: {details['due']} payments due in the last {details['window_hours']} hours; "
        "nothing was called or changed"
    )
    columns = ("due", "orphans", "past_deadline", "leaving_window")
    gateways = details.get("gateways", {})
    _table(
        ["gateway", *columns], [[name, *(g[c] for c in columns)] for name, g in gateways.items()]
    )


def _table(header: list[str], rows: list[list[Any]]) -> None:
    if not rows:
        click.echo("(no payments were due)")
        return
    cells = [header, *[[str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        click.echo(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def register(app: Flask) -> None:
    app.cli.add_command(catalog_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(scheduler_command)
