"""The one funnel: every payment status change in Tollgate goes through `record_observation`.

Sources (the IPN, the shopper's return, a refresh, the sweep, staff) all hand it an Observation.
It re-reads the payment (or, for a caller that has just read it in the open transaction, decides
on that copy first), decides, and writes with a compare-and-set on `Payment.version` plus a
PaymentEvent in the same transaction. A writer that loses the race rolls back, re-reads and
decides again, so concurrent observations give exactly one transition. The order is claimed with
a conditional update in that same transaction, and the transition that claims it writes the
order's issue_esim outbox job there too: one fulfilment per order, whatever the concurrency, and
nothing lost if the process dies after the commit (docs/fulfilment.md). The claim is also how a
completion learns that another payment paid the order first (the order's payer is set only by
that claim), so the order is not read up front. After the commit the outbox is kicked and
`payment_completed` is sent, both best-effort.

The compare-and-set is a Core UPDATE built once per set of columns (`_compare_and_set`), shared
by the single path and the sweep's batch: composing the ORM update and synchronising the session
after it cost more CPU than the statement itself, and the commit expires the row anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import Update, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..fulfilment import outbox
from ..fulfilment.jobs import JobKind, new_job
from ..gateways.base import CheckoutSession, Gateway, GatewayError, Observation, ReturnUrls
from ..gateways.registry import get_gateway
from ..metrics import record as metrics
from ..models import Order, OrderStatus, Payment, utcnow
from . import breaker
from .decision import Decision, DecisionKind, decide, order_taken
from .events import fact_event, payment_event
from .schedule import backoff_delay
from .signals import payment_completed
from .states import PaymentStatus

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 8


class Source(StrEnum):
    CREATE = "create"
    IPN = "ipn"
    RETURN = "return"
    POLL = "poll"
    SWEEP = "sweep"
    STAFF = "staff"


class ConcurrencyError(RuntimeError):
    """The payment kept changing under us; the caller should answer 'retry later'."""


@dataclass(frozen=True)
class Outcome:
    payment_ref: str
    old_status: PaymentStatus
    new_status: PaymentStatus
    transitioned: bool
    fulfilled: bool  # this call paid the order and fired payment_completed
    error: str | None = None


def record_observation(
    payment: Payment,
    observation: Observation,
    source: Source,
    *,
    fresh: bool = False,
    along: Callable[[], object] | None = None,
) -> Outcome:
    """Apply what a gateway said to `payment`. The only writer of Payment.status.

    `fresh`: the caller read `payment` in the transaction still open and holds nothing else in
    it (the IPN's look-up by ref), so the first attempt decides on that copy instead of rolling
    back and reading it again. Safe for the same reason the re-read is: a copy that turns out
    stale loses the compare-and-set, and the next attempt re-reads it and decides again.
    `along`: a write of the caller's that must commit with the decision and only with it (the
    notification's outcome); it runs in each attempt's transaction, after the compare-and-set
    won, so a lost attempt rolls it back with the rest.
    """
    payment_id = payment.id
    for attempt in range(_MAX_ATTEMPTS):
        current = payment if fresh and attempt == 0 else _reload(payment_id)
        now = utcnow()
        decision = decide(current, observation, order_paid_by=None, now=now)
        ref = current.ref  # read before the commit expires the row
        written = _apply(current, decision, source, now, along)
        if written is not None:
            return _after_commit(current, ref, written)
    raise ConcurrencyError(f"payment {payment.ref} changed {_MAX_ATTEMPTS} times while deciding")


def record_observations(
    pairs: Sequence[tuple[Payment, Observation]], source: Source
) -> list[Outcome]:
    """Apply many answers at once: the sweep's path, where nearly every answer is "no change".

    The batch's current rows (and their orders' payer) are read in one query and each pair is
    decided by the same `decide()`. Answers that change nothing but the bookkeeping are written
    with one compare-and-set UPDATE per row, sent as one executemany, in one transaction: the
    decision's own `values`, which `record_observation` writes for them too, and no event, as
    there. Everything else (a transition, a review, a refusal) goes through
    `record_observation` one by one, so its rules, events and fulfilment are exactly the single
    path's. If any compare-and-set in the batch loses, the whole batch is rolled back and every
    pair takes the single path, which re-reads and decides again. A payment that keeps changing
    under us gets an Outcome with `error` set instead of raising, so one busy payment does not
    cost the rest of the batch.
    """
    outcomes: dict[int, Outcome] = {}
    single: list[int] = []
    by_id = {payment.id: (payment, observation) for payment, observation in pairs}
    db.session.rollback()
    rows = db.session.execute(
        select(Payment, Order.paid_by_payment_id)
        .join(Order, Order.id == Payment.order_id)
        .where(Payment.id.in_(list(by_id)))
        .execution_options(populate_existing=True)
    ).all()
    now = utcnow()
    writes: dict[frozenset[str], list[dict[str, Any]]] = {}
    quiet: list[tuple[int, PaymentStatus]] = []
    for current, order_paid_by in rows:
        observation = by_id[current.id][1]
        decision = decide(current, observation, order_paid_by=order_paid_by, now=now)
        if decision.kind != DecisionKind.NONE:
            single.append(current.id)
            continue
        params = _compare_and_set_params(current, decision)
        writes.setdefault(_keys(params), []).append(params)
        quiet.append((current.id, decision.old))
    single.extend(payment_id for payment_id in by_id if payment_id not in {r[0].id for r in rows})
    if quiet and _write_quietly(writes, len(quiet)):
        for payment_id, status in quiet:
            outcomes[payment_id] = Outcome(by_id[payment_id][0].ref, status, status, False, False)
    else:
        single.extend(payment_id for payment_id, _ in quiet)
    for payment_id in single:
        payment, observation = by_id[payment_id]
        try:
            outcomes[payment_id] = record_observation(payment, observation, source)
        except ConcurrencyError as exc:
            log.warning("payment %s: %s", payment.ref, exc)
            status = PaymentStatus(payment.status)
            outcomes[payment_id] = Outcome(payment.ref, status, status, False, False, str(exc))
    return [outcomes[payment.id] for payment, _ in pairs]


def _write_quietly(writes: dict[frozenset[str], list[dict[str, Any]]], expected: int) -> bool:
    """The batch's bookkeeping-only updates, all or none. False when any compare-and-set lost."""
    sane = db.engine.dialect.supports_sane_multi_rowcount
    written = 0
    for keys, params in writes.items():
        statement = _compare_and_set(keys)
        if sane:
            written += db.session.execute(statement, params).rowcount
        else:  # the driver cannot count an executemany: one statement per row
            written += sum(db.session.execute(statement, row).rowcount for row in params)
    if written != expected:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def record_error(payment: Payment, error: GatewayError, source: Source) -> Outcome:
    """A gateway could not be asked. Leave the status alone; look again later."""
    now = utcnow()
    failures = (payment.failure_count or 0) + 1
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(
            failure_count=Payment.failure_count + 1,
            last_checked_at=now,
            next_check_at=now + backoff_delay(failures),
        )
    )
    db.session.add(fact_event(payment, source, "error", f"{type(error).__name__}: {error}"))
    db.session.commit()
    log.warning(
        "payment %s: gateway %s error (%s): %s", payment.ref, payment.gateway, source, error
    )
    status = PaymentStatus(payment.status)
    return Outcome(payment.ref, status, status, False, False, error=str(error))


def add_note(payment: Payment, source: Source, message: str) -> None:
    """Put a fact on the payment's timeline without touching its status (a return, a cancel)."""
    db.session.add(fact_event(payment, source, "note", message[:500]))
    db.session.commit()


def refresh(payment: Payment, source: Source) -> Outcome:
    """Ask the payment's gateway what it holds and feed the answer to the funnel.

    This is the single-payment reconciler: the shopper's return, a refresh URL, a notification
    that cannot be trusted as is, and the sweep's one-by-one path all call it.
    """
    gateway = get_gateway(payment.gateway)
    try:
        observation = gateway.fetch_status(payment)
    except GatewayError as exc:
        return record_error(payment, exc, source)
    return record_observation(payment, observation, source)


def claim_check(payment: Payment, window: timedelta) -> bool:
    """Claim the right to ask the gateway now; False if someone asked within `window`.

    A conditional update, so a burst of simultaneous refreshes makes exactly one gateway call.
    """
    now = utcnow()
    result = db.session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            or_(Payment.last_checked_at.is_(None), Payment.last_checked_at <= now - window),
        )
        .values(last_checked_at=now)
    )
    db.session.commit()
    return result.rowcount == 1


def start_payment(
    order: Order, gateway_name: str, attempt_token: str, urls_for: Callable[[str], ReturnUrls]
) -> Payment:
    """Create a payment for `order` and open the gateway's hosted checkout.

    A repeated `attempt_token` (a double-clicked Pay button) returns the first payment instead
    of opening a second checkout. Gateway errors propagate after being recorded; the payment
    then stays CREATED, never FAILED, and the sweep tidies it up.
    """
    existing = db.session.scalar(db.select(Payment).filter_by(attempt_token=attempt_token))
    if existing is not None:
        return existing
    payment = Payment(
        order_id=order.id,
        gateway=gateway_name,
        amount=order.amount,
        currency=order.currency,
        attempt_token=attempt_token,
        status=PaymentStatus.CREATED,
        next_check_at=utcnow() + timedelta(minutes=1),
    )
    db.session.add(payment)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(db.select(Payment).filter_by(attempt_token=attempt_token))
    open_checkout(payment, urls_for(payment.ref))
    return payment


def open_checkout(payment: Payment, urls: ReturnUrls) -> None:
    """Call the gateway's create and move the payment CREATED -> PENDING with its session.

    The deadline the gateway is given is decided here once and stored first, so a retried
    create (same idempotency key) sends exactly the parameters of the first. The outcome is
    counted by the gateway's circuit breaker (payments/breaker.py).
    """
    gateway = get_gateway(payment.gateway)
    name, attempt = payment.gateway, payment.attempt_token
    _decide_deadline(payment, gateway)
    try:
        session = gateway.create_checkout(payment, urls)
    except GatewayError as exc:
        record_error(payment, exc, Source.CREATE)
        breaker.record(name, breaker.result_of(exc), attempt)
        raise
    values = checkout_values(payment, session)
    db.session.execute(update(Payment).where(Payment.id == payment.id).values(**values))
    db.session.commit()
    breaker.record(name, breaker.Result.OK, attempt)
    log.info(
        "payment %s: %s checkout opened as %s",
        payment.ref,
        payment.gateway,
        session.gateway_reference,
    )
    opened = Observation(
        status=PaymentStatus.PENDING,
        raw_status="checkout opened",
        gateway_reference=session.gateway_reference,
        expires_at=session.expires_at,
        raw=session.raw,
    )
    record_observation(payment, opened, Source.CREATE)


def _decide_deadline(payment: Payment, gateway: Gateway) -> None:
    """Store the checkout deadline on `payment` unless one was decided before.

    A conditional update: whoever decides first wins, and everyone then reads that value.
    """
    if payment.checkout_deadline is not None:
        return
    deadline = gateway.deadline_from(utcnow())
    if deadline is None:
        return
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.checkout_deadline.is_(None))
        .values(checkout_deadline=deadline)
    )
    db.session.commit()
    db.session.refresh(payment)


def checkout_values(payment: Payment, session: CheckoutSession) -> dict[str, Any]:
    """The payment columns a freshly opened checkout fills in (the crypto facts if any)."""
    values: dict[str, Any] = {
        "gateway_reference": session.gateway_reference,
        "checkout_url": session.redirect_url,
        "gateway_secret": session.secret,
        "expires_at": session.expires_at,
        "gateway_data": {**(payment.gateway_data or {}), **dict(session.data)},
    }
    if session.launch_script:
        values["gateway_data"]["launch_script"] = session.launch_script
    if session.crypto:
        values.update(
            pay_address=session.crypto.address,
            crypto_amount=session.crypto.amount.amount,
            crypto_currency=session.crypto.amount.currency,
            confirms_needed=session.crypto.confirms_needed,
            confirms_received=0,
        )
    return values


def _reload(payment_id: int) -> Payment:
    db.session.rollback()
    payment = db.session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        raise LookupError(f"payment id {payment_id} vanished")
    return payment


def _compare_and_set_params(current: Payment, decision: Decision) -> dict[str, Any]:
    """The parameters of `_compare_and_set` writing `decision` over `current`'s version."""
    values = {**decision.values, "version": current.version + 1}
    params = {f"v_{key}": value for key, value in values.items()}
    params.update(b_id=current.id, b_version=current.version)
    return params


def _keys(params: dict[str, Any]) -> frozenset[str]:
    """The columns a `_compare_and_set_params` dict sets."""
    return frozenset(key[2:] for key in params if key.startswith("v_"))


@lru_cache(maxsize=64)
def _compare_and_set(keys: frozenset[str]) -> Update:
    """UPDATE payments SET <keys> WHERE id = :b_id AND version = :b_version, built once per set
    of columns (a handful exist: the bookkeeping, plus what each kind of decision sets)."""
    table = Payment.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
        .values({key: bindparam(f"v_{key}") for key in keys})
    )


@dataclass(frozen=True)
class _Written:
    """A committed decision, and whether its write claimed the order (and so must fulfil it)."""

    decision: Decision  # as written: paid twice when the order turned out to be taken
    fulfils: bool


def _apply(
    current: Payment,
    decision: Decision,
    source: Source,
    now: datetime,
    along: Callable[[], object] | None,
) -> _Written | None:
    """Write one decision (and the caller's `along`) in one transaction. None when another
    writer got there first.

    The order is claimed before the payment is written, so a completion whose order another
    payment has paid is written as paid twice: the claim, not an earlier read, decides that.
    """
    claimed_order = decision.pays_order and _claim_order(current, now)
    if decision.pays_order and not claimed_order:
        decision = order_taken(decision, current)
    params = _compare_and_set_params(current, decision)
    result = db.session.execute(_compare_and_set(_keys(params)), params)
    if result.rowcount != 1:
        db.session.rollback()
        return None
    if along is not None:
        along()
    db.session.add_all(payment_event(current.id, source, facts) for facts in decision.events)
    if claimed_order:
        outbox.enqueue([new_job(JobKind.ISSUE_ESIM, current.order)])
    db.session.commit()
    return _Written(decision, claimed_order)


def _claim_order(payment: Payment, now: datetime) -> bool:
    result = db.session.execute(
        update(Order)
        .where(Order.id == payment.order_id, Order.status == OrderStatus.OPEN)
        .values(status=OrderStatus.PAID, paid_at=now, paid_by_payment_id=payment.id)
    )
    return result.rowcount == 1


def _after_commit(payment: Payment, ref: str, written: _Written) -> Outcome:
    """Log, kick the outbox and signal after the commit; re-read the row only when it changed.

    The kick and `payment_completed` are best-effort: the process may die before either, and the
    outbox job written with the transition still gets the order delivered.

    A look that changed nothing but the bookkeeping needs no fresh copy: nobody reads it here
    (a caller that does gets it loaded on access, the commit expired it), and skipping the
    re-read saves a query per sweep answer.
    """
    decision = written.decision
    if decision.kind != DecisionKind.NONE:
        db.session.refresh(payment)
    if decision.transitioned:
        metrics.payment_transition(payment.gateway, decision.old, decision.new)
        log.info(
            "payment %s: %s -> %s (%s)",
            ref,
            decision.old,
            decision.new,
            decision.reason or "gateway",
        )
    if written.fulfils:
        outbox.kick()
        payment_completed.send(payment, order=payment.order)
    return Outcome(ref, decision.old, decision.new, decision.transitioned, written.fulfils)
