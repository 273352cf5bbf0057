"""What Stripe can charge and in which units: the rules from https://docs.stripe.com/currencies.

Kept apart from the client because both the request side (amounts sent in Stripe's units) and
the pure status mapping (amounts read back into our Money) need them; see docs/currencies.md.
"""

from __future__ import annotations

from ..currency import CurrencyRules, codes

# What Stripe can charge, from https://docs.stripe.com/currencies (see docs/currencies.md).
# Stripe's presentment currencies (card payments), lower-cased in the API.
_CURRENCIES = codes(
    """
    USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD
    STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW
    """
)
# "Zero-decimal currencies": the amount is in whole units, whatever ISO 4217 says (MGA).
_ZERO_DECIMAL = codes("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF")
# "Three-decimal currencies": the last digit of the amount must be 0.
_THREE_DECIMAL = codes("BHD JOD KWD OMR TND")
# "Special cases": ISK is whole krónur but stays two-decimal in the API (100 = 1 ISK), so its
# amounts are multiples of 100. (HUF and TWD are two-decimal for charges; their zero-decimal
# rule concerns payouts only.)
# "Minimum and maximum charge amounts", in Stripe's units; at most eight digits everywhere.
_MINIMUM = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000,
    "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
}  # fmt: skip
RULES = CurrencyRules(
    gateway="Stripe",
    currencies=_CURRENCIES,
    decimals={"ISK": 2, **dict.fromkeys(_ZERO_DECIMAL, 0), **dict.fromkeys(_THREE_DECIMAL, 3)},
    multiple_of={"ISK": 100, **dict.fromkeys(_THREE_DECIMAL, 10)},
    minimum=_MINIMUM,
    maximum_digits=8,
)
