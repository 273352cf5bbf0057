"""The pure part of the funnel: given a payment and an observation, what should change.

No database access here, so every rule (amount check, refused regressions, late money) can be
read in one place and tested row by row. `decide()` returns everything one observation writes
(the payment's columns, the bookkeeping included, and its timeline entries as facts); the
service only runs the SQL and builds the rows, so every path writes the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ..gateways.base import Observation
from ..models import Payment
from ..money import Money
from .events import EventFacts
from .schedule import next_poll_at
from .states import LATE_COMPLETABLE, PaymentStatus, ReviewKind, can_transition

DUPLICATE_REVIEW = "order was already paid by another payment: refund one of them"
_STILL_OPEN = frozenset({PaymentStatus.PENDING, PaymentStatus.CREATED})


class DecisionKind(StrEnum):
    """What an observation does to a payment; also the kind of its first timeline entry."""

    NONE = "none"  # nothing but the bookkeeping: no event
    TRANSITION = "transition"  # the status moves
    REVIEW = "review"  # the status stays, with a new reason for staff to look
    REFUSED = "refused"  # the gateway claims a move the rules forbid; the status stays


@dataclass(frozen=True)
class Decision:
    """Everything one observation writes: the payment's columns and its timeline entries.

    Built whole by `decide()` and never changed afterwards, so the sweep's batched write and the
    single path write exactly the same values for the same observation.
    """

    old: PaymentStatus
    new: PaymentStatus
    kind: DecisionKind
    values: Mapping[str, Any]  # every payment column to set (the bookkeeping too), not version
    events: tuple[EventFacts, ...]  # the timeline entries, in order; none for NONE
    reason: str | None = None  # why, in words, for the log
    late: bool = False  # money arrived after the payment was final
    paid_twice: bool = False  # completes a payment whose order another payment already paid

    @property
    def transitioned(self) -> bool:
        return self.kind == DecisionKind.TRANSITION

    @property
    def pays_order(self) -> bool:
        """The write must claim the order (and fulfil it once the claim is committed)."""
        return self.transitioned and self.new == PaymentStatus.COMPLETED and not self.paid_twice


@dataclass(frozen=True)
class _Verdict:
    """The rules' answer before it is turned into columns and events."""

    old: PaymentStatus
    new: PaymentStatus
    kind: DecisionKind
    reason: str | None = None  # why, in words, for the timeline and the log
    review: str | None = None  # a new reason for staff to look
    review_kind: ReviewKind | None = None  # what kind of reason, for the shopper's words
    late: bool = False
    message: str | None = None  # the gateway's words for the shopper

    def payment_values(self, now: datetime, data: dict[str, Any] | None) -> dict[str, Any]:
        """The payment columns this verdict sets; `data` is the gateway_data being written."""
        values: dict[str, Any] = {}
        if self.kind == DecisionKind.TRANSITION:
            values["status"] = self.new
            if self.message:
                values["status_message"] = self.message
            if self.new == PaymentStatus.COMPLETED:
                values["completed_at"] = now
            if self.late:
                values["late"] = True
        if self.review:
            values["needs_review"] = True
            values["review_reason"] = self.review
            values["gateway_data"] = _with_kind(data, self.review_kind or ReviewKind.OTHER)
        return values

    def events(self, observation: Observation) -> tuple[EventFacts, ...]:
        if self.kind == DecisionKind.NONE:
            return ()

        def event(kind: str, message: str | None) -> EventFacts:
            return EventFacts(
                kind,
                self.old,
                self.new,
                message,
                raw_status=observation.raw_status,
                details=_event_details(observation),
            )

        message = self.reason or self.message or observation.message or None
        events = [event(self.kind.value, message)]
        if self.kind == DecisionKind.TRANSITION and self.review:
            events.append(event("review", self.review))
        return tuple(events)


def decide(
    payment: Payment, observation: Observation, *, order_paid_by: int | None, now: datetime
) -> Decision:
    """What `observation` writes on `payment` at `now`, given who has paid its order so far.

    An order that is already paid cannot be claimed again, so completing another of its
    payments is decided as paid twice. The service's claim of the order is the final word
    under concurrency: when the claim loses to a writer this read did not see, the service
    asks `order_taken()` for the paid-twice decision instead. `order_paid_by` None means "not
    known to be paid": the single path passes None and leaves it to the claim (one read less
    per look), the sweep's batch passes what its join read.
    """
    verdict = _judge(payment, observation)
    values = bookkeeping(payment, observation, now)
    values.update(verdict.payment_values(now, values.get("gateway_data", payment.gateway_data)))
    decision = Decision(
        verdict.old,
        verdict.new,
        verdict.kind,
        MappingProxyType(values),
        verdict.events(observation),
        reason=verdict.reason,
        late=verdict.late,
    )
    if decision.pays_order and order_paid_by is not None:
        return order_taken(decision, payment)
    return decision


def order_taken(decision: Decision, payment: Payment) -> Decision:
    """`decision` (a completion) for an order another payment has paid: flag it as paid twice."""
    data = decision.values.get("gateway_data", payment.gateway_data)
    values = {
        **decision.values,
        "needs_review": True,
        "review_reason": DUPLICATE_REVIEW,
        "gateway_data": _with_kind(data, ReviewKind.PAID_TWICE),
    }
    flag = replace(decision.events[0], kind="review", message=DUPLICATE_REVIEW)
    return replace(
        decision,
        values=MappingProxyType(values),
        events=(*decision.events, flag),
        paid_twice=True,
    )


def bookkeeping(payment: Payment, observation: Observation, now: datetime) -> dict[str, Any]:
    """Facts refreshed on every look, whatever the decision."""
    values: dict[str, Any] = {
        "last_checked_at": now,
        "failure_count": 0,
        "next_check_at": next_poll_at(payment.created_at, now),
    }
    if observation.raw is not None:
        values["last_raw"] = dict(observation.raw)
    if observation.confirms_received is not None:
        values["confirms_received"] = observation.confirms_received
    if observation.confirms_needed is not None:
        values["confirms_needed"] = observation.confirms_needed
    if observation.expires_at is not None:
        values["expires_at"] = observation.expires_at
    if observation.gateway_reference and not payment.gateway_reference:
        values["gateway_reference"] = observation.gateway_reference
    if observation.data:
        values["gateway_data"] = {**(payment.gateway_data or {}), **dict(observation.data)}
    return values


def _judge(payment: Payment, observation: Observation) -> _Verdict:
    old = PaymentStatus(payment.status)
    target = observation.status
    review = _new_review(payment, observation.review)
    review_kind = _gateway_kind(observation.review_kind)

    if target == PaymentStatus.COMPLETED and old != PaymentStatus.COMPLETED:
        mismatch = amount_mismatch(payment, observation.paid, observation.invoiced)
        if mismatch:
            mismatch_review = _new_review(payment, mismatch)
            kind = DecisionKind.REVIEW if mismatch_review else DecisionKind.NONE
            return _Verdict(
                old,
                old,
                kind,
                reason=mismatch,
                review=mismatch_review,
                review_kind=mismatch_kind(payment, observation.paid, observation.invoiced),
            )

    if target == old or (old == PaymentStatus.EXPIRED and target in _STILL_OPEN):
        # An expired payment the gateway still calls open is no news: we expired it on our own
        # deadline while its page may still be open (3-D Secure running, a lagging clock), and
        # the slow look-ups that wait for late money must not add a refusal each time.
        kind = DecisionKind.REVIEW if review else DecisionKind.NONE
        return _Verdict(old, old, kind, reason=review, review=review, review_kind=review_kind)

    if not can_transition(old, target):
        reason = (
            f"gateway says {target} ({observation.raw_status}); {old} -> {target} is not allowed"
        )
        return _Verdict(
            old, old, DecisionKind.REFUSED, reason=reason, review=review, review_kind=review_kind
        )

    late = target == PaymentStatus.COMPLETED and old in LATE_COMPLETABLE
    if late:
        review = f"late payment: money arrived after the payment was {old}"
        review_kind = ReviewKind.LATE
    return _Verdict(
        old,
        target,
        DecisionKind.TRANSITION,
        reason=observation.message or None,
        review=review,
        review_kind=review_kind,
        late=late,
        message=observation.message or None,
    )


def amount_mismatch(
    payment: Payment, paid: Money | None, invoiced: Money | None = None
) -> str | None:
    """Why `paid` (and `invoiced`) do not settle `payment`, or None when they do exactly."""
    if invoiced is not None and invoiced != payment.money:
        return f"gateway invoiced {invoiced}, payment is for {payment.money}: invoice mismatch"
    if paid is None:
        return "gateway reported paid without saying how much"
    expected = _expected(payment, paid)
    if expected is None:
        return f"gateway holds {paid}, payment is for {payment.money}: currency mismatch"
    if paid.amount != expected.amount:
        return f"gateway holds {paid}, payment is for {expected}: amount mismatch"
    return None


def mismatch_kind(
    payment: Payment, paid: Money | None, invoiced: Money | None = None
) -> ReviewKind:
    """The kind of an `amount_mismatch`: too little or too much of the right thing, else other."""
    if (invoiced is not None and invoiced != payment.money) or paid is None:
        return ReviewKind.AMOUNT_MISMATCH
    expected = _expected(payment, paid)
    if expected is None:
        return ReviewKind.AMOUNT_MISMATCH
    return ReviewKind.UNDERPAID if paid.amount < expected.amount else ReviewKind.OVERPAID


def _expected(payment: Payment, paid: Money) -> Money | None:
    """What `paid` must equal: the price, or the coin amount when paid in the coin."""
    if paid.currency == payment.currency:
        return payment.money
    if payment.crypto_money is not None and paid.currency == payment.crypto_money.currency:
        return payment.crypto_money
    return None


def _gateway_kind(kind: str | None) -> ReviewKind:
    """A gateway's review kind as ours; a gateway that names none gets OTHER."""
    try:
        return ReviewKind(kind)
    except ValueError:
        return ReviewKind.OTHER


def _with_kind(data: dict[str, Any] | None, kind: ReviewKind) -> dict[str, Any]:
    return {**(data or {}), "review_kind": kind.value}


def _new_review(payment: Payment, review: str | None) -> str | None:
    """A review reason worth recording: one that is not already the payment's."""
    if review and review != payment.review_reason:
        return review
    return None


def _event_details(observation: Observation) -> dict[str, Any] | None:
    details: dict[str, Any] = {}
    if observation.paid is not None:
        details["paid"] = str(observation.paid)
    if observation.confirms_received is not None:
        details["confirms"] = f"{observation.confirms_received}/{observation.confirms_needed}"
    return details or None
