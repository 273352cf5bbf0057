"""How the checkout shows COPYandPAY to the shopper."""

from __future__ import annotations

from ..base import Presentation

PRESENTATION = Presentation(
    label="Card (HyperPay COPYandPAY)",
    note="mada / Visa / Mastercard",
    logo="img/gateways/copyandpay.svg",
    launch_template="copyandpay/widget.html",
    provider="HyperPay COPYandPAY",
)
