"""The orders placed from this browser, remembered in the signed session cookie.

There are no shopper accounts: holding an unguessable ref is what lets someone see a payment,
and no URL lists other people's orders. The same signed cookie keeps the checkout attempt last
sent to a gateway, so the Back button cannot turn one purchase into two orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import session

_KEY = "orders"
_ATTEMPT_KEY = "checkout_attempt"
_LIMIT = 50


def remember(order_ref: str) -> None:
    refs = [r for r in session.get(_KEY, []) if r != order_ref]
    session[_KEY] = [order_ref, *refs][:_LIMIT]


def remembered() -> list[str]:
    return list(session.get(_KEY, []))


@dataclass(frozen=True)
class PendingAttempt:
    """The checkout attempt this browser last sent to a gateway, and the order it belongs to."""

    token: str
    order_ref: str


def remember_attempt(token: str, order_ref: str) -> None:
    """Keep the attempt in the session too: a page reloaded by Back has lost its hidden token."""
    session[_ATTEMPT_KEY] = {"token": token, "order": order_ref}


def pending_attempt() -> PendingAttempt | None:
    value = session.get(_ATTEMPT_KEY)
    if not isinstance(value, dict):
        return None
    token, order_ref = value.get("token"), value.get("order")
    if not isinstance(token, str) or not isinstance(order_ref, str):
        return None
    return PendingAttempt(token, order_ref)


def reset_keeping_shopper_state() -> None:
    """Start a fresh session (staff log in or out) but keep this browser's orders.

    Everything else goes, so a planted or stale key never survives a change of privilege; the
    shopper's list and pending attempt are only order refs and a token, never a privilege.
    """
    kept = {key: session[key] for key in (_KEY, _ATTEMPT_KEY) if key in session}
    session.clear()
    session.update(kept)
