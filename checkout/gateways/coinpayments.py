"""CoinPayments legacy API v1 client (placeholder until the CoinPayments work lands)."""

from __future__ import annotations

from .base import Gateway


class CoinPaymentsGateway(Gateway):
    name = "coinpayments"
    required_settings = (
        "COINPAYMENTS_PUBLIC_KEY",
        "COINPAYMENTS_PRIVATE_KEY",
        "COINPAYMENTS_MERCHANT_ID",
        "COINPAYMENTS_IPN_SECRET",
    )
