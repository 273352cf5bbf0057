"""How a Checkout Session moves: paid, declined, settled later, expired, and the events it sends.

Nothing runs in the background: `tick` expires sessions past `expires_at` and settles bank
debits that are due, by `env.clock`, whenever the API or the page is used, so tests move the
clock instead of sleeping. Every change a webhook endpoint would hear about emits its event.
Call these with the state lock held.
"""

from __future__ import annotations

from typing import Any

from ..common import random_id
from . import notify
from .store import StripeSandbox


def tick(state: StripeSandbox) -> None:
    """Expire what is past expires_at and settle bank debits that are due (by the clock)."""
    now = state.env.clock.timestamp()
    for session in list(state.sessions.values()):
        if session["status"] == "open" and session["expires_at"] <= now:
            expire(state, session)
    for session_id, (due, succeeds) in list(state.settlements.items()):
        if due <= now:
            del state.settlements[session_id]
            _settle(state, state.sessions[session_id], succeeds)


def intent_for(state: StripeSandbox, session: dict[str, Any], method: str) -> dict[str, Any]:
    """The session's payment intent, created at the first confirmation attempt."""
    if session["payment_intent"]:
        intent = state.intents[session["payment_intent"]]
    else:
        intent = {
            "id": random_id("pi_", 24),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "created": state.env.clock.timestamp(),
            "currency": session["currency"],
            "latest_charge": None,
            "last_payment_error": None,
            "livemode": False,
            "metadata": dict(session.get("_intent_metadata") or {}),
            "status": "requires_payment_method",
        }
        state.intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
    intent["payment_method_types"] = [method]
    intent["last_payment_error"] = None
    return intent


def succeed(state: StripeSandbox, intent: dict[str, Any]) -> None:
    """The money moved: a succeeded charge, and the intent received in full."""
    charge = {
        "id": random_id("ch_", 24),
        "object": "charge",
        "amount": intent["amount"],
        "amount_refunded": 0,
        "currency": intent["currency"],
        "payment_intent": intent["id"],
        "paid": True,
        "refunded": False,
        "status": "succeeded",
    }
    state.charges[charge["id"]] = charge
    intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])


def complete(state: StripeSandbox, session: dict[str, Any], *, paid: bool) -> None:
    """The payer finished: `paid` False for a bank debit that settles later."""
    session.update(
        status="complete",
        payment_status="paid" if paid else "unpaid",
        url=None,
        customer_details={"email": session["customer_email"], "name": None},
    )
    _emit(state, "checkout.session.completed", session)


def expire(state: StripeSandbox, session: dict[str, Any]) -> None:
    session.update(status="expired", url=None)
    _emit(state, "checkout.session.expired", session)


def _settle(state: StripeSandbox, session: dict[str, Any], succeeds: bool) -> None:
    intent = state.intents[session["payment_intent"]]
    if succeeds:
        succeed(state, intent)
        session["payment_status"] = "paid"
        _emit(state, "checkout.session.async_payment_succeeded", session)
        return
    intent["status"] = "requires_payment_method"
    intent["last_payment_error"] = {
        "code": "payment_method_provider_decline",
        "message": "The customer's bank account could not be debited.",
        "type": "invalid_request_error",
    }
    _emit(state, "checkout.session.async_payment_failed", session)


def _emit(state: StripeSandbox, event_type: str, session: dict[str, Any]) -> None:
    notify.send_event(state.env, event_type, state.render(session, []))
