"""Polling one gateway's claimed payments for a sweep run, and ending the ones past their time.

Each gateway gets a coordinator (`sweep_gateway`) that feeds its claimed pages to a bounded
worker pool. Workers ask the gateway in batches and hand every answer to the funnel in
`service`; nothing here writes a status itself. Expiry lives here too because it is decided
from the gateway's own answer: only a payment the gateway still calls open gets closed.

Every worker sends its requests within the gateway's rate limit (gateways/rate_limit.py): each
request waits for one of the sweep's slots, shared by every process. A gateway answering 429
anyway is paused for every sweeper for its Retry-After; the payments it refused are left as
they are (no error event, no back-off, not FAILED) and looked at again by a later pass.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..gateways.base import (
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    Observation,
)
from ..gateways.rate_limit import NoSlot, SweepBudget, SweepSlots, sweeping
from ..gateways.registry import get_gateway
from ..models import Order, Payment
from .service import (
    ConcurrencyError,
    Outcome,
    Source,
    record_error,
    record_observation,
    record_observations,
)
from .states import PaymentStatus
from .sweep_claims import claimed_pages, release
from .sweep_scope import Scope

log = logging.getLogger(__name__)

_OPEN = (PaymentStatus.PENDING, PaymentStatus.CREATED)
#: what the shopper reads on an expiry, by whether money may still come (the gateway's answer)
_EXPIRED_WORDS = {
    False: "The payment window closed before any payment arrived.",
    True: "The payment window closed while the payment was still under way.",
}


@dataclass
class Tally:
    """Counters for one gateway in one run; each is added up by that gateway's coordinator."""

    checked: int = 0
    changed: int = 0
    expired: int = 0
    cancelled: int = 0
    errors: int = 0
    calls: int = 0  # HTTP requests sent to the gateway (list pages and retries included)
    rate_limited: int = 0  # left for a later pass: the gateway (or our limiter) said "slow down"

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Run:
    """What every thread of one run shares: the app to enter, its scope, and its claims' owner."""

    app: Flask
    scope: Scope
    owner: str
    tallies: dict[str, Tally] = field(default_factory=dict)  # gateway -> its counters


def sweep_gateway(run: Run, name: str, done: queue.SimpleQueue[int]) -> Tally:
    """Coordinate one gateway's sweep in its own app context; `done` gets each finished size."""
    with run.app.app_context():
        sweeper = _GatewaySweep(run, name, done)
        try:
            for number, page in enumerate(claimed_pages(run.app, run.scope, run.owner, name)):
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

    def __init__(self, run: Run, name: str, done: queue.SimpleQueue[int]) -> None:
        self.run = run
        self.name = name
        self.done = done
        self.tally = Tally()
        self.workers = max(1, run.app.config["SWEEP_WORKERS"])
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"sweep-{name}")
        self.futures: dict[Future[Tally], tuple[int, int]] = {}  # -> (size, page number)
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
            release(self.run.owner, ids)
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
                self.tally.add(Tally(errors=size))
            self.in_flight -= size
            self.left[number] -= 1
            if self.left[number] == 0:
                del self.left[number]
                release(self.run.owner, self.open_pages.pop(number))
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


def _poll_task(run: Run, gateway: Gateway, batches: list[list[int]]) -> Tally:
    """One worker's job: look up its batches one after another, feeding answers to the funnel.

    Plain answers are held until the task's look-ups are done (at most a task's worth, a
    fraction of a page) and then written together through `record_observations`: one read and
    one write for the lot instead of several queries and a commit each. Expiries, orphans and
    errors are written as they come, through the single-payment paths.
    """
    budget = SweepSlots.for_app(run.app).budget(gateway.name, gateway.rate_limit(run.app.config))
    with run.app.app_context():
        tally = Tally()
        loaded = {p.id: p for p in _load([i for batch in batches for i in batch])}
        answers: list[tuple[Payment, Observation]] = []
        for batch in batches:
            payments = [loaded[i] for i in batch if i in loaded]
            _poll_batch(run, gateway, budget, payments, tally, answers)
        _record(answers, tally)
        tally.calls = budget.sent
        return tally


def _poll_batch(
    run: Run,
    gateway: Gateway,
    budget: SweepBudget,
    payments: list[Payment],
    tally: Tally,
    answers: list[tuple[Payment, Observation]],
) -> None:
    orphans = [p for p in payments if not p.gateway_reference]
    lookups = [p for p in payments if p.gateway_reference]
    for payment in orphans:
        _count(tally, _cancel_orphan(payment))
    if not lookups:
        return
    try:
        with sweeping(budget):
            results = gateway.fetch_statuses(lookups)
    except GatewayError as exc:
        results = {payment.ref: exc for payment in lookups}
    _slow_down(run, gateway, [a for a in results.values() if isinstance(a, GatewayRateLimited)])
    for payment in lookups:
        answer = results.get(payment.ref)
        if answer is None:
            answer = GatewayError("the gateway's batch answer left this payment out")
        _settle(run, gateway, budget, payment, answer, tally, answers)


def _record(answers: list[tuple[Payment, Observation]], tally: Tally) -> None:
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
    run: Run,
    gateway: Gateway,
    budget: SweepBudget,
    payment: Payment,
    answer: Observation | GatewayError,
    tally: Tally,
    answers: list[tuple[Payment, Observation]],
) -> None:
    if isinstance(answer, GatewayRateLimited):
        _left_for_later(payment, answer, tally)
        return
    tally.checked += 1
    if isinstance(answer, GatewayError):
        _error(payment, answer, tally)
        return
    observation = answer
    reason = _deadline_reason(run.scope, payment, observation)
    if payment.status == PaymentStatus.EXPIRED:
        # looked at again because money may still come: say whether it still may, and keep a
        # still-open answer EXPIRED here (the checkout was closed, or left to its shopper)
        observation = _expiry(gateway, observation, reason) if reason else _marked(gateway, answer)
        answers.append((payment, observation))
        return
    if reason is None:
        answers.append((payment, observation))  # written with the rest of the task's answers
        return
    try:
        with sweeping(budget):
            closing = gateway.expire(payment)
    except GatewayRateLimited as exc:
        _slow_down(run, gateway, [exc])
        _left_for_later(payment, exc, tally)  # looked up, but its expiry waits for later
        return
    except GatewayError as exc:
        _error(payment, exc, tally)
        return
    observation = _expiry(gateway, closing, reason)
    try:
        with _writing():
            _count(tally, record_observation(payment, observation, Source.SWEEP))
    except ConcurrencyError as exc:
        tally.errors += 1
        log.warning("payment %s: sweep gave up this round: %s", payment.ref, exc)


def _deadline_reason(scope: Scope, payment: Payment, observation: Observation) -> str | None:
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


def _expiry(gateway: Gateway, closing: Observation, reason: str) -> Observation:
    """The gateway's answer after closing the checkout; still open there means EXPIRED here.

    What the gateway said stays: a review (an authorization nobody captured, a refund) keeps
    its reason and kind, and its words replace "no payment arrived". Whether money may still
    come is recorded with the expiry, so the sweep keeps looking where it may.
    """
    marks = {
        "expired_by": "sweep",
        "expiry_reason": reason,
        "late_money": gateway.money_may_still_come(closing),
    }
    if closing.status == PaymentStatus.EXPIRED:  # closed at the gateway (Stripe's expire)
        return replace(closing, data={**dict(closing.data), **marks})
    if closing.status not in _OPEN:
        return closing  # paid at the last moment, or the gateway ended it otherwise
    message = closing.message if closing.review else ""
    return Observation(
        status=PaymentStatus.EXPIRED,
        raw_status=closing.raw_status,
        message=message or _EXPIRED_WORDS[marks["late_money"]],
        review=closing.review,
        review_kind=closing.review_kind,
        gateway_reference=closing.gateway_reference,
        confirms_received=closing.confirms_received,
        confirms_needed=closing.confirms_needed,
        data={**dict(closing.data), **marks},
        raw=closing.raw,
    )


def _marked(gateway: Gateway, answer: Observation) -> Observation:
    """An answer about an expired payment, with whether money may still come after it."""
    late_money = gateway.money_may_still_come(answer)
    return replace(answer, data={**dict(answer.data), "late_money": late_money})


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


def _slow_down(run: Run, gateway: Gateway, refusals: list[GatewayRateLimited]) -> None:
    """After the gateway's own 429s, pause its look-ups for every sweeper (once per batch)."""
    answered = [r for r in refusals if not isinstance(r, NoSlot)]
    if answered:
        waits = [r.retry_after for r in answered if r.retry_after is not None]
        SweepSlots.for_app(run.app).pause(gateway.name, max(waits) if waits else None)


def _left_for_later(payment: Payment, refusal: GatewayRateLimited, tally: Tally) -> None:
    """A rate-limited look-up changes nothing: the payment stays due for a later pass."""
    tally.rate_limited += 1
    log.debug("payment %s: left for a later pass: %s", payment.ref, refusal)


def _error(payment: Payment, error: GatewayError, tally: Tally) -> None:
    tally.errors += 1
    with _writing():
        record_error(payment, error, Source.SWEEP)


def _record_errors(ids: list[int], error: GatewayError) -> Tally:
    """Back off a whole group whose gateway cannot even be built (missing settings)."""
    tally = Tally()
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


def _count(tally: Tally, outcome: Outcome) -> None:
    if not outcome.transitioned:
        return
    tally.changed += 1
    if outcome.new_status == PaymentStatus.EXPIRED:
        tally.expired += 1
    elif outcome.new_status == PaymentStatus.CANCELLED:
        tally.cancelled += 1
