"""The gauges `/metrics` reads from the database at scrape time, checked against the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from checkout.extensions import db
from checkout.fulfilment.jobs import JobKind
from checkout.models import Forced, JobState, OutboxJob, SweepRun, utcnow
from checkout.payments import breaker
from checkout.payments.states import PaymentStatus
from checkout.payments.sweep_scope import count_due
from tests.metrics.samples import scrape

S = PaymentStatus


def test_backlog_is_what_the_sweep_would_look_at_now(
    app: Flask, client: FlaskClient, make_payment
) -> None:
    now = utcnow()
    for _ in range(3):
        make_payment(gateway="mpgs", status=S.PENDING, next_check_at=now - timedelta(seconds=5))
    make_payment(gateway="mpgs", status=S.PENDING, next_check_at=now + timedelta(minutes=5))
    make_payment(gateway="stripe", status=S.PENDING, next_check_at=None)
    make_payment(gateway="stripe", status=S.COMPLETED, next_check_at=None)
    # a CREATED payment younger than the sweep's grace is still waiting for its gateway
    make_payment(gateway="stripe", status=S.CREATED, next_check_at=None)

    found = scrape(client)

    backlog = "tollgate_sweep_backlog_payments"
    assert found.value(backlog, gateway="mpgs") == 3
    assert found.value(backlog, gateway="stripe") == 1
    assert found.value(backlog, gateway="coinpayments") == 0  # every configured gateway shown
    assert found.value(backlog, gateway="mpgs") + found.value(backlog, gateway="stripe") == (
        count_due()
    )


def test_oldest_pending_age_per_gateway(client: FlaskClient, make_payment) -> None:
    now = utcnow()
    make_payment(gateway="coinpayments", status=S.PENDING, created_at=now - timedelta(hours=2))
    make_payment(gateway="coinpayments", status=S.CREATED, created_at=now - timedelta(hours=1))
    make_payment(gateway="coinpayments", status=S.EXPIRED, created_at=now - timedelta(days=3))
    make_payment(gateway="mpgs", status=S.COMPLETED, created_at=now - timedelta(days=1))

    found = scrape(client)

    age = found.value("tollgate_payment_oldest_pending_age_seconds", gateway="coinpayments")
    assert 2 * 3600 <= age < 2 * 3600 + 60
    assert found.value("tollgate_payment_oldest_pending_age_seconds", gateway="mpgs") == 0


def test_outbox_jobs_by_kind_and_state_and_the_delivery_lag(
    client: FlaskClient, make_order
) -> None:
    now = utcnow()
    rows = [
        (JobKind.ISSUE_ESIM, JobState.PENDING, now - timedelta(minutes=10)),
        (JobKind.ISSUE_ESIM, JobState.PENDING, now + timedelta(minutes=10)),  # backing off
        (JobKind.SEND_RECEIPT, JobState.DEAD, now - timedelta(hours=5)),
        (JobKind.SEND_RECEIPT, JobState.DONE, now - timedelta(hours=6)),
    ]
    for n, (kind, state, due) in enumerate(rows):
        order = make_order()
        db.session.add(
            OutboxJob(
                key=f"{kind}:{order.ref}:{n}",
                kind=kind,
                order_id=order.id,
                state=state,
                next_attempt_at=due,
            )
        )
    db.session.commit()

    found = scrape(client)

    jobs = "tollgate_outbox_jobs"
    assert found.value(jobs, kind="issue_esim", state="pending") == 2
    assert found.value(jobs, kind="send_receipt", state="dead") == 1
    assert found.value(jobs, kind="send_receipt", state="pending") == 0
    assert (jobs, frozenset({("kind", "send_receipt"), ("state", "done")})) not in found.values
    # the oldest job a worker could claim now: the dead and the backing-off ones are not
    lag = found.value("tollgate_outbox_delivery_lag_seconds")
    assert 600 <= lag < 660


def test_the_sweep_heartbeat_is_the_newest_runs_last_sign_of_life(client: FlaskClient) -> None:
    assert scrape(client).value("tollgate_sweep_heartbeat_timestamp_seconds") == 0  # never ran
    started = utcnow() - timedelta(minutes=3)
    beat = started + timedelta(minutes=2)
    db.session.add(
        SweepRun(
            trigger="scheduler",
            started_at=started - timedelta(hours=1),
            finished_at=started - timedelta(minutes=59),
        )
    )
    db.session.add(
        SweepRun(
            trigger="scheduler",
            started_at=started,
            details={"state": "running", "heartbeat": beat.isoformat()},
        )
    )
    db.session.commit()

    found = scrape(client)

    assert found.value("tollgate_sweep_heartbeat_timestamp_seconds") == pytest.approx(
        beat.timestamp()
    )


def test_each_gateway_breaker_in_exactly_one_state(client: FlaskClient) -> None:
    breaker.force("mpgs", Forced.OFF, "maintenance at the bank", "ops@example.com")

    found = scrape(client)

    state = "tollgate_gateway_breaker_state"
    assert found.value(state, gateway="mpgs", state="forced_off") == 1
    assert found.value(state, gateway="mpgs", state="closed") == 0
    assert found.value(state, gateway="stripe", state="closed") == 1
    for gateway in ("coinpayments", "mpgs", "stripe", "copyandpay"):
        states = [found.value(state, gateway=gateway, state=s) for s in breaker.Shown]
        assert sorted(states) == [0, 0, 0, 0, 1], gateway


def test_a_database_that_cannot_answer_costs_only_the_gauges(client: FlaskClient) -> None:
    client.get("/healthz")
    db.session.execute(text("ALTER TABLE payments RENAME TO payments_gone"))
    db.session.commit()

    found = scrape(client)

    assert found.value("tollgate_scrape_database_up") == 0
    assert "tollgate_sweep_backlog_payments" not in found.families
    assert found.value("tollgate_http_requests_total", endpoint="health.healthz", status="200") >= 1
