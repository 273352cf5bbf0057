"""The stripe gateway plugin: found by the registry through `plugin`."""

from ..base import GatewayPlugin
from .client import StripeGateway
from .presentation import PRESENTATION
from .settings import SETTINGS

plugin = GatewayPlugin(
    name=StripeGateway.name,
    gateway=StripeGateway,
    settings=SETTINGS,
    presentation=PRESENTATION,
    sandbox="checkout.sandbox.stripe",
)
