"""The test cards the hosted page knows, and a card as the gateway shows it back (masked).

Any other number that passes the Luhn check is declined, as a real test merchant would be.
"""

from __future__ import annotations

from typing import Any

#: card number -> (outcome, gatewayCode); outcome "3ds" asks for a challenge first
TEST_CARDS: dict[str, tuple[str, str]] = {
    "5123450000000008": ("approve", "APPROVED"),
    "4508750015741019": ("approve", "APPROVED"),
    "4000000000000002": ("decline", "DECLINED"),
    "4000000000009995": ("decline", "INSUFFICIENT_FUNDS"),
    "4000000000000069": ("decline", "EXPIRED_CARD"),
    "4000000000003220": ("3ds", "APPROVED"),
}
CARD_LABELS = {
    "5123450000000008": "Mastercard, approved",
    "4508750015741019": "Visa, approved",
    "4000000000000002": "declined",
    "4000000000009995": "declined: insufficient funds",
    "4000000000000069": "declined: expired card",
    "4000000000003220": "3-D Secure challenge (then approve or fail)",
}


def card_details(number: str) -> dict[str, Any]:
    """`sourceOfFunds.provided.card`: brand by first digit, the number masked as MPGS masks it."""
    brand = "VISA" if number.startswith("4") else "MASTERCARD"
    return {
        "brand": brand,
        "number": number[:6] + "x" * (len(number) - 10) + number[-4:],
        "expiry": {"month": "1", "year": "39"},
        "scheme": brand,
        "fundingMethod": "CREDIT",
    }
