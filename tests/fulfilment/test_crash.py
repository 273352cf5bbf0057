"""Paid leads to delivered even when the process dies in between, or the provider is down.

The crash is real: a child process pays the orders (the paying transitions commit, each writing
its issue_esim job) and its kick thread starts buying the eSIMs from a slow provider; the test
kills it with SIGKILL mid-purchase. The provider sandbox finishes the sale nobody hears about.
A fresh process then runs the outbox worker loop: once the dead worker's leases run out, every
paid order is delivered, and the provider sold exactly one eSIM per order (the retry sent the
same order ref and got the same eSIM back).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.gateways.base import Observation
from checkout.models import JobState, Order, OutboxJob, Payment, utcnow
from checkout.money import Money
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus
from tests.conftest import Sandbox
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import sys, time
from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.gateways.base import Observation
from checkout.models import Payment
from checkout.money import Money
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus
from tests.conftest import make_test_app

sandbox_url, database, mode = sys.argv[1:4]
app = make_test_app(sandbox_url, database, OUTBOX_KICK="thread", OUTBOX_LEASE_SECONDS=2)
with app.app_context():
    if mode == "pay":
        for payment in db.session.scalars(db.select(Payment).order_by(Payment.id)).all():
            paid = Observation(PaymentStatus.COMPLETED, "100", paid=Money(1250, "USD"))
            assert record_observation(payment, paid, Source.IPN).fulfilled
            print("paid", payment.ref, flush=True)
        time.sleep(600)  # killed long before
    else:
        outbox.run_forever(0.2)  # what `flask outbox run` runs, until SIGTERM
"""


def _child(sandbox: Sandbox, database: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), sandbox.url, database, mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _jobs(app: Flask) -> list[OutboxJob]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)))


def _orders(app: Flask) -> list[Order]:
    with app.app_context():
        return list(db.session.scalars(select(Order).order_by(Order.id)))


def _bought(sandbox_server: Any) -> Any:
    return sandbox_server.server.app.extensions["sandbox_esim"].bought


def test_kill_9_between_the_paying_commit_and_the_delivery_loses_nothing(
    app: Flask, sandbox: Sandbox, _sandbox_server: Any, make_payment
) -> None:
    with app.app_context():
        refs = [make_payment().order.ref for _ in range(3)]
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    sandbox.knobs("esim", latency_ms=3000)  # the provider is slow: the kill lands mid-purchase

    payer = _child(sandbox, database, "pay")
    try:
        assert payer.stdout is not None
        for _ in refs:
            assert payer.stdout.readline().startswith("paid ")
        wait_for(lambda: any(job.state == JobState.RUNNING for job in _jobs(app)))
    finally:
        os.kill(payer.pid, signal.SIGKILL)
        payer.wait(10)
    assert payer.returncode == -signal.SIGKILL

    # the crash landed between "paid" and "delivered"
    assert [o.status for o in _orders(app)] == ["PAID"] * 3
    assert all(o.fulfilment_code is None for o in _orders(app))
    assert [j.key for j in _jobs(app)] == [f"issue_esim:{ref}" for ref in refs]
    assert {j.state for j in _jobs(app)} <= {JobState.RUNNING, JobState.PENDING}

    sandbox.knobs("esim", latency_ms=0)
    worker = _child(sandbox, database, "work")
    try:
        wait_for(lambda: all(j.state == JobState.DONE for j in _jobs(app) if "esim" in j.kind))
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0  # `flask outbox run` stops cleanly on SIGTERM

    orders = _orders(app)
    assert all(o.fulfilment_code and o.fulfilment_code.startswith("LPA:1$") for o in orders)
    assert len({o.esim_iccid for o in orders}) == 3
    assert {ref: _bought(_sandbox_server)[ref] for ref in refs} == {ref: 1 for ref in refs}
    issue = [j for j in _jobs(app) if j.kind == "issue_esim"]
    assert len(issue) == 3 and all(j.state == JobState.DONE for j in issue)


@pytest.mark.parametrize(
    "trouble",
    [{"error_rate": 1.0}, {"timeout_rate": 1.0, "hang_seconds": 1.5}],
    ids=["500", "timeout"],
)
def test_a_provider_outage_is_retried_with_back_off_and_delivered_once_after_recovery(
    app: Flask, sandbox: Sandbox, _sandbox_server: Any, make_payment, trouble: dict[str, Any]
) -> None:
    app.config.update(ESIM_PROVIDER_TIMEOUT=0.5, OUTBOX_BACKOFF_SECONDS=60)
    sandbox.knobs("esim", **trouble)
    with app.app_context():
        payment = make_payment()
        paid = Observation(PaymentStatus.COMPLETED, "100", paid=Money(1250, "USD"))
        assert record_observation(payment, paid, Source.IPN).fulfilled  # the inline kick tries
        order = db.session.get(Order, payment.order_id)
        for attempt in (1, 2):
            [job] = db.session.scalars(select(OutboxJob)).all()
            assert (job.state, job.attempts) == (JobState.PENDING, attempt)
            assert job.next_attempt_at - utcnow() > timedelta(seconds=50)  # backed off
            assert outbox.state_of(order) == "retrying"
            assert outbox.run_once() == 0  # not before its time
            db.session.execute(
                update(OutboxJob).values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
            if attempt == 2:
                sandbox.knobs("esim", error_rate=0.0, timeout_rate=0.0)
            assert outbox.run_once() == 1
            db.session.expire_all()

        assert outbox.state_of(order) == "delivered"
        assert db.session.get(Order, order.id).fulfilment_code.startswith("LPA:1$")
        assert db.session.get(Payment, payment.id).status == "COMPLETED"
    assert _bought(_sandbox_server)[order.ref] == 1
