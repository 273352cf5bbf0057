"""Stripe's currency rules as the real API enforces them (https://docs.stripe.com/currencies).

The emulator keeps its own copy of Stripe's tables, written from Stripe's pages and not taken
from our client, so a client that gets a currency wrong fails here as it would at Stripe:
- presentment currencies: anything else is `Invalid currency`;
- zero-decimal currencies (JPY, MGA ...) count whole units; ISK counts hundredths but only
  whole krónur are allowed (`invalid_charge_amount_no_decimal_compatible`, Stripe's support note
  "Deprecation of fractional ISK charges and refunds");
- three-decimal currencies (BHD JOD KWD OMR TND) must end in 0 ("round to the nearest ten");
- minimum charge amounts per currency (`amount_too_small`), at most eight digits
  (`amount_too_large`).
"""

from __future__ import annotations

from decimal import Decimal

from .errors import ApiError

SUPPORTED = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp
    byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip
    gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt
    lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr
    nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd
    std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar
    zmw
    """.split()  # noqa: SIM905 - Stripe's list, as its page prints it
)
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())  # noqa: SIM905
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
MINIMUM = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
    "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
    "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
MAX_AMOUNT = 99_999_999


def decimals(currency: str) -> int:
    """Digits after the point in Stripe's integer amounts (ISK stays two-decimal in the API)."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def show_amount(amount: int, currency: str) -> str:
    """An amount as Stripe's messages write it: `12.50 USD`, `500 JPY`, `4.250 KWD`."""
    places = decimals(currency)
    return f"{Decimal(amount).scaleb(-places):.{places}f} {currency.upper()}"


def check_currency(currency: str, param: str) -> str:
    """The lower-cased code, or Stripe's `Invalid currency` error."""
    code = currency.lower()
    if code not in SUPPORTED:
        raise ApiError(
            400,
            f"Invalid currency: {code}. Stripe currently supports these currencies: "
            + ", ".join(sorted(SUPPORTED)),
            param=param,
        )
    return code


def check_amount(amount: int, currency: str, param: str) -> None:
    """Refuse an amount Stripe's partners cannot take in `currency` (the form, not the minimum)."""
    code = currency.lower()
    if code == "isk" and amount % 100:
        raise ApiError(
            400,
            "Invalid amount. Currency ISK has become effectively zero-decimal and charged "
            "amounts must be evenly divisible by 100. See "
            "https://stripe.com/docs/currencies#special-cases for more information.",
            code="invalid_charge_amount_no_decimal_compatible",
            param=param,
        )
    if code in THREE_DECIMAL and amount % 10:
        raise ApiError(
            400,
            f"Invalid amount. {code.upper()} is a three-decimal currency and the last digit "
            "of the amount must be 0: round it to the nearest ten. See "
            "https://stripe.com/docs/currencies#three-decimal for more information.",
            code="invalid_amount",
            param=param,
        )
    if amount > MAX_AMOUNT:
        raise ApiError(
            400,
            f"Amount must be no more than {show_amount(MAX_AMOUNT, code)}",
            code="amount_too_large",
            param=param,
        )


def check_minimum(total: int, currency: str) -> None:
    """A Checkout Session's total below Stripe's minimum charge for its currency."""
    code = currency.lower()
    least = MINIMUM.get(code, 1)
    if total < least:
        raise ApiError(
            400,
            "The Checkout Session's total amount due must add up to at least "
            f"{show_amount(least, code)}",
            code="amount_too_small",
            param="line_items",
        )
