"""Emulator of the eSIM provider the shop buys its eSIM profiles from (docs/esim-provider.md).

The API is served under `/esim`, so the site's ESIM_PROVIDER_URL is `<sandbox>/esim` (set by
fulfilment/provider.py `apply_sandbox`). It behaves as a provider must for the outbox to be
safe: the `X-API-Key` is checked (401 otherwise), and `reference` is an idempotency key, so a
repeated order answers the eSIM bought the first time and is never charged twice. Every plan
is in stock unless a test says otherwise.

Sandbox-only helpers live under /_sandbox/esim/ (stock per plan, the eSIMs bought per
reference, a forced next answer); a real provider has nothing like them. The knobs are
`POST /_sandbox/knobs/esim` (latency, error_rate, timeout_rate, hang_seconds, malformed_rate).

    api.py       the order API and the gate every call goes through (knobs, forced answer, key)
    controls.py  sandbox-only helpers
    store.py     orders per reference, purchases, stock, in memory
"""

from __future__ import annotations

from flask import Flask

from ..env import Knobs, SandboxEnv
from . import api, controls
from .store import NAME, EsimStore


def register(app: Flask, env: SandboxEnv) -> None:
    store = EsimStore(env)
    env.knobs.setdefault(NAME, Knobs())
    # SandboxEnv.reset rebuilds the knobs of the gateways only; the provider's come back here.
    env.on_reset(lambda: env.knobs.setdefault(NAME, Knobs()))
    env.on_reset(store.reset)
    app.extensions["sandbox_esim"] = store
    for blueprint in (api.blueprint(store), controls.blueprint(store)):
        app.register_blueprint(blueprint)
