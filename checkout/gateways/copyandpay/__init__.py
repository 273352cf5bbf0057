"""HyperPay COPYandPAY (OPPWA payment widget) as a Tollgate gateway plugin (docs/copyandpay.md)."""

from __future__ import annotations

import os

from ..base import GatewayPlugin
from .client import CopyAndPayGateway
from .presentation import PRESENTATION
from .settings import SETTINGS

plugin = GatewayPlugin(
    name=CopyAndPayGateway.name,
    gateway=CopyAndPayGateway,
    settings=SETTINGS,
    presentation=PRESENTATION,
    sandbox="checkout.sandbox.copyandpay",
    templates=os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"),
)
