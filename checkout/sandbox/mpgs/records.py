"""The gateway's record shapes: Retrieve Order (B.8) and the transaction record (B.9).

The same transaction record is the Retrieve Transaction body, the REFUND answer and the webhook
payload, so it is built once, when the transaction happens, and kept on the order.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .answers import money, stamp

if TYPE_CHECKING:
    from .store import OrderState

_ACQUIRER_CODES = {
    "APPROVED": "00",
    "DECLINED": "05",
    "INSUFFICIENT_FUNDS": "51",
    "EXPIRED_CARD": "54",
}
#: transaction types the acquirer authorises, so their records carry its codes
_ACQUIRER_TYPES = ("PAYMENT", "AUTHORIZATION", "REFUND", "CAPTURE")


def order_summary(order: OrderState) -> dict[str, Any]:
    """The order's own fields, as Retrieve Order has them and each record's `order` repeats."""
    c = order.currency
    summary: dict[str, Any] = {
        "amount": money(order.amount, c),
        "creationTime": order.created,
        "currency": c,
        "description": order.description,
        "id": order.id,
        "lastUpdatedTime": order.updated or order.created,
        "merchantCategoryCode": "4814",
        "status": order.status,
        "totalAuthorizedAmount": money(order.authorized, c),
        "totalCapturedAmount": money(order.captured, c),
        "totalDisbursedAmount": money(Decimal(0), c),
        "totalRefundedAmount": money(order.refunded, c),
    }
    if order.authentication_status:
        summary["authenticationStatus"] = order.authentication_status
    return summary


def order_body(order: OrderState) -> dict[str, Any]:
    """Retrieve Order: order fields at the top level, `transaction` a list of records."""
    latest = order.transactions[-1] if order.transactions else None
    body: dict[str, Any] = order_summary(order)
    body.update(
        merchant=order.merchant,
        result=latest["result"] if latest else "SUCCESS",
    )
    if order.card:
        body["sourceOfFunds"] = {"provided": {"card": order.card}, "type": "CARD"}
    body["transaction"] = list(order.transactions)
    return body


def transaction_record(
    order: OrderState,
    *,
    now: datetime,
    txn_id: str,
    txn_type: str,
    result: str,
    gateway_code: str,
    amount: Decimal,
    entry_point: str,
    reference: str | None,
    rng: random.Random,
    merchant_id: str,
) -> dict[str, Any]:
    """One transaction on `order` as it stands now (set the order's state first)."""
    txn: dict[str, Any] = {
        "amount": money(amount, order.currency),
        "currency": order.currency,
        "id": txn_id,
        "source": "INTERNET",
        "type": txn_type,
    }
    if result == "SUCCESS" and txn_type in _ACQUIRER_TYPES:
        txn["authorizationCode"] = f"{rng.randrange(10**6):06d}"
        txn["receipt"] = f"{rng.randrange(10**12):012d}"
        txn["acquirer"] = {"id": "SANDBOX_ACQUIRER", "merchantId": merchant_id}
    if reference:
        txn["reference"] = reference
    record: dict[str, Any] = {
        "gatewayEntryPoint": entry_point,
        "merchant": order.merchant,
        "order": order_summary(order),
        "response": _response(txn_type, result, gateway_code),
        "result": result,
        "timeOfRecord": stamp(now),
        "transaction": txn,
        "version": str(order.api_version),
    }
    if order.card:
        record["sourceOfFunds"] = {"provided": {"card": order.card}, "type": "CARD"}
    return record


def _response(txn_type: str, result: str, gateway_code: str) -> dict[str, Any]:
    """The record's `response`: authentication has no acquirer, so only the gateway's code."""
    response: dict[str, Any] = {"gatewayCode": gateway_code}
    if txn_type != "AUTHENTICATION":
        response["acquirerCode"] = _ACQUIRER_CODES.get(gateway_code, "05")
        response["acquirerMessage"] = gateway_code.replace("_", " ").title()
        response["gatewayRecommendation"] = "NO_ACTION" if result == "SUCCESS" else "DO_NOT_PROCEED"
    return response
