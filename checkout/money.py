"""Money as integer minor units plus a currency code.

Floats never touch an amount: gateways speak decimal strings, we store integers, and this module
is the only place that converts between the two, using each currency's ISO 4217 exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 2. Everything else defaults to 2.
_ISO_EXPONENTS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}
# CoinPayments quotes every coin with 8 decimals ("amountf"), and its integer "amount" fields
# are in 1e-8 units, so coins use exponent 8 here whatever their native precision.
_COIN_EXPONENT = 8
_COINS = frozenset(
    {"BTC", "LTC", "LTCT", "ETH", "BCH", "DOGE", "USDT", "USDC", "XRP", "TRX", "DASH"}
)


#: Longest amount text read at all ("-" + 18 digits + "." + 8 decimals, with slack): anything
#: longer is refused before Decimal() sees it.
MAX_AMOUNT_CHARS = 40
#: Most digits before the decimal point. No price or refund comes near 10**18, and a larger
#: exponent ("1e400000") is what makes int() and quantize() cost seconds of CPU.
MAX_INTEGER_DIGITS = 18
#: Most decimals written out, whatever the currency ("1e-400000" is refused as unreadable).
MAX_DECIMALS = 30


class MoneyError(ValueError):
    """An amount string that cannot be represented exactly in its currency."""


def exponent(currency: str) -> int:
    """Number of decimal places of one minor unit of `currency`."""
    code = currency.upper()
    if code in _COINS:
        return _COIN_EXPONENT
    return _ISO_EXPONENTS.get(code, 2)


def is_coin(currency: str) -> bool:
    return currency.upper() in _COINS


def to_minor(value: str | int | Decimal, currency: str) -> int:
    """Parse a decimal amount into minor units, refusing anything that would need rounding.

    Gateways send amounts as strings ("10.50"), JSON numbers that json decodes to int, or
    Decimal when parsed with `parse_float=Decimal`. A value with more precision than the currency
    allows is an error rather than silently rounded, because it means the two sides disagree.
    """
    amount = read_decimal(value)
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value!r} has more decimals than {currency.upper()} allows")
    return int(scaled)


def read_decimal(value: object) -> Decimal:
    """`value` as a finite Decimal of bounded size, or MoneyError, before any arithmetic.

    Gateways, notifications and the staff refund form hand us numbers as text, JSON numbers or
    Decimal. Their size is checked while it is still cheap: the text's length before Decimal()
    parses it, the exponent right after, so `1e400000` or ten thousand nines cost microseconds
    instead of the seconds int() or quantize() would spend on them. Error messages never quote
    the whole input (they end up in flash messages and logs).
    """
    if isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise MoneyError("not an amount: too large")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_AMOUNT_CHARS:
        raise MoneyError(f"not an amount: longer than {MAX_AMOUNT_CHARS} characters")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"not an amount: {text!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not an amount: {text!r}")
    if amount and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise MoneyError(f"not an amount: {text!r} is too large")
    if amount.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]  # finite: an int
        raise MoneyError(f"not an amount: {text!r} has too many decimals")
    return amount


def to_decimal_str(minor: int, currency: str) -> str:
    """Format minor units as the decimal string gateways expect ("10.50", "1000", "1.250")."""
    exp = exponent(currency)
    amount = Decimal(minor).scaleb(-exp)
    return str(amount.quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount: integer minor units and an upper-case currency code."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise MoneyError(f"minor units must be an int, got {self.amount!r}")
        object.__setattr__(self, "currency", self.currency.upper())

    @classmethod
    def known(cls, amount: int | None, currency: str | None) -> Money | None:
        """Money when both the amount and the currency are known (a quote not yet made: None)."""
        if amount is None or not currency:
            return None
        return cls(amount, currency)

    @classmethod
    def parse(cls, value: str | int | Decimal, currency: str) -> Money:
        return cls(to_minor(value, currency), currency)

    @property
    def decimal_str(self) -> str:
        return to_decimal_str(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.decimal_str} {self.currency}"
