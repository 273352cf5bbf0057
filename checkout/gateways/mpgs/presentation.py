"""How the checkout shows MPGS."""

from ..base import Presentation

PRESENTATION = Presentation(
    label="Card (HyperPay MPGS)",
    note="Visa / Mastercard / mada",
    logo="img/gateways/mastercard.svg",
    provider="HyperPay MPGS",
)
