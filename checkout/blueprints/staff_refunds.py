"""Refunds from the staff console, in two steps, for admins only.

The payment page's form asks for an amount; its answer is a confirmation page that repeats the
amount, the currency and what happens to the payment, and asks for a reason. Only that page's
form moves money, so a full refund is never one click. A gateway without a refund API (asked of
its plugin, checkout.payments.refunds.has_refund_api) shows how to refund by hand instead, and
"Record a manual refund" books such a refund through the same two steps without calling the
gateway. Every refund is written to the audit log after its own commit.
"""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import limiter
from ..gateways.registry import provider_for
from ..models import Payment, StaffRole
from ..money import Money, MoneyError, to_minor
from ..payments.refunds import (
    RefundRefused,
    check_refund,
    has_refund_api,
    record_manual_refund,
    refund_payment,
    refundable,
)
from .staff import _payment_or_404, bp
from .staff_audit import record
from .staff_common import requires

log = logging.getLogger(__name__)

REASON_CHARS = 500


@bp.context_processor
def _refund_helpers() -> dict[str, object]:
    """Whether the payment page shows the refund form or the by-hand instructions."""
    return {"has_refund_api": has_refund_api, "provider_for": provider_for}


@bp.post("/payments/<ref>/refund")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def refund(ref: str) -> Response | str:
    """Step one: check the amount and show the confirmation page; nothing moves yet."""
    return _ask(_payment_or_404(ref), manual=False)


@bp.post("/payments/<ref>/refund/confirm")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def refund_confirm(ref: str) -> Response | tuple[str, int]:
    """Step two: the confirmed amount and the reason; the gateway is asked to refund."""
    return _book(_payment_or_404(ref), manual=False)


@bp.post("/payments/<ref>/manual-refund")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def manual_refund(ref: str) -> Response | str:
    """Step one of booking a refund sent by hand: check the amount, show the confirmation."""
    return _ask(_payment_or_404(ref), manual=True)


@bp.post("/payments/<ref>/manual-refund/confirm")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def manual_refund_confirm(ref: str) -> Response | tuple[str, int]:
    """Step two: book the refund and its note; no gateway is called."""
    return _book(_payment_or_404(ref), manual=True)


def _book(found: Payment, *, manual: bool) -> Response | tuple[str, int]:
    """Move (or, sent by hand, only book) the confirmed refund, then audit and say so."""
    amount, reason = _confirmed(found)
    if amount is None or not reason:
        return _again(found, amount, manual=manual)
    staff = current_user.email
    try:
        if manual:
            outcome = record_manual_refund(found, amount, staff=staff, note=reason)
        else:
            outcome = refund_payment(found, amount, staff=staff, reason=reason)
    except RefundRefused as exc:
        flash(str(exc), "alert")
        return redirect(url_for("staff.payment", ref=found.ref), 303)
    if manual:
        record("manual_refund", found.ref, amount=outcome.amount, note=reason)
        message = f"Recorded a manual refund of {outcome.amount}."
    else:
        reference = outcome.refund_reference
        record("refund", found.ref, amount=outcome.amount, reference=reference, reason=reason)
        message = f"Refunded {outcome.amount} ({reference}, {outcome.gateway_status})."
    if outcome.fully_refunded:
        message += " The payment is now Refunded."
    flash(message, "notice")
    return redirect(url_for("staff.payment", ref=found.ref), 303)


def _ask(found: Payment, *, manual: bool) -> Response | str:
    raw = request.form.get("amount", "").strip()
    if not raw:
        flash("Enter the amount to refund.", "alert")
        return redirect(url_for("staff.payment", ref=found.ref), 303)
    try:
        amount = Money(to_minor(raw, found.currency), found.currency)
        amount = check_refund(found, amount, by_gateway=not manual)
    except MoneyError as exc:
        flash(f"Amount: {exc}.", "alert")
        return redirect(url_for("staff.payment", ref=found.ref), 303)
    except RefundRefused as exc:
        flash(str(exc), "alert")
        return redirect(url_for("staff.payment", ref=found.ref), 303)
    return _confirmation(found, amount, manual=manual)


def _confirmed(found: Payment) -> tuple[Money | None, str]:
    """The amount the confirmation page repeated (in the payment's currency) and the reason."""
    reason = request.form.get("reason", "").strip()[:REASON_CHARS]
    if request.form.get("currency") != found.currency:
        return None, reason
    try:
        raw = request.form.get("amount", "").strip()
        return (Money(to_minor(raw, found.currency), found.currency) if raw else None), reason
    except MoneyError:
        return None, reason


def _again(found: Payment, amount: Money | None, *, manual: bool) -> Response | tuple[str, int]:
    """A confirmation without its reason (or with a tampered amount) changes nothing."""
    if amount is None:
        flash("The confirmation did not carry a valid amount; start the refund again.", "alert")
        return redirect(url_for("staff.payment", ref=found.ref), 303)
    error = "Say how the refund was sent." if manual else "Give a reason for the refund."
    return _confirmation(found, amount, manual=manual, error=error), 400


def _confirmation(found: Payment, amount: Money, *, manual: bool, error: str | None = None) -> str:
    left = refundable(found)
    return render_template(
        "staff/refund_confirm.html",
        payment=found,
        amount=amount,
        full=amount.amount >= left.amount,
        manual=manual,
        provider=provider_for(found.gateway),
        error=error,
        reason_chars=REASON_CHARS,
    )
