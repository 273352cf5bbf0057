"""The mpgs gateway plugin: found by the registry through `plugin`."""

from ..base import GatewayPlugin
from .client import MpgsGateway
from .presentation import PRESENTATION
from .settings import SETTINGS

plugin = GatewayPlugin(
    name=MpgsGateway.name,
    gateway=MpgsGateway,
    settings=SETTINGS,
    presentation=PRESENTATION,
    sandbox="checkout.sandbox.mpgs",
)
