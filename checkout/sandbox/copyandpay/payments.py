"""What a submitted card does: a payment record on the checkout, and a webhook about it."""

from __future__ import annotations

from typing import Any

from . import notify
from .answers import stamp
from .cards import card_record
from .store import CheckoutState, CopyAndPayStore, new_payment_id


def record_attempt(
    store: CopyAndPayStore,
    checkout: CheckoutState,
    number: str,
    holder: str,
    brand: str,
    code: str,
    description: str,
) -> dict[str, Any]:
    """Add one payment to the checkout (a checkout may carry a decline, then a success)."""
    record: dict[str, Any] = {
        "id": new_payment_id(),
        "paymentType": checkout.payment_type,
        "paymentBrand": brand,
        "amount": checkout.amount,
        "currency": checkout.currency,
        "descriptor": "4321.1234.5678 Tollgate_Sandbox",
        "merchantTransactionId": checkout.merchant_transaction_id,
        "result": {"code": code, "description": description},
        "card": card_record(number, holder),
        "authentication": {"entityId": checkout.entity_id},
        "ndc": checkout.id,
        "timestamp": stamp(store.now()),
    }
    store.payments[record["id"]] = record
    checkout.payment_ids.append(record["id"])
    notify.send(store, record)
    return record


def settle(store: CopyAndPayStore, record: dict[str, Any], code: str, description: str) -> None:
    """A pending payment reaches its outcome (the bank answered late, a review finished)."""
    record["result"] = {"code": code, "description": description}
    record["timestamp"] = stamp(store.now())
    notify.send(store, record)
