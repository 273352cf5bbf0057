"""How the checkout and the status page show CoinPayments."""

from ..base import Presentation

PRESENTATION = Presentation(
    label="Crypto (CoinPayments)",
    note="BTC, LTC and more",
    logo="img/gateways/coinpayments.svg",
    status_partial="coinpayments/how_to_pay.html",
    provider="CoinPayments",
    hosted_origins=("https://www.coinpayments.net",),
)
