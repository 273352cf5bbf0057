"""Emulator of Stripe Checkout: the v1 API the SDK calls, the hosted page, and signed webhooks.

Wire facts follow shared/protocols.md §C: Bearer (or Basic) auth with an `sk_` key, bracketed
form bodies, `Idempotency-Key` replay, Stripe's `{"error": {...}}` bodies and status codes, and
webhooks signed `t=<unix>,v1=<HMAC-SHA256("t.body")>` with the whsec secret. Sessions expire at
`expires_at` by the sandbox clock, lazily whenever the emulator is touched. The test cards and
bank accounts of the hosted page are listed in hosted.py.

    api.py        auth, knobs, parsing, idempotency and error shapes around the handlers
    sessions.py   create and expire a Checkout Session
    refunds.py    create a refund
    hosted.py     the hosted page and its test instruments
    store.py      the objects in memory
    lifecycle.py  how sessions, intents and charges change, and the events that follow
    notify.py     signed webhook events
    params.py     bracketed form parameters, integers, metadata, amounts in words
    errors.py     Stripe's error answer
"""

from __future__ import annotations

from flask import Flask

from ..env import SandboxEnv
from . import api, hosted
from .store import StripeSandbox


def register(app: Flask, env: SandboxEnv) -> None:
    state = StripeSandbox(env)
    env.on_reset(state.clear)
    app.extensions["sandbox_stripe"] = state
    app.register_blueprint(api.blueprint(state))
    app.register_blueprint(hosted.blueprint(state))
