"""Create Checkout Session (B.4, B.5): the operation named by API version, and its checks.

v63 and later call it INITIATE_CHECKOUT and answer `checkoutMode`; v62 and earlier call it
CREATE_CHECKOUT_SESSION. Each refused field gets the gateway's own explanation, so a client
sending a bad amount or currency learns it here rather than in production.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from ...money import exponent
from ..common import UPPER_ALNUM, random_id
from .answers import Refused, api_answer, invalid, missing, not_json, parse_amount
from .store import CheckoutSessionState, MpgsStore, new_hex

log = logging.getLogger(__name__)

INITIATE_CHECKOUT_SINCE = 63
DEFAULT_TIMEOUT = 900  # seconds a session lives when interaction.timeout is absent
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_OPERATIONS = ("PURCHASE", "AUTHORIZE", "VERIFY", "NONE")
_URLS = ("returnUrl", "cancelUrl", "timeoutUrl")


def create_session(store: MpgsStore, version: int, merchant: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return not_json()
    try:
        _check_operation(version, body.get("apiOperation"))
        raw_order = body.get("order") if isinstance(body.get("order"), dict) else {}
        raw_interaction = body.get("interaction")
        order = _order(raw_order)
        interaction = _interaction(
            version, raw_interaction if isinstance(raw_interaction, dict) else {}
        )
        order["notificationUrl"] = _notification_url(raw_order)  # checked last, as MPGS does
    except Refused as refused:
        return refused.response
    timeout = int(interaction.get("timeout") or DEFAULT_TIMEOUT)
    session = CheckoutSessionState(
        id=random_id("SESSION0002", 20, UPPER_ALNUM),
        merchant=merchant,
        api_version=version,
        version=new_hex(10),
        success_indicator=new_hex(16),
        order=order,
        interaction=interaction,
        expires_at=store.now() + timedelta(seconds=timeout),
    )
    with store.lock:
        store.sessions[session.id] = session
    answer: dict[str, Any] = {}
    if version >= INITIATE_CHECKOUT_SINCE:
        answer["checkoutMode"] = "WEBSITE"
    answer.update(
        merchant=merchant,
        result="SUCCESS",
        session={"id": session.id, "updateStatus": "SUCCESS", "version": session.version},
        successIndicator=session.success_indicator,
    )
    log.info("sandbox mpgs: session %s for order %s", session.id, order["id"])
    return api_answer(answer, 201)


def _check_operation(version: int, operation: Any) -> None:
    expected = (
        "INITIATE_CHECKOUT" if version >= INITIATE_CHECKOUT_SINCE else "CREATE_CHECKOUT_SESSION"
    )
    if not operation:
        raise Refused(missing("apiOperation"))
    if operation != expected:
        raise Refused(
            invalid(
                "apiOperation",
                f"Value '{operation}' is invalid. Not a valid operation for version {version}",
            )
        )


def _order(order: dict[str, Any]) -> dict[str, Any]:
    """The order fields the session keeps, the amount as an exact Decimal (URL aside)."""
    for name in ("id", "amount", "currency"):
        if order.get(name) in (None, ""):
            raise Refused(missing(f"order.{name}"))
    order_id = str(order["id"])
    if not 1 <= len(order_id) <= 40:
        raise Refused(invalid("order.id", f"Value '{order_id}' is invalid. Length is 1-40"))
    currency = str(order["currency"])
    if not _CURRENCY.match(currency):
        raise Refused(
            invalid("order.currency", f"Value '{currency}' is invalid. Invalid currency code")
        )
    raw_amount = str(order["amount"])
    amount = parse_amount(raw_amount)
    if amount is None or -amount.as_tuple().exponent > exponent(currency):
        raise Refused(
            invalid(
                "order.amount",
                f"Value '{raw_amount}' is invalid. Invalid amount for currency {currency}",
            )
        )
    if amount <= 0:
        raise Refused(
            invalid(
                "order.amount",
                f"Value '{raw_amount}' is invalid. Transaction or order amount must be "
                "greater than zero",
            )
        )
    return {
        "id": order_id,
        "amount": amount,
        "currency": currency,
        "description": str(order.get("description") or ""),
    }


def _interaction(version: int, interaction: dict[str, Any]) -> dict[str, Any]:
    """The interaction as sent, its operation defaulting to PURCHASE."""
    op = interaction.get("operation")
    if version >= INITIATE_CHECKOUT_SINCE and not op:
        raise Refused(missing("interaction.operation"))
    if op and op not in _OPERATIONS:
        raise Refused(invalid("interaction.operation", f"Value '{op}' is invalid."))
    timeout = interaction.get("timeout")
    if timeout is not None and (not str(timeout).isdigit() or int(str(timeout)) <= 0):
        raise Refused(invalid("interaction.timeout", f"Value '{timeout}' is invalid."))
    for name in _URLS:
        url = interaction.get(name)
        if url and not str(url).startswith(("http://", "https://")):
            raise Refused(invalid(f"interaction.{name}", f"Value '{url}' is invalid."))
    kept = dict(interaction)
    kept["operation"] = op or "PURCHASE"
    return kept


def _notification_url(order: dict[str, Any]) -> str:
    """Where this order's webhooks go instead of the merchant-admin default ("" for none)."""
    notification_url = order.get("notificationUrl")
    if notification_url and not str(notification_url).startswith(("http://", "https://")):
        raise Refused(invalid("order.notificationUrl", f"Value '{notification_url}' is invalid."))
    return str(notification_url or "")
