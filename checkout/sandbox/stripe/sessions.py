"""`POST /v1/checkout/sessions` and `.../expire` (C.5-C.7): payment mode, hosted page only.

Parameters are checked as Stripe checks them, unknown ones refused, so a client that sends
something the real API would reject fails here first. Prices are given inline (`price_data`):
the sandbox has no price catalogue.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..common import random_id
from .currencies import check_amount, check_currency, check_minimum
from .errors import ApiError, invalid, missing, no_such
from .lifecycle import expire
from .params import integer, metadata
from .store import StripeSandbox

_CREATE_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "customer_email",
        "metadata",
        "expires_at",
        "payment_intent_data",
        "payment_method_types",
        "ui_mode",
        "locale",
        "submit_type",
        "billing_address_collection",
        "customer_creation",
        "allow_promotion_codes",
        "expand",
    }
)
_DAY = 86400
_HALF_HOUR = 1800


def create_session(state: StripeSandbox, params: dict[str, Any], host_url: str) -> dict[str, Any]:
    unknown = sorted(set(params) - _CREATE_PARAMS)
    if unknown:
        raise invalid(unknown[0], f"Received unknown parameter: {unknown[0]}", "parameter_unknown")
    if "mode" not in params:
        raise missing("mode")
    if params["mode"] != "payment":
        raise invalid("mode", "This sandbox only emulates mode=payment.")
    if params.get("ui_mode", "hosted_page") not in ("hosted_page", "hosted"):
        raise invalid("ui_mode", "This sandbox only emulates the hosted page.")
    items, currency = _line_items(params.get("line_items"))
    now = state.env.clock.timestamp()
    expires_at = _expires_at(params, now)
    for key in ("success_url", "cancel_url"):
        if key in params and urlsplit(str(params[key])).scheme not in ("http", "https"):
            raise invalid(key, "Not a valid URL", "url_invalid")
    email = params.get("customer_email")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
        raise invalid("customer_email", f"Invalid email address: {email}", "email_invalid")
    session_metadata = metadata(params.get("metadata"), "metadata")
    reference = params.get("client_reference_id")
    if reference is not None and len(str(reference)) > 200:
        raise invalid("client_reference_id", "client_reference_id is too long (200 max).")
    intent_data = params.get("payment_intent_data") or {}
    metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")

    session_id = random_id("cs_test_", 58)
    total = sum(item["amount_total"] for item in items)
    check_amount(total, currency, "line_items")
    check_minimum(total, currency)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": total,
        "amount_total": total,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": reference,
        "client_secret": None,
        "created": now,
        "currency": currency,
        "customer": None,
        "customer_details": None,
        "customer_email": email,
        "expires_at": expires_at,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": session_metadata,
        "mode": "payment",
        "payment_intent": None,
        "payment_method_types": params.get("payment_method_types") or ["card", "us_bank_account"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"{host_url.rstrip('/')}/c/pay/{session_id}",
    }
    state.sessions[session_id] = session
    state.line_items[session_id] = items
    session["_intent_metadata"] = intent_data.get("metadata") or {}
    return session


def expire_session(state: StripeSandbox, session_id: str) -> dict[str, Any]:
    session = state.session(session_id)
    if session["status"] != "open":
        raise ApiError(
            400,
            'Only Checkout Sessions with a status in ["open"] can be expired. This '
            f"Checkout Session has a status of `{session['status']}`.",
        )
    expire(state, session)
    return session


def _expires_at(params: dict[str, Any], now: int) -> int:
    """A day from now unless asked; Stripe allows 30 minutes to 24 hours."""
    if "expires_at" not in params:
        return now + _DAY
    expires_at = integer(params, "expires_at")
    if expires_at < now + _HALF_HOUR:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes from Checkout "
            "Session creation.",
        )
    if expires_at >= now + _DAY:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        )
    return expires_at


def _line_items(raw: Any) -> tuple[list[dict[str, Any]], str]:
    """The line items as Stripe returns them, and their one currency."""
    if not raw:
        raise missing("line_items")
    if not isinstance(raw, list):
        raise invalid("line_items", "Invalid array")
    items = [_line_item(item, f"line_items[{n}]") for n, item in enumerate(raw)]
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise invalid("line_items", "All line items must have the same currency.")
    return items, currencies.pop()


def _line_item(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid(where, "Invalid object")
    if "price" in item:
        raise no_such("price", item["price"], where, 400)
    price = item.get("price_data")
    if not isinstance(price, dict):
        raise missing(f"{where}[price_data]")
    for key in ("currency", "product_data"):
        if key not in price:
            raise missing(f"{where}[price_data][{key}]")
    currency = check_currency(str(price["currency"]), f"{where}[price_data][currency]")
    if "unit_amount" not in price:
        raise missing(f"{where}[price_data][unit_amount]")
    unit = integer(price, "unit_amount", f"{where}[price_data][unit_amount]")
    if unit < 0:
        raise invalid(f"{where}[price_data][unit_amount]", "Invalid non-negative integer")
    check_amount(unit, currency, f"{where}[price_data][unit_amount]")
    name = (price["product_data"] or {}).get("name")
    if not name:
        raise missing(f"{where}[price_data][product_data][name]")
    if "quantity" not in item:
        raise missing(f"{where}[quantity]")
    quantity = integer(item, "quantity", f"{where}[quantity]")
    if quantity < 1:
        raise invalid(f"{where}[quantity]", "Invalid positive integer")
    return {
        "id": random_id("li_", 24),
        "object": "item",
        "amount_subtotal": unit * quantity,
        "amount_total": unit * quantity,
        "currency": currency,
        "description": name,
        "price": {"object": "price", "currency": currency, "unit_amount": unit},
        "quantity": quantity,
    }
