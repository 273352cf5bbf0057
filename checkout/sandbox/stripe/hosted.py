"""The hosted Checkout page (`/c/pay/<session id>`) and its test instruments.

  card 4242 4242 4242 4242   paid at once
  card 4000 0000 0000 0002   declined (card_declined); the page stays payable
  card 4000 0000 0000 9995   declined (insufficient_funds); the page stays payable
  US bank account, routing 110000000, account 000123456789  settles paid SETTLE_SECONDS later
  US bank account, routing 110000000, account 000111111116  fails SETTLE_SECONDS later

A decline is shown on the page (402) and recorded on the payment intent, as Stripe does; only a
completed session sends the payer on to `success_url`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from ..common import luhn_ok
from .currencies import show_amount
from .lifecycle import complete, intent_for, succeed, tick
from .store import StripeSandbox

SETTLE_SECONDS = 20
CARD_OUTCOMES = {
    "4242424242424242": None,
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
BANK_ROUTING = "110000000"
BANK_OUTCOMES = {"000123456789": True, "000111111116": False}


def blueprint(state: StripeSandbox) -> Blueprint:
    bp = Blueprint("sandbox_stripe_page", __name__)

    @bp.route("/c/pay/<session_id>", methods=["GET", "POST"])
    def hosted_page(session_id: str) -> Response | tuple[str, int]:
        with state.lock:
            tick(state)
            session = state.sessions.get(session_id)
            if session is None or session["status"] != "open":
                status = 404 if session is None else 410
                return render_template("stripe/closed.html", session=session), status
            error, status = None, 200
            if request.method == "POST":
                error = _pay(state, session)
                if error is None:
                    return _after_payment(session)
                status = 402
            return render_template(
                "stripe/pay.html",
                session=session,
                items=state.line_items[session_id],
                total=show_amount(session["amount_total"], session["currency"]),
                error=error,
                form=request.form,
                cards=CARD_OUTCOMES,
                bank_routing=BANK_ROUTING,
                bank_accounts=BANK_OUTCOMES,
                settle_seconds=SETTLE_SECONDS,
            ), status

    return bp


def _pay(state: StripeSandbox, session: dict[str, Any]) -> str | None:
    """Pay with what the form holds; the shopper's error in words, or None when done."""
    form = request.form
    if form.get("method") == "us_bank_account":
        return pay_bank(state, session, form.get("routing", ""), form.get("account", ""))
    return pay_card(
        state,
        session,
        form.get("cardNumber", ""),
        form.get("cardExpiry", ""),
        form.get("cardCvc", ""),
    )


def pay_card(
    state: StripeSandbox, session: dict[str, Any], number: str, expiry: str, cvc: str
) -> str | None:
    """Confirm the session with a card; the shopper's error in words, or None when paid."""
    number = re.sub(r"\D", "", number)
    if not luhn_ok(number):
        return "Your card number is invalid."
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2})\s*", expiry)
    today = state.env.clock.now()
    if not match or not 1 <= int(match[1]) <= 12:
        return "Your card's expiration date is incomplete."
    if (2000 + int(match[2]), int(match[1])) < (today.year, today.month):
        return "Your card's expiration year is in the past."
    if not re.fullmatch(r"\d{3,4}", cvc.strip()):
        return "Your card's security code is incomplete."
    if number not in CARD_OUTCOMES:
        return (
            "Your card was declined. Your request was in test mode, but used a non test "
            "card. For a list of valid test cards, see the list on this page."
        )
    intent = intent_for(state, session, "card")
    outcome = CARD_OUTCOMES[number]
    if outcome is not None:
        code, decline_code, message = outcome
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "type": "card_error",
        }
        return message
    succeed(state, intent)
    complete(state, session, paid=True)
    return None


def pay_bank(
    state: StripeSandbox, session: dict[str, Any], routing: str, account: str
) -> str | None:
    """Start a US bank debit: the session completes unpaid and settles SETTLE_SECONDS later."""
    routing, account = routing.strip(), account.strip()
    if routing != BANK_ROUTING or account not in BANK_OUTCOMES:
        return f"Use routing number {BANK_ROUTING} with a test account number: " + " or ".join(
            BANK_OUTCOMES
        )
    intent = intent_for(state, session, "us_bank_account")
    intent["status"] = "processing"
    due = state.env.clock.timestamp() + SETTLE_SECONDS
    state.settlements[session["id"]] = (due, BANK_OUTCOMES[account])
    complete(state, session, paid=False)
    return None


def _after_payment(session: dict[str, Any]) -> Response:
    target = session.get("success_url")
    if not target:
        return Response(render_template("stripe/closed.html", session=session))
    return redirect(target.replace("{CHECKOUT_SESSION_ID}", session["id"]), 303)
