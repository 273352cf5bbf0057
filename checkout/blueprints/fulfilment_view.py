"""What the shopper's status page and the staff console say about a paid order's fulfilment.

The outbox (checkout/fulfilment) does the work; this module only reads its rows and turns them
into words and a polling plan. The shopper's page polls while the eSIM is on its way and stops
on delivery or dead letter. It never polls forever: the interval grows with the time since the
payment (3 s at first, a tenth of the age after that, at most a minute, and never before the
job's next attempt), and after POLL_WINDOW the page stops and says we will e-mail the shopper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..extensions import db
from ..fulfilment import outbox
from ..fulfilment.jobs import JobKind
from ..models import JobState, Order, OutboxJob, Payment, utcnow
from .status_facts import OrderFacts, PaymentFacts

POLL_WINDOW = timedelta(hours=1)  # after this the page stops polling and relies on the e-mail
MIN_POLL_SECONDS = 3
MAX_POLL_SECONDS = 60  # pending: age / 10, clamped to this
MAX_RETRY_WAIT_SECONDS = 300  # retrying: wait for the next attempt, but not longer than this
STUCK_LIMIT = 100


class ShopperState:
    """The shopper's view of the fulfilment, one word each (the page and its JSON agree)."""

    DELIVERED = "delivered"  # the code is issued
    PREPARING = "preparing"  # the job is queued or running, nothing has failed yet
    DELAYED = "delayed"  # an attempt failed and the outbox will try again
    FAILED = "failed"  # dead letter, or a refusal: a person must act; polling stops


@dataclass(frozen=True)
class Fulfilment:
    """The fulfilment of the order a payment paid, as the status page needs it."""

    state: str  # a ShopperState
    refused: bool  # the provider refused (out of stock): support will contact the shopper
    poll_seconds: int | None  # None: stop polling

    @property
    def polling(self) -> bool:
        return self.poll_seconds is not None


def jobs_of(order: Order) -> list[OutboxJob]:
    """The order's outbox jobs, oldest first (the staff payment page lists them all)."""
    statement = select(OutboxJob).where(OutboxJob.order_id == order.id).order_by(OutboxJob.id)
    return list(db.session.scalars(statement))


def _issue_job(order: Order | OrderFacts) -> OutboxJob | None:
    return db.session.scalar(
        select(OutboxJob).where(
            OutboxJob.order_id == order.id, OutboxJob.kind == JobKind.ISSUE_ESIM
        )
    )


def is_retrying(job: OutboxJob) -> bool:
    """Not given up, but an attempt failed: the outbox's own "retrying" (`outbox.state_of`)."""
    return job.state in (JobState.PENDING, JobState.RUNNING) and bool(job.last_error)


def staff_words(job: OutboxJob, now: datetime | None = None) -> str:
    """The job's state as staff read it: the outbox's state, plus why a live one is suspect."""
    now = now or utcnow()
    if job.state == JobState.RUNNING and job.lease_until is not None and job.lease_until < now:
        return "running, lease ran out"
    if is_retrying(job):
        return f"{job.state}, retrying"
    return job.state


def for_shopper(payment: Payment | PaymentFacts, now: datetime | None = None) -> Fulfilment:
    """The fulfilment of `payment`'s order; call it only for the payment that paid it. The
    status views pass the facts they read (status_facts), the staff pages the ORM payment."""
    now = now or utcnow()
    order = payment.order
    if order.fulfilment_code:
        return Fulfilment(ShopperState.DELIVERED, False, None)
    refused = bool(order.fulfilment_problem)
    state = outbox.state_of(order)
    if state == "dead":
        return Fulfilment(ShopperState.FAILED, refused, None)
    paid_at = order.paid_at or payment.completed_at or payment.created_at
    age = (now - paid_at).total_seconds()
    if age > POLL_WINDOW.total_seconds():
        return Fulfilment(ShopperState.DELAYED, refused, None)
    interval = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, int(age // 10)))
    job = _issue_job(order) if state == "retrying" else None
    if job is not None:
        wait = int((job.next_attempt_at - now).total_seconds()) + 1
        interval = max(interval, min(wait, MAX_RETRY_WAIT_SECONDS))
    if job is not None or refused:  # a refusal staff sent back to the queue counts as failing
        return Fulfilment(ShopperState.DELAYED, refused, interval)
    return Fulfilment(ShopperState.PREPARING, False, interval)


def stuck_jobs(now: datetime | None = None) -> list[OutboxJob]:
    """Jobs a person should look at: dead, failing and waiting to retry, or a lapsed lease."""
    now = now or utcnow()
    statement = (
        select(OutboxJob)
        .where(
            or_(
                OutboxJob.state == JobState.DEAD,
                and_(OutboxJob.state == JobState.PENDING, OutboxJob.attempts > 0),
                and_(OutboxJob.state == JobState.RUNNING, OutboxJob.lease_until < now),
            )
        )
        .order_by(OutboxJob.created_at.desc(), OutboxJob.id.desc())
        .limit(STUCK_LIMIT)
    )
    return list(db.session.scalars(statement))


def payment_ref_of(order: Order) -> str | None:
    """The payment to show staff for an order: the one that paid it, else the newest attempt."""
    if order.paid_by_payment_id is not None:
        paid = db.session.get(Payment, order.paid_by_payment_id)
        if paid is not None:
            return paid.ref
    newest = max(order.payments, key=lambda p: p.id, default=None)
    return newest.ref if newest is not None else None
