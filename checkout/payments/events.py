"""The one place a PaymentEvent row is built.

Every timeline entry (a transition decided by the funnel, a gateway error, a note, a staff
refund) says the same things in the same shape: what happened, the status before and after,
the gateway's own word cut to its column, the message and its details. The writers describe
the entry as `EventFacts` and call `payment_event`, so a rule about an event's shape is kept
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Payment, PaymentEvent
from ..states import PaymentStatus

_RAW_STATUS_CHARS = 64  # PaymentEvent.raw_status is a String(64)


@dataclass(frozen=True)
class EventFacts:
    """What one timeline entry says, without the payment and the source it is written for."""

    kind: str  # transition / refused / review / error / note
    old_status: PaymentStatus | str | None
    new_status: PaymentStatus | str | None
    message: str | None = None
    raw_status: str | None = None  # the gateway's own word
    details: dict[str, Any] | None = None


def payment_event(payment_id: int, source: str, facts: EventFacts) -> PaymentEvent:
    """The row for `facts` on payment `payment_id`, as told by `source`."""
    return PaymentEvent(
        payment_id=payment_id,
        source=source,
        kind=facts.kind,
        old_status=facts.old_status,
        new_status=facts.new_status,
        raw_status=None if facts.raw_status is None else facts.raw_status[:_RAW_STATUS_CHARS],
        message=facts.message,
        details=facts.details,
    )


def fact_event(
    payment: Payment,
    source: str,
    kind: str,
    message: str,
    *,
    raw_status: str | None = None,
    details: dict[str, Any] | None = None,
) -> PaymentEvent:
    """An entry that records a fact but no transition: old and new status are the same."""
    facts = EventFacts(kind, payment.status, payment.status, message, raw_status, details)
    return payment_event(payment.id, source, facts)
