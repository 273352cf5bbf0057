"""Which gateways the checkout offers, in what order, under what label, and why not.

Everything here comes from config: GATEWAYS (the order), GATEWAY_<NAME>_ENABLED and
GATEWAY_<NAME>_DISABLED_REASON. A gateway whose required settings are missing is shown disabled
with the reason, never hidden, so the shopper and the shop owner both see why. So is a gateway
that cannot charge the order's total (its currency rules, e.g. "Stripe cannot charge 4.255 KWD").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from ..money import Money
from .base import CurrencyRules, Gateway
from .coinpayments import CoinPaymentsGateway
from .mpgs import MpgsGateway
from .stripe import StripeGateway

log = logging.getLogger(__name__)

GATEWAY_CLASSES: dict[str, type[Gateway]] = {
    cls.name: cls for cls in (CoinPaymentsGateway, MpgsGateway, StripeGateway)
}

_PRESENTATION = {
    "coinpayments": ("Crypto (CoinPayments)", "BTC, LTC and more", "img/gateways/coinpayments.svg"),
    "mpgs": ("Card (HyperPay MPGS)", "Visa / Mastercard / mada", "img/gateways/mastercard.svg"),
    "stripe": ("Stripe", "Cards, Apple Pay, Google Pay", "img/gateways/stripe.svg"),
}


@dataclass(frozen=True)
class GatewayOption:
    name: str
    label: str
    note: str
    logo: str  # path under static/
    enabled: bool
    disabled_reason: str | None


def gateway_options(config: Mapping[str, Any], total: Money | None = None) -> list[GatewayOption]:
    """Every known gateway in the configured order, each enabled or with its reason.

    With `total`, a gateway that cannot charge it is disabled with the reason in words.
    """
    return [_option(name, config, total) for name in _ordered_names(config)]


def option_for(
    name: str, config: Mapping[str, Any], total: Money | None = None
) -> GatewayOption | None:
    if name not in GATEWAY_CLASSES:
        return None
    return _option(name, config, total)


def rules_for(name: str, config: Mapping[str, Any] | None = None) -> CurrencyRules:
    """What gateway `name` can charge and refund under `config` (the app's, by default)."""
    return GATEWAY_CLASSES[name].currency_rules(
        config if config is not None else current_app.config
    )


def enabled_names(config: Mapping[str, Any]) -> list[str]:
    """The gateways the checkout would offer, whatever the amount."""
    return [o.name for o in gateway_options(config) if o.enabled]


def get_gateway(name: str, app: Flask | None = None) -> Gateway:
    """The configured client for `name`, built once per app."""
    app = app or current_app._get_current_object()
    cache: dict[str, Gateway] = app.extensions.setdefault("tollgate_gateways", {})
    if name not in cache:
        cache[name] = GATEWAY_CLASSES[name].from_config(app.config)
    return cache[name]


def _ordered_names(config: Mapping[str, Any]) -> list[str]:
    configured = [n.strip() for n in config.get("GATEWAYS", "").split(",") if n.strip()]
    known = [n for n in configured if n in GATEWAY_CLASSES]
    return known + [n for n in GATEWAY_CLASSES if n not in known]


def _option(name: str, config: Mapping[str, Any], total: Money | None) -> GatewayOption:
    label, note, logo = _PRESENTATION[name]
    key = name.upper()
    reason = None
    if not config.get(f"GATEWAY_{key}_ENABLED", True):
        reason = config.get(f"GATEWAY_{key}_DISABLED_REASON") or "Not available at the moment"
    elif missing := GATEWAY_CLASSES[name].missing_settings(config):
        reason = "Not configured by the shop yet"
        log.debug("gateway %s is missing settings: %s", name, ", ".join(missing))
    elif total is not None:
        reason = rules_for(name, config).can_charge(total)
    return GatewayOption(name, label, note, logo, reason is None, reason)
