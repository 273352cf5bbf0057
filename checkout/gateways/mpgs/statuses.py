"""Retrieve Order answers onto Observations: the explicit status tables and the pure mapping.

Only Retrieve Order's `status` decides, through the tables below. The top-level `result` only
says whether the *request* worked: an order can answer `result: SUCCESS` while it is merely
authenticated, so `result` never decides anything here. An unknown status is PENDING and
logged, never a failure. Pure: no HTTP, no configuration; the client hands in the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...money import Money, MoneyError
from ...states import PaymentStatus, ReviewKind
from ..base import Observation
from .redaction import redact_order

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)

S = PaymentStatus

# Retrieve Order `status` -> ours. CAPTURED is special-cased (amounts must be checked); states
# after a payment are flagged for staff without moving the payment; the rest is unknown.
STATUS_MAP: dict[str, PaymentStatus] = {
    "INITIATED": S.PENDING,
    "AUTHENTICATION_INITIATED": S.PENDING,
    "AUTHENTICATED": S.PENDING,
    "AUTHENTICATION_NOT_NEEDED": S.PENDING,
    "AUTHORIZED": S.PENDING,  # held, not collected: flagged, see _AUTHORIZED_REVIEW
    "PARTIALLY_CAPTURED": S.PENDING,  # flagged
    "FAILED": S.FAILED,
    "CANCELLED": S.FAILED,
    "AUTHENTICATION_UNSUCCESSFUL": S.FAILED,
}
AFTER_PAYMENT_STATUSES = frozenset(
    {
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "EXCESSIVELY_REFUNDED",
        "REFUND_REQUESTED",
        "CHARGEBACK_PROCESSED",
        "DISPUTED",
        "DISBURSED",
        "FUNDING",
    }
)
_AUTHORIZED_REVIEW = (
    "MPGS holds an authorization that nobody will capture: capture or void it in Merchant "
    "Administration"
)
#: After-payment statuses onto the kind of review the shopper reads.
_AFTER_PAYMENT_KIND: dict[str, ReviewKind] = {
    "REFUNDED": ReviewKind.REFUNDED_AT_GATEWAY,
    "PARTIALLY_REFUNDED": ReviewKind.REFUNDED_AT_GATEWAY,
    "EXCESSIVELY_REFUNDED": ReviewKind.REFUNDED_AT_GATEWAY,
    "REFUND_REQUESTED": ReviewKind.REFUNDED_AT_GATEWAY,
    "CHARGEBACK_PROCESSED": ReviewKind.DISPUTED,
    "DISPUTED": ReviewKind.DISPUTED,
}
#: Retrieve Order statuses after which money may still be captured once our deadline passed:
#: the payer is inside 3-D Secure or about to pay (the session's own clock may lag ours), or an
#: authorization holds the money and staff may still capture it. Everything else is settled
#: (CAPTURED, FAILED, ...) or shows nobody ever entered a card (no order at all).
MONEY_MAY_STILL_COME = frozenset(
    {
        "INITIATED",
        "AUTHENTICATION_INITIATED",
        "AUTHENTICATED",
        "AUTHENTICATION_NOT_NEEDED",
        "AUTHORIZED",
        "PARTIALLY_CAPTURED",
    }
)
AUTHORIZED_MESSAGE = "The card was authorised but not captured"

#: response.gatewayCode in words, for the shopper's status page and the staff timeline.
GATEWAY_CODE_WORDS: dict[str, str] = {
    "APPROVED": "Approved",
    "APPROVED_AUTO": "Approved",
    "APPROVED_PENDING_SETTLEMENT": "Approved",
    "DECLINED": "Card declined",
    "DECLINED_DO_NOT_CONTACT": "Card declined",
    "DECLINED_AVS": "Card declined: the billing address did not match",
    "DECLINED_CSC": "Card declined: the security code did not match",
    "DECLINED_AVS_CSC": "Card declined: the billing address and security code did not match",
    "DECLINED_INVALID_PIN": "Card declined: wrong PIN",
    "DECLINED_PIN_REQUIRED": "Card declined: a PIN is required",
    "DECLINED_PAYMENT_PLAN": "Card declined for this payment plan",
    "INSUFFICIENT_FUNDS": "Insufficient funds",
    "EXPIRED_CARD": "Card expired",
    "REFERRED": "Declined: please contact your card issuer",
    "BLOCKED": "Blocked by the payment gateway's fraud checks",
    "TIMED_OUT": "Your bank did not answer in time",
    "ACQUIRER_SYSTEM_ERROR": "The card network had a system error",
    "SYSTEM_ERROR": "The payment gateway had a system error",
    "UNSPECIFIED_FAILURE": "The payment could not be processed",
    "NOT_SUPPORTED": "This card is not supported here",
    "NOT_ENROLLED_3D_SECURE": "This card is not enrolled for 3-D Secure",
    "AUTHENTICATION_FAILED": "Card authentication (3-D Secure) failed",
    "AUTHENTICATION_IN_PROGRESS": "Card authentication (3-D Secure) is still in progress",
    "ABORTED": "The payment was abandoned",
    "CANCELLED": "The payment was cancelled",
    "UNKNOWN": "The outcome is not known yet",
}
_STATUS_WORDS = {
    "AUTHENTICATION_UNSUCCESSFUL": "Card authentication (3-D Secure) failed",
    "CANCELLED": "The payment was cancelled",
    "FAILED": "The payment was not approved",
}
EXPIRED_MESSAGE = "The card payment page timed out before a payment was made"
_AFTER_PAYMENT_WORDS = {
    ReviewKind.REFUNDED_AT_GATEWAY: "The card payment was refunded",
    ReviewKind.DISPUTED: "The card payment is disputed",
}


def gateway_code_words(code: str | None) -> str | None:
    """A gateway code in words; unknown codes are shown as they are rather than guessed."""
    if not code:
        return None
    return GATEWAY_CODE_WORDS.get(code, f"Payment not approved ({code})")


def observe_order(payment: Payment, order: Mapping[str, Any]) -> Observation:
    """Map one Retrieve Order answer onto an Observation (pure: no HTTP)."""
    raw_status = str(order.get("status") or "")
    raw = redact_order(order)
    if order.get("id") not in (None, payment.ref):
        log.error("payment %s: MPGS answered for order %r", payment.ref, order.get("id"))
        return Observation(
            S(payment.status) if payment.status != S.CREATED else S.PENDING,
            raw_status or "?",
            review=f"MPGS answered a look-up for {payment.ref} with order {order.get('id')}",
            raw=raw,
        )
    latest = latest_transaction(order)
    code = gateway_code(latest)

    if raw_status == "CAPTURED":
        return _captured(payment, order, raw)
    if raw_status in AFTER_PAYMENT_STATUSES:
        return _after_payment(payment, order, raw_status, raw)
    mapped = STATUS_MAP.get(raw_status)
    if mapped is None:
        log.warning(
            "payment %s: unknown MPGS order status %r, treated as pending",
            payment.ref,
            raw_status,
        )
        return Observation(S.PENDING, raw_status or "(no status)", raw=raw)
    if mapped == S.FAILED:
        # A failed 3-D Secure check says so; otherwise the decline reason is the news.
        words = None
        if raw_status != "AUTHENTICATION_UNSUCCESSFUL" and code not in (None, "APPROVED"):
            words = gateway_code_words(code)
        message = words or _STATUS_WORDS[raw_status]
        raw_words = f"{raw_status}/{code}" if code else raw_status
        return Observation(S.FAILED, raw_words, message=message, raw=raw)
    if raw_status == "AUTHORIZED":
        return Observation(
            S.PENDING,
            raw_status,
            message=AUTHORIZED_MESSAGE,
            review=_AUTHORIZED_REVIEW,
            review_kind=ReviewKind.AUTHORISED_NOT_CAPTURED,
            raw=raw,
        )
    if raw_status == "PARTIALLY_CAPTURED":
        return Observation(
            S.PENDING,
            raw_status,
            message="Part of the amount was taken from the card",
            review=f"MPGS partially captured this order ({totals(order)})",
            review_kind=ReviewKind.UNDERPAID,
            raw=raw,
        )
    return Observation(S.PENDING, raw_status, raw=raw)


def _captured(payment: Payment, order: Mapping[str, Any], raw: dict[str, Any]) -> Observation:
    """COMPLETED with what was captured; the funnel refuses it unless it is our amount."""
    currency = str(order.get("currency") or "")
    captured = order.get("totalCapturedAmount")
    try:
        paid = Money.parse(captured, currency) if captured is not None and currency else None
    except MoneyError:
        log.error("payment %s: unreadable captured amount %r", payment.ref, captured)
        return Observation(
            S.PENDING,
            "CAPTURED",
            review=f"MPGS says captured but the amount {captured!r} {currency} is unreadable",
            raw=raw,
        )
    return Observation(S.COMPLETED, "CAPTURED", paid=paid, message="Paid by card", raw=raw)


def _after_payment(
    payment: Payment, order: Mapping[str, Any], raw_status: str, raw: dict[str, Any]
) -> Observation:
    """Refunds, disputes, chargebacks: recorded and flagged; staff decide what follows.

    Refunds made through our own console are already on the payment (refunded_amount), so
    an order whose refunded total equals them is simply what we expect and is not flagged.
    """
    current = S(payment.status)
    keep = current if current != S.CREATED else S.PENDING
    if raw_status in ("REFUNDED", "PARTIALLY_REFUNDED") and current in (
        S.COMPLETED,
        S.REFUNDED,
    ):
        try:
            refunded = Money.parse(order.get("totalRefundedAmount"), str(order.get("currency")))
        except MoneyError:
            refunded = None
        if (
            refunded is not None
            and refunded.currency == payment.currency
            and refunded.amount == (payment.refunded_amount or 0)
        ):
            return Observation(keep, raw_status, raw=raw)
    log.warning("payment %s: MPGS order is %s, flagged for staff", payment.ref, raw_status)
    return Observation(
        keep,
        raw_status,
        message=_AFTER_PAYMENT_WORDS.get(_AFTER_PAYMENT_KIND.get(raw_status), ""),
        review=f"MPGS order is {raw_status} ({totals(order)})",
        review_kind=_AFTER_PAYMENT_KIND.get(raw_status),
        raw=raw,
    )


def no_such_order(payment: Payment, now: datetime) -> Observation:
    """No order yet: nobody has paid. Pending while the session can still be used, then expired."""
    expires_at = payment.expires_at
    if expires_at is not None and now >= expires_at:
        return Observation(S.EXPIRED, "NO_SUCH_ORDER", message=EXPIRED_MESSAGE)
    return Observation(S.PENDING, "NO_SUCH_ORDER")


def latest_transaction(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The most recent transaction record of an order, whose gatewayCode explains its status."""
    transactions = order.get("transaction")
    if not isinstance(transactions, list):
        return None
    records = [t for t in transactions if isinstance(t, dict)]
    if not records:
        return None
    # ISO-8601 UTC strings of one format sort as times; the list order breaks ties.
    return max(
        enumerate(records), key=lambda pair: (str(pair[1].get("timeOfRecord", "")), pair[0])
    )[1]


def gateway_code(record: Mapping[str, Any] | None) -> str | None:
    """response.gatewayCode of a transaction record (the decline reason), if it has one."""
    if not record:
        return None
    response = record.get("response")
    if isinstance(response, dict) and response.get("gatewayCode"):
        return str(response["gatewayCode"])
    return None


def totals(order: Mapping[str, Any]) -> str:
    """The order's authorized/captured/refunded totals in words, for a staff review."""
    currency = order.get("currency", "")
    parts = [
        f"{label} {order[key]} {currency}"
        for key, label in (
            ("totalAuthorizedAmount", "authorized"),
            ("totalCapturedAmount", "captured"),
            ("totalRefundedAmount", "refunded"),
        )
        if order.get(key) is not None
    ]
    return ", ".join(parts) or "no totals given"


def money_may_still_come(raw_status: str) -> bool:
    """Past our deadline, may an order in this Retrieve Order status still be captured?"""
    return raw_status in MONEY_MAY_STILL_COME
