"""What a gateway can charge, and how it writes our Money in its own units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..money import Money, MoneyError, exponent
from .errors import GatewayRejected


@dataclass(frozen=True)
class CurrencyRules:
    """What one gateway can charge, and how it writes our Money in its own units.

    Our Money counts minor units by the ISO 4217 exponent; a gateway may count otherwise (Stripe
    keeps ISK two-decimal and MGA zero-decimal) and may refuse amounts ISO allows (Stripe wants
    three-decimal amounts to end in 0). Each gateway module fills one of these from the gateway's
    own currency documentation (docs/currencies.md cites them); the checkout, refunds and the
    catalogue loader ask `can_charge` before anything is sent, so a price the gateway would
    refuse is shown as such instead of failing at the hosted page.
    """

    gateway: str  # how reasons name the gateway: "Stripe cannot charge 4.255 KWD"
    currencies: frozenset[str] | None = None  # what it takes at all; None: any ISO code
    decimals: Mapping[str, int] = field(default_factory=dict)  # its own, where not ISO's
    multiple_of: Mapping[str, int] = field(default_factory=dict)  # in its units
    minimum: Mapping[str, int] = field(default_factory=dict)  # smallest charge, its units
    maximum_digits: int | None = None  # longest amount it takes, in digits of its units
    maximum_chars: int | None = None  # longest decimal string it takes ("100.00" is 6)

    def decimals_of(self, currency: str) -> int:
        """How many decimals the gateway's amounts in `currency` have."""
        code = currency.upper()
        return self.decimals.get(code, exponent(code))

    def can_charge(self, money: Money) -> str | None:
        """None when the gateway takes `money` as it is; else the reason, in words for people."""
        return self._refusal(money, "charge", minimum=True)

    def can_refund(self, money: Money) -> str | None:
        """As `can_charge` for a refund: the same currencies and amount form, no minimum."""
        return self._refusal(money, "refund", minimum=False)

    def _refusal(self, money: Money, verb: str, *, minimum: bool) -> str | None:
        code = money.currency
        if self.currencies is not None and code not in self.currencies:
            return f"{self.gateway} does not take {code}"
        if money.amount <= 0:
            return f"{self.gateway} cannot {verb} {money}: nothing to {verb}"
        units = self._units_or_none(money)
        if units is None:
            places = self.decimals_of(code)
            grain = "in whole units" if places == 0 else f"with at most {places} decimals"
            return f"{self.gateway} cannot {verb} {money}: it counts {code} {grain}"
        step = self.multiple_of.get(code, 1)
        if units % step:
            smallest = self.to_money(step, code)
            return (
                f"{self.gateway} cannot {verb} {money}: amounts in {code} must be multiples "
                f"of {smallest}"
            )
        if minimum and units < self.minimum.get(code, 1):
            least = self.to_money(self.minimum[code], code)
            return f"{self.gateway} cannot {verb} {money}: its minimum is {least}"
        if self.maximum_digits is not None and len(str(units)) > self.maximum_digits:
            return f"{self.gateway} cannot {verb} {money}: the amount is too large"
        if self.maximum_chars is not None and len(self.decimal_str(money)) > self.maximum_chars:
            return f"{self.gateway} cannot {verb} {money}: the amount is too large"
        return None

    def require(self, money: Money, *, refund: bool = False) -> None:
        """Raise GatewayRejected with the reason when the gateway cannot take `money`."""
        if reason := self.can_refund(money) if refund else self.can_charge(money):
            raise GatewayRejected(reason)

    def to_units(self, money: Money, *, refund: bool = False) -> int:
        """`money` as the integer the gateway expects; GatewayRejected if it cannot take it."""
        self.require(money, refund=refund)
        units = self._units_or_none(money)
        assert units is not None  # can_charge said so
        return units

    def to_money(self, units: int, currency: str) -> Money:
        """An integer amount from the gateway back into our Money (exact, or MoneyError)."""
        code = currency.upper()
        shift = exponent(code) - self.decimals_of(code)
        if shift >= 0:
            return Money(units * 10**shift, code)
        if units % 10**-shift:
            raise MoneyError(f"{units} {code} from {self.gateway} is finer than {code} allows")
        return Money(units // 10**-shift, code)

    def decimal_str(self, money: Money) -> str:
        """`money` as a decimal string with the gateway's decimals ("10.50", "1000")."""
        units = self._units_or_none(money)
        if units is None:
            raise GatewayRejected(f"{self.gateway} cannot write {money}")
        places = self.decimals_of(money.currency)
        return f"{Decimal(units).scaleb(-places):.{places}f}"

    def _units_or_none(self, money: Money) -> int | None:
        shift = self.decimals_of(money.currency) - exponent(money.currency)
        if shift >= 0:
            return money.amount * 10**shift
        if money.amount % 10**-shift:
            return None
        return money.amount // 10**-shift


def codes(text: str) -> frozenset[str]:
    """Currency codes as docs and settings list them ("BHD JOD KWD", "sar, usd"), upper-cased."""
    return frozenset(text.replace(",", " ").upper().split())
