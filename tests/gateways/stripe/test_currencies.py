"""Our Money in Stripe's units and what Stripe cannot charge (docs/currencies.md), without HTTP."""

from __future__ import annotations

import pytest

from checkout.gateways.base import GatewayRejected
from checkout.gateways.stripe.currencies import RULES
from checkout.money import Money


@pytest.mark.parametrize(
    ("money", "units"),
    [
        (Money(1250, "USD"), 1250),
        (Money(50, "USD"), 50),  # the minimum itself
        (Money(1500, "JPY"), 1500),  # zero-decimal, ISO exponent 0 too
        (Money(500000, "MGA"), 5000),  # zero-decimal at Stripe, exponent 2 in ISO 4217
        (Money(500, "ISK"), 50000),  # ISO exponent 0, two-decimal in Stripe's API
        (Money(4250, "KWD"), 4250),  # three-decimal, ends in 0
        (Money(17500, "HUF"), 17500),  # two-decimal for charges
        (Money(5000, "UGX"), 5000),
        (Money(99_999_999, "USD"), 99_999_999),  # eight digits
    ],
)
def test_money_in_stripes_units(money: Money, units: int) -> None:
    assert RULES.can_charge(money) is None
    assert RULES.to_units(money) == units
    assert RULES.to_money(units, money.currency.lower()) == money


@pytest.mark.parametrize(
    ("money", "reason"),
    [
        (Money(4255, "KWD"), "amounts in KWD must be multiples of 0.010 KWD"),
        (Money(1001, "BHD"), "amounts in BHD must be multiples of 0.010 BHD"),
        (Money(500050, "MGA"), "it counts MGA in whole units"),
        (Money(49, "USD"), "its minimum is 0.50 USD"),
        (Money(29, "GBP"), "its minimum is 0.30 GBP"),
        (Money(49, "JPY"), "its minimum is 50 JPY"),
        (Money(17499, "HUF"), "its minimum is 175.00 HUF"),
        (Money(100_000_000, "USD"), "the amount is too large"),
        (Money(0, "USD"), "nothing to charge"),
    ],
)
def test_what_stripe_cannot_charge(money: Money, reason: str) -> None:
    assert RULES.can_charge(money) == f"Stripe cannot charge {money}: {reason}"
    with pytest.raises(GatewayRejected):
        RULES.to_units(money)


def test_a_currency_stripe_does_not_present_is_named() -> None:
    assert RULES.can_charge(Money(1250, "XYZ")) == "Stripe does not take XYZ"
    assert RULES.can_refund(Money(1, "USD")) is None  # no minimum for refunds
