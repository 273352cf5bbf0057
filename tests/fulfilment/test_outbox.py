"""The outbox core on the real database: the paying transition writes the job, the worker claims,
runs, retries with persisted back-off, dead-letters, and fences a worker that lost its lease.

Handlers here are test doubles put on the registry with monkeypatch, so each rule is shown on
its own; the real handlers are proven in test_esim.py / test_receipts.py and the crash tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.fulfilment.jobs import HANDLERS, JobKind, JobRefused, JobRetry, new_job
from checkout.gateways.base import Observation
from checkout.models import JobState, Order, OutboxJob, Payment, utcnow
from checkout.money import Money
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus

Handler = Callable[[OutboxJob], Sequence[OutboxJob]]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # the worker is driven by hand here; tests/fulfilment/test_worker.py covers the kick
    return {"OUTBOX_KICK": "off", "OUTBOX_MAX_ATTEMPTS": 3, "OUTBOX_BACKOFF_SECONDS": 10}


@pytest.fixture
def handlers(app, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[JobKind, Handler], None]]:
    """An empty handler registry for the test; register(kind, fn) adds one."""
    for kind in list(HANDLERS):
        monkeypatch.delitem(HANDLERS, kind)
    with app.app_context():
        yield lambda kind, fn: monkeypatch.setitem(HANDLERS, kind, fn)


def pay(make_payment) -> Order:
    payment = make_payment()
    paid = Observation(status=PaymentStatus.COMPLETED, raw_status="100", paid=Money(1250, "USD"))
    outcome = record_observation(payment, paid, Source.IPN)
    assert outcome.fulfilled
    return db.session.get(Order, db.session.get(Payment, payment.id).order_id)


def jobs() -> list[OutboxJob]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)))


def make_due(job_id: int) -> None:
    """Time passes: the job's next attempt is now."""
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_the_paying_transition_writes_one_issue_esim_job_and_replays_add_none(
    handlers, make_payment
) -> None:
    order = pay(make_payment)
    payment = db.session.get(Payment, order.paid_by_payment_id)
    paid = Observation(status=PaymentStatus.COMPLETED, raw_status="100", paid=Money(1250, "USD"))
    assert not record_observation(payment, paid, Source.IPN).fulfilled  # a replayed IPN

    [job] = jobs()
    assert (job.key, job.kind, job.order_id) == (f"issue_esim:{order.ref}", "issue_esim", order.id)
    assert (job.state, job.attempts, job.last_error) == (JobState.PENDING, 0, None)
    assert outbox.state_of(order) == "pending"


def test_a_transition_that_does_not_pay_writes_no_job(handlers, make_payment) -> None:
    payment = make_payment()
    failed = Observation(status=PaymentStatus.FAILED, raw_status="-1")
    assert record_observation(payment, failed, Source.IPN).transitioned
    assert jobs() == []
    assert outbox.state_of(payment.order) == "none"


def test_a_job_runs_once_is_done_and_its_follow_ups_are_written_once(
    handlers, make_payment
) -> None:
    ran: list[str] = []

    def issue(job: OutboxJob) -> Sequence[OutboxJob]:
        ran.append(job.key)
        # the same follow-up twice: the key makes the second harmless
        return [new_job(JobKind.SEND_RECEIPT, job.order), new_job(JobKind.SEND_RECEIPT, job.order)]

    handlers(JobKind.ISSUE_ESIM, issue)
    order = pay(make_payment)

    assert outbox.run_once() == 1
    assert outbox.run_once() == 0  # done jobs are not run again; send_receipt has no handler

    issue_job, receipt = jobs()
    assert ran == [issue_job.key]
    assert (issue_job.state, issue_job.attempts, issue_job.done_at is not None) == ("done", 1, True)
    assert (receipt.key, receipt.state) == (f"send_receipt:{order.ref}", JobState.PENDING)
    assert outbox.state_of(order) == "delivered"


def test_a_kind_without_handler_stays_pending_and_is_logged(
    handlers, make_payment, caplog: pytest.LogCaptureFixture
) -> None:
    pay(make_payment)
    with caplog.at_level(logging.WARNING, logger="checkout.fulfilment.outbox"):
        assert outbox.run_once() == 0
    [job] = jobs()
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    assert "issue_esim job(s) have no handler" in caplog.text


def test_transient_failures_back_off_exponentially_and_dead_letter_after_max_attempts(
    handlers, make_payment
) -> None:
    def down(job: OutboxJob) -> Sequence[OutboxJob]:
        raise JobRetry("provider answered 503")

    handlers(JobKind.ISSUE_ESIM, down)
    order = pay(make_payment)
    delays = []
    for attempt in (1, 2):
        before = utcnow()
        assert outbox.run_once() == 1
        [job] = jobs()
        assert (job.state, job.attempts) == (JobState.PENDING, attempt)
        assert job.last_error == "JobRetry: provider answered 503" and job.lease_until is None
        delays.append(round((job.next_attempt_at - before).total_seconds()))
        assert outbox.run_once() == 0  # not due yet: the back-off is persisted
        assert outbox.state_of(order) == "retrying"
        make_due(job.id)
    assert delays == [10, 20]

    assert outbox.run_once() == 1  # the third and last attempt
    [job] = jobs()
    assert (job.state, job.attempts) == (JobState.DEAD, 3)
    assert outbox.state_of(order) == "dead"
    make_due(job.id)
    assert outbox.run_once() == 0  # dead jobs wait for staff


def test_a_refusal_is_dead_at_once_and_staff_retry_gives_a_fresh_round(
    handlers, make_payment
) -> None:
    outcomes: list[Exception | None] = [JobRefused("plan out of stock"), None]

    def issue(job: OutboxJob) -> Sequence[OutboxJob]:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return []

    handlers(JobKind.ISSUE_ESIM, issue)
    order = pay(make_payment)
    assert outbox.run_once() == 1
    [job] = jobs()
    assert (job.state, job.attempts, job.last_error) == (
        JobState.DEAD,
        1,
        "JobRefused: plan out of stock",
    )

    assert outbox.retry(job.id) is True
    assert outbox.retry(job.id) is False  # no longer dead
    [job] = jobs()
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    assert outbox.run_once() == 1
    assert outbox.state_of(order) == "delivered"
    assert outbox.retry(job.id) is False  # done jobs are not retried


def test_an_unexpected_exception_is_retried_and_logged_with_its_traceback(
    handlers, make_payment, caplog: pytest.LogCaptureFixture
) -> None:
    def buggy(job: OutboxJob) -> Sequence[OutboxJob]:
        raise KeyError("iccid")

    handlers(JobKind.ISSUE_ESIM, buggy)
    pay(make_payment)
    with caplog.at_level(logging.WARNING, logger="checkout.fulfilment.outbox"):
        assert outbox.run_once() == 1
    [job] = jobs()
    assert (job.state, job.last_error) == (JobState.PENDING, "KeyError: 'iccid'")
    assert any(record.exc_info for record in caplog.records)


def test_the_handlers_writes_are_rolled_back_when_it_fails(handlers, make_payment) -> None:
    def half_done(job: OutboxJob) -> Sequence[OutboxJob]:
        db.session.execute(
            update(Order).where(Order.id == job.order_id).values(fulfilment_code="LPA:1$half")
        )
        raise JobRetry("mail server down")

    handlers(JobKind.ISSUE_ESIM, half_done)
    order = pay(make_payment)
    outbox.run_once()
    db.session.expire_all()
    assert db.session.get(Order, order.id).fulfilment_code is None


def test_an_expired_lease_is_claimed_again_and_the_old_worker_cannot_record_over_it(
    handlers, make_payment
) -> None:
    handlers(JobKind.ISSUE_ESIM, lambda job: [])
    order = pay(make_payment)
    [stale] = outbox._claim(10)  # a worker claims, then stalls
    assert outbox.run_once() == 0  # its lease holds: nobody else takes the job

    db.session.execute(
        update(OutboxJob).values(lease_until=utcnow() - timedelta(seconds=1))
    )  # ... past its lease
    db.session.commit()
    [fresh] = outbox._claim(10)
    assert (fresh.attempt, fresh.reclaimed) == (2, True)
    outbox._record_failure(stale, "stale", "JobRetry: too late", dead=True)  # fenced off
    [job] = jobs()
    assert (job.state, job.attempts) == (JobState.RUNNING, 2)

    outbox._run(fresh)
    assert outbox.state_of(order) == "delivered"


def test_a_job_that_keeps_killing_its_worker_is_dead_lettered(handlers, make_payment) -> None:
    handlers(JobKind.ISSUE_ESIM, lambda job: [])
    pay(make_payment)
    db.session.execute(
        update(OutboxJob).values(
            state=JobState.RUNNING, attempts=3, lease_until=utcnow() - timedelta(seconds=1)
        )
    )
    db.session.commit()
    assert outbox.run_once() == 1
    [job] = jobs()
    assert (job.state, job.attempts) == (JobState.DEAD, 4)
    assert job.last_error == "lease ran out on every attempt"


def test_backoff_doubles_from_the_base_up_to_the_cap(app) -> None:
    app.config.update(OUTBOX_BACKOFF_SECONDS=30, OUTBOX_BACKOFF_MAX_SECONDS=3600)
    with app.app_context():
        seconds = [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 7, 8, 50)]
    assert seconds == [30, 60, 120, 1920, 3600, 3600]
