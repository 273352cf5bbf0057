"""Thousands of due payments, quickly, and `flask scheduler` processes to sweep them: for the
two-sweeper test and bench/sweep.py.

Per gateway one checkout is opened for real (the production client, over HTTP, at the
sandbox); the rest are copies of it: the emulator's record copied under fresh ids
(`checkout.sandbox.copies`) and our order and payment rows inserted in bulk with the original's
values, each with its own refs. The copies are spread over the time before the original, one
a second, as real checkouts are (a look-up by creation time, as Stripe's list, then finds a
batch's sessions without its neighbours'). Every copy is PENDING and due now, so a sweep looks
each up once; the original is not due.

The sweepers are real `flask scheduler` processes, as production runs them, given a long
interval so that each sweeps exactly one round while it is watched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import insert, inspect, select, update

from checkout.extensions import db
from checkout.models import Order, Payment, SweepRun, new_ref, utcnow
from checkout.sandbox.copies import copy_checkout
from tests.reconciliation import open_payments

ROOT = Path(__file__).resolve().parent.parent
_FRESH = {"id", "ref", "order_id", "attempt_token", "gateway_reference", "version"}
_CHUNK = 2000


def seed_due(app: Flask, sandbox_app: Flask, gateway: str, n: int) -> list[str]:
    """`n` due PENDING payments of `gateway`, each with its own checkout at the sandbox; refs.

    They are copies of one real checkout, which itself stays out of the round (not due until
    tomorrow): the copies are older than it, and ids and creation times rise together.
    """
    [first] = open_payments(app, gateway, 1)
    refs: list[str] = []
    with app.app_context():
        template = db.session.scalar(select(Payment).filter_by(ref=first))
        assert template is not None and template.gateway_reference, first
        order = db.session.get(Order, template.order_id)
        assert order is not None
        values = _column_values(template)
        old = (template.gateway_reference, template.ref)
        for start in range(0, n, _CHUNK):
            size = min(_CHUNK, n - start)
            order_ids = db.session.scalars(
                insert(Order).returning(Order.id),
                [
                    {
                        "product_id": order.product_id,
                        "email": order.email,
                        "amount": order.amount,
                        "currency": order.currency,
                    }
                    for _ in range(size)
                ],
            ).all()
            rows = [
                _copy(sandbox_app, gateway, values, old, order_id, age=n - (start + i))
                for i, order_id in enumerate(order_ids)
            ]
            db.session.execute(insert(Payment), rows)
            refs.extend(row["ref"] for row in rows)
            db.session.commit()
        tomorrow = utcnow() + timedelta(days=1)
        db.session.execute(update(Payment).filter_by(ref=first).values(next_check_at=tomorrow))
        db.session.commit()
    return refs


def lookup_keys(app: Flask, refs: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Payment ref -> (gateway, the key `checkout.sandbox.traffic` counts its look-ups under).

    MPGS's Retrieve Order is by our ref; every other gateway is looked up by its own reference.
    """
    wanted = set(refs)
    with app.app_context():
        rows = db.session.execute(
            select(Payment.ref, Payment.gateway, Payment.gateway_reference)
        ).all()
    return {
        row.ref: (row.gateway, row.ref if row.gateway == "mpgs" else row.gateway_reference)
        for row in rows
        if row.ref in wanted
    }


def start_scheduler(
    database: str, sandbox_url: str, log: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """`flask scheduler` against `database` and the sandbox; one sweep round (a long interval).

    `settings` are more environment settings (SWEEP_WORKERS="8"); with `sandbox_url` empty they
    must point the gateways somewhere themselves. Its stderr goes to `log`: a pipe nobody reads
    until the end could fill and stall it.
    """
    env = {
        **os.environ,
        "TOLLGATE_ENV": "development",
        "DATABASE_URL": database,
        "TOLLGATE_SANDBOX_URL": sandbox_url,
        "SWEEP_INTERVAL_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    with log.open("wb") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )


def stop_scheduler(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the running sweep finishes first), then SIGKILL if it is still there after
    `timeout` s: a failed test or benchmark must not leave a sweeper behind."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def sweep_runs(app: Flask, after: int = 0) -> list[SweepRun]:
    """The SweepRun rows with an id above `after`, oldest first, detached."""
    with app.app_context():
        query = select(SweepRun).where(SweepRun.id > after).order_by(SweepRun.id)
        runs = list(db.session.scalars(query))
        db.session.remove()
    return runs


def wait_for_runs(
    app: Flask, done: Callable[[list[SweepRun]], bool], timeout: float, after: int = 0
) -> list[SweepRun]:
    """Poll the SweepRun rows (above `after`) until `done` says so; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not done(runs := sweep_runs(app, after)):
        assert time.monotonic() < deadline, f"sweep runs after {timeout} s: {runs}"
        time.sleep(0.1)
    return runs


def _column_values(payment: Payment) -> dict[str, Any]:
    return {
        attr.key: getattr(payment, attr.key)
        for attr in inspect(Payment).column_attrs
        if attr.key not in _FRESH
    }


def _copy(
    sandbox_app: Flask,
    gateway: str,
    values: dict[str, Any],
    old: tuple[str, str],
    order_id: int,
    age: int,
) -> dict[str, Any]:
    """The row of a copy made `age` seconds before the original (the emulator's copy too)."""
    ref = new_ref("pay")
    changes = copy_checkout(sandbox_app, gateway, old[0], ref, age)
    swaps = {**changes, old[1]: ref}
    row = {key: _swapped(value, swaps) for key, value in values.items()}
    row.update(
        ref=ref,
        order_id=order_id,
        gateway_reference=changes[old[0]],
        created_at=values["created_at"] - timedelta(seconds=age),
        next_check_at=None,
    )
    return row


def _swapped(value: Any, swaps: dict[object, object]) -> Any:
    """`value` with the original's values replaced by the copy's: ids inside strings, whole
    numbers (a creation time) where equal, through dicts and lists."""
    if isinstance(value, str):
        for before, after in swaps.items():
            if isinstance(before, str):
                value = value.replace(before, str(after))
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return swaps.get(value, value)
    if isinstance(value, dict):
        return {key: _swapped(item, swaps) for key, item in value.items()}
    if isinstance(value, list):
        return [_swapped(item, swaps) for item in value]
    return value
