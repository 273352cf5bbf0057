"""How the outbox gets run: the kick thread after a paying commit (the production mode, not the
testing config's inline one), the scheduler job beside the sweep, and `flask outbox run --once`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from checkout import scheduler
from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.fulfilment.jobs import HANDLERS, JobKind
from checkout.fulfilment.worker import Kicker
from checkout.gateways.base import Observation
from checkout.models import JobState, Order, OutboxJob, Payment
from checkout.money import Money
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus

Handler = Callable[[OutboxJob], Sequence[OutboxJob]]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"OUTBOX_KICK": "thread", "OUTBOX_INTERVAL_SECONDS": 1}


@pytest.fixture
def handlers(app, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[JobKind, Handler], None]]:
    for kind in list(HANDLERS):
        monkeypatch.delitem(HANDLERS, kind)
    with app.app_context():
        yield lambda kind, fn: monkeypatch.setitem(HANDLERS, kind, fn)
        assert outbox.wait_idle(10)


def pay(make_payment) -> Order:
    payment = make_payment()
    paid = Observation(status=PaymentStatus.COMPLETED, raw_status="100", paid=Money(1250, "USD"))
    assert record_observation(payment, paid, Source.IPN).fulfilled
    return db.session.get(Order, db.session.get(Payment, payment.id).order_id)


def states() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxJob.state).order_by(OutboxJob.id)))


def test_the_kick_delivers_in_a_background_thread_without_the_paying_call_waiting(
    handlers, make_payment
) -> None:
    release = threading.Event()
    threads: list[str] = []

    def slow_provider(job: OutboxJob) -> Sequence[OutboxJob]:
        threads.append(threading.current_thread().name)
        assert release.wait(10)
        return []

    handlers(JobKind.ISSUE_ESIM, slow_provider)
    started = time.monotonic()
    order = pay(make_payment)
    assert time.monotonic() - started < 2  # the provider is still "working"
    assert outbox.state_of(order) == "pending"

    release.set()
    assert outbox.wait_idle(10)
    assert threads == ["outbox-kick"]
    assert outbox.state_of(order) == "delivered"


def test_one_pass_in_flight_at_a_time_and_kicks_during_a_pass_are_not_lost(
    handlers, make_payment
) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def issue(job: OutboxJob) -> Sequence[OutboxJob]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return []

    handlers(JobKind.ISSUE_ESIM, issue)
    for _ in range(6):
        pay(make_payment)  # each kicks, mostly while the previous pass runs

    assert outbox.wait_idle(10)
    assert states() == [JobState.DONE] * 6
    assert most == 1
    assert not [t for t in threading.enumerate() if t.name == "outbox-kick"]


def test_a_failing_pass_is_logged_and_the_next_kick_runs_again(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken() -> int:
        calls.append(1)
        raise RuntimeError("database went away")

    kicker = Kicker(app, broken)
    with caplog.at_level(logging.ERROR, logger="checkout.fulfilment.worker"):
        kicker.kick()
        assert kicker.wait_idle(5)
        kicker.kick()
        assert kicker.wait_idle(5)
    assert len(calls) == 2
    assert "outbox kick failed" in caplog.text


def test_with_the_kick_off_the_in_process_scheduler_delivers(
    app: Flask, handlers, make_payment
) -> None:
    app.config["OUTBOX_KICK"] = "off"
    handlers(JobKind.ISSUE_ESIM, lambda job: [])
    order = pay(make_payment)
    assert outbox.state_of(order) == "pending"

    background = scheduler.start(app, first_run_in=0.1)
    try:
        job = background.get_job(scheduler.OUTBOX_JOB_ID)
        assert job.max_instances == 1 and job.coalesce is True
        assert job.trigger.interval.total_seconds() == 1
        deadline = time.monotonic() + 10
        while outbox.state_of(order) != "delivered":
            assert time.monotonic() < deadline, "the scheduler never ran the outbox"
            time.sleep(0.1)
            db.session.rollback()
    finally:
        scheduler.stop(app)


def test_flask_outbox_run_once_prints_how_many_ran(app: Flask, handlers, make_payment) -> None:
    app.config["OUTBOX_KICK"] = "off"
    handlers(JobKind.ISSUE_ESIM, lambda job: [])
    pay(make_payment)
    pay(make_payment)

    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 outbox jobs ran"
    assert states() == [JobState.DONE, JobState.DONE]
    again = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert again.output.strip() == "0 outbox jobs ran"
