"""Two `flask scheduler` processes on one PostgreSQL database split the due payments.

Production may run the scheduler on two hosts at once (a deploy overlapping the old one, or on
purpose, for throughput). The sweep's row claims (`FOR UPDATE SKIP LOCKED`) must then give
every due payment to exactly one of them. Shown here with the real thing: 10,000 due payments
over the four gateways, two `flask scheduler` subprocesses against the sandbox over HTTP, and
the gateways' look-ups counted where they arrive (`checkout.sandbox.traffic`), not by the
clients. The sandbox holds the first look-ups until both processes have started their sweep,
so both really sweep at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from checkout.extensions import db
from checkout.models import SweepRun
from checkout.payments.sweep import FINISHED, state_of
from checkout.sandbox.server import ThreadedServer
from checkout.sandbox.traffic import Traffic
from tests.conftest import Sandbox
from tests.reconciliation import quiet
from tests.sweep_load import lookup_keys, seed_due

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = ("coinpayments", "mpgs", "stripe", "copyandpay")
PER_GATEWAY = 2500  # 10,000 in all
SWEEPERS = 2


@pytest.fixture
def traffic(_sandbox_server: ThreadedServer) -> Iterator[Traffic]:
    counter = Traffic(_sandbox_server.server.app).install()
    yield counter
    counter.let_go()
    counter.uninstall()


def _scheduler(database: str, sandbox_url: str, log: Path) -> subprocess.Popen[bytes]:
    """`flask scheduler` as production runs it; one round within the test (a long interval).

    Its stderr goes to a file: a pipe nobody reads until the end could fill and stall it.
    """
    env = {
        **os.environ,
        "TOLLGATE_ENV": "development",
        "DATABASE_URL": database,
        "TOLLGATE_SANDBOX_URL": sandbox_url,
        "SWEEP_INTERVAL_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def _runs(app: Flask) -> list[SweepRun]:
    with app.app_context():
        runs = list(db.session.scalars(select(SweepRun).order_by(SweepRun.id)))
        db.session.remove()
    return runs


def _wait_for_runs(app: Flask, done: Callable[[list[SweepRun]], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done(_runs(app)):
        assert time.monotonic() < deadline, f"sweep runs after {timeout} s: {_runs(app)}"
        time.sleep(0.2)


def test_two_schedulers_look_up_each_of_10000_due_payments_exactly_once(
    app: Flask,
    sandbox: Sandbox,
    pg_url: str,
    traffic: Traffic,
    tmp_path: Path,
) -> None:
    quiet(sandbox, *GATEWAYS)
    refs = [r for name in GATEWAYS for r in seed_due(app, traffic.app, name, PER_GATEWAY)]
    keys = lookup_keys(app, refs)
    traffic.reset()
    traffic.hold()
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(SWEEPERS)]
    sweepers = [_scheduler(pg_url, sandbox.url, log) for log in logs]
    try:
        _wait_for_runs(app, lambda runs: len(runs) == SWEEPERS, timeout=60)
        traffic.let_go()  # both have recorded their run and claimed their first pages
        _wait_for_runs(
            app, lambda runs: all(r.finished_at for r in runs) and len(runs) == SWEEPERS, 120
        )
    finally:
        traffic.let_go()
        for process in sweepers:
            process.send_signal(signal.SIGTERM)
        for process in sweepers:
            process.wait(timeout=30)
    for process, log in zip(sweepers, logs, strict=True):
        assert process.returncode == 0, log.read_text()[-2000:]

    runs = _runs(app)
    assert [state_of(run) for run in runs] == [FINISHED] * SWEEPERS
    owners = {int(run.details["owner"].split(":")[1]) for run in runs}
    assert owners == {process.pid for process in sweepers}
    assert all(run.checked > 0 for run in runs), [run.checked for run in runs]  # both worked
    assert sum(run.checked for run in runs) == len(refs)
    assert sum(run.errors for run in runs) == 0

    times = {
        ref: traffic.lookups.get(gateway, {}).get(key, 0) for ref, (gateway, key) in keys.items()
    }
    assert {ref: n for ref, n in times.items() if n != 1} == {}
    assert sum(sum(counts.values()) for counts in traffic.lookups.values()) == len(refs)
