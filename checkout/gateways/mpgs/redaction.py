"""What of an MPGS answer we keep: no card, payer, device or billing data.

Used by the status mapping (Payment.last_raw), the notifications (the stored payload) and the
client (refund answers), so it lives on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..wire import json_safe

_ORDER_FIELDS = (
    "id",
    "amount",
    "currency",
    "status",
    "result",
    "merchant",
    "creationTime",
    "lastUpdatedTime",
    "totalAuthorizedAmount",
    "totalCapturedAmount",
    "totalRefundedAmount",
    "totalDisbursedAmount",
    "authenticationStatus",
    "chargeback",
)
_TRANSACTION_FIELDS = ("id", "type", "amount", "currency", "receipt", "reference", "source")
_RESPONSE_FIELDS = ("gatewayCode", "acquirerCode", "acquirerMessage", "gatewayRecommendation")


def redact_transaction(data: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction record reduced to what staff need: no card, payer, device or billing data."""
    kept: dict[str, Any] = {
        key: data[key]
        for key in ("result", "merchant", "gatewayEntryPoint", "timeOfRecord", "version")
        if key in data
    }
    if isinstance(data.get("order"), dict):
        kept["order"] = {k: data["order"][k] for k in _ORDER_FIELDS if k in data["order"]}
    if isinstance(data.get("transaction"), dict):
        txn = data["transaction"]
        kept["transaction"] = {k: txn[k] for k in _TRANSACTION_FIELDS if k in txn}
    if isinstance(data.get("response"), dict):
        kept["response"] = {
            k: data["response"][k] for k in _RESPONSE_FIELDS if k in data["response"]
        }
    funds = data.get("sourceOfFunds")
    if isinstance(funds, dict) and funds.get("type"):
        kept["sourceOfFunds"] = {"type": funds["type"]}
    return json_safe(kept)


def redact_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """A Retrieve Order answer without card or payer data, for Payment.last_raw."""
    kept = {key: order[key] for key in _ORDER_FIELDS if key in order}
    transactions = order.get("transaction")
    if isinstance(transactions, list):
        kept["transaction"] = [redact_transaction(t) for t in transactions if isinstance(t, dict)]
    return json_safe(kept)
