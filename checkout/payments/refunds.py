"""Refunds, started by support staff from the console. The only code here that moves money.

A refund reserves its amount on the payment first (a conditional update on `refunded_amount`),
so two staff members clicking at once can never refund more than was paid. Then the gateway is
asked; a refusal gives the reservation back. The refund is written to the timeline as a
PaymentEvent, and a refund that reaches the full amount moves COMPLETED -> REFUNDED through the
funnel like any other status change.

When the gateway does not answer (timeout, 5xx) the refund may or may not have happened there.
The reservation is given back, but the payment is flagged for review with exactly that, so
nobody retries blindly and refunds twice.

A gateway without a refund API (it does not override `Gateway.refund`) is refunded by hand from
the provider's own account; `record_manual_refund` then books it here without calling the
gateway, through the same reservation, timeline entry, shopper notice and REFUNDED move.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import update

from ..extensions import db
from ..fulfilment import outbox
from ..fulfilment.receipts import refund_notice
from ..gateways.base import (
    Gateway,
    GatewayError,
    GatewayRejected,
    NotSupported,
    Observation,
    RefundResult,
)
from ..gateways.registry import get_gateway, plugin_for, provider_for, rules_for
from ..models import Payment
from ..money import Money
from .events import fact_event
from .service import Source, add_note, record_observation
from .states import PaymentStatus

log = logging.getLogger(__name__)

_FAILED_REFUND = frozenset({"failed", "canceled", "cancelled", "rejected"})


class RefundRefused(Exception):
    """The refund did not happen; the message is for the staff member, in words."""


@dataclass(frozen=True)
class RefundOutcome:
    payment_ref: str
    amount: Money
    refund_reference: str
    gateway_status: str  # the gateway's word: succeeded / pending ...
    refunded_total: Money  # everything refunded on this payment so far
    fully_refunded: bool  # this refund moved the payment to REFUNDED


def refundable(payment: Payment) -> Money:
    """What is left to refund on `payment` (zero unless it is COMPLETED)."""
    if payment.status != PaymentStatus.COMPLETED:
        return Money(0, payment.currency)
    return Money(payment.amount - (payment.refunded_amount or 0), payment.currency)


def has_refund_api(payment: Payment) -> bool:
    """Whether the payment's gateway can send a refund itself: its client overrides
    `Gateway.refund`. Asked of the plugin, so no page names a gateway to hide its refund form."""
    plugin = plugin_for(payment.gateway)
    return plugin is not None and plugin.gateway.refund is not Gateway.refund


def check_refund(payment: Payment, amount: Money | None, *, by_gateway: bool = True) -> Money:
    """The amount a refund of `amount` (None: everything left) would move, or RefundRefused.

    The confirmation page asks this before it repeats the amount, so staff confirm only a
    refund that would be tried; the refund itself asks again on a fresh row.
    """
    left = refundable(payment)
    if payment.status != PaymentStatus.COMPLETED:
        raise RefundRefused(
            f"Only a completed payment can be refunded; this one is {payment.status}."
        )
    amount = amount or left
    if amount.currency != payment.currency:
        raise RefundRefused(f"Refund in {payment.currency}, the payment's currency.")
    if amount.amount <= 0:
        raise RefundRefused("Enter an amount greater than zero.")
    if amount.amount > left.amount:
        raise RefundRefused(f"At most {left} is left to refund.")
    if by_gateway and (reason := rules_for(payment.gateway).can_refund(amount)):
        # refused before the call: the gateway would reject it, and nothing is reserved
        raise RefundRefused(f"{reason}. Choose an amount {_label(payment)} can take.")
    return amount


def refund_payment(
    payment: Payment, amount: Money | None, *, staff: str, reason: str = ""
) -> RefundOutcome:
    """Refund `amount` (None: everything still refundable) of a COMPLETED payment at its gateway.

    Raises RefundRefused, with a message for staff, whenever no money moved.
    """
    db.session.refresh(payment)
    amount = check_refund(payment, amount)
    gateway = get_gateway(payment.gateway)
    if not _reserve(payment, amount):
        raise RefundRefused("Another refund changed this payment just now; reload and check.")
    try:
        result = gateway.refund(payment, amount)
    except NotSupported as exc:
        _give_back(payment, amount)
        label = _label(payment)
        raise RefundRefused(
            f"{label} has no refund API. Send the refund from the {label} account itself, "
            "then record it here as a manual refund."
        ) from exc
    except GatewayRejected as exc:
        _give_back(payment, amount)
        _event(payment, "error", f"refund of {amount} refused by the gateway: {exc}", staff)
        raise RefundRefused(f"The gateway refused the refund: {exc}") from exc
    except GatewayError as exc:
        _give_back(payment, amount)
        _flag_unknown(payment, amount, exc)
        raise RefundRefused(
            f"The gateway did not answer ({exc}). The refund may or may not have gone through: "
            "check at the gateway before trying again. The payment is flagged for review."
        ) from exc

    if result.status.lower() in _FAILED_REFUND:
        _give_back(payment, amount)
        _event(payment, "error", f"refund of {amount} {result.status} at the gateway", staff)
        raise RefundRefused(f"The gateway reports the refund as {result.status}.")

    return _book(payment, amount, result, staff, reason)


def record_manual_refund(
    payment: Payment, amount: Money, *, staff: str, note: str
) -> RefundOutcome:
    """Book a refund staff sent by hand from the provider's account; the gateway is not called.

    Only for a gateway without a refund API (one with an API refunds through it). The refund
    is booked like any other (reserved, on the timeline, the shopper told, REFUNDED when it
    reaches the full amount), and `note` (how it was sent: the transaction, the address) goes on
    the timeline as a note.
    """
    db.session.refresh(payment)
    if has_refund_api(payment):
        raise RefundRefused(f"{_label(payment)} refunds through its API: use the refund form.")
    if not note.strip():
        raise RefundRefused("Say how the refund was sent (the transaction, the address).")
    amount = check_refund(payment, amount, by_gateway=False)
    if not _reserve(payment, amount):
        raise RefundRefused("Another refund changed this payment just now; reload and check.")
    db.session.refresh(payment)
    # refunded totals only grow, so the total after this one names it once (the notice's key)
    reference = f"manual-{payment.ref}-{payment.refunded_amount}"
    result = RefundResult(reference, amount, "manual")
    outcome = _book(payment, amount, result, staff, note.strip(), manual=True)
    add_note(payment, Source.STAFF, f"manual refund of {amount} by {staff}: {note.strip()}")
    return outcome


def _book(
    payment: Payment,
    amount: Money,
    result: RefundResult,
    staff: str,
    reason: str,
    *,
    manual: bool = False,
) -> RefundOutcome:
    """Everything after the money moved: the notice, the timeline, REFUNDED at the full amount."""
    # the shopper's notice is written in the transaction that records the refund, one per refund
    outbox.enqueue([refund_notice(payment, amount, result.refund_reference)])
    how = "recorded as sent by hand" if manual else "refunded"
    details = {
        "amount": amount.decimal_str,
        "currency": amount.currency,
        "refund_reference": result.refund_reference,
        "gateway_status": result.status,
        "by": staff,
    }
    if reason:
        details["reason"] = reason[:500]
    if manual:
        details["manual"] = True
    _event(
        payment,
        "refund",
        f"{amount} {how} by {staff} ({result.refund_reference}, {result.status})",
        staff,
        raw_status=result.status,
        details=details,
    )
    db.session.refresh(payment)
    total = Money(payment.refunded_amount, payment.currency)
    log.info("payment %s: %s %s by %s (%s)", payment.ref, amount, how, staff, result.status)
    full = payment.refunded_amount >= payment.amount
    moved = False
    if full:
        observation = Observation(
            status=PaymentStatus.REFUNDED,
            raw_status=f"refund {result.status}"[:64],
            message="Refunded in full.",
            raw=dict(result.raw) if result.raw is not None else None,
        )
        moved = record_observation(payment, observation, Source.STAFF).transitioned
    outbox.kick()  # the notice was committed with the refund; this only makes it quick
    return RefundOutcome(
        payment.ref, amount, result.refund_reference, result.status, total, full and moved
    )


def _reserve(payment: Payment, amount: Money) -> bool:
    result = db.session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.status == PaymentStatus.COMPLETED,
            Payment.refunded_amount + amount.amount <= Payment.amount,
        )
        .values(refunded_amount=Payment.refunded_amount + amount.amount)
    )
    db.session.commit()
    return result.rowcount == 1


def _give_back(payment: Payment, amount: Money) -> None:
    db.session.rollback()
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(refunded_amount=Payment.refunded_amount - amount.amount)
    )
    db.session.commit()


def _flag_unknown(payment: Payment, amount: Money, error: GatewayError) -> None:
    log.warning("payment %s: refund of %s has an unknown outcome: %s", payment.ref, amount, error)
    db.session.refresh(payment)
    review = f"refund of {amount} got no answer from the gateway ({error}): check it there"
    observation = Observation(
        status=PaymentStatus(payment.status), raw_status="refund unanswered", review=review
    )
    record_observation(payment, observation, Source.STAFF)


def _event(
    payment: Payment,
    kind: str,
    message: str,
    staff: str,
    *,
    raw_status: str | None = None,
    details: dict | None = None,
) -> None:
    db.session.add(
        fact_event(
            payment,
            Source.STAFF,
            kind,
            message[:500],
            raw_status=raw_status or None,
            details=details or {"by": staff},
        )
    )
    db.session.commit()


def _label(payment: Payment) -> str:
    return provider_for(payment.gateway)
