"""The pure part of the funnel: given a payment and an observation, what should change.

No database access here, so every rule (amount check, refused regressions, late money) can be
read in one place and tested row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..gateways.base import Observation
from ..models import Payment, PaymentEvent
from ..money import Money
from .states import LATE_COMPLETABLE, PaymentStatus, ReviewKind, can_transition

DUPLICATE_REVIEW = "order was already paid by another payment: refund one of them"
_STILL_OPEN = frozenset({PaymentStatus.PENDING, PaymentStatus.CREATED})


@dataclass
class Decision:
    old: PaymentStatus
    new: PaymentStatus
    kind: str  # transition / refused / review / none
    reason: str | None = None  # why, in words, for the timeline and the log
    review: str | None = None  # a new reason for staff to look
    review_kind: ReviewKind | None = None  # what kind of reason, for the shopper's words
    late: bool = False
    message: str | None = None  # the gateway's words for the shopper
    fulfils: bool = False  # set by the funnel when this decision claimed the order

    @property
    def transitioned(self) -> bool:
        return self.kind == "transition"

    @property
    def changes_payment(self) -> bool:
        return self.transitioned or self.review is not None

    @property
    def pays_order(self) -> bool:
        return self.transitioned and self.new == PaymentStatus.COMPLETED

    def payment_values(self, now: datetime, data: dict[str, Any] | None) -> dict[str, Any]:
        """The payment columns this decision sets; `data` is the gateway_data being written."""
        values: dict[str, Any] = {}
        if self.transitioned:
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

    @staticmethod
    def duplicate_values(data: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "needs_review": True,
            "review_reason": DUPLICATE_REVIEW,
            "gateway_data": _with_kind(data, ReviewKind.PAID_TWICE),
        }

    def events(
        self, payment: Payment, observation: Observation, source: str, *, duplicate: bool
    ) -> list[PaymentEvent]:
        if self.kind == "none":
            return []

        def event(kind: str, message: str | None) -> PaymentEvent:
            return PaymentEvent(
                payment_id=payment.id,
                source=source,
                kind=kind,
                old_status=self.old,
                new_status=self.new,
                raw_status=observation.raw_status[:64],
                message=message,
                details=_event_details(observation),
            )

        events = [event(self.kind, self.reason or self.message or observation.message or None)]
        if self.transitioned and self.review:
            events.append(event("review", self.review))
        if duplicate:
            events.append(event("review", DUPLICATE_REVIEW))
        return events


def decide(payment: Payment, observation: Observation, *, order_paid_by: int | None) -> Decision:
    old = PaymentStatus(payment.status)
    target = observation.status
    review = _new_review(payment, observation.review)
    review_kind = _gateway_kind(observation.review_kind)

    if target == PaymentStatus.COMPLETED and old != PaymentStatus.COMPLETED:
        mismatch = amount_mismatch(payment, observation.paid, observation.invoiced)
        if mismatch:
            mismatch_review = _new_review(payment, mismatch)
            kind = "review" if mismatch_review else "none"
            return Decision(
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
        kind = "review" if review else "none"
        return Decision(old, old, kind, reason=review, review=review, review_kind=review_kind)

    if not can_transition(old, target):
        reason = (
            f"gateway says {target} ({observation.raw_status}); {old} -> {target} is not allowed"
        )
        return Decision(old, old, "refused", reason=reason, review=review, review_kind=review_kind)

    late = target == PaymentStatus.COMPLETED and old in LATE_COMPLETABLE
    if late:
        review = f"late payment: money arrived after the payment was {old}"
        review_kind = ReviewKind.LATE
    return Decision(
        old,
        target,
        "transition",
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
