"""`POST /v1/refunds` (C.8): refund a payment intent's charge, in full or in part.

The checks and their messages are Stripe's: one of `payment_intent` or `charge`, nothing
refunded twice, never more than is left on the charge.
"""

from __future__ import annotations

from typing import Any

from ..common import random_id
from .currencies import check_amount, show_amount
from .errors import ApiError, invalid, no_such
from .params import integer, metadata
from .store import StripeSandbox

_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(state: StripeSandbox, params: dict[str, Any]) -> dict[str, Any]:
    charge = _charge(state, params)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise ApiError(
            400,
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = integer(params, "amount") if "amount" in params else remaining
    if amount <= 0:
        raise invalid("amount", "Invalid positive integer", "parameter_invalid_integer")
    check_amount(amount, charge["currency"], "amount")
    if amount > remaining:
        raise ApiError(
            400,
            f"Refund amount ({show_amount(amount, charge['currency'])}) is greater than "
            f"unrefunded amount on charge ({show_amount(remaining, charge['currency'])})",
            code="amount_too_large",
            param="amount",
        )
    reason = params.get("reason")
    if reason is not None and reason not in _REASONS:
        raise invalid(
            "reason",
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
        )
    refund_metadata = metadata(params.get("metadata"), "metadata")  # validated before any change
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refund = {
        "id": random_id("re_", 24),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": state.env.clock.timestamp(),
        "currency": charge["currency"],
        "metadata": refund_metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "status": "succeeded",
    }
    state.refunds[refund["id"]] = refund
    return refund


def _charge(state: StripeSandbox, params: dict[str, Any]) -> dict[str, Any]:
    """The charge to refund, named directly or through its payment intent."""
    if params.get("payment_intent"):
        intent = state.intents.get(params["payment_intent"])
        if intent is None:
            raise no_such("payment_intent", params["payment_intent"], "payment_intent")
        charge = state.charges.get(intent.get("latest_charge") or "")
        if intent["status"] != "succeeded" or charge is None:
            raise ApiError(
                400,
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return charge
    if params.get("charge"):
        charge = state.charges.get(params["charge"])
        if charge is None:
            raise no_such("charge", params["charge"], "charge")
        return charge
    raise ApiError(
        400,
        "One of the following params should be provided for this request: "
        "payment_intent or charge.",
    )
