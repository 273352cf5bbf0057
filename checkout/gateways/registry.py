"""Which gateways exist, in what order, under what label, and why one is not offered.

Gateways are plugins: config GATEWAYS names them, comma-separated, in the order the checkout
shows them. A name is looked up as an entry point in the group `tollgate.gateways` (a package
installed beside Tollgate), as a dotted import path ("shop_gateways.paypal"), or as a package
of Tollgate's own (`checkout.gateways.<name>`); each resolves to a module exposing `plugin`, a
`GatewayPlugin`. Nothing outside a gateway's package names it: the checkout, refunds, the
status page and the staff console ask this module.

GATEWAY_<NAME>_ENABLED and GATEWAY_<NAME>_DISABLED_REASON switch one off with a reason. A
gateway whose required settings are missing, or that cannot charge the order's total, is shown
disabled with the reason too, never hidden, so the shopper and the shop owner both see why.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from flask import Flask, current_app

from ..money import Money
from .base import Gateway, GatewayPlugin
from .calls import MeteredGateway
from .currency import CurrencyRules

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tollgate.gateways"


@dataclass(frozen=True)
class GatewayOption:
    name: str
    label: str
    note: str
    logo: str  # path under static/
    enabled: bool
    disabled_reason: str | None


def plugins(config: Mapping[str, Any] | None = None) -> list[GatewayPlugin]:
    """The configured gateways' plugins, in the configured order."""
    return list(_load(_names(config if config is not None else current_app.config)))


def plugin_for(name: str, config: Mapping[str, Any] | None = None) -> GatewayPlugin | None:
    """The plugin of configured gateway `name`, or None for a name that is not configured."""
    return next((p for p in plugins(config) if p.name == name), None)


def names(config: Mapping[str, Any] | None = None) -> list[str]:
    return [p.name for p in plugins(config)]


def label_for(name: str, config: Mapping[str, Any] | None = None) -> str:
    """The gateway's label as the selector shows it; an unconfigured name as it is."""
    plugin = plugin_for(name, config)
    return plugin.label if plugin else name


def provider_for(name: str, config: Mapping[str, Any] | None = None) -> str:
    """The provider's own name, for sentences; an unconfigured name as it is."""
    plugin = plugin_for(name, config)
    return plugin.presentation.name if plugin else name


def install_settings(config: MutableMapping[str, Any]) -> None:
    """Give every configured gateway's settings their defaults, where config has none.

    Called by the app factory before the environment is read, so that each setting is read
    from the environment converted to its declared default's type.
    """
    for plugin in plugins(config):
        key = plugin.name.upper()
        config.setdefault(f"GATEWAY_{key}_ENABLED", True)
        config.setdefault(f"GATEWAY_{key}_DISABLED_REASON", "")
        for setting in plugin.settings:
            config.setdefault(setting.key, setting.default)


def apply_sandbox(config: MutableMapping[str, Any]) -> list[str]:
    """Point each gateway without live credentials at the sandbox, with its demo credentials.

    A gateway whose secret is set keeps its real API, so putting live keys in `.env` is all it
    takes to switch one gateway to the real thing. Returns the sandboxed gateway names.
    """
    base = config["TOLLGATE_SANDBOX_URL"].rstrip("/")
    sandboxed = []
    for plugin in plugins(config):
        if plugin.is_live(config):
            continue
        config.update(plugin.sandbox_values(base))
        sandboxed.append(plugin.name)
    return sandboxed


def gateway_options(config: Mapping[str, Any], total: Money | None = None) -> list[GatewayOption]:
    """Every configured gateway in order, each enabled or with its reason.

    With `total`, a gateway that cannot charge it is disabled with the reason in words.
    """
    return [_option(plugin, config, total) for plugin in plugins(config)]


def option_for(
    name: str, config: Mapping[str, Any], total: Money | None = None
) -> GatewayOption | None:
    plugin = plugin_for(name, config)
    return _option(plugin, config, total) if plugin else None


def rules_for(name: str, config: Mapping[str, Any] | None = None) -> CurrencyRules:
    """What gateway `name` can charge and refund under `config` (the app's, by default)."""
    config = config if config is not None else current_app.config
    return _plugin(name, config).gateway.currency_rules(config)


def enabled_names(config: Mapping[str, Any]) -> list[str]:
    """The gateways the checkout would offer, whatever the amount."""
    return [o.name for o in gateway_options(config) if o.enabled]


def missing_settings(plugin: GatewayPlugin, config: Mapping[str, Any]) -> list[str]:
    """The required settings that are empty, plus what the gateway itself finds wrong."""
    missing = [s.key for s in plugin.settings if s.required and not config.get(s.key)]
    return missing + plugin.gateway.missing_settings(config)


def get_gateway(name: str, app: Flask | None = None) -> Gateway:
    """The configured client for `name`, built once per app.

    Handed out wrapped in `MeteredGateway`, so every call to the gateway is timed and counted
    in one place; the wrapper answers every other attribute from the client itself.
    """
    app = app or current_app._get_current_object()
    built: dict[str, Gateway] = app.extensions.setdefault("tollgate_gateways", {})
    if name not in built:
        client = _plugin(name, app.config).gateway.from_config(app.config)
        built[name] = cast(Gateway, MeteredGateway(client))
    return built[name]


def _plugin(name: str, config: Mapping[str, Any]) -> GatewayPlugin:
    plugin = plugin_for(name, config)
    if plugin is None:
        raise LookupError(f"gateway {name!r} is not configured (GATEWAYS)")
    return plugin


def _names(config: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(n.strip() for n in str(config.get("GATEWAYS", "")).split(",") if n.strip())


@cache
def _load(configured: tuple[str, ...]) -> tuple[GatewayPlugin, ...]:
    """Import each named plugin once per process; an unknown name stops the app at start."""
    loaded: dict[str, GatewayPlugin] = {}
    for name in configured:
        plugin = _resolve(name)
        if plugin.name in loaded:
            raise ValueError(f"GATEWAYS names {plugin.name!r} twice")
        loaded[plugin.name] = plugin
    return tuple(loaded.values())


def _resolve(name: str) -> GatewayPlugin:
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if found:
        target = next(iter(found)).load()
    else:
        module = name if "." in name else f"{__package__}.{name}"
        try:
            target = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise ValueError(f"GATEWAYS names {name!r}, which is no gateway here") from exc
    plugin = getattr(target, "plugin", target)
    if not isinstance(plugin, GatewayPlugin):
        raise ValueError(f"GATEWAYS entry {name!r} does not provide a GatewayPlugin")
    return plugin


def _option(plugin: GatewayPlugin, config: Mapping[str, Any], total: Money | None) -> GatewayOption:
    key = plugin.name.upper()
    reason = None
    if not config.get(f"GATEWAY_{key}_ENABLED", True):
        reason = config.get(f"GATEWAY_{key}_DISABLED_REASON") or "Not available at the moment"
    elif missing := missing_settings(plugin, config):
        reason = "Not configured by the shop yet"
        log.debug("gateway %s is missing settings: %s", plugin.name, ", ".join(missing))
    elif total is not None:
        reason = plugin.gateway.currency_rules(config).can_charge(total)
    shown = plugin.presentation
    return GatewayOption(plugin.name, shown.label, shown.note, shown.logo, reason is None, reason)
