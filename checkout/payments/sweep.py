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
4. feeds every answer to the funnel (a task's plain answers together through
   `record_observations`, expiries through `record_observation`) and every transport error to
   `record_error`, which backs the payment off. Nothing here writes a status itself.

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
import queue
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
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
from .service import (
    ConcurrencyError,
    Outcome,
    Source,
    record_error,
    record_observation,
    record_observations,
)
from .states import PaymentStatus

log = logging.getLogger(__name__)

#: a CREATED payment younger than this may still be waiting for its gateway's answer
CREATED_GRACE = timedelta(minutes=1)
_OPEN = (PaymentStatus.PENDING, PaymentStatus.CREATED)

ProgressCallback = Callable[[int], None]


@dataclass
class _Tally:
    """Counters for one gateway in one run; each is added up by that gateway's coordinator."""

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
    tallies: dict[str, _Tally] = field(default_factory=dict)  # gateway -> its counters


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
    try:
        _run_gateways(run, progress)
    finally:
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


def _claimed_pages(run: _Run, gateway_name: str) -> Iterator[list[int]]:
    """Yield pages of one gateway's payment ids that this run has claimed, in id order."""
    page_size = run.app.config["SWEEP_PAGE_SIZE"]
    lease = timedelta(seconds=run.app.config["SWEEP_LEASE_SECONDS"])
    postgres = db.engine.dialect.name == "postgresql"
    last_id = 0
    while True:
        lease_now = utcnow()
        free = or_(Payment.claimed_until.is_(None), Payment.claimed_until < lease_now)
        query = (
            select(Payment.id)
            .where(_due(run.scope), Payment.gateway == gateway_name, free, Payment.id > last_id)
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
            yield [row.id for row in won]


def _release(owner: str, ids: Sequence[int] | None) -> None:
    query = update(Payment).where(Payment.claimed_by == owner)
    if ids is not None:
        query = query.where(Payment.id.in_(ids))
    db.session.execute(query.values(claimed_until=None, claimed_by=None))
    db.session.commit()


# -- polling ----------------------------------------------------------------------------------


def _run_gateways(run: _Run, progress: ProgressCallback | None) -> None:
    """One coordinator thread per gateway with due payments; progress reported from here.

    Gateways are independent: a slow or broken one does not hold the others back.
    """
    names = list(db.session.scalars(select(Payment.gateway).where(_due(run.scope)).distinct()))
    db.session.commit()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    with ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="sweep") as pool:
        futures = {pool.submit(_sweep_gateway, run, name, done): name for name in names}
        while futures:
            finished, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            _report(done, progress)
            for future in finished:
                name = futures.pop(future)
                try:
                    run.tallies[name] = future.result()
                except Exception:
                    log.exception("sweep: the %s sweep stopped early", name)
                    run.tallies[name] = _Tally(errors=1)
    _report(done, progress)


def _report(done: queue.SimpleQueue[int], progress: ProgressCallback | None) -> None:
    while True:
        try:
            size = done.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(size)


def _sweep_gateway(run: _Run, name: str, done: queue.SimpleQueue[int]) -> _Tally:
    with run.app.app_context():
        sweeper = _GatewaySweep(run, name, done)
        try:
            for number, page in enumerate(_claimed_pages(run, name)):
                sweeper.submit(number, page)
            sweeper.drain()
        finally:
            sweeper.shutdown()
        return sweeper.tally


class _GatewaySweep:
    """Feeds one gateway's claimed pages to its worker pool, at most two pages in flight.

    Pages overlap, so workers never idle between pages, but no more than two pages of payments
    are held at once: memory stays flat. A page's claims are released as soon as its last task
    is done.
    """

    def __init__(self, run: _Run, name: str, done: queue.SimpleQueue[int]) -> None:
        self.run = run
        self.name = name
        self.done = done
        self.tally = _Tally()
        self.workers = max(1, run.app.config["SWEEP_WORKERS"])
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"sweep-{name}")
        self.futures: dict[Future[_Tally], tuple[int, int]] = {}  # -> (size, page number)
        self.open_pages: dict[int, list[int]] = {}  # page number -> ids still claimed
        self.left: dict[int, int] = {}  # page number -> tasks not finished
        self.limit = 2 * max(1, run.app.config["SWEEP_PAGE_SIZE"])
        self.in_flight = 0
        try:
            self.gateway: Gateway | None = _gateway(name, run.app)
            self.broken: GatewayConfigError | None = None
        except GatewayConfigError as exc:
            self.gateway, self.broken = None, exc

    def submit(self, number: int, ids: list[int]) -> None:
        if self.gateway is None:
            assert self.broken is not None
            self.tally.add(_record_errors(ids, self.broken))
            _release(self.run.owner, ids)
            self.done.put(len(ids))
            return
        self.open_pages[number] = ids
        self.left[number] = 0
        for task in _tasks(ids, self.gateway.batch_size, self.workers):
            future = self.pool.submit(_poll_task, self.run, self.gateway, task)
            size = sum(len(batch) for batch in task)
            self.futures[future] = (size, number)
            self.left[number] += 1
            self.in_flight += size
        while self.in_flight > self.limit:
            self._collect()

    def drain(self) -> None:
        while self.futures:
            self._collect()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)

    def _collect(self) -> None:
        finished, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        for future in finished:
            size, number = self.futures.pop(future)
            try:
                self.tally.add(future.result())
            except Exception:
                # a bug or a database outage in one task must not stop the others
                log.exception("sweep: a task of %d %s payments failed", size, self.name)
                self.tally.add(_Tally(errors=size))
            self.in_flight -= size
            self.left[number] -= 1
            if self.left[number] == 0:
                del self.left[number]
                _release(self.run.owner, self.open_pages.pop(number))
            self.done.put(size)


def _gateway(name: str, app: Flask) -> Gateway:
    try:
        return get_gateway(name, app)
    except KeyError as exc:
        raise GatewayConfigError(f"unknown gateway {name!r}") from exc


def _tasks(ids: list[int], batch_size: int, workers: int) -> list[list[list[int]]]:
    """Split ids into gateway batches, and the batches into about one task per worker.

    A task loads its payments in one query and works through its batches in turn, so a gateway
    without a batch API does not pay a query and an app context per payment.
    """
    size = max(1, batch_size)
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    per_task = max(1, -(-len(batches) // max(1, workers)))
    return [batches[start : start + per_task] for start in range(0, len(batches), per_task)]


def _poll_task(run: _Run, gateway: Gateway, batches: list[list[int]]) -> _Tally:
    """One worker's job: look up its batches one after another, feeding answers to the funnel.

    Plain answers are held until the task's look-ups are done (at most a task's worth, a
    fraction of a page) and then written together through `record_observations`: one read and
    one write for the lot instead of several queries and a commit each. Expiries, orphans and
    errors are written as they come, through the single-payment paths.
    """
    with run.app.app_context():
        tally = _Tally()
        loaded = {p.id: p for p in _load([i for batch in batches for i in batch])}
        answers: list[tuple[Payment, Observation]] = []
        for batch in batches:
            _poll_batch(run, gateway, [loaded[i] for i in batch if i in loaded], tally, answers)
        _record(answers, tally)
        return tally


def _poll_batch(
    run: _Run,
    gateway: Gateway,
    payments: list[Payment],
    tally: _Tally,
    answers: list[tuple[Payment, Observation]],
) -> None:
    orphans = [p for p in payments if not p.gateway_reference]
    lookups = [p for p in payments if p.gateway_reference]
    for payment in orphans:
        _count(tally, _cancel_orphan(payment))
    if not lookups:
        return
    tally.calls += 1
    try:
        results = gateway.fetch_statuses(lookups)
    except GatewayError as exc:
        results = {payment.ref: exc for payment in lookups}
    for payment in lookups:
        answer = results.get(payment.ref)
        if answer is None:
            answer = GatewayError("the gateway's batch answer left this payment out")
        _settle(run.scope, gateway, payment, answer, tally, answers)


def _record(answers: list[tuple[Payment, Observation]], tally: _Tally) -> None:
    if not answers:
        return
    with _writing():
        outcomes = record_observations(answers, Source.SWEEP)
    for outcome in outcomes:
        if outcome.error:
            tally.errors += 1
        _count(tally, outcome)


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
    answers: list[tuple[Payment, Observation]],
) -> None:
    tally.checked += 1
    if isinstance(answer, GatewayError):
        _error(payment, answer, tally)
        return
    observation = answer
    reason = _deadline_reason(scope, payment, observation)
    if reason is None:
        answers.append((payment, observation))  # written with the rest of the task's answers
        return
    tally.calls += 1
    try:
        closing = gateway.expire(payment)
    except GatewayError as exc:
        _error(payment, exc, tally)
        return
    observation = _expiry(closing, reason)
    try:
        with _writing():
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
    with _writing():
        return record_observation(payment, observation, Source.SWEEP)


def _error(payment: Payment, error: GatewayError, tally: _Tally) -> None:
    tally.errors += 1
    with _writing():
        record_error(payment, error, Source.SWEEP)


def _record_errors(ids: list[int], error: GatewayError) -> _Tally:
    """Back off a whole group whose gateway cannot even be built (missing settings)."""
    tally = _Tally()
    for payment in db.session.scalars(select(Payment).where(Payment.id.in_(ids))).all():
        tally.checked += 1
        _error(payment, error, tally)
    return tally


@contextmanager
def _writing() -> Iterator[None]:
    """One write through the funnel, then give the connection back to the pool at once.

    The funnel's closing re-read leaves a transaction (and a pooled connection) open; a worker
    moving on to its next gateway call must not sit on it.
    """
    try:
        yield
    finally:
        db.session.close()


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
