"""Sweep runs as the metrics count them: a real run at the sandbox, and a run that died."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from prometheus_client import REGISTRY

from checkout.extensions import db
from checkout.models import SweepRun, utcnow
from checkout.payments.sweep import abort_stale, sweep_pending
from tests.reconciliation import due_now, open_payments, quiet


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_finished_run_is_counted_with_its_time_and_payments(app: Flask, sandbox) -> None:
    quiet(sandbox, "coinpayments", "mpgs")
    open_payments(app, "coinpayments", 2)
    open_payments(app, "mpgs", 1)
    runs = _value("tollgate_sweep_runs_total", trigger="cli", state="finished")
    timed = _value("tollgate_sweep_duration_seconds_count", trigger="cli")
    coins = _value("tollgate_sweep_payments_checked_total", gateway="coinpayments")
    cards = _value("tollgate_sweep_payments_checked_total", gateway="mpgs")

    with app.app_context():
        due_now()
        run = sweep_pending("cli")

    assert run.checked == 3
    assert _value("tollgate_sweep_runs_total", trigger="cli", state="finished") - runs == 1
    assert _value("tollgate_sweep_duration_seconds_count", trigger="cli") - timed == 1
    assert _value("tollgate_sweep_payments_checked_total", gateway="coinpayments") - coins == 2
    assert _value("tollgate_sweep_payments_checked_total", gateway="mpgs") - cards == 1


def test_a_dry_run_is_not_a_run(app: Flask) -> None:
    runs = _value("tollgate_sweep_runs_total", trigger="cli", state="finished")
    with app.app_context():
        sweep_pending("cli", dry_run=True)
    assert _value("tollgate_sweep_runs_total", trigger="cli", state="finished") == runs


def test_a_run_that_died_is_counted_aborted_once(app: Flask) -> None:
    aborted = _value("tollgate_sweep_runs_total", trigger="url", state="aborted")
    with app.app_context():
        lease = timedelta(seconds=app.config["SWEEP_LEASE_SECONDS"])
        db.session.add(SweepRun(trigger="url", started_at=utcnow() - 2 * lease, details={}))
        db.session.commit()

        assert abort_stale() == 1
        assert abort_stale() == 0  # found once, counted once

    assert _value("tollgate_sweep_runs_total", trigger="url", state="aborted") - aborted == 1
