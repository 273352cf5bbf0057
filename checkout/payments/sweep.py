"""The sweep: bring every due pending payment to the truth its gateway holds.

Notifications get lost, shoppers close tabs, gateways go down. The sweep is what makes a payment
reach a final status anyway. One run:

1. streams the due payments in pages (keyset on id, SWEEP_PAGE_SIZE rows), so memory stays flat
   however many are pending. Due means PENDING, or CREATED for over a minute (we crashed between
   our insert and the gateway's answer), with `next_check_at` reached;
2. claims each page for this run, so several sweepers (two app processes, the scheduler and the
   cron URL) never poll one payment twice in a round: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a
   conditional lease update (`claimed_until`) elsewhere;
3. asks each gateway in batches of its `batch_size` through a bounded worker pool per gateway
   (SWEEP_WORKERS threads, each with its own app context and database session);
4. feeds every answer to `record_observation` and every transport error to `record_error`,
   which backs the payment off. Nothing here writes a status itself.

A payment the gateway still calls pending past `expires_at` + SWEEP_GRACE_SECONDS, or that is
leaving the SWEEP_WINDOW_HOURS window, has its checkout closed (`gateway.expire`, which Stripe
uses to close the session so nobody can pay it afterwards) and becomes EXPIRED. A CREATED payment
with no gateway reference never reached a hosted page, so no money can have moved: it becomes
CANCELLED without a gateway call. Money that still arrives after expiry completes the payment
through the funnel's late-payment rule.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..gateways.base import Gateway, GatewayConfigError, GatewayError, Observation
from ..gateways.registry import get_gateway
from ..models import Order, Payment, SweepRun, utcnow
from .service import ConcurrencyError, Outcome, Source, record_error, record_observation
from .states import PaymentStatus

log = logging.getLogger(__name__)

#: a CREATED payment younger than this may still be waiting for its gateway's answer
CREATED_GRACE = timedelta(minutes=1)
_DEFAULT_LEASE_SECONDS = 300
_OPEN = (PaymentStatus.PENDING, PaymentStatus.CREATED)

ProgressCallback = Callable[[int], None]


@dataclass
class _Tally:
    """Counters for one gateway in one run (merged in the sweeping thread only)."""

    checked: int = 0
    changed: int = 0
    expired: int = 0
    cancelled: int = 0
    errors: int = 0
    calls: int = 0

    def add(self, other: _Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class _Scope:
    """Which payments a run looks at, and the moment it decides against."""

    now: datetime
    window_start: datetime  # payments created since then get a normal check
    stale_before: datetime  # still open and created before this: last check, then EXPIRED
    grace: timedelta
    gateway: str | None


@dataclass
class _Run:
    app: Flask
    scope: _Scope
    owner: str
    tallies: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))


def sweep_pending(
    trigger: str,
    *,
    hours: int | None = None,
    gateway: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
) -> SweepRun:
    """Reconcile every due open payment once; return the recorded SweepRun.

    `hours` narrows or widens the window of a single run (a catch-up after a long outage);
    payments older than both it and SWEEP_WINDOW_HOURS are the ones that get their last check.
    `dry_run` calls no gateway and writes nothing: the returned SweepRun (not saved) counts what
    is due, per gateway, in `details`. `now` lets tests and catch-up runs decide as of another
    moment. `progress` is called with the number of payments finished after each batch.
    """
    app = current_app._get_current_object()
    scope = _scope(app, hours, gateway, now or utcnow())
    if dry_run:
        return _dry_run(trigger, scope)

    run = _Run(app, scope, _owner_id())
    record = SweepRun(trigger=trigger[:16], started_at=utcnow())
    db.session.add(record)
    db.session.commit()
    log.info("sweep %s (%s) started as %s", record.id, trigger, run.owner)
    pools: dict[str, ThreadPoolExecutor] = {}
    try:
        for page in _claimed_pages(run):
            _sweep_page(run, page, pools, progress)
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True)
        _release(run.owner, None)
        _finish(record, run)
    return record


def count_due(*, hours: int | None = None, gateway: str | None = None) -> int:
    """How many payments a run started now would look at (the CLI's progress bar length)."""
    scope = _scope(current_app._get_current_object(), hours, gateway, utcnow())
    return db.session.scalar(select(func.count(Payment.id)).where(_due(scope))) or 0


def summary(run: SweepRun) -> dict[str, Any]:
    """A SweepRun as plain data, for the cron URL's JSON and the CLI's table."""
    seconds = None
    if run.finished_at and run.started_at:
        seconds = round((run.finished_at - run.started_at).total_seconds(), 3)
    return {
        "id": run.id,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": seconds,
        "checked": run.checked,
        "changed": run.changed,
        "expired": run.expired,
        "errors": run.errors,
        "gateway_calls": run.gateway_calls,
        "details": run.details or {},
    }


# -- which payments -------------------------------------------------------------------------


def _scope(app: Flask, hours: int | None, gateway: str | None, now: datetime) -> _Scope:
    configured = timedelta(hours=app.config["SWEEP_WINDOW_HOURS"])
    window = timedelta(hours=hours) if hours is not None else configured
    return _Scope(
        now=now,
        window_start=now - window,
        stale_before=now - max(window, configured),
        grace=timedelta(seconds=app.config["SWEEP_GRACE_SECONDS"]),
        gateway=gateway,
    )


def _due(scope: _Scope) -> ColumnElement[bool]:
    """Open, old enough, in scope, and its next check has come."""
    conditions: list[ColumnElement[bool]] = [
        or_(
            Payment.status == PaymentStatus.PENDING,
            and_(
                Payment.status == PaymentStatus.CREATED,
                Payment.created_at <= scope.now - CREATED_GRACE,
            ),
        ),
        or_(Payment.next_check_at.is_(None), Payment.next_check_at <= scope.now),
    ]
    if scope.window_start > scope.stale_before:
        # a narrowed run leaves the payments between its window and the configured one alone
        conditions.append(
            or_(Payment.created_at >= scope.window_start, Payment.created_at < scope.stale_before)
        )
    if scope.gateway:
        conditions.append(Payment.gateway == scope.gateway)
    return and_(*conditions)


def _claimed_pages(run: _Run) -> Iterator[list[tuple[int, str]]]:
    """Yield pages of (payment id, gateway) that this run has claimed, in id order."""
    page_size = run.app.config["SWEEP_PAGE_SIZE"]
    lease = timedelta(seconds=run.app.config.get("SWEEP_LEASE_SECONDS", _DEFAULT_LEASE_SECONDS))
    postgres = db.engine.dialect.name == "postgresql"
    last_id = 0
    while True:
        lease_now = utcnow()
        free = or_(Payment.claimed_until.is_(None), Payment.claimed_until < lease_now)
        query = (
            select(Payment.id, Payment.gateway)
            .where(_due(run.scope), free, Payment.id > last_id)
            .order_by(Payment.id)
            .limit(page_size)
        )
        claim = {"claimed_until": lease_now + lease, "claimed_by": run.owner}
        if postgres:
            # rows another sweeper holds are skipped, not waited for
            rows = db.session.execute(query.with_for_update(skip_locked=True)).all()
            ids = [row.id for row in rows]
            if ids:
                db.session.execute(update(Payment).where(Payment.id.in_(ids)).values(**claim))
            db.session.commit()
            won = rows
        else:
            rows = db.session.execute(query).all()
            ids = [row.id for row in rows]
            if ids:
                # re-checked in the UPDATE itself: SQLite serialises writers, so of two sweepers
                # reading the same page exactly one sets each lease
                db.session.execute(
                    update(Payment)
                    .where(Payment.id.in_(ids), _due(run.scope), free)
                    .values(**claim)
                )
            db.session.commit()
            mine = set(
                db.session.scalars(
                    select(Payment.id).where(Payment.id.in_(ids), Payment.claimed_by == run.owner)
                )
            )
            won = [row for row in rows if row.id in mine]
        if not rows:
            return
        last_id = rows[-1].id
        if won:
            yield [(row.id, row.gateway) for row in won]


def _release(owner: str, ids: Sequence[int] | None) -> None:
    query = update(Payment).where(Payment.claimed_by == owner)
    if ids is not None:
        query = query.where(Payment.id.in_(ids))
    db.session.execute(query.values(claimed_until=None, claimed_by=None))
    db.session.commit()


# -- polling ----------------------------------------------------------------------------------


def _sweep_page(
    run: _Run,
    page: list[tuple[int, str]],
    pools: dict[str, ThreadPoolExecutor],
    progress: ProgressCallback | None,
) -> None:
    by_gateway: dict[str, list[int]] = defaultdict(list)
    for payment_id, gateway_name in page:
        by_gateway[gateway_name].append(payment_id)

    pending: dict[Future[_Tally], tuple[str, int]] = {}
    for gateway_name, ids in by_gateway.items():
        try:
            gateway = _gateway(gateway_name, run.app)
        except GatewayConfigError as exc:
            run.tallies[gateway_name].add(_record_errors(ids, exc))
            continue
        if gateway_name not in pools:
            pools[gateway_name] = ThreadPoolExecutor(
                max_workers=max(1, run.app.config["SWEEP_WORKERS"]),
                thread_name_prefix=f"sweep-{gateway_name}",
            )
        size = max(1, gateway.batch_size)
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            future = pools[gateway_name].submit(_poll_batch, run, gateway, batch)
            pending[future] = (gateway_name, len(batch))

    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            gateway_name, size = pending.pop(future)
            try:
                run.tallies[gateway_name].add(future.result())
            except Exception:
                # a bug or a database outage in one batch must not stop the others
                log.exception("sweep: a %s batch of %d payments failed", gateway_name, size)
                run.tallies[gateway_name].add(_Tally(errors=size))
            if progress is not None:
                progress(size)
    _release(run.owner, [payment_id for payment_id, _ in page])


def _gateway(name: str, app: Flask) -> Gateway:
    try:
        return get_gateway(name, app)
    except KeyError as exc:
        raise GatewayConfigError(f"unknown gateway {name!r}") from exc


def _poll_batch(run: _Run, gateway: Gateway, ids: list[int]) -> _Tally:
    """One worker's job: look up one batch and feed the answers to the funnel."""
    with run.app.app_context():
        tally = _Tally()
        payments = _load(ids)
        orphans = [p for p in payments if not p.gateway_reference]
        lookups = [p for p in payments if p.gateway_reference]
        for payment in orphans:
            _count(tally, _cancel_orphan(payment))
        if not lookups:
            return tally
        tally.calls += 1
        try:
            results = gateway.fetch_statuses(lookups)
        except GatewayError as exc:
            results = {payment.ref: exc for payment in lookups}
        for payment in lookups:
            answer = results.get(payment.ref)
            if answer is None:
                answer = GatewayError("the gateway's batch answer left this payment out")
            _settle(run.scope, gateway, payment, answer, tally)
        return tally


def _load(ids: list[int]) -> list[Payment]:
    """Load a batch, then let go of the connection: gateway calls must not hold one."""
    payments = list(
        db.session.scalars(
            select(Payment)
            .where(Payment.id.in_(ids))
            .options(joinedload(Payment.order).joinedload(Order.product))
            .order_by(Payment.id)
        ).unique()
    )
    db.session.close()  # detached, attributes loaded: read-only from here on
    return payments


def _settle(
    scope: _Scope,
    gateway: Gateway,
    payment: Payment,
    answer: Observation | GatewayError,
    tally: _Tally,
) -> None:
    tally.checked += 1
    if isinstance(answer, GatewayError):
        _error(payment, answer, tally)
        return
    observation = answer
    reason = _deadline_reason(scope, payment, observation)
    if reason is not None:
        tally.calls += 1
        try:
            closing = gateway.expire(payment)
        except GatewayError as exc:
            _error(payment, exc, tally)
            return
        observation = _expiry(closing, reason)
    try:
        _count(tally, record_observation(payment, observation, Source.SWEEP))
    except ConcurrencyError as exc:
        tally.errors += 1
        log.warning("payment %s: sweep gave up this round: %s", payment.ref, exc)


def _deadline_reason(scope: _Scope, payment: Payment, observation: Observation) -> str | None:
    """Why an answer that is still 'pending' should end the payment, or None to wait on."""
    if observation.status not in _OPEN:
        return None
    deadline = observation.expires_at or payment.expires_at
    if deadline is not None and scope.now > deadline + scope.grace:
        grace = int(scope.grace.total_seconds())
        return f"no payment by the deadline ({deadline:%Y-%m-%d %H:%M} UTC + {grace} s grace)"
    if payment.created_at < scope.stale_before:
        hours = int((scope.now - scope.stale_before).total_seconds() // 3600)
        return f"still unpaid when it left the {hours}-hour sweep window"
    return None


def _expiry(closing: Observation, reason: str) -> Observation:
    """The gateway's answer after closing the checkout; still open there means EXPIRED here."""
    marks = {"expired_by": "sweep", "expiry_reason": reason}
    if closing.status == PaymentStatus.EXPIRED:  # closed at the gateway (Stripe's expire)
        return replace(closing, data={**dict(closing.data), **marks})
    if closing.status not in _OPEN:
        return closing  # paid at the last moment, or the gateway ended it otherwise
    return Observation(
        status=PaymentStatus.EXPIRED,
        raw_status=closing.raw_status,
        message="The payment window closed before any payment arrived.",
        review=None,
        gateway_reference=closing.gateway_reference,
        confirms_received=closing.confirms_received,
        confirms_needed=closing.confirms_needed,
        data={**dict(closing.data), **marks},
        raw=closing.raw,
    )


def _cancel_orphan(payment: Payment) -> Outcome:
    """A CREATED payment with no gateway reference never reached a hosted page: no money moved."""
    log.info("payment %s: cancelling, its %s checkout never opened", payment.ref, payment.gateway)
    observation = Observation(
        status=PaymentStatus.CANCELLED,
        raw_status="no checkout",
        message="The checkout could not be opened, so no payment was taken.",
    )
    return record_observation(payment, observation, Source.SWEEP)


def _error(payment: Payment, error: GatewayError, tally: _Tally) -> None:
    tally.errors += 1
    record_error(payment, error, Source.SWEEP)


def _record_errors(ids: list[int], error: GatewayError) -> _Tally:
    """Back off a whole group whose gateway cannot even be built (missing settings)."""
    tally = _Tally()
    for payment in db.session.scalars(select(Payment).where(Payment.id.in_(ids))).all():
        tally.checked += 1
        _error(payment, error, tally)
    return tally


def _count(tally: _Tally, outcome: Outcome) -> None:
    if not outcome.transitioned:
        return
    tally.changed += 1
    if outcome.new_status == PaymentStatus.EXPIRED:
        tally.expired += 1
    elif outcome.new_status == PaymentStatus.CANCELLED:
        tally.cancelled += 1


# -- bookkeeping ------------------------------------------------------------------------------


def _owner_id() -> str:
    return (
        f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 10000}:"
        + (uuid.uuid4().hex[:8])
    )


def _finish(record: SweepRun, run: _Run) -> None:
    db.session.rollback()
    record = db.session.merge(record)
    total = _Tally()
    for tally in run.tallies.values():
        total.add(tally)
    record.finished_at = utcnow()
    record.checked = total.checked
    record.changed = total.changed
    record.expired = total.expired
    record.errors = total.errors
    record.gateway_calls = total.calls
    record.details = {
        "owner": run.owner,
        "cancelled": total.cancelled,
        "window_hours": _hours(run.scope),
        "gateway": run.scope.gateway,
        "gateways": {name: vars(t) for name, t in sorted(run.tallies.items())},
    }
    db.session.commit()
    log.info(
        "sweep %s finished: %d checked, %d changed, %d expired, %d errors, %d gateway calls",
        record.id,
        total.checked,
        total.changed,
        total.expired,
        total.errors,
        total.calls,
    )


def _hours(scope: _Scope) -> float:
    return round((scope.now - scope.window_start).total_seconds() / 3600, 2)


def _dry_run(trigger: str, scope: _Scope) -> SweepRun:
    """Count what a run would do, without claims, gateway calls or writes."""
    per_gateway: dict[str, dict[str, int]] = defaultdict(
        lambda: {"due": 0, "orphans": 0, "past_deadline": 0, "leaving_window": 0}
    )
    last_id = 0
    page_size = current_app.config["SWEEP_PAGE_SIZE"]
    while True:
        rows = db.session.execute(
            select(
                Payment.id,
                Payment.gateway,
                Payment.gateway_reference,
                Payment.expires_at,
                Payment.created_at,
            )
            .where(_due(scope), Payment.id > last_id)
            .order_by(Payment.id)
            .limit(page_size)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        for row in rows:
            counts = per_gateway[row.gateway]
            counts["due"] += 1
            if not row.gateway_reference:
                counts["orphans"] += 1
            elif row.expires_at is not None and scope.now > row.expires_at + scope.grace:
                counts["past_deadline"] += 1
            elif row.created_at < scope.stale_before:
                counts["leaving_window"] += 1
    db.session.rollback()
    due = sum(c["due"] for c in per_gateway.values())
    now = utcnow()
    return SweepRun(
        trigger=trigger[:16],
        started_at=now,
        finished_at=now,
        checked=0,
        changed=0,
        expired=0,
        errors=0,
        gateway_calls=0,
        details={
            "dry_run": True,
            "due": due,
            "window_hours": _hours(scope),
            "gateway": scope.gateway,
            "gateways": dict(sorted(per_gateway.items())),
        },
    )
