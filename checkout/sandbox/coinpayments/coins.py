"""The coins of the demo account: demo prices, deposit addresses and amounts in 1e-8 units.

Coin amounts are whole numbers of 1e-8 (what `get_tx_info` calls `amount` and `received`); the
API writes them with eight decimals where it sends strings (`amountf`, `amount2`).
"""

from __future__ import annotations

import secrets
from decimal import ROUND_UP, Decimal

from ..common import random_id

SATOSHI = Decimal("0.00000001")

# Demo prices: USD per coin, and units of each fiat currency per USD.
COIN_USD = {
    "BTC": Decimal("65000"),
    "LTC": Decimal("80"),
    "LTCT": Decimal("80"),  # CoinPayments' Litecoin test coin
    "ETH": Decimal("3200"),
    "BCH": Decimal("400"),
    "DOGE": Decimal("0.15"),
    "DASH": Decimal("30"),
    "XRP": Decimal("0.6"),
    "TRX": Decimal("0.12"),
    "USDT": Decimal("1"),
    "USDC": Decimal("1"),
}
FIAT_PER_USD = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "CHF": Decimal("0.88"),
    "SAR": Decimal("3.75"),
    "AED": Decimal("3.6725"),
    "KWD": Decimal("0.307"),
    "BHD": Decimal("0.376"),
    "JOD": Decimal("0.709"),
    "JPY": Decimal("150"),
    "KRW": Decimal("1350"),
    "INR": Decimal("83"),
    "TRY": Decimal("32"),
    "EGP": Decimal("48"),
}
TAG_COINS = frozenset({"XRP"})  # coins that need a destination tag

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32_PREFIXES = {"BTC": "bc1q", "LTC": "ltc1q", "LTCT": "tltc1q"}
_BASE58_FIRST = {"DOGE": "D", "XRP": "r", "TRX": "T", "DASH": "X"}


def usd(amount: Decimal, currency: str) -> Decimal | None:
    """`amount` of a coin or fiat currency in US dollars; None for a currency we do not price."""
    if currency in COIN_USD:
        return amount * COIN_USD[currency]
    if currency in FIAT_PER_USD:
        return amount / FIAT_PER_USD[currency]
    return None


def units_for(usd_amount: Decimal, coin: str) -> int:
    """What the buyer must send, rounded up to a whole unit so the merchant is never short."""
    coins = (usd_amount / COIN_USD[coin]).quantize(SATOSHI, rounding=ROUND_UP)
    return max(1, int(coins / SATOSHI))


def address(coin: str) -> str:
    """A deposit address that looks like the coin's own (bech32, 0x or base58)."""
    if coin in _BECH32_PREFIXES:
        return random_id(_BECH32_PREFIXES[coin], 38, _BECH32)
    if coin in ("ETH", "USDT", "USDC"):
        return "0x" + secrets.token_hex(20)
    return random_id(_BASE58_FIRST.get(coin, "1"), 33, _BASE58)


def dest_tag(coin: str) -> str | None:
    """The destination tag a tag coin needs next to the address; None for every other coin."""
    return str(secrets.randbelow(10**9)) if coin in TAG_COINS else None


def fee(units: int) -> str:
    """The 0.5% fee an IPN reports, in coin, eight decimals."""
    amount = (Decimal(units) * SATOSHI * Decimal("0.005")).quantize(SATOSHI, rounding=ROUND_UP)
    return f"{amount:.8f}"


def f8(units: int) -> str:
    """Units of 1e-8 as the API's eight-decimal string."""
    return f"{(Decimal(units) * SATOSHI):.8f}"
