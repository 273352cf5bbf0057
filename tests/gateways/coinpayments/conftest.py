"""Helpers shared by the CoinPayments tests: answers as the API writes them, and payments."""

from __future__ import annotations

from typing import Any

from checkout.models import Payment
from checkout.money import Money

TXN = "CPTESTTXN000000000000000001"


def ok(result: Any) -> dict[str, Any]:
    return {"error": "ok", "result": result}


def make_cp_payment(make_payment, **values: Any) -> Payment:
    defaults: dict[str, Any] = {
        "gateway_reference": TXN,
        "crypto_amount": 15625000,
        "crypto_currency": "LTCT",
        "confirms_needed": 2,
    }
    defaults.update(values)
    return make_payment(gateway="coinpayments", **defaults)


def tx_info(status: Any, received: int = 0, confirms: int = 0) -> dict[str, Any]:
    """A `get_tx_info` result for a 0.15625 LTCT transaction in the given state."""
    return {
        "time_created": 1795305954,
        "time_expires": 1795309554,
        "status": status,
        "status_text": "scripted",
        "type": "coins",
        "coin": "LTCT",
        "amount": 15625000,
        "amountf": "0.15625000",
        "received": received,
        "receivedf": str(Money(received, "LTCT").decimal_str),
        "recv_confirms": confirms,
        "payment_address": "tltc1qexample",
    }
