"""The coinpayments gateway plugin: found by the registry through `plugin`."""

import os

from ..base import GatewayPlugin
from .client import CoinPaymentsGateway
from .presentation import PRESENTATION
from .settings import SETTINGS

plugin = GatewayPlugin(
    name=CoinPaymentsGateway.name,
    gateway=CoinPaymentsGateway,
    settings=SETTINGS,
    presentation=PRESENTATION,
    sandbox="checkout.sandbox.coinpayments",
    templates=os.path.join(os.path.dirname(__file__), "templates"),
)
