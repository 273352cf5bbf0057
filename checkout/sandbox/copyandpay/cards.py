"""The sandbox's test cards and what each does (also listed in docs/copyandpay.md).

Any other number that passes the Luhn check is declined, as on a real test entity.
"""

from __future__ import annotations

from typing import Any

#: card number -> (outcome, result code, description); "3ds" shows a challenge page first
TEST_CARDS: dict[str, tuple[str, str, str]] = {
    "4200000000000000": (
        "pay",
        "000.100.110",
        "Request successfully processed in 'Merchant in Integrator Test Mode'",
    ),
    "5454545454545454": ("pay", "000.000.000", "Transaction succeeded"),
    "4464040000000007": ("pay", "000.000.000", "Transaction succeeded"),
    "4000000000000002": ("pay", "800.100.151", "transaction declined (invalid card)"),
    "4000000000000069": ("pay", "800.100.153", "transaction declined (invalid CVV)"),
    "4000000000003220": ("3ds", "000.000.000", "Transaction succeeded"),
    "4000000000000036": ("pay", "000.200.000", "transaction pending"),
    "4000000000000077": (
        "pay",
        "000.400.000",
        "Transaction succeeded (please review manually due to fraud suspicion)",
    ),
}
#: what a failed 3-D Secure challenge answers
AUTHENTICATION_FAILED = ("100.380.401", "User Authentication Failed")
DECLINED = ("800.100.151", "transaction declined (invalid card)")

CARD_LABELS = {
    "4200000000000000": "Visa, approved",
    "5454545454545454": "Mastercard, approved",
    "4464040000000007": "mada, approved",
    "4000000000000002": "declined (invalid card)",
    "4000000000000069": "declined (invalid CVV)",
    "4000000000003220": "3-D Secure challenge, then approved or failed",
    "4000000000000036": "pending (settle it with /_sandbox/copyandpay/payments/<id>)",
    "4000000000000077": "approved, but flagged for manual review",
}


def brand_of(number: str, wanted: str) -> str:
    """The brand a number pays as: mada's BIN when asked for MADA, else by its first digit."""
    if wanted == "MADA" or number.startswith("446404"):
        return "MADA"
    return "VISA" if number.startswith("4") else "MASTER"


def card_record(number: str, holder: str) -> dict[str, Any]:
    """`card` as OPPWA shows it back: BIN and last four digits only."""
    return {
        "bin": number[:6],
        "last4Digits": number[-4:],
        "holder": holder,
        "expiryMonth": "12",
        "expiryYear": "2034",
    }
