"""Stripe's Checkout Session states onto ours: the explicit tables and the pure mapping.

A session's own `status` decides open and expired; a complete session is refined by its
`payment_status`, and a complete but unpaid one (a delayed method) by its payment intent. A
state missing from the tables is unknown: PENDING and logged, never a failure. The summary kept
of a session (no e-mail, no customer details, no client secret) is made here too, since every
observation carries it.

Everything here is pure: no HTTP, no config. The client and the webhook parser hand in the
session they read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...money import Money, MoneyError
from ...states import PaymentStatus
from ..base import Observation
from ..wire import json_safe
from .currencies import RULES

log = logging.getLogger(__name__)

# The session's own `status`; "complete" is refined by `payment_status` below.
_SESSION_STATUS: dict[str, PaymentStatus] = {
    "open": PaymentStatus.PENDING,
    "expired": PaymentStatus.EXPIRED,
}
# `payment_status` of a complete session: (our status, review reason for staff).
_COMPLETE_PAYMENT_STATUS: dict[str, tuple[PaymentStatus, str | None]] = {
    "paid": (PaymentStatus.COMPLETED, None),
    "unpaid": (PaymentStatus.PENDING, None),  # a delayed method (bank debit) is settling
    "no_payment_required": (
        PaymentStatus.PENDING,
        "Stripe completed the session with no payment required (100% discount or zero "
        "amount?): nothing was charged",
    ),
}
# The payment intent of a complete but unpaid session: settled as failed, or still processing.
_UNPAID_INTENT_STATUS: dict[str, PaymentStatus] = {
    "processing": PaymentStatus.PENDING,
    "requires_payment_method": PaymentStatus.FAILED,  # the delayed payment bounced
    "canceled": PaymentStatus.FAILED,
}

#: (session status, payment intent status) after which money may still arrive once our deadline
#: passed: the shopper is still inside the payment on an open session (3-D Secure, a payment
#: that is processing), or a completed session's delayed debit is still settling. Anything else
#: is paid, refused, or never had a payment started.
MONEY_MAY_STILL_COME = frozenset(
    {
        ("open", "processing"),
        ("open", "requires_action"),
        ("open", "requires_confirmation"),
        ("complete", "processing"),
    }
)

# Stripe reports a failed delayed payment only by this event: the session stays complete/unpaid.
_FAILED_EVENT = "checkout.session.async_payment_failed"


def observe_session(session: Mapping[str, Any], event_type: str | None = None) -> Observation:
    """Read a Checkout Session (retrieved, or from a verified webhook) onto our statuses."""
    status = session.get("status")
    payment_status = session.get("payment_status")
    raw_status = f"{status}/{payment_status}"
    if event_type:
        raw_status = f"{event_type} ({raw_status})"
    intent = session.get("payment_intent")
    facts: dict[str, Any] = {
        "session_id": session.get("id"),
        "session_status": status,
        "intent_status": intent.get("status") if isinstance(intent, Mapping) else None,
    }
    if intent_id := intent_id_of(intent):
        facts["payment_intent"] = intent_id
    common: dict[str, Any] = {
        "raw_status": raw_status,
        "gateway_reference": session.get("id"),
        "expires_at": from_unix(session.get("expires_at")),
        "data": facts,
        "raw": session_summary(session),
    }

    if event_type == _FAILED_EVENT:
        return Observation(
            PaymentStatus.FAILED, message="The bank debit did not go through", **common
        )
    if status in _SESSION_STATUS:
        return Observation(_SESSION_STATUS[status], **common)
    if status != "complete" or payment_status not in _COMPLETE_PAYMENT_STATUS:
        log.warning(
            "payment %s: Stripe session %s has an unknown state %s",
            session.get("client_reference_id"),
            session.get("id"),
            raw_status,
        )
        return Observation(PaymentStatus.PENDING, message="", **common)

    mapped, review = _COMPLETE_PAYMENT_STATUS[payment_status]
    if mapped == PaymentStatus.COMPLETED:
        return Observation(PaymentStatus.COMPLETED, paid=_paid(session), **common)
    if payment_status == "unpaid" and isinstance(intent, Mapping):
        intent_status = str(intent.get("status"))
        mapped = _UNPAID_INTENT_STATUS.get(intent_status, PaymentStatus.PENDING)
        common["raw_status"] = f"{raw_status}, intent {intent_status}"
        if mapped == PaymentStatus.FAILED:
            return Observation(mapped, message=_intent_error(intent), **common)
    return Observation(mapped, review=review, **common)


def money_may_still_come(facts: Mapping[str, Any]) -> bool:
    """Whether the session facts `observe_session` recorded leave money still on its way."""
    return (facts.get("session_status"), facts.get("intent_status")) in MONEY_MAY_STILL_COME


def _paid(session: Mapping[str, Any]) -> Money | None:
    """What the session took, in our Money (Stripe's units converted back)."""
    amount, currency = session.get("amount_total"), session.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        return None
    try:
        return RULES.to_money(amount, currency)
    except MoneyError:
        log.warning("session %s: unreadable amount %r %s", session.get("id"), amount, currency)
        return None


def intent_id_of(intent: Any) -> str | None:
    """The payment intent's id, whether Stripe sent it as an id or expanded as an object."""
    if isinstance(intent, str):
        return intent
    if isinstance(intent, Mapping):
        return intent.get("id")
    return None


def _intent_error(intent: Mapping[str, Any]) -> str:
    error = intent.get("last_payment_error")
    message = error.get("message") if isinstance(error, Mapping) else None
    return str(message or "The delayed payment did not go through")


def session_summary(session: Mapping[str, Any]) -> dict[str, Any]:
    """What is worth keeping of a session: no e-mail, no customer details, no client secret."""
    keys = (
        "id",
        "object",
        "status",
        "payment_status",
        "amount_total",
        "currency",
        "client_reference_id",
        "expires_at",
        "livemode",
        "mode",
    )
    summary = {key: session.get(key) for key in keys if key in session}
    if intent := intent_id_of(session.get("payment_intent")):
        summary["payment_intent"] = intent
    return json_safe(summary)


def from_unix(value: Any) -> datetime | None:
    """A Stripe timestamp (Unix seconds) as an aware datetime; None when it is not one."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value, UTC)
