"""The orders placed from this browser, remembered in the signed session cookie.

There are no shopper accounts: holding an unguessable ref is what lets someone see a payment,
and no URL lists other people's orders.
"""

from __future__ import annotations

from flask import session

_KEY = "orders"
_LIMIT = 50


def remember(order_ref: str) -> None:
    refs = [r for r in session.get(_KEY, []) if r != order_ref]
    session[_KEY] = [order_ref, *refs][:_LIMIT]


def remembered() -> list[str]:
    return list(session.get(_KEY, []))
