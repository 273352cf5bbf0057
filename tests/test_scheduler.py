"""The sweep job: in-process for `make run`, and `flask scheduler` as a process of its own."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from checkout import scheduler
from checkout.extensions import db
from checkout.models import SweepRun
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import due_now, open_payments, pay_ref, payment, quiet
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"SWEEP_INTERVAL_SECONDS": 1}


def _runs(app: Flask) -> list[SweepRun]:
    with app.app_context():
        return list(db.session.query(SweepRun).order_by(SweepRun.id))


def test_the_job_is_single_instance_coalesced_and_started_once(app: Flask) -> None:
    background = scheduler.start(app, first_run_in=0.1)
    try:
        assert scheduler.start(app) is background  # once per app
        job = background.get_job(scheduler.JOB_ID)
        assert job.max_instances == 1 and job.coalesce is True
        assert job.trigger.interval.total_seconds() == 1
    finally:
        scheduler.stop(app)
    assert not background.running


def test_in_process_scheduler_sweeps_and_runs_do_not_overlap(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    quiet(sandbox)
    refs = open_payments(app, "mpgs", 3)
    with app.app_context():
        for ref in refs:
            pay_ref(sandbox, ref)
        due_now()
    sandbox.knobs("mpgs", latency_ms=700)  # each run (3 look-ups, 1 worker) outlasts the interval
    app.config["SWEEP_WORKERS"] = 1
    scheduler.start(app, first_run_in=0.1)
    try:
        wait_for(lambda: len([r for r in _runs(app) if r.finished_at]) >= 2)
    finally:
        scheduler.stop(app)
    runs = [r for r in _runs(app) if r.finished_at]
    assert all(r.trigger == "scheduler" for r in runs)
    for earlier, later in itertools.pairwise(runs):
        assert later.started_at >= earlier.finished_at  # max_instances=1
    with app.app_context():
        assert all(payment(ref).status == "COMPLETED" for ref in refs)
    assert len(fulfilments) == 3


def test_a_failing_sweep_is_logged_and_the_scheduler_lives_on(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from checkout.payments import sweep

    def broken(trigger: str, **kwargs: Any) -> SweepRun:
        raise RuntimeError("database is on fire")

    monkeypatch.setattr(sweep, "sweep_pending", broken)
    with caplog.at_level(logging.ERROR, logger="checkout.scheduler"):
        scheduler.run_sweep_job(app)
    assert "scheduled sweep failed" in caplog.text


def test_flask_scheduler_runs_as_its_own_process(sandbox: Sandbox, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'scheduler.sqlite3'}"
    setup = make_test_app(sandbox.url, database)
    with setup.app_context():
        db.create_all()
    quiet(sandbox)
    [ref] = open_payments(setup, "coinpayments", 1)
    with setup.app_context():
        pay_ref(sandbox, ref)
        due_now()
    env = {
        **os.environ,
        "TOLLGATE_ENV": "development",
        "DATABASE_URL": database,
        "TOLLGATE_SANDBOX_URL": sandbox.url,
        "SWEEP_INTERVAL_SECONDS": "1",
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len([r for r in _runs(setup) if r.finished_at]) >= 2, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors.decode()[-2000:]
    runs = _runs(setup)
    assert {r.trigger for r in runs} == {"scheduler"}
    with setup.app_context():
        assert payment(ref).status == "COMPLETED"
        db.engine.dispose()
