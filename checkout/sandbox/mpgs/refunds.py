"""`PUT .../order/<id>/transaction/<new id>` with apiOperation REFUND (B.13).

Only REFUND is emulated: the site never captures or voids. The refund is checked the way the
gateway checks it (a new transaction id, the order's currency, no more than is left to refund)
and answers the new transaction record with 201.
"""

from __future__ import annotations

from decimal import Decimal

from flask import request
from werkzeug.wrappers import Response

from . import notify
from .answers import api_answer, invalid, missing, money, no_such_order, not_json, parse_amount
from .store import MpgsStore


def put_transaction(store: MpgsStore, merchant: str, order_id: str, txn_id: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return not_json()
    operation = body.get("apiOperation")
    if not operation:
        return missing("apiOperation")
    if operation != "REFUND":
        return invalid(
            "apiOperation", f"Value '{operation}' is invalid. Not emulated by the sandbox"
        )
    txn = body.get("transaction") if isinstance(body.get("transaction"), dict) else {}
    with store.lock:
        order = store.orders.get(order_id)
        if order is None:
            return no_such_order(merchant, order_id)
        if any(t["transaction"]["id"] == txn_id for t in order.transactions):
            return invalid(
                "transaction.id", f"Value '{txn_id}' is invalid. Transaction ID must be unique"
            )
        for name in ("amount", "currency"):
            if txn.get(name) in (None, ""):
                return missing(f"transaction.{name}")
        if txn["currency"] != order.currency:
            return invalid(
                "transaction.currency",
                f"Value '{txn['currency']}' is invalid. Must match the order currency",
            )
        raw = str(txn["amount"])
        amount = parse_amount(raw)
        if amount is None or amount <= 0:
            return invalid(
                "transaction.amount",
                f"Value '{raw}' is invalid. Transaction or order amount must be greater than zero",
            )
        available = order.captured - order.refunded
        if order.status not in ("CAPTURED", "PARTIALLY_REFUNDED") or amount > available:
            return invalid(
                "transaction.amount",
                f"Value '{raw}' is invalid. Requested refund amount exceeds the amount available "
                f"to refund ({money(max(available, Decimal(0)), order.currency)})",
            )
        order.refunded += amount
        order.status = "REFUNDED" if order.refunded == order.captured else "PARTIALLY_REFUNDED"
        record = store.add_transaction(
            order,
            txn_id=txn_id,
            txn_type="REFUND",
            result="SUCCESS",
            gateway_code="APPROVED",
            amount=amount,
            entry_point="WEB_SERVICES_API",
            reference=str(txn.get("reference") or "") or None,
        )
    notify.send(store.env, order, record)
    return api_answer(record, 201)
